"""POPE: yes/no object-hallucination metrics per split.

    python -m eval.pope --answers A.jsonl --labels coco_pope_random.json coco_pope_popular.json ...

Each labels file is JSONL of {question_id, label: yes|no}; the split is named
after the file (stem, with anything up to "pope_" cut: coco_pope_random -> random),
or explicitly as NAME=PATH. One answers file holds the answers for all splits.
An answer that says neither yes nor no (or is missing, under --allow-missing)
counts as wrong and as not-yes; the count is reported per split.
Metrics (%): accuracy, precision and recall of "yes", F1, yes-ratio.
"""
import argparse
from pathlib import Path

from tqdm import tqdm

from eval.cli import add_allow_missing, percent, run_cli
from eval.errors import EvalInputError
from eval.files import check_coverage, load_answers, read_jsonl, require_fields
from eval.yesno import parse_yes_no


def split_name_and_path(arg: str) -> tuple[str, Path]:
    if "=" in arg:
        name, path = arg.split("=", 1)
        return name, Path(path)
    stem = Path(arg).stem
    return stem.split("pope_", 1)[-1], Path(arg)


def load_labels(path: Path) -> dict[str, str]:
    labels = {}
    for lineno, rec in read_jsonl(path):
        where = f"{path}:{lineno}"
        require_fields(rec, ("question_id", "label"), where)
        label = str(rec["label"]).strip().lower()
        if label not in ("yes", "no"):
            raise EvalInputError(f"{where}: label {rec['label']!r} is not yes/no")
        qid = str(rec["question_id"])
        if qid in labels:
            raise EvalInputError(f"{where}: duplicate question_id {qid}")
        labels[qid] = label
    return labels


def pope_metrics(predictions: list[str | None], labels: list[str]) -> dict:
    """Metrics (%) of parsed predictions (yes/no/None) against yes/no labels."""
    tp = sum(p == "yes" and t == "yes" for p, t in zip(predictions, labels))
    fp = sum(p == "yes" and t == "no" for p, t in zip(predictions, labels))
    tn = sum(p == "no" and t == "no" for p, t in zip(predictions, labels))
    positives = sum(t == "yes" for t in labels)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / positives if positives else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n = len(labels)
    return {
        "accuracy": percent(tp + tn, n),
        "precision": round(100 * precision, 2),
        "recall": round(100 * recall, 2),
        "f1": round(100 * f1, 2),
        "yes_ratio": percent(tp + fp, n),
        "num_questions": n,
        "num_unparsed": sum(p is None for p in predictions),
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.pope",
        description="Score POPE answers per split: accuracy, precision, recall, F1, yes-ratio (%).")
    p.add_argument("--answers", required=True, help="model_vqa answers jsonl (all splits)")
    p.add_argument("--labels", required=True, nargs="+", metavar="[NAME=]PATH",
                   help="one labels jsonl per split ({question_id, label})")
    add_allow_missing(p)
    return p


def score(args: argparse.Namespace) -> dict:
    answers = load_answers(args.answers)
    splits: dict[str, dict[str, str]] = {}
    owner: dict[str, str] = {}
    for arg in args.labels:
        name, path = split_name_and_path(arg)
        if name in splits:
            raise EvalInputError(f"{path}: split name {name!r} given twice")
        splits[name] = load_labels(path)
        for qid in splits[name]:
            if qid in owner:
                raise EvalInputError(f"{path}: question_id {qid} is also in split {owner[qid]!r}")
            owner[qid] = name
    missing = check_coverage(answers, owner, args.answers, args.allow_missing)
    per_split = {}
    for name, labels in splits.items():
        preds = [parse_yes_no(answers[q]) if q in answers else None
                 for q in tqdm(labels, desc=f"pope/{name}", unit="q")]
        per_split[name] = pope_metrics(preds, list(labels.values()))
    n = len(per_split)
    return {
        "benchmark": "pope",
        "splits": per_split,
        "num_missing": len(missing),
        "mean_accuracy": round(sum(s["accuracy"] for s in per_split.values()) / n, 2),
        "mean_f1": round(sum(s["f1"] for s in per_split.values()) / n, 2),
    }


def main(argv: list[str] | None = None) -> dict:
    return run_cli(build_parser(), score, argv)


if __name__ == "__main__":
    main()
