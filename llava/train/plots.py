"""Pictures of a run: the loss curve, and expert utilisation per layer (a heatmap)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display on training nodes
import matplotlib.pyplot as plt  # noqa: E402

from eval.jsonl import read_append_log  # noqa: E402

EXPERT_STATS_FILE = "expert_stats.jsonl"  # one line per logging step: mean phi per routed layer


def plot_loss_curve(log_history: Sequence[dict], path: str | Path, title: str = "training loss") -> Optional[Path]:
    """Loss against step from a Trainer's log_history; None when nothing was logged yet."""
    points = [(h["step"], h["loss"]) for h in log_history if "loss" in h and "step" in h]
    if not points:
        return None
    steps, losses = zip(*points)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, losses, marker="." if len(points) < 50 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def read_expert_stats(path: str | Path) -> List[dict]:
    """The records of an expert_stats.jsonl ([] when absent). A torn last line (a killed run) is left out;
    a corrupt line before the end is a JsonlError naming the file and line."""
    return read_append_log(path).records


def mean_expert_weights(records: Sequence[dict]) -> Dict[str, List[float]]:
    """Average, per layer, of the logged mean router participations over all log steps."""
    sums: Dict[str, List[float]] = {}
    for record in records:
        for layer, phi in record["layers"].items():
            acc = sums.setdefault(layer, [0.0] * len(phi))
            for i, v in enumerate(phi):
                acc[i] += v / len(records)
    return sums


def plot_expert_heatmap(weights: Dict[str, List[float]], path: str | Path, title: str = "mean expert weight") -> Optional[Path]:
    """Rows: adapted layers; columns: experts; colour: mean participation phi (1/k = balanced)."""
    if not weights:
        return None
    names = list(weights)
    matrix = [weights[n] for n in names]
    k = len(matrix[0])
    fig, ax = plt.subplots(figsize=(2.0 + 0.6 * k, 1.0 + 0.22 * len(names)))
    image = ax.imshow(matrix, aspect="auto", cmap="viridis", vmin=0.0, vmax=max(max(r) for r in matrix))
    ax.set_xticks(range(k), [f"E{i}" for i in range(k)])
    short = [n.replace("model.language_model.", "").replace("model.", "") for n in names]
    ax.set_yticks(range(len(names)), short, fontsize=6)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.05)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
