"""Device memory: synchronised timed steps with their peak, and the out-of-memory back-off that halves the batch."""
from __future__ import annotations

import dataclasses
import gc
from dataclasses import dataclass
from typing import Callable, List, Optional, TypeVar

import torch

from ..timing import Sample, time_block
from .settings import Settings

T = TypeVar("T")


def tensor_bytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def sync(settings: Settings) -> None:
    if settings.cuda:
        torch.cuda.synchronize(settings.device)


def timed_step(step: Callable[[], object], settings: Settings) -> Sample:
    """One synchronised step; on CUDA its Sample carries the peak bytes allocated during it."""
    sync(settings)
    if settings.cuda:
        torch.cuda.reset_peak_memory_stats(settings.device)
    sample = time_block(lambda: (step(), sync(settings)), 1)
    if settings.cuda:
        sample = dataclasses.replace(sample, peak_bytes=torch.cuda.max_memory_allocated(settings.device))
    return sample


def is_oom(err: BaseException) -> bool:
    if isinstance(err, torch.OutOfMemoryError):  # torch.cuda.OutOfMemoryError is the same class
        return True
    return isinstance(err, RuntimeError) and "out of memory" in str(err).lower()


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()


@dataclass
class Fit:
    batch: Optional[int]  # the batch that fitted; None when even batch 1 ran out of memory
    value: object
    oom_batches: List[int]


def fit_batch(run: Callable[[int], T], batch: int, *, cleanup: Callable[[], None] = lambda: None,
              log: Callable[[str], None] = print) -> Fit:
    """run(batch); on out-of-memory free memory, halve the batch and try again (down to 1)."""
    ooms: List[int] = []
    while batch >= 1:
        try:
            return Fit(batch, run(batch), ooms)
        except Exception as err:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
            if not is_oom(err):
                raise
            first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        # outside the except block: the traceback (and the activations its frames hold) is released
        ooms.append(batch)
        cleanup()
        log(f"    out of memory at batch {batch} ({first_line[:120]}); retrying with batch {batch // 2}")
        batch //= 2
    return Fit(None, None, ooms)
