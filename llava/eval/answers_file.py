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
import os

from eval.jsonl import repair_append_log


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

