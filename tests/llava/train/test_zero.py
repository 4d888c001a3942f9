"""Two CPU ranks under DeepSpeed ZeRO-2 and ZeRO-3 (gloo): train, save, resume, consolidate with zero_to_fp32.

Slow: each launch takes 10-30 s, and the first one JIT-compiles DeepSpeed's shm-comm op (~75 s, cached).
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from llava.model.checkpoint import load_pretrained_model

from .train_fixtures import build_assets, train_args

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return build_assets(tmp_path_factory.mktemp("zero_assets"))


def launch(args, port, log: Path):
    """deepspeed launcher, 2 ranks. Retries once on the rare ZeRO-3 abort at interpreter exit
    ("terminate called without an active exception"); auto-resume makes the retry cheap."""
    deepspeed = shutil.which("deepspeed", path=os.path.dirname(sys.executable)) or "deepspeed"
    cmd = [deepspeed, "--num_gpus", "2", "--master_port", str(port), "--module", "llava.train.train", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    for attempt in range(2):
        result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        log.write_text(result.stdout + result.stderr)
        if result.returncode == 0 or "terminate called without an active exception" not in result.stderr:
            break
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result.stdout + result.stderr


@pytest.mark.parametrize("stage,port", [("zero2", 29621), ("zero3", 29631)])
def test_two_ranks_save_resume_consolidate(stage, port, assets, tmp_path):
    data, model_dir = assets
    out = tmp_path / "run"
    common = ["--deepspeed", str(REPO / "scripts" / f"{stage}.json"), "--peft", "teamlora", "--adapter_r", "4",
              "--save_steps", "2", "--learning_rate", "3e-3", "--group_by_modality_length", "True"]
    launch(train_args(data, model_dir, out, *common, "--max_steps", "4"), port, tmp_path / "first.log")
    ckpt = out / "checkpoint-4"
    # every rank's files were staged in tmp-checkpoint-N and renamed after a barrier: nothing staged is left
    assert not list(out.glob("tmp-checkpoint-*"))
    assert {"trainer_state.json", "latest", "rng_state_0.pth", "rng_state_1.pth"} <= {p.name for p in ckpt.iterdir()}
    adapter = load_file(str(ckpt / "adapter_model.safetensors"))
    assert any(k.endswith("lora_B.weight") and v.abs().max() > 0 for k, v in adapter.items())  # trained, gathered
    assert adapter["model.language_model.layers.0.mlp.up_proj.lora_A.weight"].shape == (16, 64)

    # zero_to_fp32 consolidation of the DeepSpeed checkpoint equals the adapter the trainer wrote
    consolidated = tmp_path / "fp32"
    subprocess.run([sys.executable, str(ckpt / "zero_to_fp32.py"), str(ckpt), str(consolidated), "--safe_serialization"],
                   check=True, capture_output=True, timeout=300)
    full = {}
    for f in consolidated.glob("*.safetensors"):
        full.update(load_file(str(f)))
    for name, tensor in adapter.items():
        assert torch.equal(full[name].to(tensor.dtype), tensor), name

    # a longer run in the same output dir resumes from checkpoint-4 and carries on
    text = launch(train_args(data, model_dir, out, *common, "--max_steps", "6"), port, tmp_path / "second.log")
    assert "resuming from" in text and str(ckpt) in text
    assert (out / "checkpoint-6").is_dir()
    model, _ = load_pretrained_model(out)
    assert model.model.language_model.layers[0].mlp.up_proj.lora_B.weight.abs().max() > 0
