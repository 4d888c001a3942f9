"""adapter_stats: mean expert weights since the last reset; the optional balance loss."""
import pytest
import torch

from teamlora import (
    TeamLoraConfig,
    adapted_layers,
    adapter_stats,
    add_adapters,
    balance_loss,
    reset_adapter_stats,
    set_stats_tracking,
    summarize_stats,
)

from .adapter_fixtures import randomize_adapters


def test_stats_equal_the_mean_router_output(tiny_llama, token_batch):
    add_adapters(tiny_llama, TeamLoraConfig(method="teamlora", r=4, target_modules=["up_proj"]))
    randomize_adapters(tiny_llama, scale=0.5)
    captured = {}
    layer = tiny_llama.model.layers[1].mlp.up_proj
    hook = layer.register_forward_pre_hook(lambda m, args: captured.setdefault("x", []).append(args[0]))
    tiny_llama(token_batch)
    tiny_llama(token_batch[:1, :5])
    hook.remove()
    stats = adapter_stats(tiny_llama)
    assert list(stats) == ["model.layers.0.mlp.up_proj", "model.layers.1.mlp.up_proj"]
    s = stats["model.layers.1.mlp.up_proj"]
    assert s.tokens == 2 * 12 + 5
    phis = [layer.route(x)[0].reshape(-1, 4) for x in captured["x"]]
    omegas = [layer.route(x)[1].reshape(-1, 4) for x in captured["x"]]
    torch.testing.assert_close(s.phi, torch.cat(phis).mean(0).detach())
    torch.testing.assert_close(s.omega, torch.cat(omegas).mean(0).detach())
    assert abs(float(s.phi.sum()) - 1.0) < 1e-5
    summary = summarize_stats(stats)
    assert set(summary) == {"experts/cv_mean", "experts/cv_max", "experts/max_share"}
    assert summary["experts/cv_max"] >= summary["experts/cv_mean"] > 0

    reset_adapter_stats(tiny_llama)
    assert adapter_stats(tiny_llama) == {}
    set_stats_tracking(tiny_llama, False)
    tiny_llama(token_batch)
    assert adapter_stats(tiny_llama) == {}


def test_plain_lora_has_no_stats(tiny_llama, token_batch):
    add_adapters(tiny_llama, TeamLoraConfig(method="lora", r=4))
    tiny_llama(token_batch)
    assert adapter_stats(tiny_llama) == {}


def test_balance_loss_is_off_by_default_and_correct_when_on(tiny_llama, token_batch):
    add_adapters(tiny_llama, TeamLoraConfig(method="moelora", r=4, num_experts=4))
    tiny_llama(token_batch)
    assert not any(layer.holds_routing for _, layer in adapted_layers(tiny_llama))
    assert float(balance_loss(tiny_llama)) == 0.0


@pytest.mark.parametrize("variant,peaked,expected", [
    ("paper", False, 0.0), ("paper", True, 3.0),  # k * sum P^2 - 1 on phi
    # the authors' mean_i (P_i - 1/k)^2 on omega (sums to k): uniform -> P = 1 each -> (3/4)^2;
    # one expert -> P = (4, 0, 0, 0) -> ((15/4)^2 + 3 (1/4)^2) / 4 = 3.5625
    ("authors", False, 0.5625), ("authors", True, 3.5625),
])
def test_balance_loss_values(variant, peaked, expected, tiny_llama, token_batch):
    add_adapters(tiny_llama, TeamLoraConfig(method="teamlora", variant=variant, r=4, num_experts=4,
                                            interaction_init="identity", balance_loss_coef=0.01))
    with torch.no_grad():
        for _, layer in adapted_layers(tiny_llama):
            layer.router.gate.weight.zero_()  # uniform phi = 1/k -> loss 0
    if peaked:  # make expert 0 take every token: k * 1 - 1 = 3
        for _, layer in adapted_layers(tiny_llama):
            layer.router.forward = lambda x: torch.nn.functional.one_hot(
                torch.zeros(x.shape[:-1], dtype=torch.long), 4).float().requires_grad_()
    tiny_llama(token_batch)
    loss = balance_loss(tiny_llama)
    assert abs(float(loss.detach()) - expected) < 1e-5
    assert loss.requires_grad
    assert not any(layer.holds_routing for _, layer in adapted_layers(tiny_llama))


def test_stats_survive_an_inference_mode_forward_before_training(tiny_llama, token_batch):
    add_adapters(tiny_llama, TeamLoraConfig(method="teamlora", r=4))
    with torch.inference_mode():
        tiny_llama(token_batch)  # e.g. an evaluation before training creates the sums
    tiny_llama(input_ids=token_batch, labels=token_batch).loss.backward()
    assert next(iter(adapter_stats(tiny_llama).values())).tokens == 2 * 2 * 12


def test_layer_usage_and_pop_routing(tiny_llama, token_batch):
    add_adapters(tiny_llama, TeamLoraConfig(method="teamlora", r=4, balance_loss_coef=0.01))
    randomize_adapters(tiny_llama, scale=0.5)
    layer = tiny_llama.model.layers[0].mlp.up_proj
    assert layer.usage() is None and not layer.holds_routing
    captured = {}
    hook = layer.register_forward_pre_hook(lambda m, args: captured.setdefault("x", args[0]))
    tiny_llama(token_batch)
    hook.remove()
    phi_mean, omega_mean, tokens = layer.usage()
    assert tokens == token_batch.numel() == 2 * 12
    phi, omega = layer.route(captured["x"])  # (2, 12, 4) each
    torch.testing.assert_close(phi_mean, phi.reshape(-1, 4).mean(0).detach())
    torch.testing.assert_close(omega_mean, omega.reshape(-1, 4).mean(0).detach())
    assert abs(float(omega_mean.sum()) - 4.0) < 1e-4  # authors' omega sums to k per token
    assert layer.holds_routing
    kept_phi, kept_omega = layer.pop_routing()
    assert kept_phi.shape == kept_omega.shape == (2, 12, 4) and kept_phi.requires_grad
    torch.testing.assert_close(kept_phi, phi)
    assert not layer.holds_routing and layer.pop_routing() == (None, None)
    layer.reset_stats()
    assert layer.usage() is None
