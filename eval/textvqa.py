"""TextVQA accuracy (same leave-one-out soft accuracy as VQAv2).

    python -m eval.textvqa --answers A.jsonl --annotations TextVQA_0.5.1_val.json [--allow-missing]
"""
import argparse

from eval.cli import add_allow_missing, run_cli
from eval.files import check_coverage, load_answers
from eval.vqa import load_textvqa_annotations, score_vqa


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.textvqa",
        description="Score TextVQA answers: leave-one-out soft accuracy over the 10 human answers.")
    p.add_argument("--answers", required=True, help="model_vqa answers jsonl")
    p.add_argument("--annotations", required=True,
                   help="TextVQA json with 'data': [{question_id, answers: [10 strings]}]")
    add_allow_missing(p)
    return p


def score(args: argparse.Namespace) -> dict:
    answers = load_answers(args.answers)
    truth = load_textvqa_annotations(args.annotations)
    check_coverage(answers, truth, args.answers, args.allow_missing)
    summary = {"benchmark": "textvqa"}
    summary.update(score_vqa(answers, truth, desc="textvqa"))
    summary.pop("per_answer_type")  # TextVQA has no answer types
    return summary


def main(argv: list[str] | None = None) -> dict:
    return run_cli(build_parser(), score, argv)


if __name__ == "__main__":
    main()
