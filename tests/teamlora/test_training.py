"""Twenty optimizer steps on a tiny Llama at least halve the loss, for every method."""
import pytest
import torch

from teamlora import TeamLoraConfig, add_adapters
from teamlora.config import METHODS

from ..conftest import make_tiny_llama


@pytest.mark.parametrize("method", METHODS)
def test_twenty_steps_halve_the_loss(method):
    model = make_tiny_llama(seed=0).train()
    add_adapters(model, TeamLoraConfig(method=method, r=8, alpha=16, dropout=0.0))
    ids = torch.randint(0, 128, (4, 16), generator=torch.Generator().manual_seed(2))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(20):
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] <= 0.5 * losses[0], f"{method}: {losses[0]:.3f} -> {losses[-1]:.3f}"
