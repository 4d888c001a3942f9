"""Save and stop before a scheduler kills the job, so the hours since the last checkpoint are not lost.

Two triggers, checked after every optimizer step:
- a signal: SIGTERM (what SLURM and Kubernetes send before they kill, and what torchrun passes on to
  its workers) or SIGUSR1 (`#SBATCH --signal=USR1@600` asks SLURM for one ten minutes early);
- a wall-clock budget (`--time_limit_hours`, counted from the process's start): stop once less than
  `--stop_margin_minutes`, or less than three of the slowest steps seen (a save included), is left.
Ranks may see a signal at different steps, so the decision is all-reduced (one int per step): every
rank saves the same checkpoint-N, and the run ends with exit code 75 (EX_TEMPFAIL, "try again"):
running the same command again resumes from that checkpoint. No final model is written.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Callable, Optional, Sequence

import torch
from transformers import TrainerCallback

logger = logging.getLogger("llava.train")

STOPPED_EXIT_CODE = 75  # EX_TEMPFAIL: the job is not finished; rerun to continue
STEPS_OF_MARGIN = 3


def parse_signals(names: str) -> tuple[signal.Signals, ...]:
    """ "SIGTERM,SIGUSR1" -> the signals; "" or "none" -> (); an unknown name is a ValueError naming it."""
    found = []
    for name in (n.strip().upper() for n in names.split(",")):
        if name in ("", "NONE"):
            continue
        name = name if name.startswith("SIG") else f"SIG{name}"
        if not hasattr(signal.Signals, name) or name in ("SIGKILL", "SIGSTOP"):
            raise ValueError(f"--stop_on_signals: {name} is not a signal that can be caught")
        found.append(signal.Signals[name])
    return tuple(found)


def any_rank(flag: bool) -> bool:
    """True on every rank when it is True on any (one all-reduce; the flag alone without a process group)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


class SaveAndStopCallback(TrainerCallback):
    """Sets should_save and should_training_stop on every rank at the same step when a trigger fires;
    ``stopped`` then says why (None while the run goes on)."""

    def __init__(self, signals: Sequence[signal.Signals] = (), time_limit_s: Optional[float] = None,
                 margin_s: float = 600.0, clock: Callable[[], float] = time.monotonic,
                 started_at: Optional[float] = None):
        self.signals = tuple(signals)
        self.time_limit_s = time_limit_s
        self.margin_s = margin_s
        self.clock = clock
        self.received: Optional[str] = None  # set by the signal handler
        self.stopped: Optional[str] = None
        self.stopped_at: Optional[int] = None
        self._previous: dict = {}
        self._started_at = started_at  # the budget counts from here (process start), else from training's
        self._start = self._last = 0.0
        self._slowest_step = 0.0

    # ---- signals --------------------------------------------------------------------------
    def _on_signal(self, signum, frame) -> None:
        self.received = signal.Signals(signum).name  # acted on at the end of the current step

    def _install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            logger.warning("save-and-stop: not on the main thread, signals are not caught (the time limit still is)")
            return
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    # ---- the budget -----------------------------------------------------------------------
    def over_budget(self, now: float) -> bool:
        if self.time_limit_s is None:
            return False
        margin = max(self.margin_s, STEPS_OF_MARGIN * self._slowest_step)
        return now - self._start + margin >= self.time_limit_s

    # ---- trainer events -------------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        self._last = self.clock()
        self._start = self._last if self._started_at is None else self._started_at
        self._install()

    def on_step_end(self, args, state, control, **kwargs):
        now = self.clock()
        self._slowest_step = max(self._slowest_step, now - self._last)
        self._last = now
        local = self.received or ("time limit" if self.over_budget(now) else None)
        if not any_rank(local is not None):
            return control
        self.stopped = local or "another rank's signal"
        self.stopped_at = state.global_step
        control.should_save = True
        control.should_training_stop = True
        logger.warning("save-and-stop (%s): saving checkpoint-%d, then stopping; run the same command again to "
                       "continue from it", self.stopped, state.global_step)
        return control

    def on_train_end(self, args, state, control, **kwargs):
        self._restore()
