"""One variant's adapted layers and AdamW, built once beside the shared base and swapped in for its steps."""
from __future__ import annotations

from typing import Dict

import torch
from torch import nn

from teamlora import adapted_layers, remove_adapters

from ..variants import PROJECTOR, apply_variant
from .memory import tensor_bytes
from .model import make_optimizer
from .settings import FFN_TARGETS, Settings


class Adapter:
    """One variant's adapted layers (and AdamW), kept outside the model while another variant trains."""

    def __init__(self, model, variant: str, settings: Settings, *, deepspeed_dtype: bool = True):
        self.name = variant
        apply_variant(model, variant, settings.k, settings.r, targets=FFN_TARGETS)
        self.layers: Dict[str, nn.Module] = dict(adapted_layers(model))
        self.bases: Dict[str, nn.Module] = {name: layer.base for name, layer in self.layers.items()}
        self.own_params = [p for layer in self.layers.values() for n, p in layer.named_parameters()
                           if not n.startswith("base.")]
        # teamlora makes adapters float32 under a bf16 base (for autocast, as PEFT); the 7B scripts train
        # under DeepSpeed, whose bf16 engine casts every parameter to bf16 and keeps float32 masters in its
        # optimizer: measure that path (deepspeed_dtype=False keeps teamlora's float32, as QLoRA trains)
        for p in self.own_params if deepspeed_dtype else ():
            p.data = p.data.to(settings.dtype)
        shared = [p for n, p in model.named_parameters() if PROJECTOR in n and p.requires_grad]
        self.optimizer = make_optimizer(self.own_params + shared, settings)
        remove_adapters(model)  # the wrappers (and their parameters) live on in self.layers

    def install(self, model) -> None:
        for name, layer in self.layers.items():
            model.set_submodule(name, layer)

    def uninstall(self, model) -> None:
        for name, base in self.bases.items():
            model.set_submodule(name, base)

    def resident_bytes(self) -> int:
        """Adapter parameters + every optimizer state tensor (the projector's weights are part of the base)."""
        total = sum(tensor_bytes(p) for p in self.own_params)
        for state in self.optimizer.state.values():
            total += sum(tensor_bytes(v) for v in state.values() if torch.is_tensor(v))
        return total

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
