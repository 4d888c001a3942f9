"""GQA accuracy as LLaVA-1.5 computes it: its converter, then GQA's official eval.py.

    python -m eval.gqa --answers A.jsonl --questions testdev_balanced_questions.json [--lenient]

Official reading: LLaVA's scripts/convert_gqa_for_eval.py turns an answer into
`text.rstrip('.').lower()`; GQA's eval.py counts it right when it equals the question's
"answer" exactly, over the questions with "isBalanced" true (every question needs a
prediction). Per structural / semantic type and open ("query") vs binary breakdowns as there.
--lenient adds the project's reading: equal after VQA-style normalisation.
"""
import argparse
from collections import defaultdict

from tqdm import tqdm

from eval.cli import add_allow_missing, add_lenient, add_lenient_block, percent, run_cli
from eval.errors import EvalInputError
from eval.files import check_coverage, load_answers, read_json
from eval.normalize import normalize_answer

BREAKDOWN_KEYS = ("structural", "semantic")


def gqa_prediction(text: str) -> str:
    """LLaVA's converter: trailing periods off, lower-cased; nothing else (no strip)."""
    return text.rstrip(".").lower()


def load_gqa_questions(path) -> dict[str, dict]:
    """{qid: record}; every record must carry a string "answer"."""
    doc = read_json(path)
    if not isinstance(doc, dict):
        raise EvalInputError(f"{path}: expected an object mapping question id -> question")
    for qid, rec in doc.items():
        if not isinstance(rec, dict) or not isinstance(rec.get("answer"), str):
            raise EvalInputError(f"{path}: question {qid}: no string 'answer'")
    return doc


def summarize_gqa(correct: dict[str, bool], questions: dict[str, dict]) -> dict:
    """Accuracy (%) and the official breakdowns over the scored (balanced) questions."""
    by_type: dict[str, dict[str, list[bool]]] = {k: defaultdict(list) for k in BREAKDOWN_KEYS}
    by_answer_kind: dict[str, list[bool]] = defaultdict(list)
    for qid, ok in correct.items():
        types = questions[qid].get("types") or {}
        for key in BREAKDOWN_KEYS:
            if key in types:
                by_type[key][types[key]].append(ok)
        if "structural" in types:
            by_answer_kind["open" if types["structural"] == "query" else "binary"].append(ok)
    summary = {"accuracy": percent(sum(correct.values()), len(correct))}
    for kind, oks in sorted(by_answer_kind.items()):
        summary[kind] = percent(sum(oks), len(oks))
    for key, groups in by_type.items():
        if groups:
            summary[f"per_{key}_type"] = {t: percent(sum(v), len(v)) for t, v in sorted(groups.items())}
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.gqa",
        description="Score GQA answers as LLaVA-1.5 does: its converter (strip trailing '.', "
                    "lower-case), then exact match over the balanced questions (GQA's eval.py).",
        epilog="Real files (playground/data/eval/gqa/): answers to llava_gqa_testdev_balanced.jsonl; "
               "--questions data/testdev_balanced_questions.json.")
    p.add_argument("--answers", required=True, help="model_vqa answers jsonl")
    p.add_argument("--questions", required=True,
                   help="GQA questions json, e.g. testdev_balanced_questions.json")
    add_allow_missing(p)
    add_lenient(p)
    return p


def score(args: argparse.Namespace) -> dict:
    answers = load_answers(args.answers)
    questions = load_gqa_questions(args.questions)
    missing = check_coverage(answers, questions, args.answers, args.allow_missing)
    # GQA's eval.py scores only balanced questions; a file without the flag counts as balanced.
    scored = [q for q, rec in questions.items() if rec.get("isBalanced", True)]
    official = {q: q in answers and gqa_prediction(answers[q]) == questions[q]["answer"]
                for q in tqdm(scored, desc="gqa", unit="q")}
    summary = {"benchmark": "gqa", **summarize_gqa(official, questions),
               "num_questions": len(scored), "num_missing": len(missing)}
    if args.lenient:
        lenient = {q: q in answers and normalize_answer(answers[q]) == normalize_answer(questions[q]["answer"])
                   for q in scored}
        add_lenient_block(summary, summarize_gqa(lenient, questions), official, lenient)
    return summary


def main(argv: list[str] | None = None) -> dict:
    return run_cli(build_parser(), score, argv)


if __name__ == "__main__":
    main()
