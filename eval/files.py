"""Reading answer and ground-truth files with errors that name the file and line."""
import json
import re
from pathlib import Path
from typing import Any, Iterator

from eval import jsonl
from eval.errors import EvalInputError


def read_json(path: str | Path) -> Any:
    """Load one JSON document; a missing or corrupt file is an EvalInputError."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise EvalInputError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise EvalInputError(f"{path}: not valid JSON ({e})") from None
    except UnicodeDecodeError as e:
        raise EvalInputError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for every non-blank line of a JSONL file; errors are EvalInputErrors."""
    return jsonl.read_jsonl(path, EvalInputError)


def require_fields(record: dict, fields: tuple[str, ...], where: str) -> None:
    """Raise naming `where` unless every field is present in the record."""
    absent = [k for k in fields if k not in record]
    if absent:
        raise EvalInputError(f"{where}: missing field(s) {', '.join(absent)}")


def load_answers(path: str | Path) -> dict[str, str]:
    """model_vqa output -> {str(question_id): answer text}.

    Question ids are compared as strings everywhere (VQAv2 uses ints, GQA
    strings). A duplicate id or a non-string "text" is an error.
    """
    answers: dict[str, str] = {}
    for lineno, record in read_jsonl(path):
        where = f"{path}:{lineno}"
        require_fields(record, ("question_id", "text"), where)
        qid = str(record["question_id"])
        if not isinstance(record["text"], str):
            raise EvalInputError(f"{where}: question {qid}: 'text' is not a string")
        if qid in answers:
            raise EvalInputError(f"{where}: duplicate question_id {qid}")
        answers[qid] = record["text"]
    return answers


def _preview(ids: list[str], limit: int = 20) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > limit else "")


def check_coverage(answer_ids, truth_ids, answers_path, allow_missing: bool) -> list[str]:
    """Compare the answered ids with the ground truth's before any scoring.

    An answer for an unknown question is always an error (wrong file pairing).
    Unanswered questions are an error listing their ids, unless allow_missing,
    in which case they are returned (the caller scores them as wrong).
    """
    answer_ids, truth_ids = set(answer_ids), set(truth_ids)
    unknown = sorted(answer_ids - truth_ids)
    if unknown:
        raise EvalInputError(
            f"{answers_path}: {len(unknown)} answer(s) for questions not in the ground truth: "
            f"{_preview(unknown)}")
    missing = sorted(truth_ids - answer_ids)
    if missing and not allow_missing:
        raise EvalInputError(
            f"{answers_path}: {len(missing)} question(s) have no answer: {_preview(missing)} "
            "(pass --allow-missing to score them as wrong)")
    return missing


def write_json(path: str | Path, obj: Any) -> None:
    """Write pretty JSON, creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


_REPEAT_SUFFIX = re.compile(r"#\d+$")


def base_question_id(question_id) -> str:
    """A question id without the "#k" that `convert_questions unique-ids` gives repeated ids."""
    return _REPEAT_SUFFIX.sub("", str(question_id))
