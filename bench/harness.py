"""The run skeleton every timing benchmark shares (bench.layers, bench.train_step and bench.generate through
bench.e2e, and bench.gpu):

- `Plan` and `plan_for`: how many warm-up and timed rounds, and how many calls a timed block holds, from a
  benchmark's dry-run / quick / full presets with the --repeats (--steps), --warmup and --iters flags on top;
- `interleaved`: the round-robin timer (every variant once per round, the order rotating between rounds);
- `bar_verdict`: one PASS/FAIL quality bar as the JSON records it;
- `format_table` / `markdown_table`: the printed tables;
- `random_llava`: a random-weight LLaVA built from a config (no download, no tokenizer);
- `benchmark_parser`: the argument parser every benchmark starts from.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Dict, Hashable, List, Mapping, Optional, Sequence, TypeVar

import torch

from .timing import Sample, iters_for, time_block

K = TypeVar("K", bound=Hashable)
Timer = Callable[[Callable[[], object], int], Sample]  # (step, calls per block) -> per-call Sample
MODES = ("dry", "quick", "full")


# ---- run plans ---------------------------------------------------------------------------------
@dataclass
class Plan:
    repeats: int  # timed rounds
    warmup: int  # untimed rounds before them; the last one sizes the timed blocks
    target_s: float = 0.0  # a timed block lasts about this long (0: blocks of min_iters calls)
    min_iters: int = 1
    max_iters: int = 50
    iters: Optional[int] = None  # fixed calls per block (overrides the sizing)

    def block_iters(self, seconds_per_call: Optional[float]) -> int:
        """Calls per timed block, given the last warm-up call's duration (None: no warm-up call)."""
        if self.iters is not None:
            return self.iters
        if seconds_per_call is None or self.target_s <= 0:
            return self.min_iters
        return iters_for(seconds_per_call, self.target_s, self.min_iters, self.max_iters)


def run_mode(args: argparse.Namespace) -> str:
    """"dry" (--dry-run wins), "quick" (--quick) or "full"."""
    if args.dry_run:
        return "dry"
    return "quick" if getattr(args, "quick", False) else "full"


def plan_for(mode: str, presets: Mapping[str, Plan], *, repeats: Optional[int] = None,
             warmup: Optional[int] = None, iters: Optional[int] = None) -> Plan:
    """A copy of presets[mode] with the flags that were given put on top."""
    plan = dataclasses.replace(presets[mode])
    if repeats is not None:
        plan.repeats = repeats
    if warmup is not None:
        plan.warmup = warmup
    if iters is not None:
        plan.iters = iters
    return plan


# ---- interleaved timing ------------------------------------------------------------------------
def interleaved(steps: Mapping[K, Callable[[], object]], plan: Plan, *, timer: Timer = time_block,
                rotate: int = 1, warm: Callable[[K], bool] = lambda key: True,
                after_round: Optional[Callable[[int], None]] = None) -> Dict[K, List[Sample]]:
    """Time every step round-robin; returns each step's timed Samples (one per round).

    plan.warmup untimed rounds call every step once (those `warm` accepts); the last call sizes that step's
    timed blocks. Then plan.repeats rounds time one block per step, the order shifted by `rotate` places each
    round so no step always runs first or last: drift that hits a round hits every step of it, which is
    what makes ratios of the same round fair. `timer(step, calls)` times one block (default time_block).
    """
    names = list(steps)
    last_call: Dict[K, float] = {}
    for _ in range(plan.warmup):
        for key in names:
            if warm(key):
                last_call[key] = timer(steps[key], 1).wall_s
    iters = {key: plan.block_iters(last_call.get(key)) for key in names}
    samples: Dict[K, List[Sample]] = {key: [] for key in names}
    for rep in range(plan.repeats):
        shift = (rep * rotate) % len(names)
        for key in names[shift:] + names[:shift]:
            samples[key].append(timer(steps[key], iters[key]))
        if after_round is not None:
            after_round(rep)
    return samples


# ---- bars --------------------------------------------------------------------------------------
def bar_verdict(key: str, value: Optional[float], limit: float, *, at_least: bool = False, **extra) -> dict:
    """One bar's JSON record: value <= limit (or >= with at_least); a missing or non-finite value fails.
    `extra` fields go before "pass"."""
    ok = value is not None and math.isfinite(value)
    out = {"key": key, "value": round(value, 4) if ok else None}
    if at_least:
        out["op"] = ">="
    out["limit"] = limit
    out.update(extra)
    out["pass"] = bool(ok and (value >= limit if at_least else value <= limit))
    return out


# ---- tables ------------------------------------------------------------------------------------
def format_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]],
                 min_widths: Sequence[int] = ()) -> str:
    """First column left-aligned, the others right-aligned, each as wide as its widest cell (or min_widths)."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    widths = [max(w, m) for w, m in zip(widths, list(min_widths) + [0] * len(widths))]

    def line(cells):
        return " ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([title, line(headers), *(line(r) for r in rows)])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[bool]) -> List[str]:
    """A markdown table's lines; `right[i]`: column i right-aligned (numbers)."""
    def line(cells):
        return "| " + " | ".join(str(c) for c in cells) + " |"
    return [line(headers), "|" + "|".join("---:" if r else "---" for r in right) + "|", *(line(r) for r in rows)]


# ---- models and command line -------------------------------------------------------------------
def random_llava(config, *, dtype: torch.dtype, device: Optional[torch.device | str] = None,
                 attn: Optional[str] = None):
    """LlavaForConditionalGeneration of `config` with random weights, built in `dtype` (on `device` when
    given, else where torch allocates by default): nothing is downloaded."""
    from transformers import LlavaForConditionalGeneration

    kwargs = {"attn_implementation": attn} if attn else {}
    with torch.device(device) if device is not None else contextlib.nullcontext():
        return LlavaForConditionalGeneration._from_config(config, dtype=dtype, **kwargs)


def benchmark_parser(prog: str, description: str, epilog: Optional[str] = None) -> argparse.ArgumentParser:
    """The parser every benchmark starts from: its help text printed as written."""
    return argparse.ArgumentParser(prog=prog, description=description, epilog=epilog,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
