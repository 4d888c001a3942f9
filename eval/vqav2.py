"""VQAv2: accuracy against the annotations and/or the test-dev submission file.

    python -m eval.vqav2 --answers A.jsonl --questions Q.json \
        [--annotations ANN.json] [--submission out.json] [--allow-missing]
"""
import argparse

from eval.cli import add_allow_missing, run_cli
from eval.errors import EvalInputError
from eval.files import check_coverage, load_answers, write_json
from eval.normalize import normalize_answer
from eval.vqa import load_vqav2_annotations, load_vqav2_question_ids, score_vqa


def build_submission(question_ids: list, answers: dict[str, str]) -> list[dict]:
    """[{"question_id", "answer"}] for every question, in question-file order.

    Answers are normalised (what the server compares anyway); an unanswered
    question gets "" (coverage was checked by the caller).
    """
    return [{"question_id": qid, "answer": normalize_answer(answers.get(str(qid), ""))}
            for qid in question_ids]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.vqav2",
        description="Score VQAv2 answers (leave-one-out soft accuracy over 10 human answers, "
                    "per answer type) and/or write the EvalAI submission json.")
    p.add_argument("--answers", required=True, help="model_vqa answers jsonl")
    p.add_argument("--questions", required=True,
                   help="VQAv2 questions json ({'questions': [...]}); defines the question set")
    p.add_argument("--annotations", help="VQAv2 annotations json; omit for test-dev")
    p.add_argument("--submission", help="write [{'question_id', 'answer'}] for every question here")
    add_allow_missing(p)
    p.epilog = "With --allow-missing, unanswered questions score 0 and get '' in the submission."
    return p


def score(args: argparse.Namespace) -> dict:
    if not args.annotations and not args.submission:
        raise EvalInputError("nothing to do: give --annotations, --submission or both")
    answers = load_answers(args.answers)
    question_ids = load_vqav2_question_ids(args.questions)
    wanted = [str(q) for q in question_ids]
    missing = check_coverage(answers, wanted, args.answers, args.allow_missing)
    summary = {"benchmark": "vqav2", "num_questions": len(wanted), "num_missing": len(missing)}
    if args.annotations:
        annotations = load_vqav2_annotations(args.annotations)
        unannotated = [q for q in wanted if q not in annotations]
        if unannotated:
            raise EvalInputError(f"{args.annotations}: no annotation for {len(unannotated)} "
                                 f"question(s) of {args.questions}, e.g. {unannotated[:10]}")
        summary.update(score_vqa(answers, {q: annotations[q] for q in wanted}, desc="vqav2"))
    if args.submission:
        write_json(args.submission, build_submission(question_ids, answers))
        summary["submission"] = str(args.submission)
    return summary


def main(argv: list[str] | None = None) -> dict:
    return run_cli(build_parser(), score, argv)


if __name__ == "__main__":
    main()
