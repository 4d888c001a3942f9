"""Append-only JSON-lines files that a killed run resumes from (answers files, expert statistics).

Writers append whole lines, so a kill can only tear the end of the file: the bytes after the
last newline are a torn line, whatever byte the kill stopped on (inside a multi-byte UTF-8
character too). Readers drop that tail; resuming writers cut it off and redo its record. A line
that does not parse *before* the end of the file is not what a kill leaves behind: that is an
error naming the file and line.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List, Type

logger = logging.getLogger(__name__)


class AppendLogError(ValueError):
    """An append-only file is corrupt before its end; the message names the file and line."""


@dataclass(frozen=True)
class Line:
    lineno: int
    record: Any  # the parsed JSON value
    raw: bytes  # the line's bytes, without the newline


@dataclass(frozen=True)
class AppendLog:
    path: Path
    lines: List[Line]
    size: int  # bytes up to the end of the last complete line: where a torn tail starts
    torn: int  # bytes of the torn tail (0: none)
    missing_newline: bool  # the last line is complete but its newline never reached the disk

    @property
    def records(self) -> List[Any]:
        return [line.record for line in self.lines]


def read_append_log(path: str | os.PathLike, error: Type[ValueError] = AppendLogError) -> AppendLog:
    """Parse every complete line of ``path`` (a missing file is empty); never modifies the file."""
    path = Path(path)
    data = path.read_bytes() if path.is_file() else b""
    pieces = data.split(b"\n")  # the last piece is b"" when the file ends with a newline
    lines: List[Line] = []
    offset = 0
    for lineno, raw in enumerate(pieces, start=1):
        if raw.strip():
            try:
                record = json.loads(raw.decode("utf-8"))
            except ValueError:  # JSONDecodeError and UnicodeDecodeError (a character cut in half)
                if lineno == len(pieces):  # no newline after it: the write was cut off
                    return AppendLog(path, lines, offset, len(raw), False)
                raise error(f"{path}:{lineno}: corrupt line (not JSON) before the end of the file; "
                            "fix or delete it by hand") from None
            lines.append(Line(lineno, record, raw))
        offset += len(raw) + 1
    return AppendLog(path, lines, len(data), 0, bool(data) and not data.endswith(b"\n"))


def repair_append_log(path: str | os.PathLike, error: Type[ValueError] = AppendLogError) -> AppendLog:
    """``read_append_log``, then cut a torn last line off the file (with a warning) and end it with a newline."""
    log = read_append_log(path, error)
    if log.torn:
        lineno = (log.lines[-1].lineno + 1) if log.lines else 1
        logger.warning("%s:%d: dropping a half-written last line (%d bytes) left by a killed run; "
                       "its record is redone", log.path, lineno, log.torn)
        with log.path.open("r+b") as f:
            f.truncate(log.size)
    elif log.missing_newline:
        with log.path.open("ab") as f:
            f.write(b"\n")
    return log


def keep_records(path: str | os.PathLike, keep: Callable[[Any], bool], error: Type[ValueError] = AppendLogError) -> int:
    """Rewrite ``path`` with only the complete lines whose record satisfies ``keep``; returns how many were dropped.

    The rewrite goes to a temporary file renamed over the original, so a kill leaves either file whole.
    """
    log = read_append_log(path, error)
    kept = [line for line in log.lines if keep(line.record)]
    if len(kept) == len(log.lines) and not log.torn and not log.missing_newline:
        return 0
    tmp = log.path.with_name(log.path.name + ".tmp")
    tmp.write_bytes(b"".join(line.raw + b"\n" for line in kept))
    os.replace(tmp, log.path)
    return len(log.lines) - len(kept)
