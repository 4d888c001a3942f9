"""Convert an original LLaVA-1.5 checkpoint (LlavaLlamaForCausalLM) into a llava-hf directory.

    python -m llava.model.convert --src liuhaotian/llava-v1.5-7b --out checkpoints/llava-v1.5-7b-hf

Training, model_vqa and the chat also convert such a checkpoint on load (llava.model.original).

Original names -> transformers' LlavaForConditionalGeneration (in-memory names):
  model.embed_tokens / model.layers.* / model.norm -> model.language_model.*
  lm_head.*                                        -> lm_head.*
  model.mm_projector.{0,2}.*                       -> model.multi_modal_projector.linear_{1,2}.*
  model.vision_tower.vision_tower.vision_model.*   -> model.vision_tower.*
Checkpoints saved without the (frozen) vision tower get it from ``--vision-tower``
(default: the config's ``mm_vision_tower``).
"""
from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

import torch
from safetensors.torch import load_file, save_file
from transformers import (
    AutoImageProcessor,
    AutoTokenizer,
    CLIPVisionConfig,
    CLIPVisionModel,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
)

from .builder import prepare_tokenizer, projector_key
from .config import llava_config

logger = logging.getLogger(__name__)

TOWER_PREFIX = "model.vision_tower.vision_tower."
# Buffers that old checkpoints stored but transformers recomputes.
RECOMPUTED_SUFFIXES = ("rotary_emb.inv_freq", "position_ids")
SELECT_FEATURE = {"patch": "default", "cls_patch": "full"}
LLAVA_ONLY_FIELDS = ("mm_vision_tower", "mm_hidden_size", "mm_projector_type", "mm_vision_select_layer",
                     "mm_vision_select_feature", "image_aspect_ratio", "mm_use_im_start_end", "mm_patch_merge_type")


def weight_files(src: Path) -> list[Path]:
    """The checkpoint's *.safetensors, else its pytorch_model*.bin shards (LLaVA-1.5 publishes .bin)."""
    return sorted(src.glob("*.safetensors")) or sorted(src.glob("pytorch_model*.bin"))


def fetch_original(src: str | Path) -> Path:
    """A local folder as is; a hub name downloaded (config, tokenizer, one copy of the weights)."""
    if Path(src).is_dir():
        return Path(src)
    import huggingface_hub

    meta = ["*.json", "*.model", "*.txt"]
    folder = Path(huggingface_hub.snapshot_download(str(src), allow_patterns=meta + ["*.safetensors"]))
    if not weight_files(folder):  # no safetensors published: take the .bin shards
        folder = Path(huggingface_hub.snapshot_download(str(src), allow_patterns=meta + ["pytorch_model*.bin"]))
    return folder


def read_original_weights(src: Path) -> dict[str, torch.Tensor]:
    """All tensors of the checkpoint's *.safetensors, else its pytorch_model*.bin shards."""
    files = weight_files(src)
    if not files:
        raise FileNotFoundError(f"{src} holds no *.safetensors or pytorch_model*.bin weights")
    state: dict[str, torch.Tensor] = {}
    for path in files:
        part = load_file(path) if path.suffix == ".safetensors" else torch.load(path, map_location="cpu", weights_only=True)
        state.update(part)
    return state


def rename_key(key: str, tower_keys: set[str]) -> Optional[str]:
    """Original LLaVA name -> Llava in-memory name; None when no rule applies."""
    if key.startswith(("model.embed_tokens.", "model.layers.", "model.norm.")):
        return "model.language_model." + key[len("model."):]
    if key.startswith("lm_head."):
        return key
    if key.startswith("model.mm_projector."):
        inner = projector_key(key)
        return None if inner is None else "model.multi_modal_projector." + inner
    if key.startswith(TOWER_PREFIX):
        inner = key[len(TOWER_PREFIX):]
        # transformers 5's CLIPVisionModel has no "vision_model." level in its state dict; older ones do.
        for candidate in (inner, inner.removeprefix("vision_model.")):
            if candidate in tower_keys:
                return "model.vision_tower." + candidate
    return None


def rename_state_dict(original: Mapping[str, torch.Tensor], expected: Iterable[str]) -> dict[str, torch.Tensor]:
    """Rename every tensor; one error lists all unknown keys (recomputed buffers are dropped)."""
    expected = set(expected)
    tower_keys = {k[len("model.vision_tower."):] for k in expected if k.startswith("model.vision_tower.")}
    renamed, unknown = {}, []
    for key, tensor in original.items():
        new = rename_key(key, tower_keys)
        if new is not None and new in expected:
            renamed[new] = tensor
        elif not key.endswith(RECOMPUTED_SUFFIXES):
            unknown.append(key)
    if unknown:
        raise ValueError(f"{len(unknown)} checkpoint keys have no place in LlavaForConditionalGeneration: {sorted(unknown)[:20]}")
    return renamed


def llava_config_from_original(original: dict, vision_config: CLIPVisionConfig, image_token_id: int) -> LlavaConfig:
    """LlavaConfig from the original config.json fields (errors name the unsupported field)."""
    projector = original.get("mm_projector_type", "linear")
    if projector != "mlp2x_gelu":
        raise ValueError(f"mm_projector_type={projector!r}: only LLaVA-1.5's mlp2x_gelu maps onto transformers' Llava")
    if original.get("mm_use_im_start_end"):
        raise ValueError("mm_use_im_start_end=true (image start/end tokens) is not supported by transformers' Llava")
    feature = original.get("mm_vision_select_feature", "patch")
    if feature not in SELECT_FEATURE:
        raise ValueError(f"mm_vision_select_feature={feature!r}; expected one of {sorted(SELECT_FEATURE)}")
    if original.get("mm_hidden_size", vision_config.hidden_size) != vision_config.hidden_size:
        raise ValueError(f"mm_hidden_size={original['mm_hidden_size']} but the vision tower is "
                         f"{vision_config.hidden_size} wide")
    llama_fields = set(LlamaConfig().to_dict()) - {"architectures", "model_type", "transformers_version"}
    text_config = LlamaConfig(**{k: v for k, v in original.items() if k in llama_fields})
    return llava_config(vision_config, text_config, image_token_id=image_token_id,
                        vision_feature_layer=original.get("mm_vision_select_layer", -2),
                        vision_feature_select_strategy=SELECT_FEATURE[feature])


def convert_checkpoint(src: str | Path, out: str | Path, vision_tower: Optional[str | Path] = None) -> Path:
    """Write a llava-hf directory (model, processor, tokenizer) converted from ``src``."""
    src, out = Path(src), Path(out)
    original = json.loads((src / "config.json").read_text())
    tower_path = vision_tower or original.get("mm_vision_tower")
    if tower_path is None:
        raise ValueError(f"{src}/config.json has no mm_vision_tower; pass --vision-tower")
    vision_config = CLIPVisionConfig.from_pretrained(tower_path)
    tokenizer = AutoTokenizer.from_pretrained(src)
    prepare_tokenizer(tokenizer, "<image>")
    config = llava_config_from_original(original, vision_config, tokenizer.convert_tokens_to_ids("<image>"))

    with torch.device("meta"):  # only the key names are needed
        expected = set(LlavaForConditionalGeneration._from_config(config).state_dict())
    state = rename_state_dict(read_original_weights(src), expected)
    if not any(k.startswith("model.vision_tower.") for k in state):
        logger.info("%s has no vision tower weights; taking them from %s", src, tower_path)
        tower = CLIPVisionModel.from_pretrained(tower_path).state_dict()
        state.update({"model.vision_tower." + k: v for k, v in tower.items() if "model.vision_tower." + k in expected})
    missing = sorted(expected - set(state))
    if missing:
        raise ValueError(f"{src}: {len(missing)} weights of LlavaForConditionalGeneration are missing: {missing[:20]}")

    # Let transformers do the loading (meta init, buffers, dtype) from a staged copy.
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as staging:
        config.save_pretrained(staging)
        save_file({k: v.contiguous() for k, v in state.items()}, Path(staging) / "model.safetensors")
        model = LlavaForConditionalGeneration.from_pretrained(staging, dtype=next(iter(state.values())).dtype)
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))  # rows for <image> (and <pad> if added)
    model.config.text_config.pad_token_id = tokenizer.pad_token_id

    processor = LlavaProcessor(
        image_processor=AutoImageProcessor.from_pretrained(tower_path),
        tokenizer=tokenizer,
        patch_size=vision_config.patch_size,
        vision_feature_select_strategy=config.vision_feature_select_strategy,
        image_token="<image>",
        num_additional_image_tokens=1,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    # Fields transformers' Llava has no place for, kept for the data pipeline (e.g. "pad" = pad images to square).
    kept = {k: original[k] for k in LLAVA_ONLY_FIELDS if k in original}
    (out / "llava_original_fields.json").write_text(json.dumps(kept, indent=1) + "\n")
    if original.get("image_aspect_ratio") == "pad":
        logger.info("image_aspect_ratio=pad (kept in llava_original_fields.json, which model_vqa and the chat "
                    "follow): the llava-hf processor alone would centre-crop instead of padding to a square")
    return out


def main(argv: Optional[Sequence[str]] = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", required=True,
                        help="original LLaVA-1.5 checkpoint: a folder or a hub name (e.g. liuhaotian/llava-v1.5-7b)")
    parser.add_argument("--out", required=True, help="llava-hf output directory")
    parser.add_argument("--vision-tower", default=None, help="CLIP path or hub name (default: config's mm_vision_tower)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    out = convert_checkpoint(fetch_original(args.src), args.out, args.vision_tower)
    print(f"converted {args.src} -> {out}")
    return out


if __name__ == "__main__":
    from llava.entry import run_entry

    run_entry(main, ValueError, OSError)  # convert_checkpoint names the checkpoint at fault
