"""`--bf16` without DeepSpeed: the base trains in bf16, adapters and projector in float32 (as PEFT does)."""
import json
import math

import pytest
import torch
from safetensors import safe_open

from llava.model.checkpoint import load_pretrained_model
from llava.train.train import main

from .train_fixtures import build_assets, train_args


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return build_assets(tmp_path_factory.mktemp("bf16_assets"))


def test_bf16_run_trains_float32_adapters_and_its_checkpoint_loads(assets, tmp_path):
    data, model_dir = assets
    out = tmp_path / "run"
    trainer = main(train_args(data, model_dir, out, "--peft", "teamlora", "--adapter_r", "4", "--max_steps", "4",
                              "--save_steps", "4", "--learning_rate", "3e-3", "--bf16", "True", "--plot", "False",
                              "--gradient_checkpointing", "True"))  # recomputed forwards cross the dtype hooks again
    model = trainer.model
    assert model.is_activation_checkpointing  # LLaVA's --gradient_checkpointing True reached the model
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert any("multi_modal_projector" in n for n in trainable) and any("lora_A" in n for n in trainable)
    assert {p.dtype for p in trainable.values()} == {torch.float32}, {n: p.dtype for n, p in trainable.items()}
    frozen = [p for n, p in model.named_parameters() if not p.requires_grad and "language_model" in n]
    assert frozen and {p.dtype for p in frozen} == {torch.bfloat16}
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses), losses
    assert any(float(p.detach().abs().max()) > 0 for n, p in trainable.items() if "lora_B" in n)  # the adapters moved

    # the checkpoint holds the float32 weights exactly, and loads onto a bf16 base with the same logits
    saved = json.loads((out / "adapter_config.json").read_text())
    assert saved["variant"] == "authors" and saved["alpha"] == 8.0  # alpha unset -> 2 * r, recorded resolved
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as f:
        for name in f.keys():
            tensor = f.get_tensor(name)
            assert tensor.dtype == torch.float32, name
            assert torch.equal(tensor, trainable[name].detach()), name
    loaded, _ = load_pretrained_model(out, torch_dtype=torch.bfloat16)
    assert {p.dtype for n, p in loaded.named_parameters() if n in trainable} == {torch.float32}
    model.eval()
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    batch.pop("labels")
    batch["pixel_values"] = batch["pixel_values"].to(torch.bfloat16)
    with torch.no_grad():
        # the Trainer's --bf16 wrapped the trained model's forward in bf16 autocast (outputs to float32)
        expected = model(**batch).logits
        plain = loaded(**batch).logits
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = loaded(**batch).logits.float()
    assert plain.dtype == torch.bfloat16 and torch.isfinite(plain.float()).all()  # runs without autocast too
    assert torch.equal(got, expected)
