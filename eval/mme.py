"""MME: per-subtask acc and acc+, perception and cognition totals, as MME's own eval tool computes them.

    python -m eval.mme --answers A.jsonl --gt-dir eval_tool/Your_Results [--results-dir OUT] [--lenient]

--gt-dir is the official eval tool's Your_Results folder: one <subtask>.txt per subtask
(existence.txt, OCR.txt, code_reasoning.txt, ...), each line "image<TAB>question<TAB>Yes|No",
two questions per image. MME_Benchmark_release_version itself (the ground truth LLaVA's
converter reads: <subtask>/<image>.txt with "question<TAB>Yes|No" lines, or
<subtask>/questions_answers_YN/) works too. An answer's question_id is "<subtask>/<image>" (folders in between
are ignored; LLaVA's llava_mme.jsonl gives both questions of an image that id, and
scripts/eval/mme.sh renames the repeat "<id>#1" for model_vqa: a "#k" is ignored here). Its prompt is matched to the ground-truth
question as LLaVA's convert_answer_to_mme.py does: drop "Answer the question using a single
word or phrase.", strip, append " Please answer yes or no." and, when the ground truth has no
such question, use the two-space variant some subtasks have. A prompt that already holds the
ground-truth question verbatim (optionally followed by more lines) also matches.

--results-dir writes the eval tool's result layout: <subtask>.txt with
"image<TAB>question<TAB>ground truth<TAB>answer" lines, an image's two questions adjacent, so
`python calculation.py --results_dir OUT` (in the eval tool) runs on them. Tabs and newlines
in an answer become spaces (the tool reads one line per question); the scores here are
computed from exactly what is written there.

Official reading (calculation.py): eval.yesno.mme_calculation_yes_no; "other" is wrong.
acc = % of questions right; acc+ = % of images with both right; subtask score = acc + acc+
(max 200); perception / cognition = sums over their subtasks (max 2000 / 800).
"""
import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from eval.cli import add_allow_missing, add_lenient, add_lenient_block, run_cli
from eval.errors import EvalInputError
from eval.files import base_question_id, read_jsonl, require_fields
from eval.yesno import mme_calculation_yes_no, parse_yes_no

PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene",
              "landmark", "artwork", "OCR")
COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")
QUESTIONS_PER_IMAGE = 2
LLAVA_SUFFIX = "Answer the question using a single word or phrase."
YES_NO_SUFFIX = " Please answer yes or no."


def load_subtask(path: Path) -> dict[str, list[tuple[str, str]]]:
    """{image: [(question, gt), (question, gt)]} from one Your_Results file, images in file order."""
    images: dict[str, list[tuple[str, str]]] = {}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            cells = line.rstrip("\r\n").split("\t")
            # A 4th column (an already filled results file) is ignored.
            if len(cells) not in (3, 4) or cells[2].strip().lower() not in ("yes", "no"):
                raise EvalInputError(f"{path}:{lineno}: expected image<TAB>question<TAB>Yes|No")
            image, question, gt = cells[0].strip(), cells[1].strip(), cells[2].strip()
            images.setdefault(image, []).append((question, gt))
    for image, qs in images.items():
        if len(qs) != QUESTIONS_PER_IMAGE:
            raise EvalInputError(f"{path}: image {image} has {len(qs)} question(s), "
                                 f"expected {QUESTIONS_PER_IMAGE}")
    return images


def load_release_subtask(folder: Path) -> dict[str, list[tuple[str, str]]]:
    """{image: [(question, gt), ...]} from a subtask folder of MME_Benchmark_release_version:
    <image>.txt ("question<TAB>Yes|No" lines) beside the image, or images/ + questions_answers_YN/."""
    qa_dir = folder / "questions_answers_YN" if (folder / "images").is_dir() else folder
    image_dir = folder / "images" if (folder / "images").is_dir() else folder
    images: dict[str, list[tuple[str, str]]] = {}
    for txt in sorted(qa_dir.glob("*.txt")):
        found = [p.name for p in image_dir.glob(txt.stem + ".*") if p.suffix.lower() != ".txt"]
        image = found[0] if len(found) == 1 else txt.stem + ".jpg"
        for lineno, line in enumerate(txt.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            cells = line.strip().split("\t")
            if len(cells) != 2 or cells[1].strip().lower() not in ("yes", "no"):
                raise EvalInputError(f"{txt}:{lineno}: expected question<TAB>Yes|No")
            images.setdefault(image, []).append((cells[0], cells[1].strip()))
    for image, qs in images.items():
        if len(qs) != QUESTIONS_PER_IMAGE:
            raise EvalInputError(f"{qa_dir}: image {image} has {len(qs)} question(s), expected {QUESTIONS_PER_IMAGE}")
    return images


def load_ground_truth(gt_dir) -> dict[str, dict]:
    """Every subtask of the eval tool's Your_Results folder (<subtask>.txt files) or of
    MME_Benchmark_release_version (<subtask>/ folders)."""
    gt_dir = Path(gt_dir)
    files = sorted(gt_dir.glob("*.txt"))
    folders = sorted(p for p in gt_dir.iterdir() if p.is_dir() and p.name in PERCEPTION + COGNITION) \
        if gt_dir.is_dir() else []
    if not files and not folders:
        raise EvalInputError(f"{gt_dir}: no <subtask>.txt files (eval_tool/Your_Results) or <subtask>/ "
                             "folders (MME_Benchmark_release_version)")
    truth = {}
    for path in files:
        if path.stem not in PERCEPTION + COGNITION:
            raise EvalInputError(f"{path}: unknown MME subtask {path.stem!r}; "
                                 f"known: {', '.join(PERCEPTION + COGNITION)}")
        truth[path.stem] = load_subtask(path)
    if not files:
        truth = {folder.name: load_release_subtask(folder) for folder in folders}
    return truth


def llava_mme_question(prompt: str, questions: list[str]) -> str:
    """The ground-truth question LLaVA's convert_answer_to_mme.py looks up for a prompt."""
    if LLAVA_SUFFIX in prompt:
        prompt = prompt.replace(LLAVA_SUFFIX, "").strip()
    if "Please answer yes or no." not in prompt:
        prompt = prompt + YES_NO_SUFFIX
        if prompt not in questions:
            prompt = prompt.replace(YES_NO_SUFFIX, " " + YES_NO_SUFFIX)
    return prompt


def question_index(prompt: str, questions: list[str]) -> int | None:
    """Which of the image's questions the prompt asks; None when none or both match."""
    wanted = llava_mme_question(prompt, questions)
    hits = [i for i, q in enumerate(questions) if q == wanted]
    if len(hits) != 1:
        stripped = prompt.strip()
        hits = [i for i, q in enumerate(questions) if stripped == q] or \
               [i for i, q in enumerate(questions) if stripped.startswith(q + "\n")]
    return hits[0] if len(hits) == 1 else None


def match_answers(answers_path, truth) -> dict[tuple[str, str, int], str]:
    """{(subtask, image, question index): answer text}, each answer placed exactly once."""
    placed: dict[tuple[str, str, int], str] = {}
    for lineno, rec in read_jsonl(answers_path):
        where = f"{answers_path}:{lineno}"
        require_fields(rec, ("question_id", "prompt", "text"), where)
        parts = base_question_id(rec["question_id"]).split("/")
        subtask, image = parts[0], parts[-1]
        images = truth.get(subtask, {})
        if image not in images:  # LLaVA keys by the image's stem
            stems = [i for i in images if Path(i).stem == Path(image).stem]
            image = stems[0] if len(stems) == 1 else image
        questions = images.get(image)
        if len(parts) < 2 or questions is None:
            raise EvalInputError(f"{where}: question_id {rec['question_id']!r} names no "
                                 "<subtask>/<image> of the ground truth")
        index = question_index(str(rec["prompt"]), [q for q, _ in questions])
        if index is None:
            raise EvalInputError(f"{where}: prompt {rec['prompt']!r} matches none (or both) of the "
                                 f"questions of {subtask}/{image}")
        key = (subtask, image, index)
        if key in placed:
            raise EvalInputError(f"{where}: second answer to {subtask}/{image} question {index + 1}")
        if not isinstance(rec["text"], str):
            raise EvalInputError(f"{where}: 'text' is not a string")
        placed[key] = rec["text"]
    return placed


def result_text(text: str) -> str:
    """The answer as one cell of the eval tool's tab-separated line."""
    return text.replace("\t", " ").replace("\n", " ").replace("\r", " ")


def write_results(results_dir, truth: dict, placed: dict) -> None:
    """The eval tool's layout: <subtask>.txt, image / question / gt / answer, pairs adjacent."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    for subtask, images in truth.items():
        with (results_dir / f"{subtask}.txt").open("w", encoding="utf-8") as f:
            for image, questions in images.items():
                for i, (question, gt) in enumerate(questions):
                    answer = result_text(placed.get((subtask, image, i), ""))
                    f.write(f"{image}\t{question}\t{gt}\t{answer}\n")


def score_all(truth: dict, placed: dict, reading) -> tuple[dict, dict]:
    """(summary under one reading, {(subtask, image, i): right})."""
    subtasks, right = {}, {}
    raw = {}
    for name, images in tqdm(truth.items(), desc="mme", unit="subtask"):
        right_questions = right_images = other = 0
        for image, questions in images.items():
            oks = []
            for i, (_, gt) in enumerate(questions):
                pred = reading(placed.get((name, image, i), ""))
                other += pred is None
                ok = pred == gt.lower()
                right[(name, image, i)] = ok
                oks.append(ok)
            right_questions += sum(oks)
            right_images += all(oks)
        acc = 100 * right_questions / (QUESTIONS_PER_IMAGE * len(images))
        acc_plus = 100 * right_images / len(images)
        raw[name] = acc + acc_plus
        subtasks[name] = {"acc": round(acc, 2), "acc_plus": round(acc_plus, 2),
                          "score": round(acc + acc_plus, 2), "num_images": len(images),
                          "num_other": other}
    return {
        "subtasks": subtasks,
        # Totals from the unrounded subtask scores, as the eval tool sums them.
        "perception": round(sum(raw[s] for s in PERCEPTION if s in raw), 2),
        "cognition": round(sum(raw[s] for s in COGNITION if s in raw), 2),
    }, right


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.mme",
        description="Score MME answers as the MME eval tool's calculation.py does: per-subtask "
                    "acc / acc+ and perception / cognition totals.",
        epilog="Real files (playground/data/eval/MME/): answers to llava_mme.jsonl; --gt-dir "
               "eval_tool/Your_Results. --results-dir writes files the eval tool's calculation.py "
               "reads (python calculation.py --results_dir DIR).")
    p.add_argument("--answers", required=True,
                   help="model_vqa answers jsonl (question_id '<subtask>/<image>', prompt = question)")
    p.add_argument("--gt-dir", required=True,
                   help="the eval tool's Your_Results folder of <subtask>.txt (or MME_Benchmark_release_version)")
    p.add_argument("--results-dir", help="write the eval tool's result files (<subtask>.txt) here")
    add_allow_missing(p)
    add_lenient(p)
    return p


def score(args: argparse.Namespace) -> dict:
    truth = load_ground_truth(args.gt_dir)
    placed = match_answers(args.answers, truth)
    missing = [f"{s}/{img} q{i + 1}" for s, images in truth.items() for img, qs in images.items()
               for i in range(len(qs)) if (s, img, i) not in placed]
    if missing and not args.allow_missing:
        raise EvalInputError(f"{args.answers}: {len(missing)} question(s) have no answer, e.g. "
                             f"{', '.join(missing[:20])} (pass --allow-missing to score them as wrong)")
    # The official reading sees the answer as the result file holds it.
    official, official_right = score_all(truth, placed, lambda text: mme_calculation_yes_no(result_text(text)))
    absent = [s for s in PERCEPTION + COGNITION if s not in truth]
    summary = {"benchmark": "mme", **official, "absent_subtasks": absent, "num_missing": len(missing)}
    if args.lenient:
        lenient, lenient_right = score_all(truth, placed, parse_yes_no)
        add_lenient_block(summary, lenient, official_right, lenient_right)
    if args.results_dir:
        write_results(args.results_dir, truth, placed)
        summary["results_dir"] = str(args.results_dir)
        if absent:
            print(f"warning: {args.gt_dir} lacks {', '.join(absent)}; the eval tool's calculation.py "
                  "opens every subtask's file and will stop on them", file=sys.stderr)
    return summary


def main(argv: list[str] | None = None) -> dict:
    return run_cli(build_parser(), score, argv)


if __name__ == "__main__":
    main()
