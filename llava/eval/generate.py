"""The one batched generation loop behind every benchmark (``model_vqa``) and the chat (``llava.eval.chat``).

Batches are padded on the LEFT: a decoder-only model appends new tokens after the last
column, so every row's prompt must end there. transformers' ``generate`` derives the
position ids from the attention mask (``cumsum - 1``) and Llava merges image features by
matching image-token ids, so pad ids and pad positions never meet an image feature.
``tests/llava/eval/test_generate.py`` checks batched greedy output == one-at-a-time output.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence

import torch
from tqdm import tqdm

from llava.data.conversation import USER, ConversationTemplate
from llava.data.errors import BadSampleError
from llava.entry import FlagError
from llava.model.config import num_image_tokens

from .inputs import left_pad, load_pixels, pad_token_id, prompt_ids
from .questions import Question, parse_question


@dataclass(frozen=True)
class Sampling:
    """Decoding settings, LLaVA's meaning: temperature 0 is greedy (beam search when num_beams > 1)."""

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: Optional[float] = None
    num_beams: int = 1

    def __post_init__(self):
        if self.max_new_tokens < 1 or self.num_beams < 1 or self.temperature < 0:
            raise FlagError(f"need max_new_tokens >= 1, num_beams >= 1, temperature >= 0; got {self}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise FlagError(f"top_p must be in (0, 1], got {self.top_p}")

    def generate_kwargs(self, tokenizer) -> dict:
        kwargs = dict(
            max_new_tokens=self.max_new_tokens,
            num_beams=self.num_beams,
            do_sample=self.temperature > 0,
            eos_token_id=tokenizer.eos_token_id,  # the template ends replies with </s>: stop there
            pad_token_id=pad_token_id(tokenizer),
        )
        if self.temperature > 0:  # sampling knobs only when sampling (transformers warns otherwise)
            kwargs["temperature"] = self.temperature
            if self.top_p is not None:
                kwargs["top_p"] = self.top_p
        return kwargs


def model_device_dtype(model) -> tuple[torch.device, torch.dtype]:
    """Where inputs go, and the dtype pixels must have (the vision tower's)."""
    param = next(model.model.vision_tower.parameters())
    return param.device, param.dtype


@torch.inference_mode()
def generate_tokens(
    model,
    tokenizer,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    pixel_values: Optional[torch.Tensor],
    sampling: Sampling,
    streamer=None,
) -> torch.Tensor:
    """New tokens only, [B, T] (T <= max_new_tokens; finished rows padded), for a left-padded batch.

    input_ids, attention_mask: [B, L]; pixel_values: [N, 3, H, W] for the N rows holding image
    tokens, in row order, or None when no row has an image.
    """
    device, dtype = model_device_dtype(model)
    inputs = {"input_ids": input_ids.to(device), "attention_mask": attention_mask.to(device)}
    if pixel_values is not None:
        inputs["pixel_values"] = pixel_values.to(device=device, dtype=dtype)
    output = model.generate(**inputs, **sampling.generate_kwargs(tokenizer), streamer=streamer)
    return output[:, input_ids.shape[1]:]  # [B, T]: generate returns prompt + new tokens


def decode(tokenizer, new_tokens: torch.Tensor) -> list[str]:
    """[B, T] -> B stripped strings (eos and pad are special tokens and drop out)."""
    return [text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


def _as_question(item, index: int) -> Question:
    return item if isinstance(item, Question) else parse_question(item, f"question {index}")


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def prepare_batch(
    questions: Sequence[Question],
    processor,
    *,
    template: ConversationTemplate,
    image_folder: str,
    image_tokens: int,
    image_aspect_ratio: str,
) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    """Questions -> (input_ids [B, L], attention_mask [B, L], pixel_values [N, 3, H, W] or None)."""
    tokenizer = processor.tokenizer
    ids, pixels = [], []
    for q in questions:
        try:
            ids.append(prompt_ids([(USER, q.text)], template, tokenizer, has_image=q.image is not None,
                                  num_image_tokens=image_tokens, image_token=processor.image_token, name=q.key))
            if q.image is not None:
                path = os.path.join(image_folder, q.image)
                pixels.append(load_pixels(path, processor.image_processor, image_aspect_ratio, q.key))
        except BadSampleError as e:
            raise q.error(f"[{e.reason}] {e.detail}") from None
    input_ids, attention_mask = left_pad(ids, pad_token_id(tokenizer))
    return input_ids, attention_mask, torch.stack(pixels) if pixels else None


def generate_batches(
    model,
    processor,
    questions: Iterable,
    *,
    template: ConversationTemplate,
    image_folder: str,
    batch_size: int,
    sampling: Sampling,
    image_aspect_ratio: str = "pad",
    progress: bool = True,
) -> Iterator[list[tuple[Question, str]]]:
    """Yield one list of (question, answer text) per batch, in question order.

    ``questions``: ``Question``s or question-file records (dicts). Text-only questions may
    share a batch with image questions. A bad question (no text, unreadable image, wrong
    number of ``<image>``) raises ``QuestionFileError`` naming its id and line.
    """
    if batch_size < 1:
        raise FlagError(f"batch_size must be >= 1, got {batch_size}")
    image_tokens = num_image_tokens(model.config)
    items = [_as_question(item, i) for i, item in enumerate(questions)]
    with tqdm(total=len(items), desc="generating", unit="q", disable=not progress) as bar:
        for batch in _batches(items, batch_size):
            input_ids, attention_mask, pixel_values = prepare_batch(
                batch, processor, template=template, image_folder=image_folder,
                image_tokens=image_tokens, image_aspect_ratio=image_aspect_ratio,
            )
            new_tokens = generate_tokens(model, processor.tokenizer, input_ids, attention_mask, pixel_values, sampling)
            yield list(zip(batch, decode(processor.tokenizer, new_tokens)))
            bar.update(len(batch))


def generate_answers(
    model,
    processor,
    questions: Iterable,
    *,
    template: ConversationTemplate,
    image_folder: str,
    batch_size: int,
    sampling: Sampling,
    image_aspect_ratio: str = "pad",
    progress: bool = True,
) -> Iterator[tuple[Question, str]]:
    """Yield (question, answer text) in question order (``generate_batches``, flattened)."""
    for batch in generate_batches(
        model, processor, questions, template=template, image_folder=image_folder, batch_size=batch_size,
        sampling=sampling, image_aspect_ratio=image_aspect_ratio, progress=progress,
    ):
        yield from batch
