"""Aggregate the study's runs into tables and figures and write them into docs/results.md.

    python -m bench.study.report --runs checkpoints/study-interference --out docs/results.md \
        --images docs/images/study

The generated section sits between the two markers of --section in the results file ("study": the
interference study; "study-plain": the earlier study on the embedded default's data) and is replaced
on every run; the text around it (interpretation, other benchmarks) is kept. Without the markers, the
section is appended. Figures go to --images, linked relative to the results file. --rank (r per
expert) only labels the methods.
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
from .methods import METHODS, ORACLE, RANK, REFERENCE, label as method_label
from .validate import describe, interference, shown

SECTION = "study"
# (a, b, what a - b isolates), kept when both were run; then every other method against REFERENCE
PAIRS = (
    (ORACLE, REFERENCE, "task interference (the oracle knows the task)"),
    ("teamlora_paper", "moelora", "the interaction matrix (paper form)"),
    ("teamlora_authors", "moelora_xk", "the interaction matrix at the authors' ×k scale"),
    ("moelora_xk", "moelora", "the ×k output scale alone"),
    ("teamlora_authors", "teamlora_paper", "authors' layer vs the paper's"),
    ("teamlora_authors", "hydralora", "TeamLoRA authors vs HydraLoRA"),
    ("teamlora", "moelora", "the interaction matrix (paper form)"),  # the earlier plain study's names
)


def markers(section: str = SECTION) -> tuple[str, str]:
    return (f"<!-- {section}:begin (written by python -m bench.study.report; edits in here are overwritten) -->",
            f"<!-- {section}:end -->")


BEGIN, END = markers()


def _order(methods) -> List[str]:
    known = [m for m in METHODS if m in methods]
    return known + sorted(m for m in methods if m not in METHODS)


def binomial_se(p_percent: float, n: int) -> float:
    p = p_percent / 100
    return 100 * math.sqrt(p * (1 - p) / n) if n else float("nan")


def accuracy_table(summaries: Dict[str, MethodSummary], runs: Dict[str, List[Run]], reference: str,
                   names: Dict[str, str]) -> List[str]:
    methods = _order(summaries)
    tasks = list(summaries[methods[0]].per_task)
    head = ["method", "adapter params", "mean"] + tasks + [f"train time / {names.get(reference, reference)}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in methods:
        s = summaries[m]
        ratio = "—" if s.time_ratio is None else f"{s.time_ratio.mean:.2f} ± {s.time_ratio.std:.2f}"
        cells = [names[m], f"{s.adapter_params:,}", f"**{s.mean.fmt()}**"] + [s.per_task[t].fmt() for t in tasks] + [ratio]
        lines.append("| " + " | ".join(cells) + " |")
    first = runs[methods[0]][0]
    chances = [first.chance.get(t) for t in tasks]
    if all(c is not None for c in chances):
        mean_chance = sum(chances) / len(chances)
        lines.append("| chance | | " + f"{mean_chance:.1f} | " + " | ".join(f"{c:.1f}" for c in chances) + " | |")
    return lines


def seed_noise_table(summaries: Dict[str, MethodSummary], names: Dict[str, str]) -> List[str]:
    """Per method: how much the seed moves the mean over tasks and a single task's accuracy."""
    lines = ["| method | seeds | std of the mean over tasks | mean over tasks of the per-task std | "
             "SE of a difference of two such means |", "|---|---|---|---|---|"]
    for m in _order(summaries):
        s = summaries[m]
        per_task = sum(t.std for t in s.per_task.values()) / len(s.per_task)
        lines.append(f"| {names[m]} | {s.mean.n} | {s.mean.std:.1f} | {per_task:.1f} | "
                     f"{math.sqrt(2) * s.mean.se:.1f} |")
    return lines


def comparisons(summaries: Dict[str, MethodSummary], reference: str) -> List[tuple[str, str, str]]:
    """The pairs to test: PAIRS where both were run, then every other method against the reference."""
    out = [(a, b, why) for a, b, why in PAIRS if a in summaries and b in summaries]
    for m in _order(summaries):
        if m not in (reference, ORACLE) and reference in summaries and (m, reference) not in [(a, b) for a, b, _ in out]:
            out.append((m, reference, f"against the one shared adapter of equal size"))
    return out


def noise_table(summaries: Dict[str, MethodSummary], reference: str, names: Dict[str, str]) -> List[str]:
    lines = ["| comparison | what it isolates | difference (points) | 2 × standard error | beyond seed noise? | "
             "tasks better / worse / within noise |", "|---|---|---|---|---|---|"]
    for a, b, why in comparisons(summaries, reference):
        c = compare(summaries, a, b)
        w = per_task_wins(summaries, a, b)
        lines.append(f"| {names[a]} − {names[b]} | {why} | {c.diff:+.1f} | {2 * c.se:.1f} | "
                     f"{'yes' if c.exceeds_noise else 'no'} | {w['better']} / {w['worse']} / {w['within_noise']} |")
    return lines


def conclusions(summaries: Dict[str, MethodSummary], reference: str, names: Dict[str, str]) -> List[str]:
    """Plain sentences generated from the numbers (the hand-written reading lives outside the markers)."""
    methods = _order(summaries)
    contenders = [m for m in methods if m != ORACLE] or methods
    best = max(contenders, key=lambda m: summaries[m].mean.mean)
    out = [f"- Highest mean accuracy{' without knowing the task' if ORACLE in summaries else ''}: "
           f"{names[best]} ({summaries[best].mean.fmt()})."]
    if any(s.mean.n < 2 for s in summaries.values()):
        out.append("- Some methods have a single seed: there is no estimate of the seed noise to compare against.")
        return out
    if ORACLE in summaries and reference in summaries:
        c = interference(summaries, ORACLE, reference)
        out.append(f"- Validation: {describe(c, summaries)}.")
    pairs = [(a, b) for a, b, _ in comparisons(summaries, reference) if a != ORACLE]
    sig = [c for c in (compare(summaries, a, b) for a, b in pairs) if c.exceeds_noise]
    if pairs and not sig:
        out.append("- No other difference in the table exceeds two standard errors of the seed-to-seed variation: "
                   "at this scale the study does not separate the methods.")
    for c in sig:
        word = "better" if c.diff > 0 else "worse"
        out.append(f"- {names[c.a]} is {word} than {names[c.b]} by {abs(c.diff):.1f} points (> 2 SE = {2 * c.se:.1f}).")
    return out


def usage_table(summaries: Dict[str, MethodSummary], names: Dict[str, str]) -> List[str]:
    lines = ["| method | load-balance CV of φ (held out, mean over layers) | "
             "task spread of the ω share (max − min over tasks) |", "|---|---|---|"]
    for m in _order(summaries):
        s = summaries[m]
        if s.cv is None:
            continue
        lines.append(f"| {names[m]} | {s.cv.mean:.3f} ± {s.cv.std:.3f} | {s.spread.mean:.3f} ± {s.spread.std:.3f} |")
    return lines


def write_figures(runs: Dict[str, List[Run]], images: Path, relative_to: Path, names: Dict[str, str]) -> List[str]:
    images.mkdir(parents=True, exist_ok=True)
    lines = []
    for m in _order(runs):
        first = runs[m][0]
        heat = plot_usage_heatmap(first, images / f"usage_{m}.png",
                                  f"{names[m]}: expert share of ω per task and layer (seed {first.seed})")
        balance = plot_load_balance(runs[m], images / f"balance_{m}.png", f"{names[m]}: load balance")
        for path, what in ((heat, "expert weight per task and layer"), (balance, "load balance")):
            if path is not None:
                lines.append(f"![{names[m]}: {what}]({os.path.relpath(path, relative_to)})")
    return lines


def build_section(runs: Dict[str, List[Run]], *, images: Path, out_dir: Path, command: str,
                  steps: Optional[int], parallel: Optional[int], wall_s: Optional[float],
                  reference: str = REFERENCE, rank: int = RANK, section: str = SECTION,
                  oracle_steps: Optional[int] = None, batch: Optional[int] = None,
                  oracle_batch: Optional[int] = None) -> str:
    summaries = summarize(runs, reference)
    names = {m: method_label(m, rank) for m in summaries}
    methods = _order(summaries)
    first = runs[methods[0]][0]
    n_task = min(first.total.values())
    typical = sum(s.mean.mean for s in summaries.values()) / len(summaries)
    seeds = sorted({seed for s in summaries.values() for seed in s.seeds})
    setup = [f"Command: `{command}`."]
    detail = f"{sum(len(v) for v in runs.values())} runs ({len(methods)} methods × seeds {', '.join(map(str, seeds))})"
    if steps:
        detail += f", {steps} stage-2 steps each" + (f" at batch {batch}" if batch else "")
    if oracle_steps and ORACLE in summaries:
        detail += f" (the oracle: {oracle_steps} steps per task" + (f" at batch {oracle_batch}" if oracle_batch else "")
        if steps and batch and oracle_batch and oracle_steps == steps and oracle_batch * len(first.total) == batch:
            detail += ": each task's adapter gets that task's share of every batch, the same examples and updates"
        detail += ")"
    if parallel:
        detail += f", {parallel} at a time"
    if wall_s:
        detail += f"; the whole study took {wall_s / 60:.1f} min"
    setup.append(detail + ".")
    setup.append(f"Held-out test: {n_task} questions per task; at {typical:.0f}% one run's per-task accuracy has a "
                 f"binomial standard error of about ±{binomial_se(typical, n_task):.1f} points, on top of the seed "
                 "variation that the ± below shows (sample standard deviation over seeds).")
    begin, end = markers(section)
    parts = [begin, "", "### Setup", "", *setup, "",
             "### Held-out accuracy (%, mean ± std over seeds)", "",
             *accuracy_table(summaries, runs, reference, names), "",
             "Adapter params: trainable adapter parameters saved per run (routers included; the oracle: its "
             f"per-task adapters summed; a trained projector, if any, adds {first.projector_params:,}). Train time: "
             f"stage-2 `train_runtime` over the same seed's {names.get(reference, reference)} run (the oracle: its "
             "per-task runs summed).", "",
             "### Seed noise", "", *seed_noise_table(summaries, names), ""]
    if len(summaries) > 1:
        parts += ["### Differences against the seed noise", "", *noise_table(summaries, reference, names), "",
                  "Standard error of a difference of two seed means: sqrt(s_a²/n_a + s_b²/n_b). Per task, the same test.",
                  ""]
    parts += ["### What the numbers say", "", *conclusions(summaries, reference, names), ""]
    usage = usage_table(summaries, names)
    if len(usage) > 2:
        parts += ["### Expert usage", "",
                  "ω is divided by its sum before it is compared (TeamLoRA \"authors\"' weights sum to k, the "
                  "others' to about 1): the task spread is, per layer and expert, the max − min over tasks of "
                  "that expert's share, averaged; 0 = every task routed alike.", "",
                  *usage, "", *write_figures(runs, images, out_dir, names), ""]
    parts.append(end)
    return "\n".join(parts)


def splice(document: str, section: str, name: str = SECTION) -> str:
    """Replace the text between the markers (inclusive) with section; append when there are none."""
    begin, end_marker = markers(name)
    start, end = document.find(begin), document.find(end_marker)
    if start == -1 or end == -1 or end < start:
        return document.rstrip("\n") + "\n\n" + section + "\n"
    return document[:start] + section + document[end + len(end_marker):]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.study.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", required=True, help="study directory: <method>/seed<N>/ runs")
    p.add_argument("--out", required=True, help="markdown file to write the section into")
    p.add_argument("--images", required=True, help="folder for the PNG figures")
    p.add_argument("--methods", default=None,
                   help="comma-separated methods to report (default: every <method>/ folder under --runs)")
    p.add_argument("--section", default=SECTION, help="marker name of the section to replace (default %(default)s)")
    p.add_argument("--rank", type=int, default=RANK, help="rank per expert the runs used (labels; default %(default)s)")
    p.add_argument("--command", default="bash scripts/study.sh", help="the command shown as the reproduction line")
    p.add_argument("--steps", type=int, default=None, help="stage-2 steps per run (for the setup line)")
    p.add_argument("--oracle-steps", type=int, default=None, help="stage-2 steps per oracle task run (setup line)")
    p.add_argument("--batch", type=int, default=None, help="stage-2 batch size (for the setup line)")
    p.add_argument("--oracle-batch", type=int, default=None, help="batch size of the oracle's runs (setup line)")
    p.add_argument("--parallel", type=int, default=None, help="runs at a time (for the setup line)")
    p.add_argument("--wall-s", type=float, default=None, help="the whole study's wall time (for the setup line)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    only = None if args.methods is None else [m.strip() for m in args.methods.split(",") if m.strip()]
    section = build_section(collect_runs(args.runs, only=only), images=Path(args.images), out_dir=out.parent,
                            command=args.command, steps=args.steps, parallel=args.parallel, wall_s=args.wall_s,
                            rank=args.rank, section=args.section, oracle_steps=args.oracle_steps,
                            batch=args.batch, oracle_batch=args.oracle_batch)
    out.parent.mkdir(parents=True, exist_ok=True)
    document = out.read_text() if out.is_file() else "# Results\n"
    out.write_text(splice(document, section, args.section))
    print(section)
    print(f"\nwritten into {out}; figures in {args.images}")
    return section


if __name__ == "__main__":
    main()
