"""Quirks met while training reach the report whatever process met them.

DataLoader workers are separate processes (and every rank has its own): a counter kept in a
worker dies with it. So each process appends what it meets to its own file in a folder of
the run (``<output_dir>/data_events/<host>-rank<r>-pid<p>.jsonl``, one JSON line per event,
written and flushed at once), and the main process reads the whole folder at the end.
One file per process means no two writers ever share a file.
"""
from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path
from typing import Iterator, Optional

from eval.jsonl import read_append_log

logger = logging.getLogger(__name__)

EVENTS_DIR = "data_events"


def events_dir(output_dir: str) -> str:
    return os.path.join(output_dir, EVENTS_DIR)


def record_event(folder: Optional[str], reason: str, sample_id: str, detail: str = "") -> None:
    """Append one event to this process's file in ``folder`` (nothing when ``folder`` is None)."""
    if folder is None:
        return
    os.makedirs(folder, exist_ok=True)
    name = f"{socket.gethostname()}-rank{os.environ.get('RANK', '0')}-pid{os.getpid()}.jsonl"
    line = json.dumps({"reason": reason, "id": sample_id, "detail": detail[:500]}) + "\n"
    with open(os.path.join(folder, name), "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()


def read_events(folder: str) -> Iterator[dict]:
    """Every event in ``folder``; a torn last line (a process killed mid-write) is left out."""
    root = Path(folder)
    if not root.is_dir():
        return
    for path in sorted(root.glob("*.jsonl")):
        log = read_append_log(path)  # a corrupt line before the end is an error naming the file and line
        if log.torn:
            logger.warning("%s: a half-written last event (its process was killed mid-write) is not counted", path)
        for event in log.records:
            if isinstance(event, dict) and "reason" in event and "id" in event:
                yield event


def clear_events(folder: str) -> None:
    """Forget the events of an earlier run in the same output_dir (not on resume)."""
    root = Path(folder)
    if root.is_dir():
        for path in root.glob("*.jsonl"):
            path.unlink()
