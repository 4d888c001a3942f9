"""Seed statistics of the study: accuracy mean ± std per task, training-time ratios, load balance,
and which differences between methods exceed the seed noise."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from teamlora import expert_cv

from .collect import Run


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float  # sample standard deviation over seeds (0 for one seed)
    n: int

    @property
    def se(self) -> float:
        return self.std / math.sqrt(self.n) if self.n > 0 else float("nan")

    def fmt(self, digits: int = 1) -> str:
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"


def stat(values: Sequence[float]) -> Stat:
    vals = list(values)
    if not vals:
        return Stat(float("nan"), float("nan"), 0)
    return Stat(statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0, len(vals))


@dataclass(frozen=True)
class Comparison:
    """Mean-over-tasks accuracy of `a` minus `b`, with the standard error of that difference."""

    a: str
    b: str
    diff: float
    se: float

    @property
    def exceeds_noise(self) -> bool:
        """|diff| > 2 standard errors (about a 95% two-sided test for seed-to-seed noise)."""
        return self.se > 0 and abs(self.diff) > 2 * self.se


def pooled_phi(run: Run) -> Dict[str, List[float]]:
    """Per layer, the held-out mean phi over all tasks' tokens (token-weighted)."""
    sums: Dict[str, List[float]] = {}
    tokens: Dict[str, int] = {}
    for layers in run.usage.values():
        for name, entry in layers.items():
            acc = sums.setdefault(name, [0.0] * len(entry["phi"]))
            for i, v in enumerate(entry["phi"]):
                acc[i] += v * entry["tokens"]
            tokens[name] = tokens.get(name, 0) + entry["tokens"]
    return {name: [v / tokens[name] for v in acc] for name, acc in sums.items()}


def run_cv(run: Run) -> Optional[float]:
    """Mean over layers of the held-out load-balance CV; None for a method without routers."""
    phi = pooled_phi(run)
    return statistics.fmean(expert_cv(w) for w in phi.values()) if phi else None


def omega_share(entry: dict) -> List[float]:
    """A layer's mean omega divided by its sum: each expert's share of the adapter output weight.
    Methods differ in what omega sums to (MoELoRA 1, TeamLoRA "authors" k, "paper" about 1), so usage
    is compared as shares."""
    total = sum(entry["omega"])
    return [w / total for w in entry["omega"]] if total else list(entry["omega"])


def task_spread(run: Run) -> Optional[float]:
    """How much routing differs between tasks: mean over layers and experts of (max - min) over tasks of the
    expert's omega share (omega_share; 0 = every task routed alike, 1 = disjoint experts per task)."""
    if not run.usage:
        return None
    tasks = list(run.usage)
    layers = list(run.usage[tasks[0]])
    spreads = []
    for name in layers:
        shares = [omega_share(run.usage[t][name]) for t in tasks]
        for i in range(len(shares[0])):
            vals = [share[i] for share in shares]
            spreads.append(max(vals) - min(vals))
    return statistics.fmean(spreads)


@dataclass
class MethodSummary:
    method: str
    seeds: List[int]
    per_task: Dict[str, Stat]
    mean: Stat  # mean over tasks, then over seeds
    adapter_params: int
    projector_params: int
    runtime: Stat  # seconds
    time_ratio: Optional[Stat]  # runtime / reference runtime of the same seed
    cv: Optional[Stat]
    spread: Optional[Stat]


def summarize(runs: Dict[str, List[Run]], reference: str) -> Dict[str, MethodSummary]:
    ref_time = {r.seed: r.train_runtime_s for r in runs.get(reference, [])}
    out = {}
    for method, items in runs.items():
        tasks = sorted(items[0].accuracy)
        ratios = [r.train_runtime_s / ref_time[r.seed] for r in items if r.seed in ref_time]
        cvs = [c for c in (run_cv(r) for r in items) if c is not None]
        spreads = [s for s in (task_spread(r) for r in items) if s is not None]
        params = {r.adapter_params for r in items}
        if len(params) > 1:
            raise ValueError(f"{method}: seeds saved different adapter sizes {sorted(params)}")
        out[method] = MethodSummary(
            method=method, seeds=[r.seed for r in items],
            per_task={t: stat([r.accuracy[t] for r in items]) for t in tasks},
            mean=stat([r.mean_accuracy for r in items]),
            adapter_params=items[0].adapter_params, projector_params=items[0].projector_params,
            runtime=stat([r.train_runtime_s for r in items]),
            time_ratio=stat(ratios) if ratios else None,
            cv=stat(cvs) if cvs else None, spread=stat(spreads) if spreads else None,
        )
    return out


def compare(summaries: Dict[str, MethodSummary], a: str, b: str) -> Comparison:
    sa, sb = summaries[a].mean, summaries[b].mean
    return Comparison(a, b, sa.mean - sb.mean, math.sqrt(sa.se ** 2 + sb.se ** 2))


def per_task_wins(summaries: Dict[str, MethodSummary], a: str, b: str) -> Dict[str, int]:
    """Over tasks: how many times a beats b / loses to b by more than 2 standard errors, or ties."""
    counts = {"better": 0, "worse": 0, "within_noise": 0}
    for task, sa in summaries[a].per_task.items():
        sb = summaries[b].per_task[task]
        diff, se = sa.mean - sb.mean, math.sqrt(sa.se ** 2 + sb.se ** 2)
        key = "within_noise" if not (se > 0 and abs(diff) > 2 * se) else ("better" if diff > 0 else "worse")
        counts[key] += 1
    return counts
