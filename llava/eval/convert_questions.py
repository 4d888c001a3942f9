"""Turn benchmark files that are not question JSONL yet into ``model_vqa`` question files.

    python -m llava.eval.convert_questions sqa --src llava_test_CQM-A.json --out questions.jsonl
    python -m llava.eval.convert_questions mmbench --tsv mmbench_dev_20230712.tsv \\
        --out questions.jsonl --image-folder images/
    python -m llava.eval.convert_questions unique-ids --src llava_textvqa_val_v051_ocr.jsonl --out questions.jsonl

- ``sqa``: LLaVA's ScienceQA file (a JSON list of ``{"id", "image"?, "conversations"}``); the
  question is the first human turn without its ``<image>`` (model_vqa puts it back in front).
- ``mmbench``: the MMBench TSV; images (base64 in the ``image`` column) are written as
  ``<index>.png``; the text is ``hint`` (if any), the question, then one ``A. option`` line
  per option, as LLaVA lays it out.
Both leave the answer instruction to ``model_vqa --answer-prompt-suffix``.
- ``unique-ids``: a LLaVA question file whose ids repeat (llava_textvqa_val_v051_ocr.jsonl uses
  the image id, llava_mme.jsonl ``<subtask>/<image>`` for both questions of an image) gets
  unique ids, which model_vqa needs to resume: the k-th repeat of an id becomes ``<id>#k``
  (the first keeps its id). The TextVQA and MME scorers read ``<id>#k`` as ``<id>``.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import io
from pathlib import Path
from typing import Iterator, Optional, Sequence

from PIL import Image
from tqdm import tqdm

from eval.errors import EvalInputError
from eval.files import read_json, read_jsonl
from eval.jsonl import write_jsonl
from eval.mmbench import OPTION_COLUMNS, load_mmbench_tsv

LETTER_PROMPT = "Answer with the option's letter from the given choices directly."
_NONE = ("", "nan", "none")


def sqa_questions(src: str | Path) -> Iterator[dict]:
    records = read_json(src)
    if not isinstance(records, list):
        raise EvalInputError(f"{src}: expected a JSON list of records")
    for i, record in enumerate(records):
        try:
            text = record["conversations"][0]["value"]
            qid = record["id"]
        except (KeyError, IndexError, TypeError):
            raise EvalInputError(f"{src}: item {i}: needs an 'id' and a first conversation turn") from None
        question = {"question_id": qid, "text": text.replace("<image>", "").strip()}
        if record.get("image"):
            question["image"] = record["image"]
        yield question


def mmbench_text(row: dict) -> str:
    """hint, question, then "A. option" lines (LLaVA's layout)."""
    hint = (row.get("hint") or "").strip()
    lines = ([hint] if hint.lower() not in _NONE else []) + [row["question"].strip()]
    options = [(c, row[c]) for c in OPTION_COLUMNS if (row.get(c) or "").strip().lower() not in _NONE]
    lines += [f"{letter}. {option.strip()}" for letter, option in options]
    return "\n".join(lines)


def mmbench_questions(tsv: str | Path, image_folder: str | Path) -> Iterator[dict]:
    image_folder = Path(image_folder)
    image_folder.mkdir(parents=True, exist_ok=True)
    for row in tqdm(load_mmbench_tsv(tsv), desc="mmbench", unit="q"):
        name = f"{row['index']}.png"
        try:
            with Image.open(io.BytesIO(base64.b64decode(row.get("image") or "", validate=True))) as image:
                image.convert("RGB").save(image_folder / name)
        except (binascii.Error, OSError, ValueError) as e:
            raise EvalInputError(f"{tsv}: index {row['index']}: 'image' is not a base64 image ({e})") from None
        question = {"question_id": row["index"], "image": name, "text": mmbench_text(row)}
        if row.get("category"):
            question["category"] = row["category"]
        yield question


def unique_id_questions(src: str | Path, counts: dict) -> Iterator[dict]:
    """The records of a question file, repeated ids renamed ``<id>#k``; counts["renamed"] is updated."""
    seen: dict[str, int] = {}
    for lineno, record in read_jsonl(src):
        if "question_id" not in record:
            raise EvalInputError(f"{src}:{lineno}: no 'question_id'")
        qid = str(record["question_id"])
        k = seen.get(qid, 0)
        seen[qid] = k + 1
        if k:
            record = {**record, "question_id": f"{qid}#{k}"}
            counts["renamed"] = counts.get("renamed", 0) + 1
        yield record


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m llava.eval.convert_questions", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="benchmark", required=True)
    sqa = sub.add_parser("sqa", help="LLaVA's ScienceQA json -> question jsonl")
    sqa.add_argument("--src", required=True)
    sqa.add_argument("--out", required=True)
    mmb = sub.add_parser("mmbench", help="MMBench TSV -> question jsonl + images")
    mmb.add_argument("--tsv", required=True)
    mmb.add_argument("--out", required=True)
    mmb.add_argument("--image-folder", required=True, help="where the decoded images go")
    uniq = sub.add_parser("unique-ids", help="rename repeated question ids <id>#k (TextVQA, MME files)")
    uniq.add_argument("--src", required=True)
    uniq.add_argument("--out", required=True)
    args = p.parse_args(argv)
    counts: dict = {}
    try:
        if args.benchmark == "sqa":
            rows = sqa_questions(args.src)
        elif args.benchmark == "mmbench":
            rows = mmbench_questions(args.tsv, args.image_folder)
        else:
            rows = unique_id_questions(args.src, counts)
        n = write_jsonl(args.out, rows)
    except EvalInputError as e:
        raise SystemExit(f"error: {e}") from None
    print(f"wrote {n} questions to {args.out}" +
          (f" ({counts.get('renamed', 0)} repeated id(s) renamed <id>#k)" if args.benchmark == "unique-ids" else ""))
    return n


if __name__ == "__main__":
    main()
