"""save_adapters / load_adapters: adapter_config.json + adapter_model.safetensors (PEFT's file layout).

Keys in the safetensors file are full module paths of the model the adapter was trained on
(e.g. "model.language_model.layers.0.mlp.gate_proj.lora_A.weight"), so a load can check every name.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Union

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .config import TeamLoraConfig
from .errors import AdapterLoadError, TeamLoraError
from .model import SAVED_ATTR, adapted_layers, adapter_state_dict, add_adapters, get_config, has_adapters

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
FORMAT = "teamlora"
FORMAT_VERSION = 1


def _atomic_write(path: Path, write) -> None:
    """Write to a temporary name, then rename: a crash never leaves a half-written adapter behind."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def adapter_metadata(model: nn.Module) -> dict:
    """The adapter_config.json content for the model's current adapters."""
    config = get_config(model)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **config.to_dict(),
        "adapted_modules": {
            name: [layer.in_features, layer.out_features] for name, layer in adapted_layers(model)
        },
        "saved_modules": list(getattr(model, SAVED_ATTR, [])),
    }


def save_adapters(
    model: nn.Module,
    out_dir: Union[str, Path],
    *,
    state_dict: Optional[Dict[str, torch.Tensor]] = None,
    extra_metadata: Optional[dict] = None,
) -> Path:
    """Write adapter_config.json and adapter_model.safetensors into out_dir.

    state_dict: pass an already-gathered adapter_state_dict (ZeRO-3 partitions parameters, so the
    trainer gathers them first); default: read it from the model.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = adapter_metadata(model)
    if extra_metadata:
        meta.update(extra_metadata)
    tensors = state_dict if state_dict is not None else adapter_state_dict(model)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    _atomic_write(out / WEIGHTS_NAME, lambda p: save_file(tensors, str(p), metadata={"format": "pt"}))
    _atomic_write(out / CONFIG_NAME, lambda p: p.write_text(json.dumps(meta, indent=2) + "\n"))
    return out


def read_adapter_config(path: Union[str, Path]) -> dict:
    file = Path(path) / CONFIG_NAME
    if not file.is_file():
        raise AdapterLoadError(f"no {CONFIG_NAME} in {path}")
    try:
        meta = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise AdapterLoadError(f"{file} is not valid JSON: {e}") from e
    if meta.get("format") != FORMAT:
        raise AdapterLoadError(
            f"{file} is not a {FORMAT} adapter (format={meta.get('format')!r}); "
            "a PEFT adapter loads with peft.PeftModel.from_pretrained"
        )
    return meta


def _check_fits(model: nn.Module, modules: Dict[str, List[int]]) -> List[str]:
    problems = []
    for name, (d_in, d_out) in modules.items():
        try:
            module = model.get_submodule(name)
        except AttributeError:
            problems.append(f"{name}: no such module in the model")
            continue
        if not isinstance(module, nn.Linear):
            problems.append(f"{name}: is {type(module).__name__}, not nn.Linear")
        elif (module.in_features, module.out_features) != (d_in, d_out):
            problems.append(
                f"{name}: adapter was trained for {d_in}->{d_out}, model has "
                f"{module.in_features}->{module.out_features}"
            )
    return problems


def load_adapters(
    model: nn.Module, path: Union[str, Path], *, is_trainable: bool = False, expected_method: Optional[str] = None
) -> nn.Module:
    """Rebuild the adapters saved in `path` on a base model and load their weights.

    Every mismatch (method, module names, shapes, tensor names) is reported in one AdapterLoadError.
    Weights are cast to the dtype and device of the adapters built (float32 under a bf16/fp16 base, see
    teamlora.layer.adapter_dtype). is_trainable=False freezes everything.
    """
    if has_adapters(model):
        raise AdapterLoadError(
            f"cannot load {path}: the model already has adapters; load into a fresh base model "
            "or call remove_adapters(model) first"
        )
    meta = read_adapter_config(path)
    fields = {k: v for k, v in meta.items() if k not in ("format", "format_version", "adapted_modules", "saved_modules")}
    try:
        config = TeamLoraConfig.from_saved(fields)  # a teamlora file without `variant` predates it: "paper"
    except TeamLoraError as e:
        raise AdapterLoadError(f"{Path(path) / CONFIG_NAME}: {e}") from e
    problems = []
    if expected_method is not None and config.method != expected_method:
        problems.append(f"method: adapter is {config.method!r}, expected {expected_method!r}")
    problems += _check_fits(model, meta["adapted_modules"])
    if problems:
        raise AdapterLoadError(f"adapter {path} does not fit the model:\n  " + "\n  ".join(problems))

    add_adapters(model, config, only_names=list(meta["adapted_modules"]))
    weights_file = Path(path) / WEIGHTS_NAME
    if not weights_file.is_file():
        raise AdapterLoadError(f"no {WEIGHTS_NAME} in {path}")
    saved = load_file(str(weights_file), device="cpu")
    _copy_into(model, saved, weights_file)

    for p in model.parameters():
        if not is_trainable:
            p.requires_grad_(False)
    return model


def load_adapter_weights(model: nn.Module, path: Union[str, Path]) -> nn.Module:
    """Copy saved adapter weights into a model that already carries the same adapters (e.g. to resume).

    The saved config must describe the model's adapters (same method, rank, experts and modules).
    """
    meta = read_adapter_config(path)
    config = get_config(model)
    fields = {k: v for k, v in meta.items() if k not in ("format", "format_version", "adapted_modules", "saved_modules")}
    try:
        saved = TeamLoraConfig.from_saved(fields)
    except TeamLoraError as e:
        raise AdapterLoadError(f"{Path(path) / CONFIG_NAME}: {e}") from e
    problems = [
        f"{key}: saved {getattr(saved, key)!r}, model {getattr(config, key)!r}"
        for key in ("method", "variant", "r", "num_experts", "router_hidden")
        if getattr(saved, key) != getattr(config, key)
    ]
    model_modules = {name: [l.in_features, l.out_features] for name, l in adapted_layers(model)}
    if meta.get("adapted_modules") != model_modules:
        only_saved = sorted(set(meta.get("adapted_modules", {})) - set(model_modules))
        only_model = sorted(set(model_modules) - set(meta.get("adapted_modules", {})))
        problems.append(f"adapted modules differ (only in file: {only_saved[:5]}, only in model: {only_model[:5]})")
    if problems:
        raise AdapterLoadError(f"adapter {path} does not match the model's adapters:\n  " + "\n  ".join(problems))
    weights_file = Path(path) / WEIGHTS_NAME
    _copy_into(model, load_file(str(weights_file), device="cpu"), weights_file)
    return model


def _copy_into(model: nn.Module, saved: Dict[str, torch.Tensor], source: Path) -> None:
    targets = adapter_state_dict(model)
    missing = sorted(set(targets) - set(saved))
    unexpected = sorted(set(saved) - set(targets))
    wrong_shape = [
        f"{k}: file {tuple(saved[k].shape)} vs model {tuple(targets[k].shape)}"
        for k in sorted(set(saved) & set(targets))
        if saved[k].shape != targets[k].shape
    ]
    if missing or unexpected or wrong_shape:
        lines = [f"missing from file: {k}" for k in missing] + [f"not in model: {k}" for k in unexpected]
        raise AdapterLoadError(f"{source} does not match the adapters built from its config:\n  " + "\n  ".join(lines + wrong_shape))
    with torch.no_grad():
        for k, t in targets.items():
            t.copy_(saved[k].to(dtype=t.dtype, device=t.device))
