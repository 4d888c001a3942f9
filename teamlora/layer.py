"""The adapted Linear: LoRA, MoELoRA, HydraLoRA and TeamLoRA behind one fused forward.

Notation (docs/design.md#adapter-math): x (..., d_in); shared/stacked A (a_rows x d_in);
B = [B_1 .. B_k] (d_out x k*r); phi = router(x) (..., k) in float32; omega (..., k) the weights applied to
the experts:

    paper (and MoELoRA/HydraLoRA with M absent):  omega = M phi
    authors:  m = phi M (m_j = sum_i phi_i M_ij, the authors' einsum);  omega = k * m / sum_j m_j

    y = W0 x + b + s * sum_i omega_i B_i z_i,   z = A dropout(x) ("authors": z = dropout(A x)), chunks z_i of r
      = W0 x + b + B (z * repeat_interleave(s * omega, r))      <- the fused form used by forward()

The scaling s rides on the (..., k) gate, i.e. on A's output as in the authors' layer, so no d_out-wide
tensor is scaled. HydraLoRA has one rank-r A shared by all experts, so z_i = z for every i (z is tiled
k times). forward_reference() is the per-expert loop, kept for tests and as a benchmark baseline only.

Precision (as PEFT): adapter weights are float32 under bf16/fp16/quantised bases. Without autocast the
input is cast to the adapter dtype and the adapter's result back to the base output's dtype; under
autocast the input is left alone (the GEMMs pick autocast's dtype; no full-width copy of x is made).
Router math always runs in float32, autocast or not.
"""
from __future__ import annotations

import contextlib
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .config import TeamLoraConfig
from .errors import MergeError
from .router import ShapleyRouter, SoftmaxRouter, init_interaction


def adapter_dtype(base: nn.Linear) -> torch.dtype:
    """float32 adapters under bf16/fp16 and quantised bases (PEFT's autocast_adapter_dtype); float64 stays.

    A base DeepSpeed ZeRO-3 has already partitioned (built under zero.Init) is the exception: its
    adapters follow its dtype, as every parameter there must, and DeepSpeed keeps float32 master copies.
    """
    dtype = base.weight.dtype
    if hasattr(base.weight, "ds_id") and dtype.is_floating_point:
        return dtype
    return torch.float64 if dtype == torch.float64 else torch.float32


def autocast_enabled(x: torch.Tensor) -> bool:
    try:
        return torch.is_autocast_enabled(x.device.type)
    except (RuntimeError, ValueError):  # a device type autocast does not know (e.g. meta)
        return False


class TeamLoraLinear(nn.Module):
    """Wraps a frozen nn.Linear `base` with one adapter of the configured method."""

    def __init__(self, base: nn.Linear, config: TeamLoraConfig):
        super().__init__()
        self.base = base
        self.method = config.method
        self.variant = config.variant  # "authors" | "paper" for teamlora, None otherwise
        self.r = config.r
        self.num_experts = config.num_experts
        self.scaling = float(config.scaling)
        self.in_features = base.in_features
        self.out_features = base.out_features
        device = base.weight.device
        dtype = adapter_dtype(base)
        k, r = self.num_experts, self.r

        self.dropout = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()
        self.dropout_on_z = self.variant == "authors"  # the authors drop A's output, not x
        # A keeps nn.Linear's Kaiming-uniform init (as LoRA's A); B starts at zero -> output unchanged.
        self.lora_A = nn.Linear(self.in_features, config.a_rows, bias=False, device=device, dtype=dtype)
        self.lora_B = nn.Linear(k * r, self.out_features, bias=False, device=device, dtype=dtype)
        nn.init.zeros_(self.lora_B.weight)

        self.router: Optional[nn.Module] = None
        self.interaction: Optional[nn.Parameter] = None
        if self.method in ("moelora", "hydralora"):
            self.router = SoftmaxRouter(self.in_features, k, device=device, dtype=torch.float32)
        elif self.method == "teamlora":
            self.router = ShapleyRouter(
                self.in_features, k, hidden=config.router_hidden, device=device, dtype=torch.float32
            )
            if config.use_interaction:
                self.interaction = nn.Parameter(torch.empty(k, k, device=device, dtype=torch.float32))
                if device.type != "meta":
                    init_interaction(self.interaction, config.interaction_init, config.interaction_offdiag)

        # Public switches, set by teamlora.model.set_adapters_enabled / teamlora.stats.set_stats_tracking:
        self.disabled = False  # True: forward returns the base output alone
        self.track_stats = True  # accumulate routing sums for usage()
        self.keep_router_probs = config.balance_loss_coef > 0  # keep the last routing for pop_routing()
        # Private state; read and changed only through the methods below.
        self._merged = False
        self._unmerged_weight: Optional[torch.Tensor] = None  # W0 before merge(); unmerge() restores it
        self._last_phi: Optional[torch.Tensor] = None  # (..., k) with graph, until pop_routing()
        self._last_omega: Optional[torch.Tensor] = None  # (..., k) with graph; the authors' loss reads omega
        self.reset_stats()

    # ---- routing ---------------------------------------------------------------------------
    def route(self, x: torch.Tensor) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """Return (phi, omega), each (..., k) float32; (None, None) for plain LoRA."""
        if self.router is None:
            return None, None
        # float32 even under autocast: a bf16 softmax/mix over k logits loses what decides the routing
        no_autocast = torch.autocast(x.device.type, enabled=False) if autocast_enabled(x) else contextlib.nullcontext()
        with no_autocast:
            phi = self.router(x)
            return phi, self.mix(phi)

    def mix(self, phi: torch.Tensor) -> torch.Tensor:
        """omega (..., k) from phi (..., k): the interaction matrix and, for "authors", renormalise and x k."""
        m = None if self.interaction is None else self.interaction.float()
        if self.variant == "authors":
            mixed = phi if m is None else phi @ m  # mixed_j = sum_i phi_i M_ij (phi + phi M0 in their code)
            return mixed * (self.num_experts / mixed.sum(-1, keepdim=True))
        return phi if m is None else phi @ m.t()  # omega_i = sum_j M_ij phi_j

    def _adapter_input(self, x: torch.Tensor) -> torch.Tensor:
        # under autocast the GEMMs choose their dtype themselves: skip a full-width copy of x
        return x if autocast_enabled(x) else x.to(self.lora_A.weight.dtype)

    # ---- forward ---------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if self._merged or self.disabled:
            return out
        xa = self._adapter_input(x)
        phi, omega = self.route(xa)  # xa, not x: when it is already float32 the router makes no copy of it
        self._observe(phi, omega)
        z = self.dropout(self.lora_A(xa)) if self.dropout_on_z else self.lora_A(self.dropout(xa))  # (..., a_rows)
        if omega is None:
            delta = self.lora_B(z) * self.scaling  # plain LoRA, in PEFT's order of operations
        else:
            gate = (omega * self.scaling).to(z.dtype)  # (..., k)
            if self.method == "hydralora":
                # every B_i reads the same z: gate it per expert as one outer product (..., k, 1) * (..., 1, r)
                z = (gate.unsqueeze(-1) * z.unsqueeze(-2)).flatten(-2)  # (..., k*r)
            else:
                # z * repeat_interleave(gate, r), without materialising the repeated gate: (..., k, r) * (..., k, 1)
                z = (z.unflatten(-1, (self.num_experts, self.r)) * gate.unsqueeze(-1)).flatten(-2)
            delta = self.lora_B(z)  # (..., d_out)
        return out + delta.to(out.dtype)

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """Per-expert Python loop (how MoE-LoRA repos usually write it). Same math as forward()."""
        out = self.base(x)
        xa = self._adapter_input(x)
        if self.router is None:
            return out + (self.lora_B(self.lora_A(self.dropout(xa))) * self.scaling).to(out.dtype)
        _, omega = self.route(xa)
        xd = xa if self.dropout_on_z else self.dropout(xa)
        r = self.r
        delta = torch.zeros((), dtype=xa.dtype, device=xa.device)
        for i in range(self.num_experts):
            a_i = self.lora_A.weight if self.method == "hydralora" else self.lora_A.weight[i * r : (i + 1) * r]
            b_i = self.lora_B.weight[:, i * r : (i + 1) * r]
            z_i = F.linear(xd, a_i)  # (..., r)
            if self.dropout_on_z:
                z_i = self.dropout(z_i)
            h_i = F.linear(z_i, b_i)  # (..., d_out)
            delta = delta + omega[..., i : i + 1].to(h_i.dtype) * h_i
        return out + (delta * self.scaling).to(out.dtype)

    # ---- statistics ------------------------------------------------------------------------
    def reset_stats(self) -> None:
        """Forget the routing sums usage() reports (the next forward starts new ones)."""
        self._phi_sum: Optional[torch.Tensor] = None  # (k,) float32
        self._omega_sum: Optional[torch.Tensor] = None
        self._tokens = 0

    def usage(self) -> Optional[Tuple[torch.Tensor, torch.Tensor, int]]:
        """(mean phi (k,), mean omega (k,), tokens), on the CPU, over the tokens routed since reset_stats()
        while track_stats was on; None before the first such token (always None for plain LoRA)."""
        if self._tokens == 0:
            return None
        n = self._tokens
        return self._phi_sum.cpu() / n, self._omega_sum.cpu() / n, n

    def pop_routing(self) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """(phi, omega) of the last forward under grad, each (..., k) with its graph, and release them;
        (None, None) when none are kept (keep_router_probs off, plain LoRA, or already popped)."""
        phi, omega = self._last_phi, self._last_omega
        self._last_phi = self._last_omega = None
        return phi, omega

    @property
    def holds_routing(self) -> bool:
        """True while the last forward's routing weights are kept for pop_routing()."""
        return self._last_phi is not None or self._last_omega is not None

    @torch.no_grad()
    def _accumulate(self, phi: torch.Tensor, omega: torch.Tensor) -> None:
        k = self.num_experts
        phi_sum = phi.detach().reshape(-1, k).sum(0)
        omega_sum = omega.detach().reshape(-1, k).sum(0)
        if self._phi_sum is None or self._phi_sum.device != phi_sum.device:
            self._phi_sum, self._omega_sum = torch.zeros_like(phi_sum), torch.zeros_like(omega_sum)
        # out of place: sums first created under inference_mode can't be updated in place later
        self._phi_sum = self._phi_sum + phi_sum
        self._omega_sum = self._omega_sum + omega_sum
        self._tokens += phi.numel() // k

    def _observe(self, phi: Optional[torch.Tensor], omega: Optional[torch.Tensor]) -> None:
        if phi is None:
            return
        if self.track_stats:
            self._accumulate(phi, omega)
        if self.keep_router_probs and torch.is_grad_enabled():
            self._last_phi, self._last_omega = phi, omega

    # ---- merging ---------------------------------------------------------------------------
    @property
    def merged(self) -> bool:
        """True while the LoRA delta is folded into base.weight (forward then skips the adapter)."""
        return self._merged

    def delta_weight(self) -> torch.Tensor:
        """s * B A (d_out x d_in); only defined for plain LoRA."""
        if self.router is not None:
            raise MergeError(
                f"{self.method} cannot be merged into the base weight: its expert weights omega(x) depend "
                "on each token, so no single matrix equals the adapter. Export keeps the adapter modules."
            )
        return (self.lora_B.weight @ self.lora_A.weight) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        """Fold s * B A into base.weight, keeping a copy of W0 for unmerge(). Plain LoRA only."""
        if self._merged:
            return
        delta = self.delta_weight()
        if not self.base.weight.dtype.is_floating_point:
            raise MergeError("cannot merge into a quantised base weight; dequantise first")
        self._unmerged_weight = self.base.weight.detach().clone()  # unmerge restores it bit-for-bit
        self.base.weight += delta.to(self.base.weight.dtype)
        self._merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Put W0 back exactly as it was before merge(); nothing to do when not merged."""
        if not self._merged:
            return
        if self._unmerged_weight is None:
            raise MergeError("this layer's merge was made final by unload(); its base weight cannot be unmerged")
        self.base.weight.copy_(self._unmerged_weight)
        self._unmerged_weight = None
        self._merged = False

    def unload(self) -> nn.Linear:
        """The base Linear, to put back in this layer's place. A merged LoRA stays folded into it: the
        merge becomes final and the copy of W0 is dropped (its memory freed). Call unmerge() first to get
        the original weights back instead."""
        self._unmerged_weight = None
        return self.base

    def extra_repr(self) -> str:
        return (
            f"method={self.method}, in={self.in_features}, out={self.out_features}, r={self.r}, "
            f"experts={self.num_experts}, scaling={self.scaling:g}"
            + (f", variant={self.variant}" if self.variant else "")
        )
