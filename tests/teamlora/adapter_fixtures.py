"""Helpers for adapter tests: give fresh adapters non-trivial weights so outputs actually differ, and
compare two tensors by their largest relative difference."""
import torch

from teamlora import adapted_layers


def randomize_adapters(model, seed: int = 0, scale: float = 0.1) -> None:
    """B starts at zero and M near identity; fill them (and the routers) with random values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, layer in adapted_layers(model):
            for name, p in layer.named_parameters():
                if name.startswith("base."):
                    continue
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32).to(p.dtype) * scale)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b| (graphs detached)."""
    return float(((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).detach())
