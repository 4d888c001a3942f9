"""The answers file of ``model_vqa``: appended batch by batch, resumed after a kill.

One JSON line per question. Each batch is written, flushed and fsynced as soon as it is
generated, so a killed run loses at most the batch in flight. On restart the ids already
in the file are skipped; a half-written last line (the kill hit mid-write) is cut off with
a warning and its question is generated again. A corrupt line anywhere else is an error:
that is not what a kill leaves behind.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Iterable

logger = logging.getLogger(__name__)


class AnswersFileError(ValueError):
    """The existing answers file cannot be resumed; the message names the file and line."""


def _parse(line: bytes, where: str) -> str:
    record = json.loads(line)  # json.JSONDecodeError is a ValueError: the caller decides
    if not isinstance(record, dict) or "question_id" not in record or "text" not in record:
        raise AnswersFileError(f"{where}: not an answer record (needs question_id and text)")
    return str(record["question_id"])


def answered_ids(path: str | os.PathLike) -> set[str]:
    """Ids (as strings) already answered in ``path``; repairs a truncated last line in place."""
    path = Path(path)
    if not path.exists():
        return set()
    data = path.read_bytes()
    lines = data.split(b"\n")  # the last element is b"" when the file ends with a newline
    done: set[str] = set()
    offset = 0
    for lineno, line in enumerate(lines, start=1):
        is_last = lineno == len(lines)
        where = f"{path}:{lineno}"
        if line.strip():
            try:
                qid = _parse(line, where)
            except json.JSONDecodeError:
                if not is_last:
                    raise AnswersFileError(f"{where}: corrupt line (not JSON) before the end of the file; "
                                           "fix or delete it by hand") from None
                logger.warning("%s: dropping a half-written last line (%d bytes); its question is redone",
                               where, len(line))
                _truncate(path, offset)
                return done
            if qid in done:
                raise AnswersFileError(f"{where}: question {qid} is answered twice")
            done.add(qid)
        offset += len(line) + 1
    if data and not data.endswith(b"\n"):  # a complete record whose newline never made it
        with path.open("ab") as f:
            f.write(b"\n")
    return done


def _truncate(path: Path, size: int) -> None:
    with path.open("r+b") as f:
        f.truncate(size)


def answer_id(model_id: str, question_id, prompt: str, text: str) -> str:
    """Deterministic short id: the same model, question and answer always give the same id."""
    digest = hashlib.sha1(json.dumps([model_id, str(question_id), prompt, text]).encode("utf-8"))
    return digest.hexdigest()[:22]


class AnswerWriter:
    """Appends answer records; ``write_batch`` makes a batch durable before returning."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def write_batch(self, records: Iterable[dict]) -> None:
        # One write per batch: a kill can tear at most the last line, which answered_ids repairs.
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        self._file.write(text)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "AnswerWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
