"""model_vqa answers jsonl -> MM-Vet results json {"v1_<n>": answer}.

    python -m eval.mmvet.convert --answers A.jsonl --out results.json

question_id n (an int or a digit string) becomes "v1_<n>"; an id that already
starts with "v1_" is kept.
"""
import argparse

from eval.cli import run_cli
from eval.errors import EvalInputError
from eval.files import load_answers, write_json


def mmvet_key(question_id: str) -> str:
    if question_id.startswith("v1_"):
        return question_id
    if not question_id.isdigit():
        raise EvalInputError(f"question_id {question_id!r} is neither a number nor 'v1_<n>'")
    return f"v1_{int(question_id)}"


def convert(answers: dict[str, str]) -> dict[str, str]:
    results = {}
    for qid, text in answers.items():
        key = mmvet_key(qid)
        if key in results:
            raise EvalInputError(f"question_id {qid} maps to {key}, which another answer already uses")
        results[key] = text
    return results


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.mmvet.convert",
        description="Convert a model_vqa answers jsonl into an MM-Vet results json.")
    p.add_argument("--answers", required=True, help="model_vqa answers jsonl")
    p.add_argument("--out", required=True, help="results json to write")
    return p


def score(args: argparse.Namespace) -> dict:
    answers = load_answers(args.answers)
    try:
        results = convert(answers)
    except EvalInputError as e:
        raise EvalInputError(f"{args.answers}: {e}") from None
    write_json(args.out, results)
    return {"num_answers": len(results), "out": str(args.out)}


def main(argv: list[str] | None = None) -> dict:
    return run_cli(build_parser(), score, argv)


if __name__ == "__main__":
    main()
