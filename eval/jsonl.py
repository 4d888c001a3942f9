"""JSON-lines files (one JSON value a line): read with line numbers, written whole, appended durably.

Every reader names the file and line of a bad line in one error. The caller picks the error's
class (``error=``: its own package's, so its entry point prints one line) and, where it words them
its own way (the training data reads like its JSON-list errors), the wording (``not_json=``, ``not_object=``).

Append-only logs (answers files, expert statistics, grade caches, data events) are appended whole
lines at a time, so a kill can only tear the end of the file: the bytes after the last newline are a
torn line, whatever byte the kill stopped on (inside a multi-byte UTF-8 character too). Readers drop
that tail; resuming writers cut it off and redo its record. A line that does not parse *before* the
end of the file is not what a kill leaves behind: that is an error naming the file and line.

Standard library only: ``eval`` and ``llava`` both read and write these files, and ``eval`` is the
layer both may import.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Type

logger = logging.getLogger(__name__)

# Message templates; fields: path, lineno, msg and colno (of the JSON error), type (of a non-object).
NOT_JSON = "{path}:{lineno}: not valid JSON ({msg}, column {colno})"
NOT_OBJECT = "{path}:{lineno}: expected a JSON object, got a {type}"


class JsonlError(ValueError):
    """A JSON-lines file that cannot be read; the message names the file and line."""


def parse_jsonl(
    lines: Iterable[bytes | str],
    path: str | os.PathLike,
    error: Type[Exception] = JsonlError,
    *,
    objects: bool = True,
    not_json: str = NOT_JSON,
    not_object: str = NOT_OBJECT,
) -> Iterator[tuple[int, Any]]:
    """Yield (line number, value) for every non-blank line; ``objects``: each value must be a dict.

    Lines may be bytes (decoded one at a time, so a bad byte is reported with its line) or text.
    """
    for lineno, line in enumerate(lines, start=1):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as e:
                raise error(f"{path}:{lineno}: not UTF-8 text (byte {e.start}: {e.reason})") from None
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            raise error(not_json.format(path=path, lineno=lineno, msg=e.msg, colno=e.colno)) from None
        if objects and not isinstance(value, dict):
            raise error(not_object.format(path=path, lineno=lineno, type=type(value).__name__))
        yield lineno, value


def read_jsonl(
    path: str | os.PathLike, error: Type[Exception] = JsonlError, *, objects: bool = True
) -> Iterator[tuple[int, Any]]:
    """``parse_jsonl`` over a file, read line by line; a missing file is ``error`` too."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    with f:
        yield from parse_jsonl(f, path, error, objects=objects)


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any], *, ensure_ascii: bool = False) -> int:
    """Write one JSON line per row (UTF-8), creating parent folders; returns how many rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=ensure_ascii) + "\n")
            n += 1
    return n


class JsonlAppender:
    """Appends records to an append-only log; ``append`` makes them durable (flushed, fsynced) before
    returning, in one write, so a kill tears at most the last line (which ``repair_append_log`` redoes)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def append(self, records: Iterable[Any]) -> None:
        self._file.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
    torn_lineno: int = 0  # the torn tail's line number (0: none)

    @property
    def records(self) -> List[Any]:
        return [line.record for line in self.lines]


CORRUPT = "{path}:{lineno}: corrupt line (not JSON) before the end of the file; fix or delete it by hand"


def read_append_log(
    path: str | os.PathLike, error: Type[Exception] = JsonlError, *, corrupt: str = CORRUPT
) -> AppendLog:
    """Parse every complete line of ``path`` (a missing file is empty); never modifies the file.

    ``corrupt``: the message for a bad line before the end (fields: path, lineno).
    """
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
                    return AppendLog(path, lines, offset, len(raw), False, lineno)
                raise error(corrupt.format(path=path, lineno=lineno)) from None
            lines.append(Line(lineno, record, raw))
        offset += len(raw) + 1
    return AppendLog(path, lines, len(data), 0, bool(data) and not data.endswith(b"\n"))


def repair_append_log(
    path: str | os.PathLike,
    error: Type[Exception] = JsonlError,
    *,
    corrupt: str = CORRUPT,
    warn: Callable[[str], None] = logger.warning,
) -> AppendLog:
    """``read_append_log``, then cut a torn last line off the file (saying so through ``warn``) and end
    the file with a newline, so appending can go on."""
    log = read_append_log(path, error, corrupt=corrupt)
    if log.torn:
        warn(f"{log.path}:{log.torn_lineno}: dropping a half-written last line ({log.torn} bytes) left by a killed run; "
             "its record is redone")
        with log.path.open("r+b") as f:
            f.truncate(log.size)
    elif log.missing_newline:
        with log.path.open("ab") as f:
            f.write(b"\n")
    return log


def keep_records(path: str | os.PathLike, keep: Callable[[Any], bool], error: Type[Exception] = JsonlError) -> int:
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
