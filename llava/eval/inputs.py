"""Model inputs for generation, built exactly as training builds them.

Prompts go through ``llava.data.preprocess`` (image placement and ``tokenize_prompt``), so a
generation prompt is token for token the prefix of a training sequence; images go through
the same pad-to-square and image processor as ``LazySupervisedDataset``.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from llava.data.conversation import ConversationTemplate, Turn
from llava.data.dataset import image_pixels, load_rgb_image
from llava.data.preprocess import place_image_tokens, tokenize_prompt


def prompt_ids(
    turns: Sequence[Turn],
    template: ConversationTemplate,
    tokenizer,
    *,
    has_image: bool,
    num_image_tokens: int,
    image_token: str,
    name: str,
) -> torch.Tensor:
    """ids [L] of the generation prompt for ``turns`` (ending with a user turn).

    An image question without ``<image>`` in its text gets one in front of its first user
    turn, as in training; ``name`` identifies the question in errors.
    """
    turns, _ = place_image_tokens(list(turns), 1 if has_image else 0, image_token, name)
    return tokenize_prompt(turns, template, tokenizer, num_image_tokens=num_image_tokens, image_token=image_token)


def load_pixels(path: str, image_processor, aspect_ratio: str, name: str) -> torch.Tensor:
    """Decode ``path`` (errors name the question) -> [3, H, W]."""
    return image_pixels(load_rgb_image(path, name), image_processor, aspect_ratio)


def left_pad(sequences: Sequence[torch.Tensor], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """1-D id tensors -> (input_ids [B, L], attention_mask [B, L]), padded on the left.

    Decoder-only generation appends new tokens on the right, so every row's last prompt
    token must sit in the last column.
    """
    length = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for row, seq in enumerate(sequences):
        input_ids[row, length - len(seq):] = seq
        attention_mask[row, length - len(seq):] = 1
    return input_ids, attention_mask


def pad_token_id(tokenizer) -> int:
    """The tokenizer's pad id, else eos (any id works under a zero attention mask)."""
    pad: Optional[int] = tokenizer.pad_token_id
    if pad is None:
        pad = tokenizer.eos_token_id
    if pad is None:
        raise ValueError("the tokenizer has neither a pad nor an eos token; cannot pad a batch")
    return pad

