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

from llava.append_log import repair_append_log

logger = logging.getLogger(__name__)


class AnswersFileError(ValueError):
    """The existing answers file cannot be resumed; the message names the file and line."""


def answered_ids(path: str | os.PathLike) -> set[str]:
    """Ids (as strings) already answered in ``path``; repairs a torn last line in place.

    A torn last line is always treated as torn, whatever byte the kill cut it on (a multi-byte
    character cut in half too): it is dropped with a warning and its question is generated again.
    """
    done: set[str] = set()
    for line in repair_append_log(path, error=AnswersFileError).lines:
        where = f"{path}:{line.lineno}"
        record = line.record
        if not isinstance(record, dict) or "question_id" not in record or "text" not in record:
            raise AnswersFileError(f"{where}: not an answer record (needs question_id and text)")
        qid = str(record["question_id"])
        if qid in done:
            raise AnswersFileError(f"{where}: question {qid} is answered twice")
        done.add(qid)
    return done


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
