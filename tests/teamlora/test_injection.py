"""add_adapters: what gets wrapped, what trains, and the errors for configs that don't fit."""
import pytest
import torch
from torch import nn

from teamlora import (
    AdapterConfigError,
    AdapterLoadError,
    TargetNotFoundError,
    TeamLoraConfig,
    TeamLoraLinear,
    adapted_layers,
    add_adapters,
    trainable_parameter_names,
)
from teamlora.config import METHODS


def cfg(method="teamlora", **kw):
    kw.setdefault("r", 4)
    return TeamLoraConfig(method=method, **kw)


@pytest.mark.parametrize("method", METHODS)
def test_fresh_adapter_leaves_logits_bit_identical(method, tiny_llama, token_batch):
    before = tiny_llama(token_batch).logits
    add_adapters(tiny_llama, cfg(method))
    after = tiny_llama(token_batch).logits
    assert torch.equal(before, after)


def test_default_targets_are_the_ffn_of_every_layer(tiny_llama):
    add_adapters(tiny_llama, cfg())
    names = [n for n, _ in adapted_layers(tiny_llama)]
    assert names == [f"model.layers.{i}.mlp.{p}" for i in range(2) for p in ("gate_proj", "up_proj", "down_proj")]


def test_only_adapter_parameters_train(tiny_llama):
    add_adapters(tiny_llama, cfg())
    trainable = trainable_parameter_names(tiny_llama)
    assert trainable, "nothing trains"
    allowed = ("lora_A.weight", "lora_B.weight", "router.gate.weight", "interaction")
    assert all(n.endswith(allowed) for n in trainable), trainable
    # 2 layers x 3 FFN modules x (A, B, router gate, interaction)
    assert len(trainable) == 24
    frozen_base = [n for n, p in tiny_llama.named_parameters() if ".base." in n]
    assert frozen_base and not any(tiny_llama.get_parameter(n).requires_grad for n in frozen_base)


def test_regex_targets_and_attention_opt_in(tiny_llama):
    add_adapters(tiny_llama, cfg(target_modules=r".*layers\.1\.self_attn\.(q|v)_proj"))
    assert [n for n, _ in adapted_layers(tiny_llama)] == ["model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"]


class TwoTowers(nn.Module):
    """A vision tower and a language model with same-named Linear layers, plus a projector."""

    def __init__(self):
        super().__init__()
        self.vision_tower = nn.ModuleDict({"mlp": nn.ModuleDict({"up_proj": nn.Linear(4, 8)})})
        self.language_model = nn.ModuleDict({"mlp": nn.ModuleDict({"up_proj": nn.Linear(4, 8)})})
        self.multi_modal_projector = nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.Linear(4, 4))


def test_scope_keeps_the_vision_tower_untouched_and_modules_to_save_train():
    model = TwoTowers()
    add_adapters(model, cfg(target_modules=["up_proj"], modules_scope="language_model", modules_to_save=["multi_modal_projector"]))
    assert isinstance(model.language_model["mlp"]["up_proj"], TeamLoraLinear)
    assert type(model.vision_tower["mlp"]["up_proj"]) is nn.Linear
    assert not any(p.requires_grad for p in model.vision_tower.parameters())
    assert all(p.requires_grad for p in model.multi_modal_projector.parameters())


def test_no_match_lists_the_linear_names_that_exist(tiny_llama):
    with pytest.raises(TargetNotFoundError) as e:
        add_adapters(tiny_llama, cfg(target_modules=["fc1", "fc2"]))
    msg = str(e.value)
    assert "fc1" in msg and "gate_proj" in msg and "q_proj" in msg and "lm_head" in msg


def test_scope_that_does_not_exist_is_named(tiny_llama):
    with pytest.raises(TargetNotFoundError, match="modules_scope='language_model'"):
        add_adapters(tiny_llama, cfg(modules_scope="language_model"))


def test_target_that_is_not_linear_is_named(tiny_llama):
    with pytest.raises(TargetNotFoundError, match="not nn.Linear.*model.layers.0.mlp"):
        add_adapters(tiny_llama, cfg(target_modules=["mlp"]))


def test_modules_to_save_that_matches_nothing_is_named(tiny_llama):
    with pytest.raises(TargetNotFoundError, match="projector"):
        add_adapters(tiny_llama, cfg(modules_to_save=["projector"]))


def test_adding_twice_fails_clearly(tiny_llama):
    add_adapters(tiny_llama, cfg())
    with pytest.raises(AdapterLoadError, match="already has adapters"):
        add_adapters(tiny_llama, cfg())


@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        (dict(method="mole"), "method='mole'"),
        (dict(method="lora", num_experts=4), "num_experts must be 1"),
        (dict(method="moelora", num_experts=1), "num_experts >= 2"),
        (dict(r=0), "r must be a positive int"),
        (dict(alpha=0), "alpha must be > 0"),
        (dict(dropout=1.0), "dropout"),
        (dict(method="moelora", router_hidden=16), "router_hidden"),
        (dict(interaction_init="gaussian"), "interaction_init"),
        (dict(target_modules="(unclosed"), "does not compile"),
        (dict(target_modules=[]), "target_modules is empty"),
    ],
)
def test_bad_config_raises_named_error(kwargs, fragment):
    with pytest.raises(AdapterConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        TeamLoraConfig(**kwargs)


def test_defaults_follow_the_paper():
    c = TeamLoraConfig()
    assert (c.method, c.num_experts, c.r, c.target_modules, c.balance_loss_coef) == (
        "teamlora", 4, 32, ["gate_proj", "up_proj", "down_proj"], 0.0)
    assert c.scaling == 2.0 and c.a_rows == 128
    assert TeamLoraConfig(method="lora").num_experts == 1
