"""MMBench: choice accuracy (dev, where the TSV has answers) and the submission sheet.

    python -m eval.mmbench --answers A.jsonl --tsv mmbench_dev_20230712.tsv \
        [--submission out.xlsx] [--allow-missing]

The TSV has a header row with at least: index, question, A, B (C, D... optional;
empty, "nan" or "none" cells mean no such option), and optionally answer,
hint, category, l2-category. Answers are matched by question_id == index.
One answer per index (single-round; circular-eval rounds with repeated ids
are rejected as duplicates).
The submission sheet is .xlsx when openpyxl is installed, otherwise a .tsv
written next to the requested path; the summary says which.
"""
import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

from eval.choice import LETTERS, extract_choice
from eval.cli import add_allow_missing, percent, run_cli
from eval.errors import EvalInputError
from eval.files import check_coverage, load_answers

OPTION_COLUMNS = tuple(LETTERS[:5])
_ABSENT = {"", "nan", "none"}
SHEET_COLUMNS = ("index", "question", "hint", *OPTION_COLUMNS, "answer", "category",
                 "l2-category", "prediction")


def load_mmbench_tsv(path) -> list[dict]:
    """Rows of the TSV, each with an "options" list (the non-empty A, B, ... cells)."""
    path = Path(path)
    csv.field_size_limit(sys.maxsize)  # the real TSV carries base64 images in a column
    try:
        f = path.open(encoding="utf-8", newline="")
    except FileNotFoundError:
        raise EvalInputError(f"{path}: file not found") from None
    rows, seen = [], set()
    with f:
        reader = csv.DictReader(f, delimiter="\t")
        for lineno, row in enumerate(reader, start=2):
            where = f"{path}:{lineno}"
            for col in ("index", "question", "A", "B"):
                if not (row.get(col) or "").strip():
                    raise EvalInputError(f"{where}: empty or missing column {col!r}")
            if row["index"] in seen:
                raise EvalInputError(f"{where}: duplicate index {row['index']}")
            seen.add(row["index"])
            row["options"] = [row[c] for c in OPTION_COLUMNS
                              if (row.get(c) or "").strip().lower() not in _ABSENT]
            answer = (row.get("answer") or "").strip()
            if answer and answer not in LETTERS[:len(row["options"])]:
                raise EvalInputError(f"{where}: answer {answer!r} is not one of the options")
            rows.append(row)
    with_answer = sum(bool((r.get("answer") or "").strip()) for r in rows)
    if 0 < with_answer < len(rows):
        raise EvalInputError(f"{path}: only {with_answer} of {len(rows)} rows have an answer")
    return rows


def score_mmbench(answers: dict[str, str], rows: list[dict]) -> tuple[dict, list[str]]:
    """(summary, predicted letters or raw text per row)."""
    predictions, unparsed = [], []
    correct, by_category = 0, defaultdict(lambda: [0, 0])
    has_answers = bool(rows) and bool((rows[0].get("answer") or "").strip())  # all or none
    for row in tqdm(rows, desc="mmbench", unit="q"):
        text = answers.get(row["index"], "")
        chosen = extract_choice(text, row["options"])
        if row["index"] in answers and chosen is None:
            unparsed.append(row["index"])
        # An unreadable answer goes into the sheet verbatim for the server to judge.
        predictions.append(LETTERS[chosen] if chosen is not None else text)
        if has_answers:
            ok = chosen is not None and LETTERS[chosen] == row["answer"].strip()
            correct += ok
            stats = by_category[row.get("category") or "unknown"]
            stats[0] += ok
            stats[1] += 1
    summary = {"num_questions": len(rows), "num_unparsed": len(unparsed), "unparsed_ids": unparsed[:20]}
    if has_answers:
        summary["accuracy"] = percent(correct, len(rows))
        summary["per_category"] = {c: percent(k, n) for c, (k, n) in sorted(by_category.items())}
    return summary, predictions


def write_sheet(path, rows: list[dict], predictions: list[str]) -> tuple[Path, str]:
    """Write the submission; returns (path written, "xlsx" or "tsv")."""
    table = [[row.get(c, "") or "" for c in SHEET_COLUMNS[:-1]] + [pred]
             for row, pred in zip(rows, predictions)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import openpyxl
    except ImportError:
        path = path.with_suffix(".tsv")
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, delimiter="\t")
            writer.writerow(SHEET_COLUMNS)
            writer.writerows(table)
        print(f"openpyxl is not installed: wrote the submission as TSV to {path}", file=sys.stderr)
        return path, "tsv"
    path = path.with_suffix(".xlsx")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(SHEET_COLUMNS))
    for line in table:
        sheet.append(line)
    book.save(path)
    return path, "xlsx"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.mmbench",
        description="Score MMBench answers (choice read from free text; accuracy when the TSV "
                    "has answers) and write the submission sheet.")
    p.add_argument("--answers", required=True, help="model_vqa answers jsonl (question_id = index)")
    p.add_argument("--tsv", required=True, help="MMBench TSV (dev or test)")
    p.add_argument("--submission", help="submission sheet path (.xlsx, or .tsv without openpyxl)")
    add_allow_missing(p)
    return p


def score(args: argparse.Namespace) -> dict:
    answers = load_answers(args.answers)
    rows = load_mmbench_tsv(args.tsv)
    missing = check_coverage(answers, [r["index"] for r in rows], args.answers, args.allow_missing)
    details, predictions = score_mmbench(answers, rows)
    summary = {"benchmark": "mmbench", "num_missing": len(missing), **details}
    if args.submission:
        written, fmt = write_sheet(args.submission, rows, predictions)
        summary.update(submission=str(written), submission_format=fmt)
    return summary


def main(argv: list[str] | None = None) -> dict:
    return run_cli(build_parser(), score, argv)


if __name__ == "__main__":
    main()
