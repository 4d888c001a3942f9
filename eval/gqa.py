"""GQA accuracy: exact match after VQA normalisation, with per-type breakdowns.

    python -m eval.gqa --answers A.jsonl --questions testdev_balanced_questions.json [--allow-missing]

The questions json maps question id -> {"answer": ..., "types": {"structural", "semantic"}?};
the per-type tables appear when "types" is present.
"""
import argparse
from collections import defaultdict

from tqdm import tqdm

from eval.cli import add_allow_missing, percent, run_cli
from eval.errors import EvalInputError
from eval.files import check_coverage, load_answers, read_json
from eval.normalize import normalize_answer

BREAKDOWN_KEYS = ("structural", "semantic")


def load_gqa_questions(path) -> dict[str, dict]:
    """{qid: record}; every record must carry a string "answer"."""
    doc = read_json(path)
    if not isinstance(doc, dict):
        raise EvalInputError(f"{path}: expected an object mapping question id -> question")
    for qid, rec in doc.items():
        if not isinstance(rec, dict) or not isinstance(rec.get("answer"), str):
            raise EvalInputError(f"{path}: question {qid}: no string 'answer'")
    return doc


def score_gqa(answers: dict[str, str], questions: dict[str, dict]) -> dict:
    correct = []
    by_type: dict[str, dict[str, list[bool]]] = {k: defaultdict(list) for k in BREAKDOWN_KEYS}
    for qid, rec in tqdm(questions.items(), desc="gqa", unit="q"):
        ok = qid in answers and normalize_answer(answers[qid]) == normalize_answer(rec["answer"])
        correct.append(ok)
        types = rec.get("types") or {}
        for key in BREAKDOWN_KEYS:
            if key in types:
                by_type[key][types[key]].append(ok)
    summary = {
        "benchmark": "gqa",
        "accuracy": percent(sum(correct), len(correct)),
        "num_questions": len(correct),
        "num_missing": sum(qid not in answers for qid in questions),
    }
    for key, groups in by_type.items():
        if groups:
            summary[f"per_{key}_type"] = {t: percent(sum(v), len(v)) for t, v in sorted(groups.items())}
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.gqa",
        description="Score GQA answers: exact match after VQA answer normalisation.")
    p.add_argument("--answers", required=True, help="model_vqa answers jsonl")
    p.add_argument("--questions", required=True,
                   help="GQA questions json, e.g. testdev_balanced_questions.json")
    add_allow_missing(p)
    return p


def score(args: argparse.Namespace) -> dict:
    answers = load_answers(args.answers)
    questions = load_gqa_questions(args.questions)
    check_coverage(answers, questions, args.answers, args.allow_missing)
    return score_gqa(answers, questions)


def main(argv: list[str] | None = None) -> dict:
    return run_cli(build_parser(), score, argv)


if __name__ == "__main__":
    main()
