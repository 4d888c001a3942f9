"""Parameter accounting: how many parameters train, and their share of the whole model."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class ParameterCount:
    trainable: int
    total: int  # every parameter, adapters included

    @property
    def share(self) -> float:
        """Trainable parameters as a fraction of all parameters (the paper's "%Params")."""
        return self.trainable / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"trainable {self.trainable:,} of {self.total:,} ({100 * self.share:.2f}%)"


def count_parameters(model: nn.Module) -> ParameterCount:
    """Counts work on the meta device too (numel needs no storage)."""
    trainable = total = 0
    for p in model.parameters():
        n = p.numel()
        total += n
        if p.requires_grad:
            trainable += n
    return ParameterCount(trainable, total)
