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
    omega: (k,) mean weight actually applied to each expert (M phi for TeamLoRA "paper", k * normalise(phi M)
           for "authors" -- so it sums to k there; = phi otherwise).
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
        usage = layer.usage()
        if usage is not None:
            out[name] = ExpertStats(*usage)
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

    Per layer, with P_i the mean over the batch's tokens (padding included) of the layer's weights:
      TeamLoRA "authors": the authors' own loss on the applied weights omega (which sum to k per token):
          mean_i (P_i - 1/k)^2.  Since sum_i P_i = k, this is the variance of P around its mean 1 plus the
          constant (1 - 1/k)^2: it is (1 - 1/k)^2 when experts are used equally, never 0;
      every other routed layer: on the router probabilities phi, k * sum_i P_i^2 - 1, which is 0 when
          experts are used equally and k - 1 when one expert takes every token.
    Averaged over layers (how the authors weighted theirs in the published runs is not known). Layers keep
    their routing weights only when the config's balance_loss_coef > 0; they are released by this call.
    """
    terms = []
    for _, layer in adapted_layers(model):
        phi, omega = layer.pop_routing()
        if phi is None:
            continue
        k = layer.num_experts
        if layer.variant == "authors":
            p = omega.reshape(-1, k).mean(0)  # (k,)
            terms.append(((p - 1.0 / k) ** 2).mean())
        else:
            p = phi.reshape(-1, k).mean(0)  # (k,)
            terms.append(k * (p * p).sum() - 1.0)
    if not terms:
        return torch.zeros(())
    return torch.stack(terms).mean()
