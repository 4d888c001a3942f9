"""TeamLoraConfig: one dataclass for all four methods, validated on construction.

This is the one home of the adapter defaults: the trainer's flags, the scripts, the benchmarks and the
study leave a setting unset (None) and let __post_init__ resolve it, so alpha = 2 * r everywhere unless
someone asks otherwise. The resolved values are what adapter_config.json records.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union

from .errors import AdapterConfigError

METHODS = ("lora", "moelora", "hydralora", "teamlora")
ROUTED_METHODS = ("moelora", "hydralora", "teamlora")
VARIANTS = ("authors", "paper")
DEFAULT_VARIANT = "authors"
LEGACY_VARIANT = "paper"  # what a teamlora adapter saved before `variant` existed computes
INTERACTION_INITS = ("uniform_diag", "centered_diag", "identity")
# init of M per variant, and the off-diagonal width per init
VARIANT_INTERACTION_INIT = {"paper": "uniform_diag", "authors": "centered_diag"}
DEFAULT_OFFDIAG = {"uniform_diag": 0.01, "centered_diag": 0.1, "identity": 0.0}
DEFAULT_TARGETS = ("gate_proj", "up_proj", "down_proj")  # the paper adapts the FFN only
ALPHA_PER_RANK = 2.0  # alpha unset -> 2 * r, i.e. scaling 2, what LLaVA-1.5's LoRA scripts use (r 128, alpha 256)


@dataclass
class TeamLoraConfig:
    """Adapter configuration (the math: docs/design.md#adapter-math). Every field's help text says what it
    means and its default.

    The two TeamLoRA variants, per token, with phi = softmax(router(x)) (..., k) and M the k x k
    interaction matrix:

        paper    omega = M phi                                        (the paper's text)
        authors  m = phi M (row vector: m_j = sum_i phi_i M_ij);  omega = k * m / sum_j m_j

    "authors" is what the authors' released layer computes (their lora.py): M with ones on the
    diagonal and U(-0.1, 0.1) off it, the mixed weights renormalised per token and multiplied by k,
    dropout on A's output instead of on x. It is the default because it is the closest thing to the
    code behind the published numbers. Note the x k: the weights sum to k, so at equal alpha the
    "authors" adapter output is k times the "paper" one (and k times MoELoRA's, whose weights sum to 1)
    -- an effective learning-rate difference that any comparison of methods must control for.
    """

    method: str = field(default="teamlora", metadata={
        "help": "Adapter method: lora | moelora | hydralora | teamlora (docs/design.md#adapter-math)."})
    r: int = field(default=32, metadata={
        "help": "Rank PER EXPERT (for lora: the rank). TeamLoRA's shared A has num_experts * r rows."})
    num_experts: Optional[int] = field(default=None, metadata={
        "help": "Experts k. Unset: 4 for moelora/hydralora/teamlora, 1 for lora (lora takes no other value)."})
    alpha: Optional[float] = field(default=None, metadata={
        "help": "Scaling = alpha / r (r per expert, as PEFT does for a rank-r LoRA and the TeamLoRA authors "
                "do per expert). Unset: 2 * r, i.e. scaling 2."})
    variant: Optional[str] = field(default=None, metadata={
        "help": "teamlora only: 'authors' (default; the authors' released layer: omega = k * normalise(phi M), "
                "dropout on A's output) or 'paper' (omega = M phi, dropout on x). At equal alpha 'authors' "
                "outputs k times 'paper'. Other methods have no variant (leave unset)."})
    dropout: float = field(default=0.05, metadata={
        "help": "Adapter dropout: on x ('paper', lora, moelora, hydralora) or on A's output ('authors'); "
                "never on the router input."})
    target_modules: Union[Sequence[str], str] = field(default=DEFAULT_TARGETS, metadata={
        "help": "Module-name suffixes ('gate_proj' matches '...mlp.gate_proj'), or one regex string matched "
                "with re.fullmatch against the full module name. Default: the FFN, as the paper."})
    modules_scope: Optional[str] = field(default=None, metadata={
        "help": "Only adapt modules whose name has this path component (e.g. 'language_model', so a vision "
                "tower is never touched). Unset: the whole model."})
    modules_to_save: Sequence[str] = field(default=(), metadata={
        "help": "Non-adapter modules trained fully (in float32) and saved with the adapters, e.g. the projector."})
    router_hidden: int = field(default=0, metadata={
        "help": "teamlora only: 0 = one bias-free linear router d_in -> k (the authors'); > 0 = an MLP "
                "d_in -> hidden -> k with SiLU."})
    interaction_init: Optional[str] = field(default=None, metadata={
        "help": "Init of M: 'centered_diag' (ones on the diagonal, U(-offdiag, offdiag) elsewhere; the "
                "authors'), 'uniform_diag' (ones on the diagonal, U(0, offdiag) elsewhere) or 'identity'. "
                "Unset: the variant's ('authors' -> centered_diag, 'paper' -> uniform_diag)."})
    interaction_offdiag: Optional[float] = field(default=None, metadata={
        "help": "Width of M's off-diagonal init. Unset: 0.1 for centered_diag (the authors'), 0.01 for "
                "uniform_diag."})
    balance_loss_coef: float = field(default=0.0, metadata={
        "help": "> 0 makes routed layers keep their last routing weights so that teamlora.balance_loss(model) "
                "can be added by the caller, times this. Off by default (the paper reports none). Formula: "
                "see teamlora.stats.balance_loss (the authors' own for variant 'authors')."})
    use_interaction: bool = field(default=True, metadata={
        "help": "teamlora only; False drops M. Under 'paper' that 'collaboration only' ablation is exactly "
                "MoELoRA's computation (a shared (k*r)-row A split into contiguous chunks is MoELoRA's k "
                "stacked A's); under 'authors' it is MoELoRA times k."})

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
        if not isinstance(self.r, int) or isinstance(self.r, bool) or self.r < 1:
            errors.append(f"r must be a positive int (got {self.r!r})")
        elif self.alpha is None:
            self.alpha = ALPHA_PER_RANK * self.r
        if self.alpha is not None and self.alpha <= 0:
            errors.append(f"alpha must be > 0 (got {self.alpha})")
        if self.method == "teamlora":
            if self.variant is None:
                self.variant = DEFAULT_VARIANT
            if self.variant not in VARIANTS:
                errors.append(f"variant={self.variant!r} is not one of {', '.join(VARIANTS)}")
            if self.interaction_init is None:
                self.interaction_init = VARIANT_INTERACTION_INIT.get(self.variant, "uniform_diag")
        elif self.variant is not None:
            errors.append(f"variant={self.variant!r} is a teamlora setting; {self.method!r} has no variants "
                          "(leave it unset)")
        if not 0.0 <= self.dropout < 1.0:
            errors.append(f"dropout must be in [0, 1) (got {self.dropout})")
        if self.router_hidden < 0 or (self.router_hidden > 0 and self.method != "teamlora"):
            errors.append(f"router_hidden={self.router_hidden} is only for method='teamlora' and must be >= 0")
        if not self.use_interaction and self.method != "teamlora":
            errors.append(f"use_interaction=False is a teamlora ablation; {self.method!r} has no interaction matrix")
        if self.interaction_init is not None and self.interaction_init not in INTERACTION_INITS:
            errors.append(f"interaction_init={self.interaction_init!r} is not one of {INTERACTION_INITS}")
        elif self.interaction_init is not None and self.interaction_offdiag is None:
            self.interaction_offdiag = DEFAULT_OFFDIAG[self.interaction_init]
        if self.interaction_offdiag is not None and self.interaction_offdiag < 0:
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

    @classmethod
    def from_saved(cls, d: dict[str, Any]) -> "TeamLoraConfig":
        """A config read back from an adapter_config.json. A teamlora adapter saved before `variant`
        existed computed omega = M phi: it loads as 'paper' (its saved interaction init is kept)."""
        d = dict(d)
        if d.get("method", "teamlora") == "teamlora" and "variant" not in d:
            d["variant"] = LEGACY_VARIANT
        return cls.from_dict(d)

    @classmethod
    def help_text(cls) -> dict[str, str]:
        """{field name: help}, for command-line parsers that want to show the library's own wording."""
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}
