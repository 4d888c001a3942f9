"""The study's pictures: expert weight per task and layer (heatmaps), and load balance per method."""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import List, Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt  # noqa: E402

from teamlora import expert_cv  # noqa: E402

from .aggregate import omega_share, pooled_phi  # noqa: E402
from .collect import Run  # noqa: E402


def short_layer(name: str) -> str:
    """model.language_model.layers.1.mlp.up_proj -> L1 up_proj"""
    parts = name.split(".")
    if "layers" in parts:
        i = parts.index("layers")
        return f"L{parts[i + 1]} {parts[-1]}"
    return name


def plot_usage_heatmap(run: Run, path: str | Path, title: str) -> Optional[Path]:
    """One column per task; rows = adapted layers, columns = experts. Top: each expert's share of the mean
    omega on that task's held-out prompts (omega / its sum, so methods whose weights sum to k and to 1 read
    alike). Bottom: the same minus its mean over tasks, which shows what is task-specific in the routing.
    Expert numbering is per run (experts have no identity across seeds)."""
    if not run.usage:
        return None
    tasks = sorted(run.usage)
    layers = list(run.usage[tasks[0]])
    k = len(run.usage[tasks[0]][layers[0]]["omega"])
    grids = [[omega_share(run.usage[t][name]) for name in layers] for t in tasks]  # task -> layer -> expert
    mean = [[statistics.fmean(g[li][e] for g in grids) for e in range(k)] for li in range(len(layers))]
    devs = [[[g[li][e] - mean[li][e] for e in range(k)] for li in range(len(layers))] for g in grids]
    vmax = max(max(max(row) for row in grid) for grid in grids)
    vmin = min(min(min(row) for row in grid) for grid in grids)
    dmax = max(1e-6, max(abs(v) for d in devs for row in d for v in row))
    fig, axes = plt.subplots(2, len(tasks), figsize=(1.2 + 1.15 * len(tasks) * max(1, k / 4), 2.0 + 0.56 * len(layers)),
                             sharey=True, squeeze=False)
    top = bottom = None
    for col, task in enumerate(tasks):
        top = axes[0][col].imshow(grids[col], aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax)
        bottom = axes[1][col].imshow(devs[col], aspect="auto", cmap="RdBu_r", vmin=-dmax, vmax=dmax)
        axes[0][col].set_title(task, fontsize=9)
        for row in (0, 1):
            axes[row][col].set_xticks(range(k), [f"E{i}" for i in range(k)], fontsize=7)
    for row in (0, 1):
        axes[row][0].set_yticks(range(len(layers)), [short_layer(n) for n in layers], fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.colorbar(top, ax=axes[0].tolist(), fraction=0.02, pad=0.01, label="ω share (ω / Σω)")
    fig.colorbar(bottom, ax=axes[1].tolist(), fraction=0.02, pad=0.01, label="share − mean over tasks")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def _training_cv(run: Run) -> tuple[List[int], List[float]]:
    steps, cvs = [], []
    for record in run.expert_stats:
        layer_cvs = [expert_cv(phi) for phi in record["layers"].values()]
        if layer_cvs:
            steps.append(record["step"])
            cvs.append(statistics.fmean(layer_cvs))
    return steps, cvs


def plot_load_balance(runs: Sequence[Run], path: str | Path, title: str) -> Optional[Path]:
    """Left: mean-over-layers CV of expert participation during training, one line per seed.
    Right: per layer, the CV on held-out prompts (all tasks pooled), mean over seeds with min-max bars."""
    routed = [r for r in runs if r.usage or r.expert_stats]
    if not routed:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    for run in routed:
        steps, cvs = _training_cv(run)
        if steps:
            left.plot(steps, cvs, marker=".", label=f"seed {run.seed}")
    left.set_xlabel("training step")
    left.set_ylabel("CV of expert participation φ")
    left.set_title("during training (mean over layers)", fontsize=9)
    left.set_ylim(bottom=0)
    left.grid(alpha=0.3)
    if left.lines:
        left.legend(fontsize=7)
    per_seed = [pooled_phi(r) for r in routed if r.usage]
    if per_seed:
        layers = list(per_seed[0])
        values = [[expert_cv(phi[name]) for phi in per_seed] for name in layers]
        means = [statistics.fmean(v) for v in values]
        lows = [m - min(v) for m, v in zip(means, values)]
        highs = [max(v) - m for m, v in zip(means, values)]
        right.bar(range(len(layers)), means, yerr=[lows, highs], capsize=3, color="tab:orange")
        right.set_xticks(range(len(layers)), [short_layer(n) for n in layers], rotation=45, ha="right", fontsize=7)
    right.set_ylabel("CV of φ (0 = balanced)")
    right.set_title("held-out prompts, per layer (seeds: mean, min-max)", fontsize=9)
    right.grid(alpha=0.3, axis="y")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
