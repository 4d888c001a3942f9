"""The tiny LLaVA: a CLIP-style tower + Llama + 2-layer MLP projector, built offline with seeded random
weights and saved like a real llava-hf checkpoint (model, processor, tokenizer), so every loader treats
it as one.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Optional

import torch
from transformers import (
    CLIPImageProcessorPil,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
)

from ..config import llava_config
from .texts import tokenizer_corpus
from .tokenizer import train_tokenizer

# OpenAI CLIP's normalisation; it keeps the tiny model's inputs in the same range as the real one's.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


DEFAULT_VOCAB = 512  # BPE vocabulary of the tokenizer build_tiny_llava trains


@dataclass(frozen=True)
class TinySizes:
    """The tiny model's shape (one home for its defaults); heads are 32 wide in the tower, 64 in the LM."""
    image_size: int = 64
    patch_size: int = 16  # (image_size / patch_size)^2 image tokens per image
    vision_hidden: int = 128
    vision_layers: int = 2
    text_hidden: int = 256
    text_layers: int = 2
    text_intermediate: Optional[int] = None  # None: Llama's ~8/3 ratio, rounded to a multiple of 16
    max_length: int = 512  # positions, and the tokenizer's model_max_length


def tiny_llava_config(*, vocab_size: int, image_token_id: int, bos_token_id: int, eos_token_id: int,
                      pad_token_id: int, **sizes) -> LlavaConfig:
    """LlavaConfig of the tiny model; ``sizes``: TinySizes fields (the rest keep their defaults)."""
    size = TinySizes(**sizes)
    if size.image_size % size.patch_size:
        raise ValueError(f"image_size {size.image_size} is not a multiple of patch_size {size.patch_size}")
    text_intermediate = size.text_intermediate
    if text_intermediate is None:
        text_intermediate = 16 * round(size.text_hidden * 8 / 3 / 16)
    vision = CLIPVisionConfig(
        hidden_size=size.vision_hidden,
        intermediate_size=4 * size.vision_hidden,
        num_hidden_layers=size.vision_layers,
        num_attention_heads=max(1, size.vision_hidden // 32),
        image_size=size.image_size,
        patch_size=size.patch_size,
        projection_dim=size.vision_hidden,
    )
    text = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=size.text_hidden,
        intermediate_size=text_intermediate,
        num_hidden_layers=size.text_layers,
        num_attention_heads=max(1, size.text_hidden // 64),
        num_key_value_heads=max(1, size.text_hidden // 64),
        max_position_embeddings=size.max_length,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        tie_word_embeddings=False,
    )
    # -1: LLaVA-1.5's -2 would leave half of a 2-layer tower unused
    return llava_config(vision, text, image_token_id=image_token_id, vision_feature_layer=-1,
                        vision_feature_select_strategy="default")


def build_tiny_llava(out_dir: str | Path, texts: Iterable[str], *, seed: int = 0, vocab_size: int = DEFAULT_VOCAB,
                     **sizes) -> Path:
    """Train a tokenizer on ``texts``, build a seeded random tiny LLaVA and save model + processor;
    ``sizes``: TinySizes fields."""
    out_dir = Path(out_dir)
    size = TinySizes(**sizes)
    tokenizer = train_tokenizer(tokenizer_corpus(texts), vocab_size=vocab_size, model_max_length=size.max_length)
    config = tiny_llava_config(
        vocab_size=len(tokenizer),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **asdict(size),
    )
    torch.manual_seed(seed)
    # _from_config, not the constructor: the constructor fails under ZeRO-3 init.
    model = LlavaForConditionalGeneration._from_config(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id

    # the PIL backend: LLaVA's own preprocessing, and no torchvision needed (nor its fallback warning)
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": size.image_size},
        crop_size={"height": size.image_size, "width": size.image_size},
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=size.patch_size,
        vision_feature_select_strategy="default",
        image_token="<image>",
        num_additional_image_tokens=1,  # CLS, which the "default" strategy then drops
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def has_model(out_dir: Path) -> bool:
    """Whether ``out_dir`` already holds a saved model (config and weights)."""
    return (out_dir / "config.json").is_file() and any(out_dir.glob("model*.safetensors"))
