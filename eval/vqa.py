"""VQA accuracy (VQAv2, TextVQA): soft accuracy against the (10) human answers.

A prediction is scored on each leave-one-out subset of the human answers as
min(#matches / 3, 1); the question's accuracy is the mean over subsets, the
benchmark's the mean over questions. Three readings of "match":

- `vqa_eval_accuracy`: the official VQA evaluation (vqaEval.py). Every answer
  gets newlines/tabs to spaces and a strip; only when the human answers are not
  all identical do the prediction and the human answers get the punctuation and
  digit/article processing (otherwise they are compared as they are, case and
  all); a leave-one-out subset drops every answer record equal to the left-out one.
- `textvqa_accuracy`: LLaVA's TextVQAAccuracyEvaluator: EvalAI's answer
  processor on the prediction and on all 10 human answers, subsets by position.
- `vqa_accuracy`: the project's forgiving reading (`normalize_answer` on both
  sides), reported under --lenient.
"""
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from eval.cli import percent
from eval.errors import EvalInputError
from eval.files import read_json, read_jsonl, require_fields
from eval.normalize import evalai_answer, normalize_answer, vqa_process, vqa_whitespace


@dataclass(frozen=True)
class VQAItem:
    """Ground truth of one question: the human answers, their full records, and types if known."""
    answers: tuple[str, ...]
    answer_type: str | None = None
    question_type: str | None = None
    records: tuple[dict, ...] = ()  # VQAv2 answer records ({answer, answer_confidence, answer_id})


def vqa_accuracy(prediction: str, human_answers: list[str] | tuple[str, ...]) -> float:
    """Lenient: leave-one-out soft accuracy after `normalize_answer` on both sides."""
    if len(human_answers) < 2:
        raise ValueError("VQA accuracy needs at least 2 human answers")
    pred = normalize_answer(prediction)
    hits = [normalize_answer(a) == pred for a in human_answers]
    total_hits = sum(hits)
    # Leaving out answer i removes its own hit from the count.
    return sum(min(1.0, (total_hits - hit) / 3.0) for hit in hits) / len(hits)


def vqa_eval_accuracy(prediction: str, records: tuple[dict, ...] | list[dict]) -> float:
    """Official VQAv2 accuracy of one answer against the annotation's answer records."""
    pred = vqa_whitespace(prediction)
    records = [{**r, "answer": vqa_whitespace(r["answer"])} for r in records]
    if len({r["answer"] for r in records}) > 1:  # processing only when the humans disagree
        records = [{**r, "answer": vqa_process(r["answer"])} for r in records]
        pred = vqa_process(pred)
    accs = []
    for left_out in records:
        # The official code drops every record equal to the left-out one, not just itself.
        matches = sum(other != left_out and other["answer"] == pred for other in records)
        accs.append(min(1.0, matches / 3))
    return sum(accs) / len(accs)


def textvqa_accuracy(prediction: str, human_answers: list[str] | tuple[str, ...]) -> float:
    """LLaVA's TextVQA accuracy: EvalAI processing on both sides, leave-one-out by position."""
    pred = evalai_answer(prediction)
    hits = [evalai_answer(a) == pred for a in human_answers]
    total_hits = sum(hits)
    return sum(min(1.0, (total_hits - hit) / 3) for hit in hits) / len(hits)


def score_each(keys, predict: Callable[[str], float | None], desc: str) -> dict:
    """{key: score} over `keys`; `predict` returns None for an unanswered key (scores 0)."""
    out = {}
    for key in tqdm(keys, desc=desc, unit="q"):
        score = predict(key)
        out[key] = 0.0 if score is None else score
    return out


def summarize_vqa(scores: dict, truth: dict[str, VQAItem]) -> dict:
    """Accuracy (%) over the scored questions, per answer type and per question type when known."""
    by_answer: dict[str, list[float]] = defaultdict(list)
    by_question: dict[str, list[float]] = defaultdict(list)
    for key, score in scores.items():
        item = truth[key]
        if item.answer_type is not None:
            by_answer[item.answer_type].append(score)
        if item.question_type is not None:
            by_question[item.question_type].append(score)
    summary = {"accuracy": percent(sum(scores.values()), len(scores))}
    if by_answer:
        summary["per_answer_type"] = {t: percent(sum(v), len(v)) for t, v in sorted(by_answer.items())}
    if by_question:
        summary["per_question_type"] = {t: percent(sum(v), len(v)) for t, v in sorted(by_question.items())}
    return summary


def _human_answers(answers, where: str) -> tuple[str, ...]:
    if not isinstance(answers, list) or len(answers) < 2:
        raise EvalInputError(f"{where}: needs a list of at least 2 human answers (test split?)")
    return tuple(str(a) for a in answers)


def load_vqav2_annotations(path: str | Path) -> dict[str, VQAItem]:
    """VQAv2 annotations json: {"annotations": [{question_id, answers: [{answer, ...}],
    answer_type?, question_type?}]}."""
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("annotations"), list):
        raise EvalInputError(f"{path}: expected an object with an 'annotations' list")
    truth = {}
    for i, ann in enumerate(doc["annotations"]):
        where = f"{path}: annotations[{i}]"
        require_fields(ann, ("question_id", "answers"), where)
        where = f"{where} (question {ann['question_id']})"
        try:
            records = tuple(dict(a) for a in ann["answers"])
            texts = [a["answer"] for a in records]
        except (TypeError, KeyError, ValueError):
            raise EvalInputError(f"{where}: 'answers' must be a list of {{'answer': ...}}") from None
        if not all(isinstance(t, str) for t in texts):
            raise EvalInputError(f"{where}: an 'answer' is not a string")
        truth[str(ann["question_id"])] = VQAItem(_human_answers(texts, where), ann.get("answer_type"),
                                                 ann.get("question_type"), records)
    return truth


def load_vqav2_question_ids(path: str | Path) -> list:
    """Question ids in file order, keeping their JSON type (the submission needs ints).

    Reads the official questions json ({"questions": [{question_id, ...}]}) or a LLaVA
    question file (.jsonl, one {question_id, ...} per line).
    """
    if str(path).endswith(".jsonl"):
        ids = []
        for lineno, rec in read_jsonl(path):
            require_fields(rec, ("question_id",), f"{path}:{lineno}")
            ids.append(rec["question_id"])
        return ids
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("questions"), list):
        raise EvalInputError(f"{path}: expected an object with a 'questions' list (or a .jsonl question file)")
    ids = []
    for i, q in enumerate(doc["questions"]):
        require_fields(q, ("question_id",), f"{path}: questions[{i}]")
        ids.append(q["question_id"])
    return ids


def load_textvqa_annotations(path: str | Path) -> dict[tuple[str, str], VQAItem]:
    """TextVQA json {"data": [{image_id, question, answers: [10 strings], ...}]} keyed as LLaVA
    keys it: (image_id, lower-cased question). A later record with the same key replaces an
    earlier one, as in LLaVA's dict."""
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise EvalInputError(f"{path}: expected an object with a 'data' list")
    truth = {}
    for i, rec in enumerate(doc["data"]):
        where = f"{path}: data[{i}]"
        require_fields(rec, ("image_id", "question", "answers"), where)
        where = f"{where} (image {rec['image_id']}, question {rec['question']!r})"
        answers = _human_answers(rec["answers"], where)
        if len(answers) != 10:  # LLaVA's evaluator asserts exactly 10
            raise EvalInputError(f"{where}: has {len(answers)} human answers, TextVQA has 10")
        truth[(str(rec["image_id"]), str(rec["question"]).lower())] = VQAItem(answers)
    return truth
