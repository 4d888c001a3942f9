"""TextVQA accuracy as LLaVA-1.5's eval_textvqa computes it.

    python -m eval.textvqa --answers A.jsonl --annotations TextVQA_0.5.1_val.json [--lenient]

LLaVA's question file (llava_textvqa_val_v051_ocr.jsonl) uses the *image* id as question_id,
so ids repeat (scripts/eval/textvqa.sh renames repeats "<id>#k" for model_vqa; the "#k" is
ignored here); like LLaVA, each answer is matched to its annotation by (image id, question),
the question being read back from the answer's prompt (`prompt_question`). Accuracy is the
mean over the answer lines of TextVQAAccuracyEvaluator's score (EvalAI answer processing on
both sides, leave-one-out over the 10 human answers).
"""
import argparse
import re
from collections import Counter

from tqdm import tqdm

from eval.cli import add_allow_missing, add_lenient, add_lenient_block, percent, run_cli
from eval.errors import EvalInputError
from eval.files import base_question_id, read_jsonl, require_fields
from eval.vqa import load_textvqa_annotations, textvqa_accuracy, vqa_accuracy

_OCR_PROMPT_QUESTION = re.compile(r"Question: (.*?) Short answer:", re.DOTALL)


def prompt_question(prompt: str) -> str | None:
    """The lower-cased question inside a TextVQA prompt, by LLaVA's prompt_processor rules.

    "OCR tokens: ... Question: Q Short answer:" -> Q; three lines with "Reference OCR token: "
    -> the line that is not the OCR line (the 2nd when the prompt starts with it, else the
    1st); two lines -> the 1st. Anything else is None (LLaVA stops with an assertion).
    """
    lines = prompt.split("\n")
    if prompt.startswith("OCR tokens: "):
        m = _OCR_PROMPT_QUESTION.search(prompt)
        question = m.group(1) if m else None
    elif "Reference OCR token: " in prompt and len(lines) == 3:
        question = lines[1] if prompt.startswith("Reference OCR token:") else lines[0]
    elif len(lines) == 2:
        question = lines[0]
    else:
        question = None
    return None if question is None else question.lower()


def load_textvqa_answers(path) -> list[tuple[tuple[str, str], str]]:
    """[((image id, question), answer text)] in file order."""
    out = []
    for lineno, rec in read_jsonl(path):
        where = f"{path}:{lineno}"
        require_fields(rec, ("question_id", "prompt", "text"), where)
        question = prompt_question(str(rec["prompt"]))
        if question is None:
            raise EvalInputError(f"{where}: cannot read the question from the prompt {rec['prompt']!r} "
                                 "(LLaVA's TextVQA prompts: 'question\\nReference OCR token: ...\\n"
                                 "instruction' or 'question\\ninstruction')")
        if not isinstance(rec["text"], str):
            raise EvalInputError(f"{where}: 'text' is not a string")
        out.append(((base_question_id(rec["question_id"]), question), rec["text"]))
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.textvqa",
        description="Score TextVQA answers as LLaVA-1.5's eval_textvqa does: EvalAI answer "
                    "processing, leave-one-out soft accuracy over the 10 human answers.",
        epilog="Real files (playground/data/eval/textvqa/): answers to llava_textvqa_val_v051_ocr.jsonl "
               "(question_id = image id, repeated); --annotations TextVQA_0.5.1_val.json.")
    p.add_argument("--answers", required=True,
                   help="model_vqa answers jsonl (question_id = image id; prompt holds the question)")
    p.add_argument("--annotations", required=True,
                   help="TextVQA json with 'data': [{image_id, question, answers: [10 strings]}]")
    add_allow_missing(p)
    add_lenient(p)
    return p


def score(args: argparse.Namespace) -> dict:
    answers = load_textvqa_answers(args.answers)
    truth = load_textvqa_annotations(args.annotations)
    unknown = sorted({f"{img}: {q!r}" for (img, q), _ in answers if (img, q) not in truth})
    if unknown:
        raise EvalInputError(f"{args.answers}: {len(unknown)} answer(s) match no (image_id, question) of "
                             f"{args.annotations}, e.g. {unknown[:5]}")
    answered = Counter(key for key, _ in answers)
    missing = [key for key in truth if key not in answered]
    if missing and not args.allow_missing:
        raise EvalInputError(f"{args.answers}: {len(missing)} question(s) have no answer, e.g. "
                             f"{[f'{i}: {q!r}' for i, q in missing[:5]]} (pass --allow-missing to score "
                             "them as wrong)")
    # One score per answer line (LLaVA averages over its answers), then 0 per unanswered question.
    official = {i: textvqa_accuracy(text, truth[key].answers)
                for i, (key, text) in enumerate(tqdm(answers, desc="textvqa", unit="q"))}
    n = len(answers) + len(missing)
    summary = {"benchmark": "textvqa", "accuracy": percent(sum(official.values()), n),
               "num_questions": n, "num_missing": len(missing)}
    if args.lenient:
        lenient = {i: vqa_accuracy(text, truth[key].answers) for i, (key, text) in enumerate(answers)}
        add_lenient_block(summary, {"accuracy": percent(sum(lenient.values()), n)}, official, lenient)
    return summary


def main(argv: list[str] | None = None) -> dict:
    return run_cli(build_parser(), score, argv)


if __name__ == "__main__":
    main()
