"""POPE: yes/no object-hallucination metrics per split, as LLaVA-1.5's eval_pope computes them.

    python -m eval.pope --answers A.jsonl --questions llava_pope_test.jsonl \
        --labels coco/coco_pope_adversarial.json coco/coco_pope_popular.json coco/coco_pope_random.json

The real files: each label file (POPE's, JSONL {question_id, image, text, label}) numbers its
questions from 0 (or 1), while LLaVA's llava_pope_test.jsonl gives all three splits distinct,
offset question ids and a "category" (adversarial / popular / random). LLaVA pairs them by
position: the k-th question of a category with the k-th line of coco_pope_<category>.json.
So does this scorer (answers are placed by question_id first, so their order does not
matter); a pair whose images differ is an error. The split is the label file's stem after
"pope_" (coco_pope_random -> random), or NAME=PATH.

Official reading (LLaVA's): see eval.yesno.pope_llava_yes_no; every answer is yes or no.
Metrics (%): accuracy, precision and recall of "yes", F1, yes-ratio; the means over splits.
"""
import argparse
from pathlib import Path

from tqdm import tqdm

from eval.cli import add_allow_missing, add_lenient, add_lenient_block, percent, run_cli
from eval.errors import EvalInputError
from eval.files import check_coverage, load_answers, read_jsonl, require_fields
from eval.yesno import parse_yes_no, pope_llava_yes_no


def split_name_and_path(arg: str) -> tuple[str, Path]:
    if "=" in arg:
        name, path = arg.split("=", 1)
        return name, Path(path)
    stem = Path(arg).stem
    return stem.split("pope_", 1)[-1], Path(arg)


def load_labels(path: Path) -> list[tuple[str, str | None]]:
    """[(label, image or None)] in file order (the label file's own ids are not used)."""
    labels = []
    for lineno, rec in read_jsonl(path):
        where = f"{path}:{lineno}"
        require_fields(rec, ("label",), where)
        label = str(rec["label"]).strip().lower()
        if label not in ("yes", "no"):
            raise EvalInputError(f"{where}: label {rec['label']!r} is not yes/no")
        labels.append((label, rec.get("image")))
    return labels


def load_questions_by_category(path) -> dict[str, list[tuple[str, str | None]]]:
    """{category: [(question_id, image)]} in question-file order."""
    by_category: dict[str, list[tuple[str, str | None]]] = {}
    seen = set()
    for lineno, rec in read_jsonl(path):
        where = f"{path}:{lineno}"
        require_fields(rec, ("question_id", "category"), where)
        qid = str(rec["question_id"])
        if qid in seen:
            raise EvalInputError(f"{where}: duplicate question_id {qid}")
        seen.add(qid)
        by_category.setdefault(str(rec["category"]), []).append((qid, rec.get("image")))
    return by_category


def pair_split(name: str, label_path: Path, questions: list, labels: list) -> dict[str, str]:
    """{question_id: label} by position, checking counts and images."""
    if len(questions) != len(labels):
        raise EvalInputError(f"{label_path}: {len(labels)} labels, but the question file has "
                             f"{len(questions)} questions of category {name!r}")
    paired = {}
    for k, ((qid, q_image), (label, l_image)) in enumerate(zip(questions, labels)):
        if q_image and l_image and Path(q_image).name != Path(l_image).name:
            raise EvalInputError(f"{label_path}: line {k + 1} is about {l_image}, but the {k + 1}-th "
                                 f"{name!r} question ({qid}) is about {q_image}: files out of order?")
        paired[qid] = label
    return paired


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


def summarize(splits: dict[str, dict[str, str]], reading) -> tuple[dict, dict[str, bool]]:
    """(metrics per split and their means, {question_id: right}) under one reading."""
    per_split, right = {}, {}
    for name, labels in splits.items():
        preds = [reading(q) for q in tqdm(labels, desc=f"pope/{name}", unit="q")]
        per_split[name] = pope_metrics(preds, list(labels.values()))
        right.update({q: p == t for q, p, t in zip(labels, preds, labels.values())})
    n = len(per_split)
    return {
        "splits": per_split,
        "mean_accuracy": round(sum(s["accuracy"] for s in per_split.values()) / n, 2),
        "mean_f1": round(sum(s["f1"] for s in per_split.values()) / n, 2),
    }, right


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.pope",
        description="Score POPE answers per split as LLaVA-1.5 does: accuracy, precision, recall, "
                    "F1, yes-ratio (%).",
        epilog="Real files (playground/data/eval/pope/): --questions llava_pope_test.jsonl, --labels "
               "coco/coco_pope_adversarial.json coco/coco_pope_popular.json coco/coco_pope_random.json.")
    p.add_argument("--answers", required=True, help="model_vqa answers jsonl (all splits)")
    p.add_argument("--questions", required=True,
                   help="the question file answered (llava_pope_test.jsonl): question_id, image, category")
    p.add_argument("--labels", required=True, nargs="+", metavar="[NAME=]PATH",
                   help="one POPE label file per split (coco_pope_<split>.json, JSONL with 'label')")
    add_allow_missing(p)
    add_lenient(p)
    return p


def score(args: argparse.Namespace) -> dict:
    answers = load_answers(args.answers)
    by_category = load_questions_by_category(args.questions)
    splits: dict[str, dict[str, str]] = {}
    for arg in args.labels:
        name, path = split_name_and_path(arg)
        if name in splits:
            raise EvalInputError(f"{path}: split name {name!r} given twice")
        if name not in by_category:
            raise EvalInputError(f"{path}: {args.questions} has no question of category {name!r} "
                                 f"(it has {', '.join(sorted(by_category))})")
        splits[name] = pair_split(name, path, by_category[name], load_labels(path))
    every_question = {q for qs in by_category.values() for q, _ in qs}
    scored = {q for labels in splits.values() for q in labels}
    check_coverage(answers, every_question, args.answers, allow_missing=True)  # unknown ids: error
    missing = check_coverage({q for q in answers if q in scored}, scored, args.answers, args.allow_missing)
    official, official_right = summarize(
        splits, lambda q: pope_llava_yes_no(answers[q]) if q in answers else None)
    summary = {"benchmark": "pope", **official, "num_missing": len(missing),
               "num_unscored": sum(q not in scored for q in answers)}
    if args.lenient:
        lenient, lenient_right = summarize(splits, lambda q: parse_yes_no(answers[q]) if q in answers else None)
        add_lenient_block(summary, lenient, official_right, lenient_right)
    return summary


def main(argv: list[str] | None = None) -> dict:
    return run_cli(build_parser(), score, argv)


if __name__ == "__main__":
    main()
