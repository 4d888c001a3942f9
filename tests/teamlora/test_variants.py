"""TeamLoRA's two variants against references written here from their formulas.

paper:   omega = M phi;  y = W0 x + b + s sum_i omega_i B_i A_i dropout(x)
authors (the authors' released lora.py): M0 = M - I (zero diagonal, U(-0.1, 0.1) off it at init);
         m = phi + phi M0 (row vectors, their einsum 'bse,ef->bsf'); omega = k * m / sum(m);
         y = W0 x + b + sum_i omega_i B_i dropout(s A_i x)   (scaling and dropout on A's output)
phi = softmax(W_g x), one bias-free linear router.
"""
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from teamlora import AdapterConfigError, AdapterLoadError, TeamLoraConfig, TeamLoraLinear, add_adapters
from teamlora import adapted_layers, get_config, load_adapter_weights, load_adapters, save_adapters

from ..conftest import make_tiny_llama
from .adapter_fixtures import randomize_adapters, rel_err

D_IN, D_OUT, R, K = 24, 40, 4, 3


def make_layer(variant, seed=0, dropout=0.0, **kw):
    torch.manual_seed(seed)
    layer = TeamLoraLinear(nn.Linear(D_IN, D_OUT), TeamLoraConfig(
        method="teamlora", variant=variant, r=R, num_experts=K, alpha=3.0, dropout=dropout, **kw))
    randomize_adapters(nn.Sequential(layer), seed=seed + 1, scale=0.3)
    with torch.no_grad():
        layer.interaction.add_(torch.eye(K))  # near I, as trained M stay: far from a zero renormaliser
    return layer


def reference(layer, x, variant):
    """The variant's formula, one expert at a time, from the layer's raw parameters."""
    s, k, r = layer.scaling, K, R
    A, B, M = layer.lora_A.weight, layer.lora_B.weight, layer.interaction
    phi = torch.softmax(x @ layer.router.gate.weight.t(), dim=-1)  # (..., k)
    if variant == "paper":
        omega = torch.einsum("ij,...j->...i", M, phi)  # omega_i = sum_j M_ij phi_j
    else:
        m0 = M - torch.eye(k)
        mixed = phi + torch.einsum("...e,ef->...f", phi, m0)
        omega = mixed / mixed.sum(-1, keepdim=True) * k
    y = layer.base(x)
    for i in range(k):
        z_i = x @ A[i * r:(i + 1) * r].t()
        if variant == "authors":
            y = y + omega[..., i:i + 1] * ((z_i * s) @ B[:, i * r:(i + 1) * r].t())
        else:
            y = y + s * omega[..., i:i + 1] * (z_i @ B[:, i * r:(i + 1) * r].t())
    return y


@pytest.mark.parametrize("variant", ["paper", "authors"])
@pytest.mark.parametrize("path", ["forward", "forward_reference"])
def test_fused_and_loop_equal_the_formula_outputs_and_gradients(variant, path):
    layer = make_layer(variant)
    x = torch.randn(2, 5, D_IN, requires_grad=True)
    params = [x, layer.lora_A.weight, layer.lora_B.weight, layer.router.gate.weight, layer.interaction]
    y = getattr(layer, path)(x)
    grads = torch.autograd.grad(y.square().sum(), params)
    y_ref = reference(layer, x, variant)
    grads_ref = torch.autograd.grad(y_ref.square().sum(), params)
    assert rel_err(y, y_ref) <= 1e-5
    assert rel_err(y_ref, layer.base(x)) > 1e-2  # the adapter contributes, so the comparison means something
    for name, g, g_ref in zip(["x", "A", "B", "router", "M"], grads, grads_ref):
        assert rel_err(g, g_ref) <= 1e-5, name
        assert float(g_ref.abs().max()) > 0, name


def test_authors_output_is_k_times_paper_at_identity_M():
    paper, authors = make_layer("paper"), make_layer("authors")
    authors.load_state_dict(paper.state_dict())
    with torch.no_grad():
        paper.interaction.copy_(torch.eye(K))
        authors.interaction.copy_(torch.eye(K))
    x = torch.randn(6, D_IN)
    delta_paper = paper(x) - paper.base(x)
    delta_authors = authors(x) - authors.base(x)
    assert float(delta_paper.abs().max().detach()) > 1e-2
    torch.testing.assert_close(delta_authors, K * delta_paper, rtol=1e-5, atol=1e-6)
    _, omega = authors.route(x)
    torch.testing.assert_close(omega.sum(-1), torch.full((6,), float(K)))


@pytest.mark.parametrize("variant", ["paper", "authors"])
def test_dropout_sits_on_x_for_paper_and_on_A_output_for_authors(variant):
    layer = make_layer(variant, dropout=0.5).train()
    x = torch.randn(5, D_IN)
    torch.manual_seed(7)
    y = layer(x)
    torch.manual_seed(7)  # the same single dropout draw, placed where the variant puts it
    A, B, s = layer.lora_A.weight, layer.lora_B.weight, layer.scaling
    _, omega = layer.route(x)
    if variant == "authors":
        z = F.dropout(x @ A.t(), 0.5, training=True)
    else:
        z = F.dropout(x, 0.5, training=True) @ A.t()
    gate = (omega * s).repeat_interleave(R, dim=-1)  # (5, k*r)
    expected = layer.base(x) + (z * gate) @ B.t()
    torch.testing.assert_close(y, expected, rtol=1e-5, atol=1e-6)
    other = F.dropout(x, 0.5, training=True) @ A.t() if variant == "authors" else x @ A.t()
    assert not torch.allclose(y, layer.base(x) + (other * gate) @ B.t())


def test_authors_init_and_defaults():
    cfg = TeamLoraConfig()
    assert (cfg.variant, cfg.alpha, cfg.interaction_init, cfg.interaction_offdiag) == ("authors", 64.0, "centered_diag", 0.1)
    torch.manual_seed(0)
    layer = TeamLoraLinear(nn.Linear(32, 32), TeamLoraConfig(r=2, num_experts=8))
    m = layer.interaction.detach()
    assert torch.equal(torch.diagonal(m), torch.ones(8))
    off = m[~torch.eye(8, dtype=torch.bool)]
    assert -0.1 <= float(off.min()) < -0.05 and 0.05 < float(off.max()) <= 0.1  # U(-0.1, 0.1): both signs
    assert layer.router.hidden is None and layer.router.gate.bias is None  # one bias-free linear
    assert layer.dropout_on_z and torch.count_nonzero(layer.lora_B.weight) == 0
    paper = TeamLoraConfig(variant="paper")
    assert (paper.interaction_init, paper.interaction_offdiag) == ("uniform_diag", 0.01)


def test_alpha_unset_is_two_r_and_variant_is_teamlora_only():
    assert TeamLoraConfig(method="lora", r=8).alpha == 16.0
    assert TeamLoraConfig(method="moelora", r=8, alpha=None).scaling == 2.0
    assert TeamLoraConfig(method="moelora").variant is None
    with pytest.raises(AdapterConfigError, match="variant='paper' is a teamlora setting"):
        TeamLoraConfig(method="moelora", variant="paper")
    with pytest.raises(AdapterConfigError, match="variant='team' is not one of authors, paper"):
        TeamLoraConfig(variant="team")
    assert "alpha" in TeamLoraConfig.help_text() and "2 * r" in TeamLoraConfig.help_text()["alpha"]


def _adapted(variant, **kw):
    model = make_tiny_llama()
    add_adapters(model, TeamLoraConfig(method="teamlora", variant=variant, r=4, **kw))
    randomize_adapters(model, seed=5)
    with torch.no_grad():
        for _, layer in adapted_layers(model):
            layer.interaction.add_(torch.eye(4))
    return model.eval()


@pytest.mark.parametrize("variant", ["paper", "authors"])
def test_roundtrip_records_the_variant_and_the_resolved_alpha(variant, tmp_path, token_batch):
    model = _adapted(variant)
    expected = model(token_batch).logits
    save_adapters(model, tmp_path)
    meta = json.loads((tmp_path / "adapter_config.json").read_text())
    assert meta["variant"] == variant and meta["alpha"] == 8.0
    fresh = load_adapters(make_tiny_llama(), tmp_path)
    assert get_config(fresh).variant == variant
    assert torch.equal(fresh(token_batch).logits, expected)


def test_an_adapter_saved_before_variants_loads_as_paper(tmp_path, token_batch):
    model = _adapted("paper")
    expected = model(token_batch).logits
    save_adapters(model, tmp_path)
    file = tmp_path / "adapter_config.json"
    meta = json.loads(file.read_text())
    del meta["variant"]  # the old format: no such key; its init was uniform_diag / 0.01, saved explicitly
    assert (meta["interaction_init"], meta["interaction_offdiag"]) == ("uniform_diag", 0.01)
    file.write_text(json.dumps(meta))
    fresh = load_adapters(make_tiny_llama(), tmp_path)
    config = get_config(fresh)
    assert (config.variant, config.interaction_init, config.interaction_offdiag) == ("paper", "uniform_diag", 0.01)
    assert torch.equal(fresh(token_batch).logits, expected)
    # the same weights read as "authors" compute something else: the default would have changed the model
    assert not torch.allclose(_adapted("authors")(token_batch).logits, expected)


def test_resuming_into_the_other_variant_is_named(tmp_path):
    save_adapters(_adapted("paper"), tmp_path)
    with pytest.raises(AdapterLoadError, match="variant: saved 'paper', model 'authors'"):
        load_adapter_weights(_adapted("authors"), tmp_path)
