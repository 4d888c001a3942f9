"""The paper's ablation grid collapses under the adapter math (docs/design.md#adapter-math); these
tests pin exactly how.

"Collaboration only" (shared A / split B, plain softmax router, no interaction matrix) is teamlora with
use_interaction=False. Its shared (k*r)-row A split into contiguous chunks is MoELoRA's k stacked A's,
so from the same seed the "paper" variant is MoELoRA, weight for weight and step for step; the
"authors" variant is MoELoRA with k times the output (its weights sum to k).
"""
import pytest
import torch

from teamlora import AdapterConfigError, TeamLoraConfig, adapted_layers, add_adapters, adapter_state_dict

from ..conftest import make_tiny_llama


def _train(config: TeamLoraConfig, steps: int = 5) -> tuple[list[float], dict]:
    model = make_tiny_llama(seed=0).train()
    torch.manual_seed(1)  # adapter init
    add_adapters(model, config)
    ids = torch.randint(0, 128, (4, 16), generator=torch.Generator().manual_seed(2))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(steps):
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, adapter_state_dict(model)


def test_collaboration_only_is_moelora_step_for_step():
    collab_losses, collab_state = _train(TeamLoraConfig(method="teamlora", variant="paper", r=8, alpha=16,
                                                        dropout=0.0, use_interaction=False))
    moe_losses, moe_state = _train(TeamLoraConfig(method="moelora", r=8, alpha=16, dropout=0.0))
    assert collab_losses == moe_losses
    assert collab_state.keys() == moe_state.keys()
    for name, tensor in moe_state.items():
        assert torch.equal(collab_state[name], tensor), name
    # and the losses really moved, so equality is not two frozen models agreeing
    assert moe_losses[-1] < 0.9 * moe_losses[0]


def test_authors_collaboration_only_is_moelora_at_k_times_alpha_step_for_step():
    """omega = k * phi: MoELoRA with alpha * k computes the same (up to rounding of the renormalisation)."""
    collab_losses, collab_state = _train(TeamLoraConfig(method="teamlora", variant="authors", r=8, alpha=16,
                                                        dropout=0.0, use_interaction=False))
    moe_losses, moe_state = _train(TeamLoraConfig(method="moelora", r=8, alpha=16 * 4, dropout=0.0))
    assert collab_losses == pytest.approx(moe_losses, rel=1e-4)
    paper_losses, _ = _train(TeamLoraConfig(method="moelora", r=8, alpha=16, dropout=0.0))
    assert abs(paper_losses[-1] - collab_losses[-1]) > 1e-2  # the x k does change the trajectory


@pytest.mark.parametrize("variant", ["paper", "authors"])
def test_interaction_matrix_changes_the_trajectory(variant):
    team_losses, team_state = _train(TeamLoraConfig(method="teamlora", variant=variant, r=8, alpha=16, dropout=0.0))
    moe_losses, _ = _train(TeamLoraConfig(method="moelora", r=8, alpha=16, dropout=0.0))
    assert any(name.endswith("interaction") for name in team_state)
    assert team_losses[0] == pytest.approx(moe_losses[0], abs=1e-6)  # B = 0: both start as the base model
    assert team_losses[-1] != moe_losses[-1]


def test_without_interaction_no_matrix_is_created():
    model = make_tiny_llama(seed=0)
    add_adapters(model, TeamLoraConfig(method="teamlora", r=4, use_interaction=False))
    assert all(layer.interaction is None for _, layer in adapted_layers(model))


def test_use_interaction_false_is_teamlora_only():
    with pytest.raises(AdapterConfigError, match="use_interaction=False is a teamlora ablation"):
        TeamLoraConfig(method="hydralora", use_interaction=False)
