"""Aggregate the study's runs into tables and figures and write them into docs/results.md.

    python -m bench.study.report --runs checkpoints/study --out docs/results.md --images docs/images/study

The generated section sits between the two study markers of the results file and is replaced on every
run; the text around it (interpretation, other benchmarks) is kept. Without the markers, the section is
appended. Figures go to --images, linked relative to the results file.
"""
from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .aggregate import MethodSummary, compare, per_task_wins, summarize
from .collect import Run, collect_runs
from .figures import plot_load_balance, plot_usage_heatmap
from .methods import METHODS, REFERENCE

BEGIN = "<!-- study:begin (written by python -m bench.study.report; edits in here are overwritten) -->"
END = "<!-- study:end -->"
FOCUS = "teamlora"


def label(method: str) -> str:
    return METHODS[method].label if method in METHODS else method


def _order(methods) -> List[str]:
    known = [m for m in METHODS if m in methods]
    return known + sorted(m for m in methods if m not in METHODS)


def binomial_se(p_percent: float, n: int) -> float:
    p = p_percent / 100
    return 100 * math.sqrt(p * (1 - p) / n) if n else float("nan")


def accuracy_table(summaries: Dict[str, MethodSummary], runs: Dict[str, List[Run]], reference: str) -> List[str]:
    methods = _order(summaries)
    tasks = list(summaries[methods[0]].per_task)
    head = ["method", "adapter params", "mean"] + tasks + [f"train time / {label(reference)}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in methods:
        s = summaries[m]
        ratio = "—" if s.time_ratio is None else f"{s.time_ratio.mean:.2f} ± {s.time_ratio.std:.2f}"
        cells = [label(m), f"{s.adapter_params:,}", f"**{s.mean.fmt()}**"] + [s.per_task[t].fmt() for t in tasks] + [ratio]
        lines.append("| " + " | ".join(cells) + " |")
    first = runs[methods[0]][0]
    chances = [first.chance.get(t) for t in tasks]
    if all(c is not None for c in chances):
        mean_chance = sum(chances) / len(chances)
        lines.append("| chance | | " + f"{mean_chance:.1f} | " + " | ".join(f"{c:.1f}" for c in chances) + " | |")
    return lines


def noise_table(summaries: Dict[str, MethodSummary], focus: str) -> List[str]:
    lines = ["| comparison | difference (points) | 2 × standard error | beyond seed noise? | tasks better / worse / within noise |",
             "|---|---|---|---|---|"]
    for other in _order(summaries):
        if other == focus:
            continue
        c = compare(summaries, focus, other)
        w = per_task_wins(summaries, focus, other)
        lines.append(f"| {label(focus)} − {label(other)} | {c.diff:+.1f} | {2 * c.se:.1f} | "
                     f"{'yes' if c.exceeds_noise else 'no'} | {w['better']} / {w['worse']} / {w['within_noise']} |")
    return lines


def conclusions(summaries: Dict[str, MethodSummary], focus: str) -> List[str]:
    """Plain sentences generated from the numbers (the hand-written reading lives outside the markers)."""
    methods = _order(summaries)
    best = max(methods, key=lambda m: summaries[m].mean.mean)
    out = [f"- Highest mean accuracy: {label(best)} ({summaries[best].mean.fmt()})."]
    if any(s.mean.n < 2 for s in summaries.values()):
        out.append("- Some methods have a single seed: there is no estimate of the seed noise to compare against.")
    elif focus in summaries and len(methods) > 1:
        beyond = [compare(summaries, focus, m) for m in methods if m != focus]
        sig = [c for c in beyond if c.exceeds_noise]
        if not sig:
            out.append(f"- No difference between {label(focus)} and another method exceeds two standard errors of "
                       "the seed-to-seed variation: at this scale the study does not separate the methods.")
        for c in sig:
            word = "better" if c.diff > 0 else "worse"
            out.append(f"- {label(focus)} is {word} than {label(c.b)} by {abs(c.diff):.1f} points (> 2 SE = {2 * c.se:.1f}).")
    return out


def usage_table(summaries: Dict[str, MethodSummary]) -> List[str]:
    lines = ["| method | load-balance CV of φ (held out, mean over layers) | task spread of ω (max − min over tasks) |",
             "|---|---|---|"]
    for m in _order(summaries):
        s = summaries[m]
        if s.cv is None:
            continue
        lines.append(f"| {label(m)} | {s.cv.mean:.3f} ± {s.cv.std:.3f} | {s.spread.mean:.3f} ± {s.spread.std:.3f} |")
    return lines


def write_figures(runs: Dict[str, List[Run]], images: Path, relative_to: Path) -> List[str]:
    images.mkdir(parents=True, exist_ok=True)
    lines = []
    for m in _order(runs):
        first = runs[m][0]
        heat = plot_usage_heatmap(first, images / f"usage_{m}.png",
                                  f"{label(m)}: mean expert weight per task and layer (seed {first.seed})")
        balance = plot_load_balance(runs[m], images / f"balance_{m}.png", f"{label(m)}: load balance")
        for path, what in ((heat, "expert weight per task and layer"), (balance, "load balance")):
            if path is not None:
                lines.append(f"![{label(m)}: {what}]({os.path.relpath(path, relative_to)})")
    return lines


def build_section(runs: Dict[str, List[Run]], *, images: Path, out_dir: Path, command: str,
                  steps: Optional[int], parallel: Optional[int], wall_s: Optional[float],
                  reference: str = REFERENCE, focus: str = FOCUS) -> str:
    summaries = summarize(runs, reference)
    methods = _order(summaries)
    first = runs[methods[0]][0]
    n_task = min(first.total.values())
    typical = sum(s.mean.mean for s in summaries.values()) / len(summaries)
    seeds = sorted({seed for s in summaries.values() for seed in s.seeds})
    setup = [f"Command: `{command}`."]
    detail = f"{sum(len(v) for v in runs.values())} runs ({len(methods)} methods × seeds {', '.join(map(str, seeds))})"
    if steps:
        detail += f", {steps} stage-2 steps each"
    if parallel:
        detail += f", {parallel} at a time"
    if wall_s:
        detail += f"; the whole study took {wall_s / 60:.1f} min"
    setup.append(detail + ".")
    setup.append(f"Held-out test: {n_task} questions per task; at {typical:.0f}% one run's per-task accuracy has a "
                 f"binomial standard error of about ±{binomial_se(typical, n_task):.1f} points, on top of the seed "
                 "variation that the ± below shows (sample standard deviation over seeds).")
    parts = [BEGIN, "", "### Setup", "", *setup, "",
             "### Held-out accuracy (%, mean ± std over seeds)", "", *accuracy_table(summaries, runs, reference), "",
             "Adapter params: trainable adapter parameters saved per run (routers included; the projector, trained "
             f"fully by every method, adds {first.projector_params:,}). Train time: stage-2 `train_runtime` over the "
             f"same seed's {label(reference)} run.", ""]
    if focus in summaries:
        parts += ["### Differences against the seed noise", "", *noise_table(summaries, focus), "",
                  "Standard error of a difference of two seed means: sqrt(s_a²/n_a + s_b²/n_b). Per task, the same test.",
                  ""]
    parts += ["### What the numbers say", "", *conclusions(summaries, focus), ""]
    usage = usage_table(summaries)
    if len(usage) > 2:
        parts += ["### Expert usage", "", *usage, "", *write_figures(runs, images, out_dir), ""]
    parts.append(END)
    return "\n".join(parts)


def splice(document: str, section: str) -> str:
    """Replace the text between the markers (inclusive) with section; append when there are none."""
    start, end = document.find(BEGIN), document.find(END)
    if start == -1 or end == -1 or end < start:
        return document.rstrip("\n") + "\n\n" + section + "\n"
    return document[:start] + section + document[end + len(END):]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.study.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", required=True, help="study directory: <method>/seed<N>/ runs")
    p.add_argument("--out", required=True, help="markdown file to write the section into")
    p.add_argument("--images", required=True, help="folder for the PNG figures")
    p.add_argument("--command", default="bash scripts/study.sh", help="the command shown as the reproduction line")
    p.add_argument("--steps", type=int, default=None, help="stage-2 steps per run (for the setup line)")
    p.add_argument("--parallel", type=int, default=None, help="runs at a time (for the setup line)")
    p.add_argument("--wall-s", type=float, default=None, help="the whole study's wall time (for the setup line)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    section = build_section(collect_runs(args.runs), images=Path(args.images), out_dir=out.parent,
                            command=args.command, steps=args.steps, parallel=args.parallel, wall_s=args.wall_s)
    out.parent.mkdir(parents=True, exist_ok=True)
    document = out.read_text() if out.is_file() else "# Results\n"
    out.write_text(splice(document, section))
    print(section)
    print(f"\nwritten into {out}; figures in {args.images}")
    return section


if __name__ == "__main__":
    main()
