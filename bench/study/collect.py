"""Read the study's run directories ($STUDY_DIR/<method>/seed<S>/) into plain records.

A run directory holds what scripts/study.sh leaves there: the stage-2 output (adapter_model.safetensors,
trainer_state.json, expert_stats.jsonl), eval/accuracy.txt (task_accuracy's table, JSON on the last
line) and eval/usage.json (bench.study.usage). A method that trains one adapter per task (the study's
oracle) leaves one such run per task, $STUDY_DIR/<method>/seed<S>/<task>/, scored on its own task only;
they are read as one run (accuracy per task from each, parameters and training time summed).
A missing or unreadable file is an error naming it.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from safetensors import safe_open

from llava.train.plots import EXPERT_STATS_FILE, read_expert_stats

SEED_DIR = re.compile(r"seed(\d+)")
PROJECTOR = "multi_modal_projector"


class StudyInputError(ValueError):
    """A run directory is incomplete or holds a file that can't be read."""


@dataclass
class Run:
    method: str
    seed: int
    path: Path
    accuracy: Dict[str, float]  # task -> accuracy in percent
    chance: Dict[str, Optional[float]]
    total: Dict[str, int]  # task -> number of test questions
    train_runtime_s: float
    adapter_params: int
    projector_params: int
    usage: Dict[str, Dict[str, dict]] = field(default_factory=dict)  # task -> layer -> phi/omega/tokens
    expert_stats: List[dict] = field(default_factory=list)  # training-time phi per logging step

    @property
    def mean_accuracy(self) -> float:
        return sum(self.accuracy.values()) / len(self.accuracy)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise StudyInputError(f"{path}: missing (did the run finish? see study.log beside it)") from None
    except json.JSONDecodeError as e:
        raise StudyInputError(f"{path}: not valid JSON ({e.msg})") from None


def read_accuracy(path: Path) -> dict:
    """The JSON summary on the last line of task_accuracy's output."""
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        raise StudyInputError(f"{path}: missing (did the run's eval finish?)") from None
    try:
        summary = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        summary = None
    if not isinstance(summary, dict) or "per_task" not in summary:
        raise StudyInputError(f"{path}: the last line is not task_accuracy's JSON summary")
    return summary


def read_runtime(path: Path) -> float:
    """train_runtime (seconds of Trainer.train) from trainer_state.json's log history."""
    state = _read_json(path)
    for entry in reversed(state.get("log_history", [])):
        if "train_runtime" in entry:
            return float(entry["train_runtime"])
    raise StudyInputError(f"{path}: no train_runtime in log_history (the run did not finish)")


def count_saved_params(path: Path) -> tuple[int, int, bool]:
    """(adapter parameters, projector parameters, has routers) of an adapter_model.safetensors, from shapes only."""
    if not path.is_file():
        raise StudyInputError(f"{path}: missing")
    adapters = projector = 0
    routed = False
    with safe_open(str(path), framework="pt") as f:
        for key in f.keys():
            numel = 1
            for dim in f.get_slice(key).get_shape():
                numel *= dim
            if PROJECTOR in key:
                projector += numel
            else:
                adapters += numel
                routed = routed or ".router." in key
    return adapters, projector, routed


def read_run(path: Path, method: str, seed: int) -> Run:
    summary = read_accuracy(path / "eval" / "accuracy.txt")
    per_task = summary["per_task"]
    adapters, projector, routed = count_saved_params(path / "adapter_model.safetensors")
    usage_file = path / "eval" / "usage.json"
    # a method without routers has no expert usage to measure; one with routers must have it
    usage = _read_json(usage_file)["tasks"] if routed or usage_file.is_file() else {}
    return Run(
        method=method, seed=seed, path=path,
        accuracy={t: float(v["accuracy"]) for t, v in per_task.items()},
        chance={t: v.get("chance") for t, v in per_task.items()},
        total={t: int(v["total"]) for t, v in per_task.items()},
        train_runtime_s=read_runtime(path / "trainer_state.json"),
        adapter_params=adapters, projector_params=projector,
        usage=usage, expert_stats=read_expert_stats(path / EXPERT_STATS_FILE),
    )


def read_per_task_run(path: Path, method: str, seed: int) -> Run:
    """<method>/seed<S>/<task>/ runs, each scored on its own task only -> one Run over all tasks."""
    parts = [read_run(sub, method, seed) for sub in sorted(p for p in path.iterdir() if p.is_dir())]
    if not parts:
        raise StudyInputError(f"{path}: neither eval/accuracy.txt nor per-task run folders")
    accuracy, chance, total = {}, {}, {}
    for part in parts:
        if list(part.accuracy) != [part.path.name]:
            raise StudyInputError(f"{part.path}: a per-task run must be scored on its own task "
                                  f"{part.path.name!r} only, not {sorted(part.accuracy)}")
        accuracy.update(part.accuracy)
        chance.update(part.chance)
        total.update(part.total)
    return Run(method=method, seed=seed, path=path, accuracy=accuracy, chance=chance, total=total,
               train_runtime_s=sum(p.train_runtime_s for p in parts),
               adapter_params=sum(p.adapter_params for p in parts),
               projector_params=sum(p.projector_params for p in parts))


def collect_runs(runs_dir: str | Path, only: Optional[Sequence[str]] = None) -> Dict[str, List[Run]]:
    """{method: [runs sorted by seed]} for every <method>/seed<S> directory under runs_dir
    (only: just these methods' folders)."""
    root = Path(runs_dir)
    if not root.is_dir():
        raise StudyInputError(f"{root}: no such study directory")
    runs: Dict[str, List[Run]] = {}
    for method_dir in sorted(p for p in root.iterdir() if p.is_dir() and (only is None or p.name in only)):
        for seed_dir in sorted(method_dir.iterdir()):
            m = SEED_DIR.fullmatch(seed_dir.name)
            if m and seed_dir.is_dir():
                read = read_run if (seed_dir / "eval").is_dir() else read_per_task_run
                runs.setdefault(method_dir.name, []).append(read(seed_dir, method_dir.name, int(m.group(1))))
    if not runs:
        raise StudyInputError(f"{root}: no <method>/seed<N> run directories")
    for method, items in runs.items():
        items.sort(key=lambda r: r.seed)
        tasks = {tuple(sorted(r.accuracy)) for r in items}
        if len(tasks) > 1:
            raise StudyInputError(f"{root / method}: runs were scored on different task sets: {sorted(tasks)}")
    return runs
