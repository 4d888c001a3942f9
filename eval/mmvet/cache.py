"""Append-only JSONL cache of grades, so an interrupted grading run resumes.

One line per grade, written and flushed to disk the moment it arrives. A grade
is reused only when question id, judge, run index and the hash of
(prediction, ground truth, prompt) all match, so an edited answer, or a switch
between MM-Vet's prompt and the project's, is graded again. The file is read as
bytes: a last line cut anywhere (inside a multi-byte UTF-8 character too) is
dropped with a warning and regraded.
"""
import hashlib
import json
import os
import sys
from pathlib import Path

from eval.errors import EvalInputError


def content_hash(prediction: str, ground_truth: str, prompt: str = "") -> str:
    """`prompt` identifies the judge's prompt; empty for judges without one (the offline rule)."""
    fields = [prediction, ground_truth] + ([prompt] if prompt else [])
    return hashlib.sha256(json.dumps(fields).encode("utf-8")).hexdigest()[:16]


def _key(entry: dict) -> tuple:
    return entry["id"], entry["judge"], entry["run"], entry["hash"]


class GradeCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._entries: dict[tuple, dict] = {}
        if self.path.exists():
            self._load()
        self._file = self.path.open("a", encoding="utf-8")

    def _load(self) -> None:
        raw = self.path.read_bytes()
        complete, newline, tail = raw.rpartition(b"\n")
        for lineno, line in enumerate(complete.split(b"\n") if newline else [], start=1):
            if line.strip():
                self._remember(line, lineno)
        if tail.strip():
            # The unterminated last line is what a kill mid-write leaves behind.
            lineno = complete.count(b"\n") + 1 + bool(newline)
            print(f"warning: {self.path}:{lineno}: dropping a half-written last line",
                  file=sys.stderr)
            with self.path.open("r+b") as f:
                f.truncate(len(complete) + len(newline))

    def _remember(self, line: bytes, lineno: int) -> None:
        try:
            entry = json.loads(line)
            self._entries[_key(entry)] = entry
        except (ValueError, KeyError, TypeError):
            raise EvalInputError(f"{self.path}:{lineno}: corrupt cache line "
                                 "(delete the file to regrade everything)") from None

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, qid: str, judge: str, run: int, digest: str) -> dict | None:
        return self._entries.get((qid, judge, run, digest))

    def add(self, entry: dict) -> None:
        self._entries[_key(entry)] = entry
        self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
