"""A checkpoint's input format: what eval must repeat to feed the model as training did.

Training records it in llava_run.json (``input_format_record``); model_vqa and the chat take it as
their default (``effective_input_format``). Recorded fields:
  conv_template       the conversation template's name (vicuna_v1, plain, plain_eos, ...)
  image_aspect_ratio  how images were fitted to the processor (pad = pad to a square; else none/square)
  num_image_tokens    <image> tokens per image (checked against the loaded model)
  model_max_length    the longest training sequence (for reference; eval does not cut prompts)
An original LLaVA-1.5 checkpoint records ``image_aspect_ratio`` in its config.json (kept in
llava_original_fields.json by the converter) and was trained with vicuna_v1 (its ``--version v1``).
A checkpoint without a record keeps the former defaults (vicuna_v1, pad), with a warning.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from llava.data.conversation import get_template

from .checkpoint import RUN_INFO_NAME, read_run_info
from .config import num_image_tokens
from .original import is_original_config, read_config

logger = logging.getLogger(__name__)

DEFAULT_CONV_TEMPLATE = "vicuna_v1"  # LLaVA-1.5's eval scripts and the former default here
DEFAULT_ASPECT_RATIO = "pad"
ORIGINAL_FIELDS_NAME = "llava_original_fields.json"  # written by llava.model.convert
# LLaVA's process_images pads only for "pad"; any other value (its default "square", or none) does not.
NO_PADDING = ("none", "square")


def input_format_record(*, conv_template: str, image_aspect_ratio: str, model_config, model_max_length: int) -> dict:
    """The fields training writes into llava_run.json (see the module docstring)."""
    return {
        "conv_template": get_template(conv_template).name,  # the alias v1 is stored as vicuna_v1
        "image_aspect_ratio": image_aspect_ratio,
        "num_image_tokens": num_image_tokens(model_config),
        "model_max_length": int(model_max_length),
    }


@dataclass(frozen=True)
class RecordedFormat:
    """What a checkpoint says about its inputs; None where it says nothing. ``source`` names the file."""

    conv_template: Optional[str]
    image_aspect_ratio: Optional[str]
    num_image_tokens: Optional[int]
    source: str


def _original_aspect(value: Optional[str]) -> str:
    # LLaVA pads only for "pad"; its default (absent or "square") feeds the processor as is.
    return "pad" if value == "pad" else "square" if "square" in _known_aspect_ratios() else "none"


def _known_aspect_ratios() -> tuple:
    from llava.data.dataset import ASPECT_RATIOS

    return tuple(ASPECT_RATIOS)


def recorded_format(model_path: str | Path) -> RecordedFormat:
    """Read the record of a training checkpoint, a converted original, or an original LLaVA checkpoint."""
    path = Path(model_path)
    info = read_run_info(path) if path.is_dir() else None
    if info is not None:
        return RecordedFormat(info.get("conv_template"), info.get("image_aspect_ratio"),
                              info.get("num_image_tokens"), str(path / RUN_INFO_NAME))
    fields = path / ORIGINAL_FIELDS_NAME
    if fields.is_file():
        original = json.loads(fields.read_text())
        return RecordedFormat(DEFAULT_CONV_TEMPLATE, _original_aspect(original.get("image_aspect_ratio")), None,
                              f"{fields} (a converted LLaVA-1.5 checkpoint; trained with vicuna_v1)")
    config = read_config(model_path, allow_network=False)  # a hub name: read after loading, from the cache
    if config is not None and is_original_config(config):
        source = f"the config.json of {model_path} (an original LLaVA-1.5 checkpoint; trained with vicuna_v1)"
        return RecordedFormat(DEFAULT_CONV_TEMPLATE, _original_aspect(config.get("image_aspect_ratio")), None, source)
    return RecordedFormat(None, None, None, str(model_path))


def _same_aspect(a: str, b: str) -> bool:
    return a == b or (a in NO_PADDING and b in NO_PADDING)


def _pick(flag_name: str, flag: Optional[str], recorded: Optional[str], default: str, source: str, same) -> str:
    if flag is not None:
        if recorded is not None and not same(flag, recorded):
            logger.warning("%s %s overrides the checkpoint's %s (recorded in %s): inputs will not match training",
                           flag_name, flag, recorded, source)
        return flag
    if recorded is None:
        logger.warning("%s records no %s (a checkpoint from before it was recorded, or a llava-hf model); "
                       "using %s %s", source, flag_name.lstrip("-").replace("-", "_"), flag_name, default)
        return default
    return recorded


@dataclass(frozen=True)
class InputFormat:
    conv_template: str
    image_aspect_ratio: str
    num_image_tokens: Optional[int]  # recorded count, checked against the model by check_image_tokens
    source: str


def effective_input_format(model_path: str | Path, conv_mode: Optional[str] = None,
                           image_aspect_ratio: Optional[str] = None) -> InputFormat:
    """The checkpoint's record, with explicit flags (None = not given) winning, and a warning where they
    disagree; unrecorded fields take the former defaults (vicuna_v1, pad) with a warning."""
    rec = recorded_format(model_path)
    same_template = lambda a, b: get_template(a).name == get_template(b).name  # noqa: E731
    template = _pick("--conv-mode", conv_mode, rec.conv_template, DEFAULT_CONV_TEMPLATE, rec.source, same_template)
    aspect = _pick("--image-aspect-ratio", image_aspect_ratio, rec.image_aspect_ratio, DEFAULT_ASPECT_RATIO,
                   rec.source, _same_aspect)
    get_template(template)  # an unknown name fails here, naming the known ones
    logger.info("input format: template %s, image aspect ratio %s (checkpoint record: %s)",
                get_template(template).name, aspect, rec.source)
    return InputFormat(template, aspect, rec.num_image_tokens, rec.source)


def check_image_tokens(fmt: InputFormat, model_config) -> None:
    """The recorded <image> token count must be the loaded model's."""
    actual = num_image_tokens(model_config)
    if fmt.num_image_tokens is not None and fmt.num_image_tokens != actual:
        raise ValueError(f"{fmt.source} records {fmt.num_image_tokens} image tokens per image, but the loaded "
                         f"model makes {actual}: its config or vision tower is not the one it was trained with")


def input_format_for(model_path: str | Path, model_config, conv_mode: Optional[str] = None,
                     image_aspect_ratio: Optional[str] = None) -> InputFormat:
    """What every reader of a loaded checkpoint uses (model_vqa, the chat, the study's usage):
    ``effective_input_format``, checked against the loaded model's image-token count."""
    fmt = effective_input_format(model_path, conv_mode, image_aspect_ratio)
    check_image_tokens(fmt, model_config)
    return fmt
