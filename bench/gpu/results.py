"""The run's JSON result: placeholders for the parts not yet run, failures as reasons, and the file that is
rewritten after every finished part, so a run cut off at any point leaves a file that parses and holds
the parts it finished ("complete": false until the end)."""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Optional

from .settings import REPO

PENDING = "pending: the run had not reached this part when the file was written"


def default_json_path() -> Path:
    """bench/results/gpu-<local date and time>.json in the repository."""
    return REPO / "bench" / "results" / f"gpu-{time.strftime('%Y-%m-%dT%H%M%S')}.json"


def failure(err: BaseException) -> str:
    return f"failed: {type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"


def finite(x) -> Optional[float]:
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


def empty_cell(reason: Optional[str]) -> dict:
    """One (attention, checkpointing, variant) cell of the training grid, not measured (yet)."""
    return {"batch": None, "step_ms": None, "tokens_per_s": None, "peak_gib": None, "over_lora_kr": None,
            "loss": None, "oom_batches": [], "skipped": reason}


class ResultFile:
    """Writes the result object as one JSON line, atomically: a temporary file beside the target, then
    os.replace, so a reader (or a run killed mid-write) never sees half a file."""

    def __init__(self, path: os.PathLike | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, result: dict) -> str:
        line = json.dumps(result)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(line + "\n")
        os.replace(tmp, self.path)
        return line

