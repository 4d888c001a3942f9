"""ScienceQA (IMG subset by default): option-letter accuracy as LLaVA-1.5 reads it.

    python -m eval.scienceqa --answers A.jsonl --problems problems.json \
        --pid-splits pid_splits.json [--split test] [--subset img|all] [--allow-missing] [--lenient]

problems.json maps problem id -> {"question", "choices": [...], "answer": index,
"image": file or null, "subject"?}; pid_splits.json maps split -> [problem ids].
Official reading: LLaVA's eval_science_qa accepted formats only (eval.choice.llava_sqa_choice:
"B", "B. dog", "... The answer is B."); anything else is wrong and listed as unparsed.
--lenient adds the project's reading ("(B) dog", "Answer: B", the option's text).
ScienceQA-IMG is the split's problems with an image (LLaVA counts the answers whose prompt
holds <image>: the same set when every problem is answered).
"""
import argparse

from tqdm import tqdm

from eval.choice import LETTERS, extract_choice, llava_sqa_choice
from eval.cli import add_allow_missing, add_lenient, add_lenient_block, percent, run_cli
from eval.errors import EvalInputError
from eval.files import check_coverage, load_answers, read_json


def load_problems(path) -> dict[str, dict]:
    doc = read_json(path)
    if not isinstance(doc, dict):
        raise EvalInputError(f"{path}: expected an object mapping problem id -> problem")
    for pid, prob in doc.items():
        choices, answer = prob.get("choices"), prob.get("answer")
        if not isinstance(choices, list) or not isinstance(answer, int) \
                or not 0 <= answer < len(choices) or len(choices) > len(LETTERS):
            raise EvalInputError(f"{path}: problem {pid}: needs 'choices' (a list) and 'answer' "
                                 "(an index into it)")
    return doc


def split_problem_ids(problems: dict, splits_path, split: str) -> list[str]:
    """Ids of the split's problems, each checked to exist in problems.json."""
    splits = read_json(splits_path)
    if not isinstance(splits, dict) or not isinstance(splits.get(split), list):
        raise EvalInputError(f"{splits_path}: no list of ids for split {split!r}")
    ids = [str(pid) for pid in splits[split]]
    unknown = [pid for pid in ids if pid not in problems]
    if unknown:
        raise EvalInputError(f"{splits_path}: split {split!r} names problems not in problems.json: "
                             f"{unknown[:10]}")
    return ids


def official_choice(text: str, choices: list[str]) -> int | None:
    return llava_sqa_choice(text, len(choices))


def score_scienceqa(answers: dict[str, str], problems: dict, selected: list[str],
                    read=official_choice, right: dict | None = None) -> dict:
    """Accuracy (%) etc. of the chosen options; `right` (if given) collects {pid: correct}."""
    correct, unparsed, by_subject = 0, [], {}
    for pid in tqdm(selected, desc="scienceqa", unit="q"):
        prob = problems[pid]
        chosen = read(answers[pid], prob["choices"]) if pid in answers else None
        if pid in answers and chosen is None:
            unparsed.append(pid)
        ok = chosen == prob["answer"]
        if right is not None:
            right[pid] = ok
        correct += ok
        subject = by_subject.setdefault(prob.get("subject", "unknown"), [0, 0])
        subject[0] += ok
        subject[1] += 1
    return {
        "accuracy": percent(correct, len(selected)),
        "num_correct": correct,
        "num_questions": len(selected),
        "num_unparsed": len(unparsed),
        "unparsed_ids": unparsed[:20],
        "per_subject": {s: percent(c, n) for s, (c, n) in sorted(by_subject.items())},
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.scienceqa",
        description="Score ScienceQA answers as LLaVA-1.5's eval_science_qa reads them (accuracy of "
                    "the option letter).",
        epilog="Real files (playground/data/eval/scienceqa/): answers to the questions converted from "
               "llava_test_CQM-A.json; --problems problems.json, --pid-splits pid_splits.json.")
    p.add_argument("--answers", required=True, help="model_vqa answers jsonl (question_id = problem id)")
    p.add_argument("--problems", required=True, help="ScienceQA problems.json")
    p.add_argument("--pid-splits", required=True, help="ScienceQA pid_splits.json")
    p.add_argument("--split", default="test", help="split to score (default: test)")
    p.add_argument("--subset", choices=("img", "all"), default="img",
                   help="img: only problems with an image (ScienceQA-IMG, default); all: every problem")
    add_allow_missing(p)
    add_lenient(p)
    return p


def score(args: argparse.Namespace) -> dict:
    answers = load_answers(args.answers)
    problems = load_problems(args.problems)
    split_ids = split_problem_ids(problems, args.pid_splits, args.split)
    outside = sorted(set(answers) - set(split_ids))
    if outside:
        raise EvalInputError(f"{args.answers}: answers for problems outside split {args.split!r}: "
                             f"{outside[:10]}")
    # ScienceQA-IMG: the problems that come with an image.
    selected = [pid for pid in split_ids if args.subset == "all" or problems[pid].get("image")]
    answered_in_subset = set(answers) & set(selected)
    missing = check_coverage(answered_in_subset, selected, args.answers, args.allow_missing)
    summary = {"benchmark": "scienceqa", "split": args.split, "subset": args.subset,
               "num_missing": len(missing)}
    official: dict[str, bool] = {}
    summary.update(score_scienceqa(answers, problems, selected, official_choice, official))
    if args.lenient:
        lenient: dict[str, bool] = {}
        add_lenient_block(summary, score_scienceqa(answers, problems, selected, extract_choice, lenient),
                          official, lenient)
    return summary


def main(argv: list[str] | None = None) -> dict:
    return run_cli(build_parser(), score, argv)


if __name__ == "__main__":
    main()
