"""The adapter variants the end-to-end benchmarks compare, applied to a whole LLaVA model.

    none          frozen language model, only the projector trains (LLaVA's stage 1)
    lora_r        LoRA of rank r
    lora_kr       LoRA of rank k*r: the reference (same A/B sizes as MoELoRA/TeamLoRA)
    moelora       MoELoRA, fused forward
    moelora_loop  MoELoRA as a per-expert Python loop (TeamLoraLinear.forward_reference)
    hydralora     HydraLoRA, fused forward
    teamlora      TeamLoRA, fused forward

Every variant adapts the language model's FFN (docs/design.md#adapter-math), trains the projector fully (stage 2).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

from torch import nn

from teamlora import TeamLoraConfig, add_adapters, adapted_layers

VARIANTS = ("none", "lora_r", "lora_kr", "moelora", "moelora_loop", "hydralora", "teamlora")
REFERENCE = "lora_kr"
PROJECTOR = "multi_modal_projector"


def adapter_config(variant: str, k: int, r: int, *, targets: Optional[Sequence[str]] = None) -> Optional[TeamLoraConfig]:
    """The TeamLoraConfig of a variant (None for "none"); alpha is TeamLoraConfig's default (2 * rank, scaling 2)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    if variant == "none":
        return None
    method, rank, experts = {
        "lora_r": ("lora", r, 1),
        "lora_kr": ("lora", k * r, 1),
    }.get(variant, (variant.removesuffix("_loop"), r, k))
    extra = {"target_modules": list(targets)} if targets else {}
    return TeamLoraConfig(method=method, r=rank, num_experts=experts, dropout=0.0,
                          modules_scope="language_model", modules_to_save=[PROJECTOR], **extra)


def use_reference_loop(model: nn.Module) -> int:
    """Route every adapted layer of `model` through its per-expert loop; returns how many layers."""
    count = 0
    for _, layer in adapted_layers(model):
        layer.forward = layer.forward_reference  # instance attribute: nn.Module.__call__ picks it up
        count += 1
    return count


def apply_variant(model: nn.Module, variant: str, k: int, r: int,
                  *, targets: Optional[Sequence[str]] = None) -> Tuple[nn.Module, Optional[TeamLoraConfig]]:
    """Add the variant's adapters to `model` in place and set what trains; returns (model, config)."""
    config = adapter_config(variant, k, r, targets=targets)
    if config is None:
        for name, p in model.named_parameters():
            p.requires_grad_(PROJECTOR in name)
        return model, None
    add_adapters(model, config)
    if variant.endswith("_loop"):
        use_reference_loop(model)
    return model, config
