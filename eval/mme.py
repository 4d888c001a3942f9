"""MME: per-subtask acc and acc+, perception and cognition totals.

    python -m eval.mme --answers A.jsonl --gt-dir MME_GT/ [--allow-missing]

--gt-dir holds one <subtask>.txt per subtask (e.g. existence.txt, OCR.txt,
code_reasoning.txt), each line "image<TAB>question<TAB>yes|no", two questions
per image (the MME eval_tool results layout without the prediction column).
An answer's question_id is "<subtask>/<image>" (folders in between are
ignored) and its prompt starts with the question text (a trailing
instruction line is allowed), which tells the two questions of an image apart.

acc  = % of questions answered right; acc+ = % of images with both right;
subtask score = acc + acc+ (max 200); perception / cognition = sum of their
subtasks' scores (max 2000 / 800).
"""
import argparse
from pathlib import Path

from tqdm import tqdm

from eval.cli import add_allow_missing, percent, run_cli
from eval.errors import EvalInputError
from eval.files import read_jsonl, require_fields
from eval.yesno import parse_yes_no

PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene",
              "landmark", "artwork", "OCR")
COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")
QUESTIONS_PER_IMAGE = 2


def load_subtask(path: Path) -> dict[str, list[tuple[str, str]]]:
    """{image: [(question, gt), (question, gt)]} from one subtask file."""
    images: dict[str, list[tuple[str, str]]] = {}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            cells = line.rstrip("\n").split("\t")
            if len(cells) != 3 or cells[2].strip().lower() not in ("yes", "no"):
                raise EvalInputError(f"{path}:{lineno}: expected image<TAB>question<TAB>yes|no")
            image, question, gt = (c.strip() for c in cells)
            images.setdefault(image, []).append((question, gt.lower()))
    for image, qs in images.items():
        if len(qs) != QUESTIONS_PER_IMAGE:
            raise EvalInputError(f"{path}: image {image} has {len(qs)} question(s), "
                                 f"expected {QUESTIONS_PER_IMAGE}")
    return images


def load_ground_truth(gt_dir) -> dict[str, dict]:
    gt_dir = Path(gt_dir)
    files = sorted(gt_dir.glob("*.txt"))
    if not files:
        raise EvalInputError(f"{gt_dir}: no <subtask>.txt files")
    truth = {}
    for path in files:
        if path.stem not in PERCEPTION + COGNITION:
            raise EvalInputError(f"{path}: unknown MME subtask {path.stem!r}; "
                                 f"known: {', '.join(PERCEPTION + COGNITION)}")
        truth[path.stem] = load_subtask(path)
    return truth


def match_answers(answers_path, truth) -> dict[tuple[str, str, int], str]:
    """{(subtask, image, question index): answer text}, each answer placed exactly once."""
    placed: dict[tuple[str, str, int], str] = {}
    for lineno, rec in read_jsonl(answers_path):
        where = f"{answers_path}:{lineno}"
        require_fields(rec, ("question_id", "prompt", "text"), where)
        parts = str(rec["question_id"]).split("/")
        subtask, image = parts[0], parts[-1]
        questions = truth.get(subtask, {}).get(image)
        if len(parts) < 2 or questions is None:
            raise EvalInputError(f"{where}: question_id {rec['question_id']!r} names no "
                                 "<subtask>/<image> of the ground truth")
        prompt = str(rec["prompt"]).strip()
        hits = [i for i, (q, _) in enumerate(questions) if prompt == q] or \
               [i for i, (q, _) in enumerate(questions) if prompt.startswith(q)]
        if len(hits) != 1:
            raise EvalInputError(f"{where}: prompt matches {len(hits)} of the questions of "
                                 f"{subtask}/{image}, expected 1")
        key = (subtask, image, hits[0])
        if key in placed:
            raise EvalInputError(f"{where}: second answer to {subtask}/{image} question {hits[0] + 1}")
        placed[key] = str(rec["text"])
    return placed


def score_subtask(name: str, images: dict, placed: dict) -> dict:
    right_questions = right_images = 0
    for image, questions in images.items():
        right = [parse_yes_no(placed.get((name, image, i), "")) == gt
                 for i, (_, gt) in enumerate(questions)]
        right_questions += sum(right)
        right_images += all(right)
    acc = percent(right_questions, QUESTIONS_PER_IMAGE * len(images))
    acc_plus = percent(right_images, len(images))
    return {"acc": acc, "acc_plus": acc_plus, "score": round(acc + acc_plus, 2),
            "num_images": len(images)}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.mme",
        description="Score MME answers: per-subtask acc / acc+ and perception / cognition totals.")
    p.add_argument("--answers", required=True,
                   help="model_vqa answers jsonl (question_id '<subtask>/<image>', prompt = question)")
    p.add_argument("--gt-dir", required=True, help="folder of <subtask>.txt ground-truth files")
    add_allow_missing(p)
    return p


def score(args: argparse.Namespace) -> dict:
    truth = load_ground_truth(args.gt_dir)
    placed = match_answers(args.answers, truth)
    missing = [f"{s}/{img} q{i + 1}" for s, images in truth.items() for img, qs in images.items()
               for i in range(len(qs)) if (s, img, i) not in placed]
    if missing and not args.allow_missing:
        raise EvalInputError(f"{args.answers}: {len(missing)} question(s) have no answer, e.g. "
                             f"{', '.join(missing[:20])} (pass --allow-missing to score them as wrong)")
    subtasks = {name: score_subtask(name, images, placed)
                for name, images in tqdm(truth.items(), desc="mme", unit="subtask")}
    return {
        "benchmark": "mme",
        "subtasks": subtasks,
        "perception": round(sum(subtasks[s]["score"] for s in PERCEPTION if s in subtasks), 2),
        "cognition": round(sum(subtasks[s]["score"] for s in COGNITION if s in subtasks), 2),
        "absent_subtasks": [s for s in PERCEPTION + COGNITION if s not in subtasks],
        "num_missing": len(missing),
    }


def main(argv: list[str] | None = None) -> dict:
    return run_cli(build_parser(), score, argv)


if __name__ == "__main__":
    main()
