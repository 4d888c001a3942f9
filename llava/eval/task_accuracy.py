"""Per-task accuracy on the held-out synthetic questions, with each task's chance level beside it.

    python -m llava.eval.task_accuracy --answers answers.jsonl \\
        --gt playground/data/synthetic/test/answers.jsonl [--tasks-info dataset_info.json]

A prediction is right when it equals the reference after the VQA normalisation of
``eval.normalize`` (lower case, punctuation and articles dropped, number words to digits).
Accuracies and chance levels are percentages (2 decimals). Prints a table, then the JSON
summary as the last line.
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from typing import Mapping, Optional, Sequence

from eval.cli import add_allow_missing, percent, run_cli
from eval.errors import EvalInputError
from eval.files import check_coverage, load_answers, read_json, read_jsonl, require_fields
from eval.normalize import normalize_answer
from llava.data.synthetic.tasks import TASKS

INFO_NAME = "dataset_info.json"


def load_ground_truth(path: str | Path) -> dict[str, tuple[str, str]]:
    """answers.jsonl ``{"question_id", "answer", "category"}`` -> {str id: (answer, category)}."""
    truth: dict[str, tuple[str, str]] = {}
    for lineno, record in read_jsonl(path):
        where = f"{path}:{lineno}"
        require_fields(record, ("question_id", "answer", "category"), where)
        qid = str(record["question_id"])
        if qid in truth:
            raise EvalInputError(f"{where}: duplicate question_id {qid}")
        truth[qid] = (str(record["answer"]), str(record["category"]))
    if not truth:
        raise EvalInputError(f"{path}: no ground-truth answers")
    return truth


def load_chance(tasks_info: Optional[str | Path], gt_path: str | Path) -> dict[str, float]:
    """Chance per task: ``--tasks-info``, else the dataset_info.json beside the test/ folder,
    else the generator's own task table."""
    path = Path(tasks_info) if tasks_info else Path(gt_path).resolve().parent.parent / INFO_NAME
    if tasks_info or path.is_file():
        info = read_json(path)
        if not isinstance(info, dict) or not isinstance(info.get("chance"), dict):
            raise EvalInputError(f"{path}: expected a JSON object with a 'chance' mapping")
        return {str(k): float(v) for k, v in info["chance"].items()}
    return {name: spec.chance for name, spec in TASKS.items()}


def task_accuracy(
    answers: Mapping[str, str],
    truth: Mapping[str, tuple[str, str]],
    chance: Mapping[str, float],
    missing: Sequence[str] = (),
) -> dict[str, dict]:
    """{task: {"accuracy", "chance", "correct", "total"}} (percentages); ``missing`` ids count as wrong."""
    correct: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    skipped = set(missing)
    for qid, (reference, task) in truth.items():
        total[task] += 1
        if qid not in skipped and normalize_answer(answers[qid]) == normalize_answer(reference):
            correct[task] += 1
    return {
        task: {
            "accuracy": percent(correct[task], total[task]),
            "chance": None if task not in chance else round(100.0 * chance[task], 2),
            "correct": correct[task],
            "total": total[task],
        }
        for task in sorted(total)
    }


def summarize(per_task: Mapping[str, dict]) -> dict:
    """Overall (over questions) and mean-over-tasks accuracy, and the mean chance level."""
    correct = sum(t["correct"] for t in per_task.values())
    total = sum(t["total"] for t in per_task.values())
    chances = [t["chance"] for t in per_task.values() if t["chance"] is not None]
    return {
        "overall": percent(correct, total),
        "mean_over_tasks": round(sum(t["accuracy"] for t in per_task.values()) / len(per_task), 2),
        "mean_chance": round(sum(chances) / len(chances), 2) if chances else None,
        "num_questions": total,
    }


def format_table(per_task: Mapping[str, dict], summary: Mapping) -> str:
    width = max(len("task"), *(len(t) for t in per_task))
    rows = [f"{'task':<{width}}  accuracy  chance  correct/total"]
    for task, row in per_task.items():
        chance = "-" if row["chance"] is None else f"{row['chance']:.2f}"
        rows.append(f"{task:<{width}}  {row['accuracy']:8.2f}  {chance:>6}  {row['correct']}/{row['total']}")
    mean_chance = "-" if summary["mean_chance"] is None else f"{summary['mean_chance']:.2f}"
    rows.append(f"{'mean':<{width}}  {summary['mean_over_tasks']:8.2f}  {mean_chance:>6}")
    return "\n".join(rows)


def per_task_accuracy(answers_path: str | Path, gt_path: str | Path, tasks_info: Optional[str | Path] = None,
                      allow_missing: bool = False) -> dict[str, dict]:
    """From files: {task: {"accuracy", "chance", "correct", "total"}} (what the default pipeline prints)."""
    truth = load_ground_truth(gt_path)
    answers = load_answers(answers_path)
    missing = check_coverage(answers, truth, answers_path, allow_missing)
    return task_accuracy(answers, truth, load_chance(tasks_info, gt_path), missing)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m llava.eval.task_accuracy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--answers", required=True, help="model_vqa answers jsonl")
    p.add_argument("--gt", required=True, help="test/answers.jsonl of the synthetic dataset")
    p.add_argument("--tasks-info", default=None,
                   help=f"{INFO_NAME} with the chance levels (default: the one beside the test/ folder)")
    add_allow_missing(p)
    return p


def score(args: argparse.Namespace) -> dict:
    per_task = per_task_accuracy(args.answers, args.gt, args.tasks_info, args.allow_missing)
    summary = summarize(per_task)
    print(format_table(per_task, summary))
    num_answered = len(load_answers(args.answers))
    return {**summary, "num_missing": summary["num_questions"] - num_answered, "per_task": per_task}


def main(argv: Optional[Sequence[str]] = None) -> dict:
    return run_cli(build_parser(), score, argv)


if __name__ == "__main__":
    main()
