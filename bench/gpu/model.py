"""The model a bench.gpu run trains: LLaVA-1.5-7B's config (or the dry run's tiny one), built with random
weights on the device, its inputs, its optimizer, and activation checkpointing on or off."""
from __future__ import annotations

from typing import Dict, Sequence

import torch
from torch import nn

from llava.model.config import llava_config

from ..e2e import llava_batch
from ..harness import random_llava
from .settings import Settings


def llava7b_config():
    """LLaVA-1.5-7B as llava-hf/llava-1.5-7b-hf ships it: Vicuna-7B + CLIP ViT-L/14-336 + mlp2x_gelu."""
    from transformers import CLIPVisionConfig, LlamaConfig

    vision = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                              image_size=336, patch_size=14, projection_dim=768, hidden_act="quick_gelu")
    text = LlamaConfig(vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096,
                       rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, pad_token_id=32001,
                       tie_word_embeddings=False)
    # the project's one LlavaConfig builder: LLaVA-1.5's projector, image_seq_length = 576 from the tower
    return llava_config(vision, text, image_token_id=32000, vision_feature_layer=-2,
                        vision_feature_select_strategy="default")


def dry_config():
    """The dry run's tiny LLaVA (16 image tokens)."""
    from llava.model.tiny import tiny_llava_config

    return tiny_llava_config(vocab_size=256, image_token_id=255, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                             image_size=64, patch_size=16, vision_hidden=32, vision_layers=1, text_hidden=64,
                             text_layers=2, max_length=512)


def build_base(config, settings: Settings, attn: str):
    """Random-weight LLaVA built directly on the device in the benchmark dtype, in train mode, no KV cache."""
    model = random_llava(config, dtype=settings.dtype, device=settings.device, attn=attn)
    model.config.use_cache = False
    model.config.text_config.use_cache = False
    return model.train()


def make_inputs(config, batch: int, seq_len: int, settings: Settings, seed: int = 0) -> Dict[str, torch.Tensor]:
    """<bos> <image>*N text...: labels on the text only; text ids below the image token's id."""
    vocab, image_id = config.text_config.vocab_size, config.image_token_index
    return llava_batch(config, batch, seq_len, seed=seed, labels=True, text_ids=(3, min(vocab, image_id)),
                       device=settings.device, pixel_dtype=settings.dtype, what="--seq-len")


def slice_inputs(inputs: Dict[str, torch.Tensor], batch: int) -> Dict[str, torch.Tensor]:
    return {k: v[:batch] for k, v in inputs.items()}


def make_optimizer(params: Sequence[nn.Parameter], settings: Settings) -> torch.optim.Optimizer:
    # fused AdamW on CUDA, as the Trainer's default (adamw_torch_fused); its states follow each param's dtype
    return torch.optim.AdamW(list(params), lr=settings.lr, fused=True if settings.cuda else None)


def set_activation_checkpointing(model, on: bool) -> None:
    """transformers 5 renamed gradient_checkpointing_* to activation_checkpointing_* (the old names warn)."""
    if on:
        enable = getattr(model, "activation_checkpointing_enable", None)
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        disable = getattr(model, "activation_checkpointing_disable", None) or model.gradient_checkpointing_disable
        disable()
