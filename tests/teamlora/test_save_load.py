"""save_adapters -> load_adapters reproduces logits bit-for-bit, also in a new process; mismatches are named."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from teamlora import AdapterLoadError, TeamLoraConfig, add_adapters, load_adapters, save_adapters
from teamlora.config import METHODS

from ..conftest import make_tiny_llama
from .adapter_fixtures import randomize_adapters

REPO = Path(__file__).resolve().parents[2]


def trained_model(method, **kw):
    model = make_tiny_llama()
    add_adapters(model, TeamLoraConfig(method=method, r=4, alpha=8, **kw))
    randomize_adapters(model, seed=5)
    return model.eval()


@pytest.mark.parametrize("method", METHODS)
def test_roundtrip_is_bit_exact(method, tmp_path, token_batch):
    model = trained_model(method)
    expected = model(token_batch).logits
    save_adapters(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    fresh = load_adapters(make_tiny_llama(), tmp_path)
    assert torch.equal(fresh(token_batch).logits, expected)
    assert not any(p.requires_grad for p in fresh.parameters())


def test_load_in_a_new_process_is_bit_exact(tmp_path, token_batch):
    model = trained_model("teamlora")
    torch.save(model(token_batch).logits, tmp_path / "expected.pt")
    torch.save(token_batch, tmp_path / "ids.pt")
    save_adapters(model, tmp_path / "adapter")
    script = textwrap.dedent(f"""
        import sys, torch
        torch.set_num_threads(1)
        sys.path.insert(0, {str(REPO)!r})
        from tests.conftest import make_tiny_llama
        from teamlora import load_adapters
        m = load_adapters(make_tiny_llama(), {str(tmp_path / 'adapter')!r})
        out = m(torch.load({str(tmp_path / 'ids.pt')!r})).logits
        sys.exit(0 if torch.equal(out, torch.load({str(tmp_path / 'expected.pt')!r})) else 3)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_modules_to_save_roundtrip(tmp_path, token_batch):
    model = make_tiny_llama()
    add_adapters(model, TeamLoraConfig(method="lora", r=4, modules_to_save=["lm_head"]))
    with torch.no_grad():
        model.lm_head.weight.mul_(1.5)
    expected = model(token_batch).logits
    save_adapters(model, tmp_path)
    assert "lm_head.weight" in load_file(str(tmp_path / "adapter_model.safetensors"))
    fresh = load_adapters(make_tiny_llama(), tmp_path, is_trainable=True)
    assert torch.equal(fresh(token_batch).logits, expected)
    assert fresh.lm_head.weight.requires_grad


def test_load_into_a_bf16_base_keeps_float32_adapters(tmp_path, token_batch):
    """As PEFT: adapters stay float32 under a bf16 base, so the saved weights come back bit for bit."""
    model = trained_model("teamlora")
    save_adapters(model, tmp_path)
    bf16 = make_tiny_llama().to(torch.bfloat16)
    load_adapters(bf16, tmp_path)
    layer = bf16.model.layers[0].mlp.up_proj
    assert layer.lora_A.weight.dtype == torch.float32 and layer.base.weight.dtype == torch.bfloat16
    ref = model.model.layers[0].mlp.up_proj.lora_A.weight
    assert torch.equal(layer.lora_A.weight, ref)
    assert bf16(token_batch).logits.dtype == torch.bfloat16


def test_shape_mismatch_names_every_module(tmp_path):
    save_adapters(trained_model("teamlora"), tmp_path)
    wider = make_tiny_llama(hidden=96)
    with pytest.raises(AdapterLoadError) as e:
        load_adapters(wider, tmp_path)
    msg = str(e.value)
    for i in range(2):
        for p in ("gate_proj", "up_proj", "down_proj"):
            assert f"model.layers.{i}.mlp.{p}: adapter was trained for" in msg


def test_missing_module_and_method_mismatch(tmp_path):
    save_adapters(trained_model("moelora"), tmp_path)
    shallow = make_tiny_llama(layers=1)
    with pytest.raises(AdapterLoadError) as e:
        load_adapters(shallow, tmp_path, expected_method="teamlora")
    msg = str(e.value)
    assert "expected 'teamlora'" in msg and "model.layers.1.mlp.gate_proj: no such module" in msg


def test_loading_into_an_adapted_model_fails_clearly(tmp_path):
    model = trained_model("teamlora")
    save_adapters(model, tmp_path)
    with pytest.raises(AdapterLoadError, match="already has adapters"):
        load_adapters(model, tmp_path)


def test_tensor_file_mismatch_and_missing_files(tmp_path):
    save_adapters(trained_model("teamlora"), tmp_path)
    tensors = load_file(str(tmp_path / "adapter_model.safetensors"))
    tensors.pop("model.layers.0.mlp.up_proj.interaction")
    tensors["model.layers.0.mlp.up_proj.extra"] = torch.zeros(1)
    save_file(tensors, str(tmp_path / "adapter_model.safetensors"))
    with pytest.raises(AdapterLoadError) as e:
        load_adapters(make_tiny_llama(), tmp_path)
    assert "missing from file: model.layers.0.mlp.up_proj.interaction" in str(e.value)
    assert "not in model: model.layers.0.mlp.up_proj.extra" in str(e.value)
    with pytest.raises(AdapterLoadError, match="no adapter_config.json"):
        load_adapters(make_tiny_llama(), tmp_path / "nowhere")
    (tmp_path / "adapter_config.json").write_text("{not json")
    with pytest.raises(AdapterLoadError, match="not valid JSON"):
        load_adapters(make_tiny_llama(), tmp_path)


def test_config_file_is_readable_and_complete(tmp_path):
    save_adapters(trained_model("teamlora", router_hidden=8), tmp_path)
    meta = json.loads((tmp_path / "adapter_config.json").read_text())
    assert meta["method"] == "teamlora" and meta["r"] == 4 and meta["num_experts"] == 4 and meta["router_hidden"] == 8
    assert meta["adapted_modules"]["model.layers.0.mlp.down_proj"] == [144, 64]


def test_load_adapter_weights_into_matching_adapters_for_resume(tmp_path, token_batch):
    from teamlora import load_adapter_weights

    model = trained_model("teamlora")
    expected = model(token_batch).logits
    save_adapters(model, tmp_path)
    target = make_tiny_llama()
    add_adapters(target, TeamLoraConfig(method="teamlora", r=4, alpha=8))
    load_adapter_weights(target, tmp_path)
    assert torch.equal(target.eval()(token_batch).logits, expected)
    other = make_tiny_llama()
    add_adapters(other, TeamLoraConfig(method="moelora", r=4, alpha=8))
    with pytest.raises(AdapterLoadError, match="method: saved 'teamlora', model 'moelora'"):
        load_adapter_weights(other, tmp_path)
