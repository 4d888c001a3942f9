"""The fused forward equals the per-expert reference loop, outputs and every gradient (fp32)."""
import pytest
import torch
from torch import nn

from teamlora import TeamLoraConfig, TeamLoraLinear
from teamlora.config import METHODS

from .adapter_fixtures import randomize_adapters, rel_err


def make_layer(method, d_in=24, d_out=40, r=4, k=3, seed=0, **kw):
    torch.manual_seed(seed)
    base = nn.Linear(d_in, d_out, bias=True)
    cfg = TeamLoraConfig(method=method, r=r, num_experts=1 if method == "lora" else k, alpha=2 * r, dropout=0.0, **kw)
    layer = TeamLoraLinear(base, cfg)
    holder = nn.Sequential(layer)
    randomize_adapters(holder, seed=seed + 1, scale=0.3)
    if layer.interaction is not None:
        with torch.no_grad():  # M = I + noise, as training keeps it: the "authors" renormalisation stays far from 0/0
            layer.interaction.add_(torch.eye(k))
    return layer


CASES = [(m, 0, None) for m in METHODS if m != "teamlora"] + [
    ("teamlora", hidden, variant) for variant in ("paper", "authors") for hidden in (0, 8)]


@pytest.mark.parametrize("method,router_hidden,variant", CASES)
def test_fused_matches_loop_outputs_and_grads(method, router_hidden, variant):
    layer = make_layer(method, router_hidden=router_hidden, variant=variant)
    x = torch.randn(2, 5, 24, requires_grad=True)

    y_fused = layer(x)
    grads_fused = torch.autograd.grad(y_fused.square().sum(), [x] + [p for p in layer.parameters() if p.requires_grad])
    y_loop = layer.forward_reference(x)
    grads_loop = torch.autograd.grad(y_loop.square().sum(), [x] + [p for p in layer.parameters() if p.requires_grad])

    assert rel_err(y_fused, y_loop) <= 1e-5
    # adapter must actually contribute, or the comparison proves nothing
    assert rel_err(y_fused, layer.base(x)) > 1e-2
    for gf, gl in zip(grads_fused, grads_loop):
        assert rel_err(gf, gl) <= 1e-5


def test_teamlora_output_is_the_paper_formula():
    """y = W0 x + b + s * sum_i omega_i B_i z_i with omega = M softmax(S x), written out by hand."""
    layer = make_layer("teamlora", r=2, k=3, variant="paper")
    x = torch.randn(7, 24)
    phi = torch.softmax(x @ layer.router.gate.weight.t(), dim=-1)  # (7, 3)
    omega = phi @ layer.interaction.t()  # omega_i = sum_j M_ij phi_j
    z = x @ layer.lora_A.weight.t()  # (7, 6)
    expected = layer.base(x)
    for i in range(3):
        h_i = z[:, 2 * i : 2 * i + 2] @ layer.lora_B.weight[:, 2 * i : 2 * i + 2].t()
        expected = expected + layer.scaling * omega[:, i : i + 1] * h_i
    assert torch.allclose(layer(x), expected, rtol=1e-5, atol=1e-6)


def test_hydralora_shares_one_rank_r_A():
    layer = make_layer("hydralora", r=4, k=3)
    assert layer.lora_A.weight.shape == (4, 24)
    assert layer.lora_B.weight.shape == (40, 12)


def test_router_runs_in_float32_and_a_bf16_cast_layer_still_runs():
    """DeepSpeed's bf16 engine casts every parameter, adapters included, to bf16: the layer must run so."""
    layer = make_layer("teamlora").to(torch.bfloat16)
    x = torch.randn(3, 24, dtype=torch.bfloat16)
    phi, omega = layer.route(x)
    assert phi.dtype == torch.float32 and omega.dtype == torch.float32
    assert torch.allclose(phi.sum(-1), torch.ones(3))
    assert layer(x).dtype == torch.bfloat16


def test_interaction_init_is_uniform_with_unit_diagonal():
    base = nn.Linear(8, 8)
    layer = TeamLoraLinear(base, TeamLoraConfig(method="teamlora", variant="paper", r=2, num_experts=4,
                                                interaction_offdiag=0.05))
    m = layer.interaction.detach()
    assert torch.equal(torch.diagonal(m), torch.ones(4))
    off = m[~torch.eye(4, dtype=torch.bool)]
    assert float(off.min()) >= 0.0 and float(off.max()) <= 0.05 and float(off.std()) > 0
    ident = TeamLoraLinear(nn.Linear(8, 8), TeamLoraConfig(method="teamlora", r=2, num_experts=4, interaction_init="identity"))
    assert torch.equal(ident.interaction.detach(), torch.eye(4))
