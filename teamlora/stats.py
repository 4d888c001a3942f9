"""Expert-utilisation statistics and the optional load-balancing loss."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import torch
from torch import nn

from .model import adapted_layers


@dataclass(frozen=True)
class ExpertStats:
    """Mean expert weights of one routed layer over the tokens seen since the last reset.

    phi:   (k,) mean router participation (softmax output; sums to 1).
    omega: (k,) mean weight actually applied to each expert (M phi for TeamLoRA; = phi otherwise).
    tokens: tokens observed (doubled under gradient checkpointing, which reruns forward; means are not).
    """

    phi: torch.Tensor
    omega: torch.Tensor
    tokens: int

    @property
    def cv(self) -> float:
        """Coefficient of variation of phi across experts: 0 = perfectly balanced."""
        return expert_cv(self.phi)


def expert_cv(weights) -> float:
    """Coefficient of variation (population std / mean) of k mean expert weights: 0 = perfectly balanced,
    sqrt(k - 1) = one expert takes everything. Accepts a tensor or a list of floats."""
    w = torch.as_tensor(weights, dtype=torch.float64)
    return float(w.std(unbiased=False) / w.mean())


def adapter_stats(model: nn.Module) -> Dict[str, ExpertStats]:
    """Per routed layer (by module name), the mean expert weights since the last reset."""
    out = {}
    for name, layer in adapted_layers(model):
        if layer._tokens > 0:
            n = layer._tokens
            out[name] = ExpertStats(layer._phi_sum.cpu() / n, layer._omega_sum.cpu() / n, n)
    return out


def reset_adapter_stats(model: nn.Module) -> None:
    for _, layer in adapted_layers(model):
        layer.reset_stats()


def set_stats_tracking(model: nn.Module, enabled: bool) -> None:
    for _, layer in adapted_layers(model):
        layer.track_stats = enabled


def summarize_stats(stats: Dict[str, ExpertStats]) -> Dict[str, float]:
    """A few scalars for a training log: mean/max load-imbalance (CV) and the largest expert share."""
    if not stats:
        return {}
    cvs: List[float] = [s.cv for s in stats.values()]
    return {
        "experts/cv_mean": sum(cvs) / len(cvs),
        "experts/cv_max": max(cvs),
        "experts/max_share": max(float(s.phi.max()) for s in stats.values()),
    }


def balance_loss(model: nn.Module) -> torch.Tensor:
    """Load-balancing loss from the last forward, for the caller to add (scaled by balance_loss_coef).

    Per layer: k * sum_i P_i^2 - 1 with P_i the mean participation of expert i over the batch's tokens;
    it is 0 when experts are used equally and k - 1 when one expert takes every token. Averaged over
    layers. Layers keep their router probabilities only when the config's balance_loss_coef > 0.
    The stored probabilities are released after this call.
    """
    terms = []
    for _, layer in adapted_layers(model):
        phi = layer._last_phi
        if phi is None:
            continue
        p = phi.reshape(-1, layer.num_experts).mean(0)  # (k,)
        terms.append(layer.num_experts * (p * p).sum() - 1.0)
        layer._last_phi = None
    if not terms:
        return torch.zeros(())
    return torch.stack(terms).mean()
