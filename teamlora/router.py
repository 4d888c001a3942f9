"""Routers: map tokens x (..., d_in) to expert participations phi (..., k), softmaxed, in float32.

Router math runs in float32 whatever the model dtype: bf16 softmax over a handful of logits loses
the small differences that decide the routing.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _linear_fp32(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    bias = None if layer.bias is None else layer.bias.float()
    return F.linear(x.float(), layer.weight.float(), bias)


class SoftmaxRouter(nn.Module):
    """MoELoRA / HydraLoRA router: phi = softmax(W x). One linear layer, no bias."""

    def __init__(self, d_in: int, num_experts: int, *, device=None, dtype=None):
        super().__init__()
        self.gate = nn.Linear(d_in, num_experts, bias=False, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., d_in) -> (..., k) float32
        return torch.softmax(_linear_fp32(x, self.gate), dim=-1)


class ShapleyRouter(nn.Module):
    """TeamLoRA's router S: phi = softmax(S(x)), the approximated fuzzy Shapley values.

    S is linear (hidden=0) or a one-hidden-layer MLP with SiLU (hidden>0).
    """

    def __init__(self, d_in: int, num_experts: int, *, hidden: int = 0, device=None, dtype=None):
        super().__init__()
        if hidden > 0:
            self.hidden = nn.Linear(d_in, hidden, bias=True, device=device, dtype=dtype)
            self.gate = nn.Linear(hidden, num_experts, bias=False, device=device, dtype=dtype)
        else:
            self.hidden = None
            self.gate = nn.Linear(d_in, num_experts, bias=False, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., d_in) -> (..., k) float32
        h = x.float()
        if self.hidden is not None:
            h = F.silu(_linear_fp32(h, self.hidden))
        return torch.softmax(_linear_fp32(h, self.gate), dim=-1)


def init_interaction(matrix: torch.Tensor, init: str, offdiag: float) -> None:
    """Fill the k x k interaction matrix M in place.

    centered_diag: ones on the diagonal, U(-offdiag, offdiag) elsewhere (the authors' layer: its M0 is
        U(-0.1, 0.1) with a zero diagonal and it mixes phi + phi M0 = phi (I + M0));
    uniform_diag: ones on the diagonal, U(0, offdiag) elsewhere (the paper's "uniform with diagonal 1");
    identity: M = I, so omega = phi ("paper") or k * phi ("authors") at the start.
    """
    k = matrix.shape[0]
    with torch.no_grad():
        if init == "identity":
            matrix.copy_(torch.eye(k, dtype=matrix.dtype, device=matrix.device))
        else:
            matrix.uniform_(-offdiag if init == "centered_diag" else 0.0, offdiag)
            matrix.fill_diagonal_(1.0)
