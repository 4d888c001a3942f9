"""What the machine offers: library versions, the device's name, and whether flash-attention and QLoRA can run."""
from __future__ import annotations

import importlib
import importlib.metadata
import platform
from typing import Dict, Optional

import torch

from .settings import Settings


def _version(dist: str) -> Optional[str]:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> Dict[str, Optional[str]]:
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": _version("peft"),
        "deepspeed": _version("deepspeed"),
        "flash_attn": _version("flash-attn") or _version("flash_attn"),
        "bitsandbytes": _version("bitsandbytes"),
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
    }


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def _import_error(module: str) -> Optional[str]:
    try:
        importlib.import_module(module)
    except Exception as err:  # ImportError, or a broken CUDA extension raising something else
        return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}".strip()
    return None


def attn_unavailable(attn: str, settings: Settings) -> Optional[str]:
    """None when `attn` can run here, else why not."""
    if attn == "sdpa":
        return None
    if attn == "flash_attention_2":
        err = _import_error("flash_attn")
        if err:
            return f"flash_attn does not import ({err}); install the gpu extra: pip install '.[gpu]'"
        if not settings.cuda:
            return "flash_attention_2 needs a CUDA device; this run is on CPU"
        return None
    return f"unknown attention implementation {attn!r}"


def first_attn(settings: Settings) -> str:
    """The first requested attention implementation that can run here (the base's and QLoRA's)."""
    return next((a for a in settings.attns if attn_unavailable(a, settings) is None), "sdpa")


def qlora_unavailable(settings: Settings) -> Optional[str]:
    if settings.skip_qlora:
        return "skipped by --skip-qlora"
    if not settings.cuda:
        return "QLoRA (bitsandbytes 4-bit) runs on a CUDA device only; this run is on CPU"
    err = _import_error("bitsandbytes")
    if err:
        return f"bitsandbytes does not import ({err}); install the gpu extra: pip install '.[gpu]'"
    return None
