"""Inject adapters into a model, mark what trains, find adapted layers, merge LoRA."""
from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .config import TeamLoraConfig
from .errors import AdapterLoadError, MergeError
from .layer import TeamLoraLinear
from .targets import find_modules_to_save, find_target_linears

CONFIG_ATTR = "teamlora_config"
SAVED_ATTR = "teamlora_modules_to_save"
SAVED_PRECISION_ATTR = "teamlora_saved_precision"  # name -> (original dtype, hook handles)
HALF_DTYPES = (torch.float16, torch.bfloat16)


class _Float32Module:
    """Hooks that let a module trained in float32 sit in a bf16/fp16 model: its floating tensor inputs are
    cast to its parameters' dtype, its output back to the dtype its first floating input arrived in.
    A stack pairs each call's input dtype with its output (safe if a call re-enters or re-runs)."""

    def __init__(self) -> None:
        self.arrived: List[Optional[torch.dtype]] = []

    @staticmethod
    def _cast(values, dtype: torch.dtype):
        return type(values)(v.to(dtype) if torch.is_tensor(v) and v.is_floating_point() else v for v in values)

    def before(self, module: nn.Module, args: tuple, kwargs: dict):
        dtype = next((p.dtype for p in module.parameters()), None)
        inputs = [*args, *kwargs.values()]
        self.arrived.append(next((a.dtype for a in inputs if torch.is_tensor(a) and a.is_floating_point()), None))
        if dtype is None:
            return None
        return self._cast(args, dtype), dict(zip(kwargs, self._cast(list(kwargs.values()), dtype)))

    def after(self, module: nn.Module, args: tuple, kwargs: dict, output):
        dtype = self.arrived.pop() if self.arrived else None
        if dtype is None:
            return None
        if torch.is_tensor(output) and output.is_floating_point():
            return output.to(dtype)
        if isinstance(output, tuple):
            return self._cast(output, dtype)
        return None


def _train_in_float32(module: nn.Module) -> Tuple[Optional[torch.dtype], list]:
    """Upcast a half-precision modules_to_save module to float32 and hook its dtype boundary.

    Parameters DeepSpeed ZeRO-3 has partitioned are left alone (DeepSpeed keeps float32 master copies)."""
    params = list(module.parameters())
    if any(hasattr(p, "ds_id") for p in params):
        return None, []
    original = next((p.dtype for p in params if p.dtype in HALF_DTYPES), None)
    if original is not None:
        for p in params:
            if p.dtype in HALF_DTYPES:
                p.data = p.data.float()
    cast = _Float32Module()
    return original, [module.register_forward_pre_hook(cast.before, with_kwargs=True),
                      module.register_forward_hook(cast.after, with_kwargs=True)]


def adapted_layers(model: nn.Module) -> Iterator[Tuple[str, TeamLoraLinear]]:
    """(name, layer) for every adapted Linear, in module order."""
    for name, module in model.named_modules():
        if isinstance(module, TeamLoraLinear):
            yield name, module


def has_adapters(model: nn.Module) -> bool:
    return next(adapted_layers(model), None) is not None


def _set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def add_adapters(
    model: nn.Module, config: TeamLoraConfig, *, only_names: Optional[Sequence[str]] = None
) -> nn.Module:
    """Wrap the matching nn.Linear layers in place and freeze everything but adapters and modules_to_save.

    only_names: adapt exactly these module names (used by load_adapters); default: config's targets.
    Returns the same model object.
    """
    if has_adapters(model):
        raise AdapterLoadError(
            "model already has adapters (found TeamLoraLinear layers); call remove_adapters(model) first "
            "or load into a fresh base model"
        )
    names = list(only_names) if only_names is not None else find_target_linears(
        model, config.target_modules, config.modules_scope
    )
    saved = find_modules_to_save(model, config.modules_to_save)
    for p in model.parameters():
        p.requires_grad_(False)
    for name in names:
        base = model.get_submodule(name)
        if not isinstance(base, nn.Linear):
            raise AdapterLoadError(f"module {name!r} is {type(base).__name__}, not nn.Linear")
        layer = TeamLoraLinear(base, config)
        layer.train(base.training)  # a new module starts in train mode; follow the model's mode (dropout)
        _set_submodule(model, name, layer)
    for _, layer in adapted_layers(model):
        for pname, p in layer.named_parameters():
            if not pname.startswith("base."):
                p.requires_grad_(True)
    precision = {}
    for name in saved:
        module = model.get_submodule(name)
        for p in module.parameters():
            p.requires_grad_(True)
        precision[name] = _train_in_float32(module)  # trained fully: keep it in float32 like the adapters
    setattr(model, CONFIG_ATTR, config)
    setattr(model, SAVED_ATTR, saved)
    setattr(model, SAVED_PRECISION_ATTR, precision)
    return model


def get_config(model: nn.Module) -> TeamLoraConfig:
    config = getattr(model, CONFIG_ATTR, None)
    if config is None:
        raise AdapterLoadError("model has no adapters: call add_adapters or load_adapters first")
    return config


def remove_adapters(model: nn.Module) -> nn.Module:
    """Put the original Linear layers back (unmerging LoRA first). Trainability is left as is."""
    for name, layer in list(adapted_layers(model)):
        layer.unmerge()
        _set_submodule(model, name, layer.unload())
    _forget_adapter_attrs(model)
    return model


def _forget_adapter_attrs(model: nn.Module) -> None:
    """Drop the adapter bookkeeping; modules_to_save return to the dtype they had (and lose their hooks)."""
    for name, (original, handles) in getattr(model, SAVED_PRECISION_ATTR, {}).items():
        for handle in handles:
            handle.remove()
        if original is not None:
            model.get_submodule(name).to(original)
    for attr in (CONFIG_ATTR, SAVED_ATTR, SAVED_PRECISION_ATTR):
        if hasattr(model, attr):
            delattr(model, attr)


def adapter_state_dict(model: nn.Module) -> Dict[str, torch.Tensor]:
    """Adapter tensors (lora_A/B, router, interaction) plus modules_to_save, keyed by full name."""
    state: Dict[str, torch.Tensor] = {}
    for name, layer in adapted_layers(model):
        for pname, p in layer.named_parameters():
            if not pname.startswith("base."):
                state[f"{name}.{pname}"] = p.detach()
    for name in getattr(model, SAVED_ATTR, []):
        for pname, t in model.get_submodule(name).state_dict().items():
            state[f"{name}.{pname}"] = t.detach()
    return state


def trainable_parameter_names(model: nn.Module) -> List[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad]


def merge_adapters(model: nn.Module) -> nn.Module:
    """Fold plain-LoRA adapters into the base weights (reversible with unmerge_adapters)."""
    config = get_config(model)
    if config.is_routed:
        raise MergeError(
            f"{config.method} cannot be merged: the expert weights depend on each token. "
            "Keep the adapter modules for inference (save_adapters/load_adapters)."
        )
    for _, layer in adapted_layers(model):
        layer.merge()
    return model


def unmerge_adapters(model: nn.Module) -> nn.Module:
    for _, layer in adapted_layers(model):
        layer.unmerge()
    return model


def merge_and_unload(model: nn.Module) -> nn.Module:
    """Plain LoRA only: merge, then replace each wrapper by its (now merged) base Linear."""
    merge_adapters(model)
    for name, layer in list(adapted_layers(model)):
        _set_submodule(model, name, layer.unload())  # the merge is final: the layer drops its copy of W0
    _forget_adapter_attrs(model)
    return model


def set_adapters_enabled(model: nn.Module, enabled: bool) -> None:
    """Switch every adapter off (base model outputs) or back on."""
    for _, layer in adapted_layers(model):
        layer.disabled = not enabled
