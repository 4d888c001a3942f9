"""TeamLoraConfig: one dataclass for all four methods, validated on construction."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

from .errors import AdapterConfigError

METHODS = ("lora", "moelora", "hydralora", "teamlora")
ROUTED_METHODS = ("moelora", "hydralora", "teamlora")
INTERACTION_INITS = ("uniform_diag", "identity")
DEFAULT_TARGETS = ("gate_proj", "up_proj", "down_proj")  # the paper adapts the FFN only


@dataclass
class TeamLoraConfig:
    """Adapter configuration.

    method:          lora | moelora | hydralora | teamlora (see DESIGN §2 table).
    r:               rank PER EXPERT (for lora: the rank). TeamLoRA's shared A has num_experts*r rows.
    num_experts:     k. None -> 4 for routed methods, 1 for lora (lora takes no other value).
    alpha:           scaling = alpha / r, i.e. per-expert rank, as PEFT does for a rank-r LoRA.
                     Routed weights sum to ~1 per token, so the adapter's output scale matches a rank-r LoRA.
    dropout:         dropout on the adapter input (not on the router input).
    target_modules:  list of module-name suffixes ("gate_proj" matches "...mlp.gate_proj"), or one regex
                     string matched with re.fullmatch against the full module name.
    modules_scope:   only adapt modules whose name contains this sub-module name as a path component
                     (e.g. "language_model", so a vision tower is never touched). None = whole model.
    modules_to_save: non-adapter modules trained fully and saved with the adapters (e.g. the projector).
    router_hidden:   0 = linear router d_in -> k; > 0 = MLP d_in -> hidden -> k (teamlora only).
    interaction_init: "uniform_diag" (paper: ones on the diagonal, U(0, interaction_offdiag) elsewhere)
                     or "identity".
    balance_loss_coef: > 0 makes routed layers keep their router probabilities so that
                     teamlora.balance_loss(model) can be added by the caller. Off by default (paper).
    use_interaction: teamlora only; False drops M (omega = phi). That "collaboration only" ablation is
                     exactly MoELoRA's computation: with DESIGN §2's contiguous split, a shared (k*r)-row A
                     is MoELoRA's k stacked A's, so the methods differ only in the router and M.
    """

    method: str = "teamlora"
    r: int = 32
    num_experts: Optional[int] = None
    alpha: float = 64.0
    dropout: float = 0.05
    target_modules: Union[Sequence[str], str] = DEFAULT_TARGETS
    modules_scope: Optional[str] = None
    modules_to_save: Sequence[str] = ()
    router_hidden: int = 0
    interaction_init: str = "uniform_diag"
    interaction_offdiag: float = 0.01
    balance_loss_coef: float = 0.0
    use_interaction: bool = True

    def __post_init__(self) -> None:
        errors = []
        if self.method not in METHODS:
            errors.append(f"method={self.method!r} is not one of {', '.join(METHODS)}")
        if self.num_experts is None:
            self.num_experts = 1 if self.method == "lora" else 4
        if self.method == "lora" and self.num_experts != 1:
            errors.append(f"method='lora' has no experts; num_experts must be 1 (got {self.num_experts})")
        if self.method in ROUTED_METHODS and self.num_experts < 2:
            errors.append(f"method={self.method!r} needs num_experts >= 2 (got {self.num_experts})")
        if not isinstance(self.r, int) or self.r < 1:
            errors.append(f"r must be a positive int (got {self.r!r})")
        if self.alpha <= 0:
            errors.append(f"alpha must be > 0 (got {self.alpha})")
        if not 0.0 <= self.dropout < 1.0:
            errors.append(f"dropout must be in [0, 1) (got {self.dropout})")
        if self.router_hidden < 0 or (self.router_hidden > 0 and self.method != "teamlora"):
            errors.append(f"router_hidden={self.router_hidden} is only for method='teamlora' and must be >= 0")
        if not self.use_interaction and self.method != "teamlora":
            errors.append(f"use_interaction=False is a teamlora ablation; {self.method!r} has no interaction matrix")
        if self.interaction_init not in INTERACTION_INITS:
            errors.append(f"interaction_init={self.interaction_init!r} is not one of {INTERACTION_INITS}")
        if self.interaction_offdiag < 0:
            errors.append(f"interaction_offdiag must be >= 0 (got {self.interaction_offdiag})")
        if self.balance_loss_coef < 0:
            errors.append(f"balance_loss_coef must be >= 0 (got {self.balance_loss_coef})")
        if isinstance(self.target_modules, str):
            try:
                re.compile(self.target_modules)
            except re.error as e:
                errors.append(f"target_modules regex {self.target_modules!r} does not compile: {e}")
        else:
            self.target_modules = list(self.target_modules)
            if not self.target_modules:
                errors.append("target_modules is empty")
        self.modules_to_save = list(self.modules_to_save)
        if errors:
            raise AdapterConfigError("invalid TeamLoraConfig: " + "; ".join(errors))

    @property
    def scaling(self) -> float:
        return self.alpha / self.r

    @property
    def is_routed(self) -> bool:
        return self.method in ROUTED_METHODS

    @property
    def a_rows(self) -> int:
        """Rows of lora_A: HydraLoRA shares one rank-r A; the others stack k rank-r blocks."""
        return self.r if self.method == "hydralora" else self.num_experts * self.r

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TeamLoraConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise AdapterConfigError(f"unknown TeamLoraConfig fields: {unknown}")
        return cls(**d)
