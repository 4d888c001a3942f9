"""Small timing helpers shared by the benchmarks.

Every measurement records wall time and process CPU time: on a machine where other processes
compete for the cores, CPU time / wall time drops below the thread count and the run is suspect.
Benchmarks report ratios of variants timed side by side (interleaved), never bare absolute times.
"""
from __future__ import annotations

import contextlib
import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence

import torch


@dataclass(frozen=True)
class Sample:
    """One timed block of `iters` calls."""

    wall_s: float  # per call
    cpu_s: float  # per call, process CPU time (all threads)
    iters: int
    peak_bytes: Optional[int] = None  # peak device memory during the block, where measured (bench.gpu)

    @property
    def utilisation(self) -> float:
        """CPU time / wall time: about the thread count when the cores are ours alone."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else float("nan")


def time_block(fn: Callable[[], object], iters: int) -> Sample:
    """Call fn() `iters` times back to back; return the per-call wall and CPU time."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(iters):
        fn()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return Sample(wall / iters, cpu / iters, iters)


def iters_for(seconds_per_call: float, target_s: float, min_iters: int = 1, max_iters: int = 200) -> int:
    """How many calls make one timed block last about target_s."""
    if seconds_per_call <= 0:
        return max_iters
    return max(min_iters, min(max_iters, int(math.ceil(target_s / seconds_per_call))))


def median(values: Iterable[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return statistics.median(vals) if vals else float("nan")


def paired_ratio(samples: Sequence[Sample], refs: Sequence[Sample]) -> float:
    """Median over repeats of (variant time / reference time), each pair timed in the same round.

    Pairing cancels slow drifts (thermal, other processes) that hit both members of a round.
    """
    return median(s.wall_s / r.wall_s for s, r in zip(samples, refs) if r.wall_s > 0)


def contention_report(utilisations: Dict[str, List[float]], threads: int, floor: float = 0.75) -> List[str]:
    """Warnings for measurements whose median CPU/wall is below floor * threads."""
    limit = floor * threads
    low = {name: median(u) for name, u in utilisations.items() if median(u) < limit}
    if not low:
        return []
    worst = sorted(low.items(), key=lambda kv: kv[1])[:5]
    listed = ", ".join(f"{name} {u:.2f}" for name, u in worst)
    return [
        f"WARNING: CPU/wall below {limit:.2f} (= {floor:g} x {threads} threads) in {len(low)} of "
        f"{len(utilisations)} measurements (lowest: {listed}): the cores are shared, timings are noisy; "
        "rerun on a quiet machine before trusting the ratios."
    ]


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch.set_num_threads(n) for the block, then back to what it was."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
