"""Append-only JSONL cache of grades, so an interrupted grading run resumes.

One line per grade, written and flushed to disk the moment it arrives. A grade
is reused only when question id, judge, run index and the hash of
(prediction, ground truth, prompt) all match, so an edited answer, or a switch
between MM-Vet's prompt and the project's, is graded again. The file is read as
bytes (eval.jsonl's append log): a last line cut anywhere (inside a multi-byte
UTF-8 character too) is dropped with a warning and regraded.
"""
import hashlib
import json
import sys
from pathlib import Path

from eval.errors import EvalInputError
from eval.jsonl import JsonlAppender, repair_append_log

CORRUPT = "{path}:{lineno}: corrupt cache line (delete the file to regrade everything)"


def content_hash(prediction: str, ground_truth: str, prompt: str = "") -> str:
    """`prompt` identifies the judge's prompt; empty for judges without one (the offline rule)."""
    fields = [prediction, ground_truth] + ([prompt] if prompt else [])
    return hashlib.sha256(json.dumps(fields).encode("utf-8")).hexdigest()[:16]


def _key(entry: dict) -> tuple:
    return entry["id"], entry["judge"], entry["run"], entry["hash"]


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)  # the grader reports on stderr, not through logging


class GradeCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._entries: dict[tuple, dict] = {}
        log = repair_append_log(self.path, EvalInputError, corrupt=CORRUPT, warn=_warn)
        for line in log.lines:
            try:
                self._entries[_key(line.record)] = line.record
            except (KeyError, TypeError):  # JSON, but not a grade
                raise EvalInputError(CORRUPT.format(path=self.path, lineno=line.lineno)) from None
        self._file = JsonlAppender(self.path)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, qid: str, judge: str, run: int, digest: str) -> dict | None:
        return self._entries.get((qid, judge, run, digest))

    def add(self, entry: dict) -> None:
        self._entries[_key(entry)] = entry
        self._file.append([entry])  # on disk before the next request

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
