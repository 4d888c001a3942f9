"""Build a tiny LLaVA offline (CLIP-style tower + Llama + 2-layer MLP projector) and save it
like a real llava-hf checkpoint, so every loader treats it as one.

    python -m llava.model.tiny --data playground/data/synthetic --out playground/data/tiny-llava
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

import torch
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
)

from llava.data.conversation import VICUNA_SYSTEM

from .tokenizer import train_tokenizer

# Vicuna v1 template pieces: the tokenizer must know them even if the data never spells them out.
TEMPLATE_TEXTS = (VICUNA_SYSTEM, "USER", "ASSISTANT", "USER:", "ASSISTANT:", " USER:", " ASSISTANT:")
TEMPLATE_WEIGHT = 2000  # repeats: the system prompt is in every sample, so it should merge into few tokens
# OpenAI CLIP's normalisation; it keeps the tiny model's inputs in the same range as the real one's.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def num_image_tokens(config: LlavaConfig) -> int:
    """<image> tokens per image: (image_size / patch_size)^2 patches, plus CLS under 'full'.

    64 px / 16 px -> 16 (tiny); 336 px / 14 px -> 576 (LLaVA-1.5).
    """
    vision = config.vision_config
    patches = (vision.image_size // vision.patch_size) ** 2
    return patches + (1 if config.vision_feature_select_strategy == "full" else 0)


def _with_template(texts: Iterable[str]) -> Iterator[str]:
    for _ in range(TEMPLATE_WEIGHT):
        yield from TEMPLATE_TEXTS
    for text in texts:
        yield text
        # In a prompt a turn follows "USER: " / "ASSISTANT: ", so its first word carries a space.
        yield " " + text


def tiny_llava_config(
    *,
    vocab_size: int,
    image_token_id: int,
    bos_token_id: int,
    eos_token_id: int,
    pad_token_id: int,
    image_size: int = 64,
    patch_size: int = 16,
    vision_hidden: int = 128,
    vision_layers: int = 2,
    text_hidden: int = 256,
    text_layers: int = 2,
    text_intermediate: Optional[int] = None,
    max_length: int = 512,
) -> LlavaConfig:
    """LlavaConfig of the tiny model; heads are 32 wide in the tower and 64 wide in the LM."""
    if image_size % patch_size:
        raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
    if text_intermediate is None:  # Llama's ~8/3 ratio, rounded to a multiple of 16
        text_intermediate = 16 * round(text_hidden * 8 / 3 / 16)
    vision = CLIPVisionConfig(
        hidden_size=vision_hidden,
        intermediate_size=4 * vision_hidden,
        num_hidden_layers=vision_layers,
        num_attention_heads=max(1, vision_hidden // 32),
        image_size=image_size,
        patch_size=patch_size,
        projection_dim=vision_hidden,
    )
    text = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=text_hidden,
        intermediate_size=text_intermediate,
        num_hidden_layers=text_layers,
        num_attention_heads=max(1, text_hidden // 64),
        num_key_value_heads=max(1, text_hidden // 64),
        max_position_embeddings=max_length,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        tie_word_embeddings=False,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=image_token_id,
        vision_feature_layer=-1,  # -2 would leave half of a 2-layer tower unused
        vision_feature_select_strategy="default",
        projector_hidden_act="gelu",
    )
    config.image_seq_length = num_image_tokens(config)
    return config


def build_tiny_llava(
    out_dir: str | Path,
    texts: Iterable[str],
    *,
    seed: int = 0,
    image_size: int = 64,
    patch_size: int = 16,
    vision_hidden: int = 128,
    vision_layers: int = 2,
    text_hidden: int = 256,
    text_layers: int = 2,
    text_intermediate: Optional[int] = None,
    vocab_size: int = 512,
    max_length: int = 512,
) -> Path:
    """Train a tokenizer on ``texts``, build a seeded random tiny LLaVA and save model + processor."""
    out_dir = Path(out_dir)
    tokenizer = train_tokenizer(_with_template(texts), vocab_size=vocab_size, model_max_length=max_length)
    config = tiny_llava_config(
        vocab_size=len(tokenizer),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        image_size=image_size,
        patch_size=patch_size,
        vision_hidden=vision_hidden,
        vision_layers=vision_layers,
        text_hidden=text_hidden,
        text_layers=text_layers,
        text_intermediate=text_intermediate,
        max_length=max_length,
    )
    torch.manual_seed(seed)
    # _from_config, not the constructor: the constructor fails under ZeRO-3 init.
    model = LlavaForConditionalGeneration._from_config(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id

    image_processor = CLIPImageProcessor(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        image_token="<image>",
        num_additional_image_tokens=1,  # CLS, which the "default" strategy then drops
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def dataset_texts(data_dir: str | Path) -> Iterator[str]:
    """Every conversation turn of the training files (test files stay unseen, even by the tokenizer)."""
    data_dir = Path(data_dir)
    for name in ("pretrain.json", "train.json"):
        path = data_dir / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; run `python -m llava.data.synthetic --out {data_dir}` first")
        for n, record in enumerate(json.loads(path.read_text())):
            try:
                yield from (turn["value"] for turn in record["conversations"])
            except (KeyError, TypeError) as err:
                record_id = record.get("id", n) if isinstance(record, dict) else n
                raise ValueError(f"{path}: record {record_id!r} has no valid conversations") from err


def has_model(out_dir: Path) -> bool:
    return (out_dir / "config.json").is_file() and any(out_dir.glob("model*.safetensors"))


def main(argv: Optional[Sequence[str]] = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="playground/data/synthetic", help="synthetic dataset directory")
    parser.add_argument("--out", default="playground/data/tiny-llava")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--patch-size", type=int, default=16)
    parser.add_argument("--vocab-size", type=int, default=512)
    parser.add_argument("--text-hidden", type=int, default=256)
    parser.add_argument("--text-layers", type=int, default=2)
    parser.add_argument("--vision-hidden", type=int, default=128)
    parser.add_argument("--vision-layers", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--overwrite", action="store_true", help="rebuild even if --out holds a model")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if has_model(out) and not args.overwrite:
        print(f"{out} already holds a model; pass --overwrite to rebuild")
        return out
    build_tiny_llava(
        out,
        dataset_texts(args.data),
        seed=args.seed,
        image_size=args.image_size,
        patch_size=args.patch_size,
        vision_hidden=args.vision_hidden,
        vision_layers=args.vision_layers,
        text_hidden=args.text_hidden,
        text_layers=args.text_layers,
        vocab_size=args.vocab_size,
        max_length=args.max_length,
    )
    print(f"tiny LLaVA saved to {out}")
    return out


if __name__ == "__main__":
    from llava.entry import run_entry

    run_entry(main, ValueError, FileNotFoundError)  # bad sizes; no dataset yet: named in the message
