"""What a bench.gpu run covers: the grid's axes, the run's settings, and the presets behind --dry-run and --quick."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

import torch

from ..harness import Plan

REPO = Path(__file__).resolve().parents[2]
DEFAULT_VARIANTS = ("lora_kr", "moelora", "moelora_loop", "hydralora", "teamlora")
ATTNS = ("sdpa", "flash_attention_2")
GRAD_CKPT = ("on", "off")
FFN_TARGETS = ("gate_proj", "up_proj", "down_proj")  # the paper adapts the FFN only (docs/design.md#adapter-math)
GIB = float(2 ** 30)

# rounds per (attention, checkpointing) group: one optimizer step per variant and round (no blocks of calls)
PLANS = {
    "dry": Plan(repeats=2, warmup=1, iters=1),
    "quick": Plan(repeats=3, warmup=1, iters=1),
    "full": Plan(repeats=5, warmup=2, iters=1),
}
# --quick's default --time-budget: no part starts after 6 minutes, so the last one (the QLoRA step, about
# 2 minutes on an H200 by estimate) ends within the 8 minutes a short GPU loan allows
QUICK_TIME_BUDGET_S = 360.0


@dataclass
class Settings:
    device: torch.device
    dtype: torch.dtype
    dry_run: bool
    batch: int
    seq_len: int
    steps: int
    warmup: int
    attns: List[str]
    grad_ckpts: List[str]
    variants: List[str]
    k: int = 4
    r: int = 32
    lr: float = 1e-5
    skip_qlora: bool = False
    skip_zero: bool = False
    quick: bool = False  # --quick: the core grid and QLoRA only (ZeRO-2 skipped)
    work_dir: Optional[str] = None
    zero_timeout_s: int = 1800
    log: Callable[[str], None] = field(default=lambda msg: print(msg, flush=True))

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def plan(self) -> Plan:
        """--warmup untimed rounds, then --steps timed ones, one step per variant each."""
        return Plan(repeats=self.steps, warmup=self.warmup, iters=1)
