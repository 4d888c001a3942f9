"""MMBench: CircularEval accuracy as MMBench's evaluator computes it, and the submission sheet.

    python -m eval.mmbench --answers A.jsonl --tsv mmbench_dev_20230712.tsv \
        [--submission out.xlsx] [--allow-missing] [--lenient]

The TSV (the real file: index, question, hint, A..D, answer, category, image, source,
l2-category, comment, split) carries each question's circular copies as extra rows whose
index is the question's index plus k * 1,000,000, with the options rotated. Answers match
rows by question_id == index. LLaVA's model_vqa_mmbench --all-rounds layout is accepted
too: one answer per (question_id, round_id), round r showing the options rotated r places.

CircularEval: a question counts as right only when every copy of it is answered right.
Answers are read with the MMBench evaluator's rules (a lone option letter, a letter in
one of its bracket/punctuation forms, or exactly one option's text inside the answer).
The evaluator asks ChatGPT about answers these rules cannot read; offline they count as
wrong (num_unparsed says how many). --lenient adds the project's reading beside it.
"""
import argparse
import csv
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from eval.choice import extract_choice
from eval.cli import add_allow_missing, add_lenient, percent, run_cli
from eval.errors import EvalInputError
from eval.files import read_jsonl, require_fields

OPTION_COLUMNS = ("A", "B", "C", "D")   # MMBench questions have 2 to 4 options
LETTERS = "ABCDE"                        # letters the evaluator's reader looks for
CIRCULAR_STRIDE = 1_000_000              # copy index = question index + k * stride
# Cells pandas reads as NaN (its default na_values) plus LLaVA's "none": an absent option or hint.
_NA = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
       "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null", "none"}
# Columns LLaVA's convert_mmbench_for_submission drops; "prediction" goes in at position 6.
_SHEET_DROPPED = {"hint", "category", "source", "image", "comment", "l2-category"}
_PREDICTION_POSITION = 6


def is_absent(cell) -> bool:
    return cell is None or cell in _NA or cell.lower() in ("nan", "none")


def load_mmbench_tsv(path) -> list[dict]:
    """Rows of the TSV with "options": the A, B, ... cells up to the first absent one (as LLaVA)."""
    path = Path(path)
    csv.field_size_limit(sys.maxsize)  # the real TSV carries base64 images in a column
    try:
        f = path.open(encoding="utf-8", newline="")
    except FileNotFoundError:
        raise EvalInputError(f"{path}: file not found") from None
    with f:
        try:
            rows = _read_rows(csv.DictReader(f, delimiter="\t"), path)
        except (UnicodeDecodeError, csv.Error) as e:
            raise EvalInputError(f"{path}: not a readable UTF-8 TSV ({e})") from None
    with_answer = sum(bool((r.get("answer") or "").strip()) for r in rows)
    if 0 < with_answer < len(rows):
        raise EvalInputError(f"{path}: only {with_answer} of {len(rows)} rows have an answer")
    return rows


def _read_rows(reader, path) -> list[dict]:
    """Check every row and attach its options; errors name the line."""
    rows, seen = [], set()
    for lineno, row in enumerate(reader, start=2):
        where = f"{path}:{lineno}"
        for col in ("index", "question", "A", "B"):
            if not (row.get(col) or "").strip():
                raise EvalInputError(f"{where}: empty or missing column {col!r}")
        if not row["index"].strip().isdigit():
            raise EvalInputError(f"{where}: index {row['index']!r} is not a whole number")
        row["index"] = str(int(row["index"]))
        if row["index"] in seen:
            raise EvalInputError(f"{where}: duplicate index {row['index']}")
        seen.add(row["index"])
        present = [not is_absent(row.get(c)) for c in OPTION_COLUMNS]
        n = present.index(False) if False in present else len(present)
        if any(present[n:]):
            raise EvalInputError(f"{where}: option {OPTION_COLUMNS[n]} is empty but a later one is not")
        row["options"] = [row[c] for c in OPTION_COLUMNS[:n]]
        answer = (row.get("answer") or "").strip()
        if answer and answer not in OPTION_COLUMNS[:n]:
            raise EvalInputError(f"{where}: answer {answer!r} is not one of the options")
        rows.append(row)
    return rows


# ---- the evaluator's answer reader -------------------------------------------------------------

# (prefix, suffix) forms of a letter token, tried in this order after the bare letter.
_LETTER_FORMS = (("", "."), ("", ","), ("", ":"), ("", ")"), ("", ")."), ("(", ")"), ("(", ")."),
                 (":", ""), (":", ","), (":", "."), (":", ")"), (":", ")."))


def _letter_token(tokens: list[str]) -> str | None:
    """A letter A-E standing alone among the whitespace tokens, when exactly one form matches."""
    bare = [c for c in LETTERS if c in tokens]
    # A bare "A" in a longer answer may be the article, so the bare rule is skipped then.
    if len(bare) == 1 and not ("A" in tokens and len(tokens) > 3):
        return bare[0]
    for prefix, suffix in _LETTER_FORMS:
        found = [c for c in LETTERS if prefix + c + suffix in tokens]
        if len(found) == 1:
            return found[0]
    return None


def official_letter(answer: str, options: list[str]) -> str | None:
    """The letter MMBench's evaluator reads from an answer before asking ChatGPT; None if none.

    The letter may lie outside the options (then it is simply wrong). Without a letter, an
    answer containing exactly one option's text (case-insensitive substring) picks it.
    """
    letter = _letter_token([t.strip() for t in answer.split()])
    if letter is not None:
        return letter
    said = answer.lower()
    hits = [OPTION_COLUMNS[i] for i, opt in enumerate(options) if opt.lower() in said]
    return hits[0] if len(hits) == 1 else None


def lenient_letter(answer: str, options: list[str]) -> str | None:
    """The project's forgiving reading (eval.choice), as a letter."""
    index = extract_choice(answer, options)
    return None if index is None else OPTION_COLUMNS[index]


# ---- answers and circular copies ---------------------------------------------------------------

@dataclass(frozen=True)
class Copy:
    """One answered presentation of a question: a TSV row, rotated `round` places."""
    index: str                # the TSV row's index
    round: int                # LLaVA's round_id (0 unless --all-rounds)
    options: tuple[str, ...]  # as shown to the model
    truth: str | None         # the letter right in this presentation; None without answers
    question: str             # the index of the question it is a copy of (index % stride)

    @property
    def label(self) -> str:
        return self.index if self.round == 0 else f"{self.index} round {self.round}"


def load_mmbench_answers(path) -> dict[tuple[str, int], str]:
    """{(question_id, round_id): text}; round_id 0 when absent. A repeated pair is an error."""
    answers: dict[tuple[str, int], str] = {}
    for lineno, record in read_jsonl(path):
        where = f"{path}:{lineno}"
        require_fields(record, ("question_id", "text"), where)
        qid, rnd = str(record["question_id"]), record.get("round_id", 0)
        if not isinstance(record["text"], str):
            raise EvalInputError(f"{where}: question {qid}: 'text' is not a string")
        if not isinstance(rnd, int) or isinstance(rnd, bool) or rnd < 0:
            raise EvalInputError(f"{where}: question {qid}: round_id {rnd!r} is not a round number")
        if (qid, rnd) in answers:
            raise EvalInputError(f"{where}: duplicate answer for question_id {qid} round {rnd}")
        answers[(qid, rnd)] = record["text"]
    return answers


def build_copies(rows: list[dict], all_rounds: bool, tsv) -> list[Copy]:
    """Every copy the answers file should hold, grouped by the question it belongs to."""
    by_index = {row["index"] for row in rows}
    copies = []
    for row in rows:
        question = str(int(row["index"]) % CIRCULAR_STRIDE)
        if question not in by_index:
            raise EvalInputError(f"{tsv}: index {row['index']} is a circular copy of question "
                                 f"{question}, which the TSV does not have")
        options, answer = row["options"], (row.get("answer") or "").strip()
        for r in range(len(options) if all_rounds else 1):
            shown = tuple(options[r:] + options[:r])
            truth = OPTION_COLUMNS[(OPTION_COLUMNS.index(answer) - r) % len(options)] if answer else None
            copies.append(Copy(row["index"], r, shown, truth, question))
    return copies


def check_copy_coverage(answers: dict, copies: list[Copy], answers_path, allow_missing: bool) -> list[str]:
    expected = {(c.index, c.round) for c in copies}
    unknown = sorted(set(answers) - expected)
    if unknown:
        shown = ", ".join(f"{q} round {r}" for q, r in unknown[:20])
        raise EvalInputError(f"{answers_path}: {len(unknown)} answer(s) match no TSV row (or a round "
                             f"beyond the row's options): {shown}")
    missing = [c.label for c in copies if (c.index, c.round) not in answers]
    if missing and not allow_missing:
        shown = ", ".join(missing[:20]) + (f", ... ({len(missing)} in all)" if len(missing) > 20 else "")
        raise EvalInputError(f"{answers_path}: {len(missing)} question(s) have no answer: {shown} "
                             "(pass --allow-missing to score them as wrong)")
    return missing


# ---- scoring --------------------------------------------------------------------------------

def circular_scores(copies: list[Copy], texts: list[str], rows: dict[str, dict], read) -> dict:
    """CircularEval accuracy (overall, per split, l2-category and category) with reader `read`."""
    hits = [read(text, list(c.options)) == c.truth for c, text in zip(copies, texts)]
    group_hit: dict[str, bool] = {}
    main_hit: dict[str, bool] = {}
    for c, hit in zip(copies, hits):
        group_hit[c.question] = group_hit.get(c.question, True) and hit
        if c.index == c.question and c.round == 0:
            main_hit[c.question] = hit
    by = {"per_split": "split", "per_l2_category": "l2-category", "per_category": "category"}
    tables: dict[str, dict] = {key: defaultdict(lambda: [0, 0]) for key in by}
    for question, hit in group_hit.items():
        for key, column in by.items():
            value = (rows[question].get(column) or "").strip()
            if value:
                tables[key][value][0] += hit
                tables[key][value][1] += 1
    summary = {"accuracy": percent(sum(group_hit.values()), len(group_hit)),
               "single_pass_accuracy": percent(sum(main_hit.values()), len(main_hit))}
    for key, table in tables.items():
        if table:
            summary[key] = {v: percent(k, n) for v, (k, n) in sorted(table.items())}
    return summary, hits


def score_mmbench(answers: dict, rows: list[dict], copies: list[Copy], lenient: bool) -> dict:
    texts = [answers.get((c.index, c.round), "") for c in tqdm(copies, desc="mmbench", unit="answer")]
    unparsed = [c.label for c, text in zip(copies, texts) if (c.index, c.round) in answers
                and official_letter(text, list(c.options)) not in OPTION_COLUMNS[:len(c.options)]]
    summary = {"num_questions": len({c.question for c in copies}), "num_answers": len(copies),
               "num_unparsed": len(unparsed), "unparsed_ids": unparsed[:20]}
    if copies and copies[0].truth is not None:
        by_index = {row["index"]: row for row in rows}
        official, official_hits = circular_scores(copies, texts, by_index, official_letter)
        summary.update(official)
        if lenient:
            loose, lenient_hits = circular_scores(copies, texts, by_index, lenient_letter)
            loose["num_unparsed"] = sum(lenient_letter(t, list(c.options)) is None
                                        for c, t in zip(copies, texts) if (c.index, c.round) in answers)
            summary["lenient"] = loose
            summary["misread_by_official"] = sum(l and not o for o, l in zip(official_hits, lenient_hits))
    return summary


# ---- submission sheet -----------------------------------------------------------------------

def sheet_columns(header: list[str]) -> list[str]:
    kept = [c for c in header if c not in _SHEET_DROPPED]
    kept.insert(min(_PREDICTION_POSITION, len(kept)), "prediction")
    return kept


def _openpyxl():
    try:
        import openpyxl
    except ImportError:
        raise EvalInputError("writing the MMBench .xlsx submission needs openpyxl "
                             "(a dependency of this project: pip install openpyxl)") from None
    return openpyxl


def write_sheet(path, header: list[str], rows: list[dict], predictions: list[str | None]) -> tuple[Path, int]:
    """The .xlsx LLaVA's converter writes for the MMBench server; returns (path, cleaned cells)."""
    openpyxl = _openpyxl()
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    columns = sheet_columns(header)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(columns)
    cleaned = 0
    for row, prediction in zip(rows, predictions):
        line = []
        for column in columns:
            cell = prediction if column == "prediction" else row.get(column)
            if column == "index":
                cell = int(cell)
            elif column != "prediction" and is_absent(cell):
                cell = None   # what pandas writes for a NaN cell
            if isinstance(cell, str) and ILLEGAL_CHARACTERS_RE.search(cell):
                cell, cleaned = ILLEGAL_CHARACTERS_RE.sub("", cell), cleaned + 1
            line.append(cell)
        sheet.append(line)
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"   # text, not a formula the server would read back as empty
    path = Path(path).with_suffix(".xlsx")
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    if cleaned:
        print(f"warning: removed control characters Excel cannot hold from {cleaned} cell(s) of {path}",
              file=sys.stderr)
    return path, cleaned


def read_header(tsv) -> list[str]:
    with Path(tsv).open(encoding="utf-8", newline="") as f:
        return next(csv.reader(f, delimiter="\t"), [])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.mmbench",
        description="Score MMBench answers with CircularEval as MMBench's evaluator does (a question "
                    "counts only when all its circular copies are answered right; dev TSVs with an "
                    "answer column) and write the .xlsx the MMBench server takes.",
        epilog="Real files: mmbench_dev_20230712.tsv / mmbench_test_20230712.tsv (copies at index + "
               "k*1000000). Answers: model_vqa output with question_id = index, or LLaVA's "
               "model_vqa_mmbench --all-rounds output (round_id per rotation).")
    p.add_argument("--answers", required=True, help="answers jsonl (question_id = TSV index, optional round_id)")
    p.add_argument("--tsv", required=True, help="MMBench TSV (dev or test)")
    p.add_argument("--submission", help="write the server's .xlsx here (raw answer per TSV row)")
    add_allow_missing(p)
    add_lenient(p)
    return p


def score(args: argparse.Namespace) -> dict:
    if args.submission:
        _openpyxl()   # before any work, not after it
    rows = load_mmbench_tsv(args.tsv)
    answers = load_mmbench_answers(args.answers)
    all_rounds = any(rnd > 0 for _, rnd in answers)
    copies = build_copies(rows, all_rounds, args.tsv)
    missing = check_copy_coverage(answers, copies, args.answers, args.allow_missing)
    summary = {"benchmark": "mmbench", "reading": "official", "num_missing": len(missing),
               "layout": "all-rounds" if all_rounds else "one answer per TSV row",
               **score_mmbench(answers, rows, copies, args.lenient)}
    if summary["num_answers"] == summary["num_questions"]:
        print("note: no question has circular copies here (TSV without copy rows, answers without "
              "round_id): CircularEval equals single-pass accuracy", file=sys.stderr)
    if args.submission:
        # One prediction per TSV row: the round shown in the TSV's own option order.
        predictions = [answers.get((row["index"], 0)) for row in rows]
        written, cleaned = write_sheet(args.submission, read_header(args.tsv), rows, predictions)
        summary.update(submission=str(written), submission_format="xlsx", submission_cleaned_cells=cleaned)
    return summary


def main(argv: list[str] | None = None) -> dict:
    return run_cli(build_parser(), score, argv)


if __name__ == "__main__":
    main()
