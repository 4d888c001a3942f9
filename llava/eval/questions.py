"""Question files of LLaVA's ``model_vqa`` (JSONL, one question a line) and how a run splits them.

A record: ``{"question_id": id, "text": str, "image"?: relative path, "category"?: str}``.
Anything else in the record is kept in ``extra`` (it never reaches the model).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from eval.jsonl import read_jsonl
from llava.entry import FlagError


class QuestionFileError(ValueError):
    """A question file or one of its records is unusable; the message names the file, line and id."""


@dataclass(frozen=True)
class Question:
    question_id: Any  # int or str, written back as given
    text: str
    image: Optional[str] = None  # relative to the image folder; None for a text-only question
    category: Optional[str] = None
    where: str = ""  # "questions.jsonl:12", for error messages
    extra: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Ids are compared as strings (VQAv2 uses ints, GQA strings), as the scorers do."""
        return str(self.question_id)

    def error(self, detail: str) -> QuestionFileError:
        return QuestionFileError(f"{self.where}: question {self.question_id!r}: {detail}")


_KNOWN = ("question_id", "text", "image", "category")


def parse_question(record: Any, where: str) -> Question:
    """One JSONL record -> Question, or a QuestionFileError naming ``where`` and the id."""
    if not isinstance(record, dict):
        raise QuestionFileError(f"{where}: expected a JSON object, got a {type(record).__name__}")
    qid = record.get("question_id")
    if qid is None or isinstance(qid, (dict, list, bool)) or qid == "":
        raise QuestionFileError(f"{where}: record has no usable 'question_id' (got {qid!r})")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise QuestionFileError(f"{where}: question {qid!r}: 'text' is missing or empty")
    image = record.get("image")
    if image in ("", []):
        image = None
    if isinstance(image, list) and len(image) == 1:
        image = image[0]
    if image is not None and not isinstance(image, str):
        raise QuestionFileError(f"{where}: question {qid!r}: 'image' must be one relative path, got {image!r}")
    category = record.get("category")
    extra = {k: v for k, v in record.items() if k not in _KNOWN}
    return Question(qid, text, image, None if category is None else str(category), where, extra)


def read_questions(path: str | os.PathLike) -> list[Question]:
    """Every question of a JSONL file, validated; duplicate ids are an error (resume relies on ids)."""
    name = os.fspath(path)
    questions: list[Question] = []
    seen: dict[str, str] = {}
    for lineno, record in read_jsonl(name, QuestionFileError):
        where = f"{name}:{lineno}"
        question = parse_question(record, where)
        if question.key in seen:
            raise QuestionFileError(f"{where}: question {question.question_id!r} repeats {seen[question.key]}")
        seen[question.key] = where
        questions.append(question)
    if not questions:
        raise QuestionFileError(f"{name}: no questions")
    return questions


def check_images(questions: Sequence[Question], image_folder: str) -> None:
    """Fail before any generation if an image file is missing (not after an hour of answers)."""
    for q in questions:
        if q.image is not None and not os.path.isfile(os.path.join(image_folder, q.image)):
            raise q.error(f"image file not found: {os.path.join(image_folder, q.image)}")


def get_chunk(items: Sequence, num_chunks: int, chunk_idx: int) -> list:
    """Contiguous chunk ``chunk_idx`` of ``num_chunks`` near-equal ones (sizes differ by at most 1).

    Concatenating chunks 0..n-1 gives back ``items`` in order, so per-GPU answer files
    concatenate into one file in question order.
    """
    if num_chunks < 1 or not 0 <= chunk_idx < num_chunks:
        raise FlagError(f"need num_chunks >= 1 and 0 <= chunk_idx < num_chunks; got {num_chunks}, {chunk_idx}")
    base, rest = divmod(len(items), num_chunks)
    start = chunk_idx * base + min(chunk_idx, rest)
    return list(items[start:start + base + (1 if chunk_idx < rest else 0)])


def with_suffix(text: str, suffix: Optional[str]) -> str:
    """``text`` + newline + ``suffix``, unless the text already ends with it (the synthetic and
    LLaVA's VQAv2/GQA/TextVQA files carry the short-answer prompt already)."""
    if not suffix or text.rstrip().endswith(suffix.strip()):
        return text
    return f"{text.rstrip()}\n{suffix.strip()}"
