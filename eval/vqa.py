"""VQA accuracy (VQAv2, TextVQA): soft accuracy against 10 human answers.

For a question with n human answers the prediction is scored on each of the n
leave-one-out subsets of n-1 answers as min(#matches / 3, 1); the question's
accuracy is the mean over subsets, the benchmark's the mean over questions.
Prediction and human answers are compared after `normalize_answer`.
"""
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from eval.cli import percent
from eval.errors import EvalInputError
from eval.files import read_json, require_fields
from eval.normalize import normalize_answer


@dataclass(frozen=True)
class VQAItem:
    """Ground truth of one question: the human answers and, if known, the answer type."""
    answers: tuple[str, ...]
    answer_type: str | None = None


def vqa_accuracy(prediction: str, human_answers: list[str] | tuple[str, ...]) -> float:
    """Leave-one-out soft accuracy in [0, 1] of one prediction."""
    if len(human_answers) < 2:
        raise ValueError("VQA accuracy needs at least 2 human answers")
    pred = normalize_answer(prediction)
    hits = [normalize_answer(a) == pred for a in human_answers]
    total_hits = sum(hits)
    # Leaving out answer i removes its own hit from the count.
    return sum(min(1.0, (total_hits - hit) / 3.0) for hit in hits) / len(hits)


def score_vqa(answers: dict[str, str], truth: dict[str, VQAItem], desc: str = "vqa") -> dict:
    """Accuracy (%) over every question in `truth`; an absent answer scores 0.

    Returns overall accuracy, per-answer-type accuracy when types are known,
    and the counts.
    """
    by_type: dict[str, list[float]] = defaultdict(list)
    scores = []
    for qid, item in tqdm(truth.items(), desc=desc, unit="q"):
        acc = vqa_accuracy(answers[qid], item.answers) if qid in answers else 0.0
        scores.append(acc)
        if item.answer_type is not None:
            by_type[item.answer_type].append(acc)
    return {
        "accuracy": percent(sum(scores), len(scores)),
        "per_answer_type": {t: percent(sum(v), len(v)) for t, v in sorted(by_type.items())},
        "num_questions": len(scores),
        "num_missing": sum(qid not in answers for qid in truth),
    }


def _human_answers(answers, where: str) -> tuple[str, ...]:
    if not isinstance(answers, list) or len(answers) < 2:
        raise EvalInputError(f"{where}: needs a list of at least 2 human answers (test split?)")
    return tuple(str(a) for a in answers)


def load_vqav2_annotations(path: str | Path) -> dict[str, VQAItem]:
    """VQAv2 annotations json: {"annotations": [{question_id, answers: [{answer}], answer_type?}]}."""
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("annotations"), list):
        raise EvalInputError(f"{path}: expected an object with an 'annotations' list")
    truth = {}
    for i, ann in enumerate(doc["annotations"]):
        where = f"{path}: annotations[{i}]"
        require_fields(ann, ("question_id", "answers"), where)
        where = f"{where} (question {ann['question_id']})"
        try:
            texts = [a["answer"] for a in ann["answers"]]
        except (TypeError, KeyError):
            raise EvalInputError(f"{where}: 'answers' must be a list of {{'answer': ...}}") from None
        truth[str(ann["question_id"])] = VQAItem(_human_answers(texts, where), ann.get("answer_type"))
    return truth


def load_vqav2_question_ids(path: str | Path) -> list:
    """VQAv2 questions json: {"questions": [{question_id, image_id, question}]} -> ids in file order.

    The ids keep their original JSON type because the submission file needs it.
    """
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("questions"), list):
        raise EvalInputError(f"{path}: expected an object with a 'questions' list")
    ids = []
    for i, q in enumerate(doc["questions"]):
        require_fields(q, ("question_id",), f"{path}: questions[{i}]")
        ids.append(q["question_id"])
    return ids


def load_textvqa_annotations(path: str | Path) -> dict[str, VQAItem]:
    """TextVQA json: {"data": [{question_id, answers: [10 strings], ...}]}."""
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise EvalInputError(f"{path}: expected an object with a 'data' list")
    truth = {}
    for i, rec in enumerate(doc["data"]):
        where = f"{path}: data[{i}]"
        require_fields(rec, ("question_id", "answers"), where)
        where = f"{where} (question {rec['question_id']})"
        truth[str(rec["question_id"])] = VQAItem(_human_answers(rec["answers"], where))
    return truth
