"""Batches of similar length that never mix image and text-only samples.

Why a batch sampler (it yields lists of indices) and not a flat index sampler like
LLaVA's: a DataLoader cuts a flat stream into runs of ``batch_size``, so whenever a
modality's sample count is not a multiple of the batch size, some batch straddles two
modalities. Yielding whole batches lets each modality end with its own smaller batch,
and every index still appears exactly once per epoch. Use it as
``DataLoader(dataset, batch_sampler=sampler, ...)``.

Layout of an epoch (seeded by ``seed + epoch``):

1. Split indices by modality (sign of the length) when ``group_by_modality``.
2. Shuffle each modality; cut it into global steps of ``world_size * batch_size``;
   within megabatches of ``megabatch_steps`` steps, sort by length (longest first)
   so a step holds similar lengths, then deal each step into ``world_size``
   per-device batches of balanced total length.
3. Shuffle the full steps of all modalities together; each modality's leftover
   (fewer than one step) becomes its own batches, appended at the end.

Batches come out step by step: ``[rank 0, rank 1, ..., rank W-1, rank 0, ...]``, the
round-robin order in which accelerate shards a batch sampler. There is deliberately
no ``batch_size`` attribute: accelerate would then drop smaller batches met before
the end of the stream; without it, it treats batch sizes as dynamic.
"""
from __future__ import annotations

import math
from typing import Iterator, Sequence

import torch
from torch.utils.data import Sampler


def split_balanced(indices: list[int], num_chunks: int, lengths: Sequence[int]) -> list[list[int]]:
    """Deal ``indices`` (longest first) into ``num_chunks`` chunks of near-equal size and
    total length: each goes to the lightest chunk that still has room."""
    capacity = math.ceil(len(indices) / num_chunks)
    chunks: list[list[int]] = [[] for _ in range(num_chunks)]
    totals = [0] * num_chunks
    for index in indices:
        open_chunks = [c for c in range(num_chunks) if len(chunks[c]) < capacity]
        target = min(open_chunks, key=lambda c: (totals[c], len(chunks[c])))  # size breaks ties: no empty chunk
        chunks[target].append(index)
        totals[target] += abs(lengths[index])
    return chunks


class ModalityLengthGroupedSampler(Sampler[list[int]]):
    """Yields per-device batches (lists of dataset indices); see the module docstring.

    ``lengths``: one per sample, positive with an image, negative text-only (the
    dataset's ``modality_lengths``); only their sign and magnitude matter.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        world_size: int = 1,
        seed: int = 0,
        group_by_modality: bool = True,
        megabatch_steps: int = 1,
    ):
        if batch_size < 1 or world_size < 1 or megabatch_steps < 1:
            raise ValueError(f"batch_size, world_size, megabatch_steps must be >= 1, got "
                             f"{batch_size}, {world_size}, {megabatch_steps}")
        if not lengths:
            raise ValueError("no samples to sample from (lengths is empty)")
        if group_by_modality and any(n == 0 for n in lengths):
            raise ValueError("a length of 0 has no sign, so its modality is unknown; use +-1 for empty samples")
        self.lengths = list(lengths)
        self.per_device_batch_size = batch_size
        self.world_size = world_size
        self.seed = seed
        self.group_by_modality = group_by_modality
        self.megabatch_steps = megabatch_steps
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _groups(self) -> list[list[int]]:
        if not self.group_by_modality:
            return [list(range(len(self.lengths)))]
        image = [i for i, n in enumerate(self.lengths) if n > 0]
        text = [i for i, n in enumerate(self.lengths) if n < 0]
        return [g for g in (image, text) if g]  # either may be empty: all-image / all-text data

    def _tail_batch_count(self, leftover: int) -> int:
        # Enough batches to respect batch_size, and one per rank when there are samples enough.
        return max(math.ceil(leftover / self.per_device_batch_size), min(self.world_size, leftover))

    def __len__(self) -> int:
        step = self.world_size * self.per_device_batch_size
        count = 0
        for group in self._groups():
            count += len(group) // step * self.world_size
            if len(group) % step:
                count += self._tail_batch_count(len(group) % step)
        return count

    def batches(self) -> list[list[int]]:
        """This epoch's batches, in order."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        step = self.world_size * self.per_device_batch_size
        by_length = lambda i: -abs(self.lengths[i])  # noqa: E731 - longest first; sorted() is stable
        steps: list[list[list[int]]] = []
        tails: list[list[list[int]]] = []
        for group in self._groups():
            shuffled = [group[i] for i in torch.randperm(len(group), generator=generator).tolist()]
            full = len(shuffled) // step * step
            for start in range(0, full, step * self.megabatch_steps):
                megabatch = sorted(shuffled[start : min(start + step * self.megabatch_steps, full)], key=by_length)
                for s in range(0, len(megabatch), step):
                    steps.append(split_balanced(megabatch[s : s + step], self.world_size, self.lengths))
            leftover = sorted(shuffled[full:], key=by_length)
            if leftover:
                tails.append(split_balanced(leftover, self._tail_batch_count(len(leftover)), self.lengths))
        step_order = torch.randperm(len(steps), generator=generator).tolist()
        tail_order = torch.randperm(len(tails), generator=generator).tolist()
        return [batch for k in step_order for batch in steps[k]] + [batch for k in tail_order for batch in tails[k]]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())
