"""The GPU-cluster entry scripts build launcher command lines the trainer accepts (launcher stubbed out)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import HfArgumentParser

from llava.train.args import DataArguments, ModelArguments, TrainingArguments

REPO = Path(__file__).resolve().parents[2]


def launcher_argv(tmp_path, script, extra_env=None, *extra):
    """Run `script` with a stub `deepspeed` on PATH; return the arguments the stub received."""
    stub_dir = tmp_path / "bin"
    stub_dir.mkdir(exist_ok=True)
    record = tmp_path / "argv.txt"
    stub = stub_dir / "deepspeed"
    stub.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" > {record}\n')
    stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{stub_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
           "VIRTUAL_ENV": sys.prefix, "MODEL_PATH": "lmsys/vicuna-7b-v1.5", "NUM_GPUS": "8", **(extra_env or {})}
    env.pop("LLAVA_TEAMLORA_ENV_READY", None)
    result = subprocess.run(["bash", str(REPO / "scripts" / script), *extra], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return record.read_text().splitlines()


def launched_args(tmp_path, script, extra_env=None, *extra):
    """The trainer's arguments of a single-node launch."""
    argv = launcher_argv(tmp_path, script, extra_env, *extra)
    assert argv[:5] == ["--num_gpus", "8", "--master_port", "29500", "--module"]
    assert argv[5] == "llava.train.train"
    return argv[6:]


def flag(argv, name):
    return argv[argv.index(name) + 1]


def assert_all_flags_known(argv):
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    _, unknown = parser.parse_known_args(argv)
    assert unknown == []


@pytest.mark.parametrize("script,method,rank", [("finetune_teamlora.sh", "teamlora", "32"), ("finetune_lora.sh", "lora", "128"),
                                                 ("finetune_moelora.sh", "moelora", "32"), ("finetune_hydralora.sh", "hydralora", "32")])
def test_adapter_scripts(tmp_path, script, method, rank):
    argv = launched_args(tmp_path, script, None, "--num_train_epochs", "2")
    assert_all_flags_known(argv)
    assert flag(argv, "--peft") == method and flag(argv, "--adapter_r") == rank
    assert "--adapter_alpha" not in argv  # TeamLoraConfig's default (2 * r) decides, in one place
    assert flag(argv, "--image_aspect_ratio") == "pad"  # LLaVA-1.5's stage 2 pads; the flag's default is square
    for data_flag in ("--truncate_long_samples", "--skip_bad_samples"):
        assert data_flag not in argv  # the policy table's defaults (LLaVA's): truncate and count, stop on the rest
    assert flag(argv, "--deepspeed") == "scripts/zero3.json" and flag(argv, "--mm_vision_select_layer") == "-2"
    assert flag(argv, "--output_dir") == f"./checkpoints/llava-v1.5-7b-{method}"
    assert argv[-2:] == ["--num_train_epochs", "2"]  # extra arguments pass through last, so they win


def test_full_finetune_and_pretrain_scripts(tmp_path):
    full = launched_args(tmp_path, "finetune.sh", {"OUTPUT_DIR": "out", "DEEPSPEED": "scripts/zero2.json"})
    assert_all_flags_known(full)
    assert flag(full, "--peft") == "none" and flag(full, "--learning_rate") == "2e-5"
    assert "--adapter_r" not in full and flag(full, "--output_dir") == "out"
    assert flag(full, "--deepspeed") == "scripts/zero2.json"
    pre = launched_args(tmp_path, "pretrain.sh")
    assert_all_flags_known(pre)
    assert flag(pre, "--tune_mm_mlp_adapter") == "True" and flag(pre, "--conv_template") == "plain"
    assert flag(pre, "--image_aspect_ratio") == "square"  # as LLaVA-1.5's pretrain.sh (its default)


def test_adapter_alpha_passes_through_when_set(tmp_path):
    argv = launched_args(tmp_path, "finetune_lora.sh", {"ADAPTER_ALPHA": "64"})
    assert flag(argv, "--adapter_alpha") == "64"


def _embedded(tmp_path, script, env):
    """Run `script` without MODEL_PATH; the embedded default does nothing (STAGES=none) if reached."""
    full = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "VIRTUAL_ENV": sys.prefix,
            "STAGES": "none", **env}
    for name in ("MODEL_PATH", "LLAVA_TEAMLORA_ENV_READY", "DATA_PATH", "IMAGE_FOLDER", "OUTPUT_DIR"):
        if name not in env:
            full.pop(name, None)
    return subprocess.run(["bash", str(REPO / "scripts" / script)], cwd=REPO, env=full, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("script", ["finetune_teamlora.sh", "finetune.sh", "pretrain.sh"])
def test_recipe_settings_without_model_path_stop_and_say_so(tmp_path, script):
    result = _embedded(tmp_path, script, {"DATA_PATH": "my.json", "IMAGE_FOLDER": "imgs"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: DATA_PATH IMAGE_FOLDER set without MODEL_PATH")
    assert "MODEL_PATH=lmsys/vicuna-7b-v1.5" in lines[0] and "=== " not in result.stdout  # nothing ran


def test_output_dir_alone_is_the_embedded_defaults_output(tmp_path):
    result = _embedded(tmp_path, "finetune_teamlora.sh", {"OUTPUT_DIR": str(tmp_path / "mine")})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "=== finished in" in result.stdout


def test_hostfile_selects_multi_node_launch(tmp_path):
    argv = launcher_argv(tmp_path, "finetune_teamlora.sh", {"HOSTFILE": "scripts/hostfile.example"})
    assert argv[:2] == ["--hostfile", "scripts/hostfile.example"]
    assert argv[argv.index("--module") + 1] == "llava.train.train"
