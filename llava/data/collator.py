"""Batch samples of ``LazySupervisedDataset`` for ``LlavaForConditionalGeneration``.

Right padding; labels padded with IGNORE_INDEX; the attention mask comes from the true
lengths (not from ``ids != pad``, since the pad id may also be a real token such as
``<unk>`` or ``</s>``). ``pixel_values`` stacks only the samples that have an image, in
batch order: Llava fills the image-token positions with image features in that order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch

from llava.data.preprocess import IGNORE_INDEX


@dataclass(frozen=True)
class DataCollatorForSupervisedDataset:
    pad_token_id: int
    model_max_length: Optional[int] = None  # a longer sample is an error: cutting could split image tokens

    @classmethod
    def from_tokenizer(cls, tokenizer, model_max_length: Optional[int] = None) -> "DataCollatorForSupervisedDataset":
        if tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer has no pad token; set tokenizer.pad_token (LLaVA uses <unk>)")
        return cls(pad_token_id=tokenizer.pad_token_id, model_max_length=model_max_length)

    def __call__(self, samples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """-> input_ids [B, T], attention_mask [B, T], labels [B, T], and pixel_values [N, 3, H, W]
        (N = samples with an image) only when N > 0."""
        if not samples:
            raise ValueError("cannot collate an empty batch")
        lengths = [int(s["input_ids"].numel()) for s in samples]
        if self.model_max_length is not None and max(lengths) > self.model_max_length:
            longest = max(range(len(samples)), key=lambda i: lengths[i])
            raise ValueError(
                f"sample {samples[longest].get('id', longest)!r} has {lengths[longest]} tokens > "
                f"model_max_length {self.model_max_length}; the dataset should have rejected or truncated it"
            )
        width = max(lengths)
        input_ids = torch.full((len(samples), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(samples), width), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(samples), width), dtype=torch.long)
        for row, (sample, length) in enumerate(zip(samples, lengths)):
            input_ids[row, :length] = sample["input_ids"]
            labels[row, :length] = sample["labels"]
            attention_mask[row, :length] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
        images = [s["pixel_values"] for s in samples if s.get("pixel_values") is not None]
        if images:
            batch["pixel_values"] = torch.stack(images)  # [N, 3, H, W]
        return batch
