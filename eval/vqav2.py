"""VQAv2: official accuracy against the annotations and/or the EvalAI submission file.

    python -m eval.vqav2 --answers A.jsonl --questions llava_vqav2_mscoco_test-dev2015.jsonl \
        [--annotations v2_mscoco_val2014_annotations.json] [--submission out.json] \
        [--test2015-questions llava_vqav2_mscoco_test2015.jsonl] [--allow-missing] [--lenient]

The default reproduces LLaVA-1.5's published pipeline: each answer goes through LLaVA's
EvalAI answer processor (scripts/convert_vqav2_for_submission.py) into the submission, and
the submission is scored as the official VQA evaluation (vqaEval.py) scores it. So the
headline accuracy is what the VQA server reports for the submission file written here.
"""
import argparse
import sys

from eval.cli import add_allow_missing, add_lenient, add_lenient_block, run_cli
from eval.errors import EvalInputError
from eval.files import check_coverage, load_answers, write_json
from eval.normalize import evalai_answer
from eval.vqa import (load_vqav2_annotations, load_vqav2_question_ids, score_each, summarize_vqa,
                      vqa_accuracy, vqa_eval_accuracy)


def _int_id(qid, where: str) -> int:
    try:
        return int(qid)
    except (TypeError, ValueError):
        raise EvalInputError(f"{where}: question_id {qid!r} is not an integer (EvalAI needs ints)") from None


def build_submission(question_ids: list, answers: dict[str, str], where: str) -> list[dict]:
    """EvalAI's upload: [{"question_id": int, "answer": str}] for every id, in the given order.

    An answer goes through LLaVA's EvalAI processor as LLaVA's converter does; an id without
    an answer gets "" (coverage or padding was decided by the caller).
    """
    return [{"question_id": _int_id(qid, where),
             "answer": evalai_answer(answers[str(qid)]) if str(qid) in answers else ""}
            for qid in question_ids]


def padded_ids(question_ids: list, test2015_ids: list, where: str) -> list:
    """Every test2015 id (the server wants them all), checking the test-dev ids are among them."""
    full = {str(q) for q in test2015_ids}
    outside = [str(q) for q in question_ids if str(q) not in full]
    if outside:
        raise EvalInputError(f"{where}: {len(outside)} question id(s) of --questions are not in it, "
                             f"e.g. {outside[:10]}")
    return list(test2015_ids)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.vqav2",
        description="Score VQAv2 answers as the official VQA evaluation does (overall, per answer "
                    "type, per question type) and/or write the EvalAI submission json.",
        epilog="Real files (LLaVA-1.5 layout, playground/data/eval/vqav2/): --questions "
               "llava_vqav2_mscoco_test-dev2015.jsonl (or the official "
               "v2_OpenEnded_mscoco_<split>_questions.json); --test2015-questions "
               "llava_vqav2_mscoco_test2015.jsonl pads the test-dev submission to every test2015 "
               "question, as LLaVA's converter does; --annotations "
               "v2_mscoco_val2014_annotations.json for a val split. With --allow-missing, "
               "unanswered questions score 0 and get '' in the submission.")
    p.add_argument("--answers", required=True, help="model_vqa answers jsonl")
    p.add_argument("--questions", required=True,
                   help="the answered split's questions: LLaVA's .jsonl question file or the official "
                        "questions json ({'questions': [...]}); defines the question set")
    p.add_argument("--annotations", help="VQAv2 annotations json (val); omit for test-dev")
    p.add_argument("--submission", help="write the EvalAI upload [{'question_id': int, 'answer'}] here")
    p.add_argument("--test2015-questions",
                   help="pad the submission to every question id of this file (llava_vqav2_mscoco_"
                        "test2015.jsonl or v2_OpenEnded_mscoco_test2015_questions.json) with ''")
    add_allow_missing(p)
    add_lenient(p)
    return p


def score(args: argparse.Namespace) -> dict:
    if not args.annotations and not args.submission:
        raise EvalInputError("nothing to do: give --annotations, --submission or both")
    if args.test2015_questions and not args.submission:
        raise EvalInputError("--test2015-questions pads the submission: give --submission too")
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
        truth = {q: annotations[q] for q in wanted}
        # The official reading scores the answer as uploaded (after the EvalAI processor).
        official = score_each(wanted, lambda q: vqa_eval_accuracy(evalai_answer(answers[q]), truth[q].records)
                              if q in answers else None, "vqav2")
        summary.update(summarize_vqa(official, truth))
        if args.lenient:
            lenient = score_each(wanted, lambda q: vqa_accuracy(answers[q], truth[q].answers)
                                 if q in answers else None, "vqav2/lenient")
            add_lenient_block(summary, summarize_vqa(lenient, truth), official, lenient)
    if args.submission:
        ids = question_ids
        if args.test2015_questions:
            ids = padded_ids(question_ids, load_vqav2_question_ids(args.test2015_questions),
                             args.test2015_questions)
            summary["num_padded"] = len(ids) - len(question_ids)
            print(f"padded the submission with {summary['num_padded']} test2015 question id(s) "
                  f"outside {args.questions} (answer '')", file=sys.stderr)
        write_json(args.submission, build_submission(ids, answers, args.submission))
        summary["submission"] = str(args.submission)
    return summary


def main(argv: list[str] | None = None) -> dict:
    return run_cli(build_parser(), score, argv)


if __name__ == "__main__":
    main()
