"""Original-layout LLaVA-1.5 checkpoints (``LlavaLlamaForCausalLM``) given where a llava-hf model is
expected: detected from their config.json and converted on load, once, into a cached llava-hf copy.

LLaVA-1.5 users pass their checkpoints (``liuhaotian/llava-v1.5-7b`` or a local folder) as
``--model_name_or_path`` (training) or ``--model-path`` (eval, chat). Their config.json says
``model_type: llava`` — the name transformers' own Llava uses for a different layout — so without
this step transformers builds a default Llava whose weights mostly don't load.

Where the converted copy goes (logged every time):
  $LLAVA_CONVERTED_DIR/<name>-hf        when that variable is set (a folder you choose);
  <folder>-hf beside a local checkpoint  when its parent folder is writable;
  <HF_HOME>/llava-converted/<name>-hf   otherwise (and for hub names).
A copy is reused while the source's config.json and weight files (names, sizes, times) are unchanged.
Where converting here is impossible (no hub access, a vision tower that cannot be found), the error
gives the ``python -m llava.model.convert`` command to run instead.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Optional

from .convert import convert_checkpoint, fetch_original, weight_files

logger = logging.getLogger(__name__)

CACHE_ENV = "LLAVA_CONVERTED_DIR"
MARKER_NAME = "llava_converted_from.json"
SUPPORTED_ARCHITECTURE = "LlavaLlamaForCausalLM"
# Hub names of original checkpoints, recognised even when their config cannot be fetched.
ORIGINAL_HUB_NAME = re.compile(r"^liuhaotian/|^[^/]+/llava-v1(\.5)?-(7|13)b(?!.*-hf$)", re.IGNORECASE)


class OriginalCheckpointError(ValueError):
    """An original LLaVA checkpoint that cannot be converted here; the message says what to run."""


def read_config(name_or_path: str | os.PathLike, *, allow_network: bool = True) -> Optional[dict]:
    """config.json of a local folder or of a hub repo (from the hub cache, else fetched once).

    None for a folder without one, or a hub name that is not cached when the network may not be used
    (``allow_network=False`` or HF_HUB_OFFLINE). A hub name whose config cannot be fetched raises OSError
    now, rather than letting transformers wait through the same retries a second time.
    """
    local = Path(name_or_path)
    if local.is_dir():
        return _read_json(local / "config.json") if (local / "config.json").is_file() else None
    if local.exists():
        return None
    import huggingface_hub
    from huggingface_hub import constants

    name = str(name_or_path)
    try:
        cached = huggingface_hub.try_to_load_from_cache(name, "config.json")
    except Exception:  # not a valid repo id: a local path that does not exist
        cached = None
    if isinstance(cached, str):
        return _read_json(Path(cached))
    if not allow_network or constants.HF_HUB_OFFLINE:
        return None
    try:
        return _read_json(Path(huggingface_hub.hf_hub_download(name, "config.json")))
    except Exception as e:
        raise OSError(f"{name} is not a folder here, and its config.json cannot be fetched from the hub: {e}") from e


def _read_json(file: Path) -> dict:
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{file} is not valid JSON: {e}") from e


def is_original_config(config: dict) -> bool:
    """True for LLaVA's own layout: a Llama-style config with mm_* fields, no text_config/vision_config."""
    if "text_config" in config or "vision_config" in config:
        return False  # llava-hf layout
    architectures = config.get("architectures") or []
    return any(a.startswith("Llava") and a.endswith("ForCausalLM") for a in architectures) or \
        "mm_vision_tower" in config


def conversion_command(source: str, out: str | Path, vision_tower: Optional[str] = None) -> str:
    command = f"python -m llava.model.convert --src {source} --out {out}"
    return command + (f" --vision-tower {vision_tower}" if vision_tower else "")


def _slug(name_or_path: str) -> str:
    local = Path(name_or_path)
    if local.exists():  # a folder name may repeat elsewhere: add a hash of where it is
        digest = hashlib.sha1(str(local.resolve()).encode()).hexdigest()[:8]
        return f"{local.resolve().name}-{digest}"
    return str(name_or_path).strip("/").replace("/", "--")


def converted_location(name_or_path: str) -> Path:
    """Where the llava-hf copy of ``name_or_path`` lives (see the module docstring)."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen:
        return Path(chosen) / f"{_slug(name_or_path)}-hf"
    local = Path(name_or_path)
    if local.is_dir():
        folder = local.resolve()
        if os.access(folder.parent, os.W_OK):
            return folder.parent / f"{folder.name}-hf"
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "llava-converted" / f"{_slug(name_or_path)}-hf"


def fingerprint(src: Path, vision_tower: Optional[str]) -> dict:
    """What identifies the source: its config.json, its weight files, and the tower the copy took."""
    files = {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in weight_files(src)}
    config = hashlib.sha256((src / "config.json").read_bytes()).hexdigest()
    return {"config_sha256": config, "weights": files, "vision_tower": vision_tower}


def _read_marker(out: Path) -> Optional[dict]:
    try:
        return json.loads((out / MARKER_NAME).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def check_convertible(config: dict, src: Path, source: str) -> None:
    """Originals the converter does not take get an error that says what to do instead."""
    architectures = config.get("architectures") or [SUPPORTED_ARCHITECTURE]
    if SUPPORTED_ARCHITECTURE not in architectures:
        raise OriginalCheckpointError(
            f"{source} is an original LLaVA checkpoint of class {architectures[0]}; only LLaVA-1.5's "
            f"{SUPPORTED_ARCHITECTURE} (Vicuna/Llama) converts to transformers' Llava")
    if (src / "non_lora_trainables.bin").is_file():
        raise OriginalCheckpointError(
            f"{source} holds LLaVA LoRA weights (non_lora_trainables.bin), not a model: merge them into their base "
            "first with LLaVA's scripts/merge_lora_weights.py, then use the merged folder")
    if not weight_files(src) and (src / "mm_projector.bin").is_file():
        raise OriginalCheckpointError(
            f"{source} is a LLaVA stage-1 output (mm_projector.bin only): pass it as --pretrain_mm_mlp_adapter "
            f"{src / 'mm_projector.bin'} with the language model as --model_name_or_path and --vision_tower")


def resolve_llava_checkpoint(name_or_path: str | os.PathLike, vision_tower: Optional[str] = None) -> str:
    """``name_or_path`` unchanged unless it is an original LLaVA checkpoint; then its llava-hf copy
    (converted now, or reused). ``vision_tower`` overrides the config's ``mm_vision_tower``."""
    name = str(name_or_path)
    try:
        config = read_config(name)
    except OSError as e:
        return _unreadable_hub_original(name, vision_tower, e)
    if config is None:
        return _unreadable_hub_original(name, vision_tower)
    if not is_original_config(config):
        return name
    out = converted_location(name)
    try:
        src = fetch_original(name)
    except Exception as e:
        if _read_marker(out) is not None:  # the source is gone or unreachable, the copy is not
            logger.warning("%s cannot be fetched (%s); using its converted copy %s", name, e, out)
            return str(out)
        raise OriginalCheckpointError(
            f"{name} is an original LLaVA checkpoint (LlavaLlamaForCausalLM) and cannot be downloaded here ({e}). "
            f"Convert it where it can be reached:\n    {conversion_command(name, out.name, vision_tower)}\n"
            f"then pass the output folder instead of {name}") from e
    check_convertible(config, src, name)
    return str(_ensure_converted(name, src, out, vision_tower, vision_tower or config.get("mm_vision_tower")))


def _unreadable_hub_original(name: str, vision_tower: Optional[str], error: Optional[OSError] = None) -> str:
    """A name whose config cannot be read: a known original hub name gets its converted copy or the
    command; others pass on to the regular loader, or fail with ``error`` when the hub was asked."""
    if Path(name).exists() or not ORIGINAL_HUB_NAME.search(name):
        if error is not None:
            raise error
        return name
    out = converted_location(name)
    if _read_marker(out) is not None:
        logger.warning("%s cannot be reached; using its converted copy %s", name, out)
        return str(out)
    raise OriginalCheckpointError(
        f"{name} looks like an original LLaVA checkpoint (LlavaLlamaForCausalLM), and its config.json cannot be "
        f"fetched here (no hub access?). Convert it where the hub can be reached:\n"
        f"    {conversion_command(name, out.name, vision_tower)}\nthen pass the output folder instead of {name}")


def _ensure_converted(name: str, src: Path, out: Path, vision_tower: Optional[str], tower_used: Optional[str]) -> Path:
    """``vision_tower``: the explicit override (None: the config's); ``tower_used``: the one the copy takes."""
    from filelock import FileLock  # a dependency of huggingface_hub

    out.parent.mkdir(parents=True, exist_ok=True)
    wanted = {"source": name, **fingerprint(src, tower_used)}
    # One process converts; the others (ranks of a launch) wait here and then reuse its copy.
    with FileLock(str(out.parent / f".{out.name}.lock")):
        marker = _read_marker(out)
        if marker is not None and {k: marker.get(k) for k in wanted} == wanted:
            logger.info("%s is an original LLaVA checkpoint; using its converted llava-hf copy %s", name, out)
            return out
        if marker is not None or out.exists():
            logger.warning("%s changed since %s was converted from it (or the copy is incomplete): converting again",
                           name, out)
        logger.warning("%s is an original LLaVA checkpoint (LlavaLlamaForCausalLM): converting it to the llava-hf "
                       "layout in %s (once; set %s to choose the folder)", name, out, CACHE_ENV)
        staging = out.parent / f".{out.name}.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            convert_checkpoint(src, staging, vision_tower)
        except OSError as e:  # typically the vision tower (a hub name) cannot be found here
            shutil.rmtree(staging, ignore_errors=True)
            tower = vision_tower or "PATH/TO/clip-vit-large-patch14-336"
            raise OriginalCheckpointError(
                f"converting {name} failed: {e}\nConvert it where its vision tower can be reached, or name a local "
                f"CLIP folder:\n    {conversion_command(name, out, tower)}") from e
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        (staging / MARKER_NAME).write_text(json.dumps(wanted, indent=1) + "\n")
        shutil.rmtree(out, ignore_errors=True)
        os.replace(staging, out)  # the copy appears complete or not at all
        logger.info("converted %s -> %s", name, out)
    return out
