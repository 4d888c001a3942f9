"""Trainer callbacks: keep the run's pictures up to date beside its output."""
from __future__ import annotations

import os

from transformers import TrainerCallback

from .plots import EXPERT_STATS_FILE, mean_expert_weights, plot_expert_heatmap, plot_loss_curve, read_expert_stats


class PlotCallback(TrainerCallback):
    """Rewrites loss_curve.png (and expert_utilisation.png) at every save and at the end of training."""

    def _draw(self, args, state) -> None:
        if not state.is_world_process_zero:
            return
        os.makedirs(args.output_dir, exist_ok=True)
        run = args.run_name or os.path.basename(os.path.normpath(args.output_dir))
        plot_loss_curve(state.log_history, os.path.join(args.output_dir, "loss_curve.png"), title=f"training loss: {run}")
        records = read_expert_stats(os.path.join(args.output_dir, EXPERT_STATS_FILE))
        plot_expert_heatmap(mean_expert_weights(records), os.path.join(args.output_dir, "expert_utilisation.png"))

    def on_save(self, args, state, control, **kwargs):
        self._draw(args, state)

    def on_train_end(self, args, state, control, **kwargs):
        self._draw(args, state)
