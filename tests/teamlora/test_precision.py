"""Adapters train in float32 under a bf16 base (as PEFT does), with and without autocast; modules_to_save too."""
import math

import pytest
import torch

from teamlora import (
    TeamLoraConfig,
    adapted_layers,
    add_adapters,
    load_adapters,
    remove_adapters,
    save_adapters,
    trainable_parameter_names,
)
from teamlora.config import METHODS

from ..conftest import make_tiny_llama
from .adapter_fixtures import randomize_adapters


def bf16_model(method, **kw):
    model = make_tiny_llama().to(torch.bfloat16)
    add_adapters(model, TeamLoraConfig(method=method, r=4, dropout=0.0, modules_to_save=["lm_head"], **kw))
    return model


@pytest.mark.parametrize("method", METHODS)
def test_trainable_weights_are_float32_and_the_base_stays_bf16(method):
    model = bf16_model(method)
    params = dict(model.named_parameters())
    trainable = trainable_parameter_names(model)
    assert trainable and all(params[n].dtype == torch.float32 for n in trainable)
    assert any(n.startswith("lm_head") for n in trainable)
    frozen = [p for n, p in params.items() if n not in trainable]
    assert frozen and all(p.dtype == torch.bfloat16 for p in frozen)


@pytest.mark.parametrize("autocast", [False, True])
def test_adamw_steps_under_bf16_are_finite_and_learn(autocast, token_batch):
    model = bf16_model("teamlora").train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(6):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out = model(input_ids=token_batch, labels=token_batch)
        assert out.logits.dtype == torch.bfloat16  # lm_head (float32) hands back the dtype it was given
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0] - 0.05, losses
    for _, layer in adapted_layers(model):
        assert layer.lora_B.weight.dtype == torch.float32 and layer.lora_B.weight.abs().max() > 0
        assert layer.lora_B.weight.grad.dtype == torch.float32


def test_router_math_stays_float32_under_autocast():
    model = bf16_model("teamlora")
    layer = model.model.layers[0].mlp.up_proj
    randomize_adapters(model, seed=3)
    x = torch.randn(3, 7, 64)
    plain = layer.route(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto = layer.route(x)
    for a, b in zip(plain, auto):
        assert a.dtype == b.dtype == torch.float32
        assert torch.equal(a, b)  # a bf16 router GEMM under autocast would round these


def test_bf16_save_load_roundtrip_is_bit_exact(tmp_path, token_batch):
    model = bf16_model("teamlora").train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=token_batch, labels=token_batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    expected = model(token_batch).logits
    save_adapters(model, tmp_path)
    fresh = load_adapters(make_tiny_llama().to(torch.bfloat16), tmp_path)
    trained, loaded = dict(model.named_parameters()), dict(fresh.named_parameters())
    for name in trainable_parameter_names(model):
        assert loaded[name].dtype == torch.float32 and torch.equal(loaded[name], trained[name]), name
    assert torch.equal(fresh(token_batch).logits, expected)


def test_a_module_cast_wholesale_to_bf16_still_runs(token_batch):
    """DeepSpeed's bf16 engine casts every parameter to bf16 (and keeps float32 masters itself)."""
    model = bf16_model("teamlora")
    randomize_adapters(model, seed=1)
    model.to(torch.bfloat16)
    logits = model(token_batch).logits
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits.float()).all()


def test_remove_adapters_gives_modules_to_save_their_dtype_back(token_batch):
    model = bf16_model("lora")
    assert model.lm_head.weight.dtype == torch.float32
    remove_adapters(model)
    assert model.lm_head.weight.dtype == torch.bfloat16
    assert not model.lm_head._forward_pre_hooks and not model.lm_head._forward_hooks
    assert model(token_batch).logits.dtype == torch.bfloat16


def test_a_zero3_partitioned_base_keeps_its_dtype_for_adapters_and_modules_to_save():
    """Under ZeRO-3 (zero.Init) every parameter must share the training dtype; DeepSpeed keeps float32 masters."""
    model = make_tiny_llama().to(torch.bfloat16)
    for i, p in enumerate(model.parameters()):
        p.ds_id = i  # what deepspeed.zero.Init marks its partitioned parameters with
    add_adapters(model, TeamLoraConfig(method="teamlora", r=4, modules_to_save=["lm_head"]))
    layer = model.model.layers[0].mlp.up_proj
    assert layer.lora_A.weight.dtype == layer.lora_B.weight.dtype == torch.bfloat16
    assert model.lm_head.weight.dtype == torch.bfloat16
