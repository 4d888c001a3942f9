"""MMBench: the evaluator's answer reading, CircularEval in both copy layouts, the .xlsx sheet."""
import json
import os
import subprocess
import sys

import openpyxl
import pytest
from tests.eval.file_fixtures import last_json_line, write_answers

from eval import mmbench
from eval.mmbench import official_letter

HEADER = ["index", "question", "hint", "A", "B", "C", "D", "answer", "category", "image", "source",
          "l2-category", "comment", "split"]
# (index, question, options, answer, category, l2-category). Copies are rotated one place per
# 1,000,000 added to the index, as in the real dev TSV.
QUESTIONS = [
    ("0", "Which animal?", ["cat", "dog", "bird", "fish"], "A", "animals", "perception"),
    ("1", "Is it day?", ["yes", "no"], "B", "scenes", "reasoning"),
    ("2", "Which colour?", ["red", "green", "blue"], "C", "colours", "perception"),
]
ANSWERS = {   # per question, one text per rotation (round 0 = the TSV's own order)
    "0": ["A", "D", "(C) cat", "B. cat"],         # all right
    "1": ["B", "B"],                              # right, then wrong on the rotated copy
    "2": ["Answer:C", "B", "A"],                  # the evaluator cannot read "Answer:C"
}


def _rows(with_copies: bool, with_answer: bool = True):
    for index, question, options, answer, category, l2 in QUESTIONS:
        for r in range(len(options) if with_copies else 1):
            shown = options[r:] + options[:r]
            truth = "ABCD"[("ABCD".index(answer) - r) % len(options)]   # the same option, moved
            cells = {"index": str(int(index) + r * 1_000_000), "question": question, "hint": "nan",
                     "answer": truth if with_answer else "", "category": category, "image": "aW1n",
                     "source": "src", "l2-category": l2, "comment": "", "split": "dev"}
            cells.update(zip("ABCD", shown + ["nan"] * (4 - len(shown))))
            yield cells


def write_tsv(tmp_path, with_copies=True, with_answer=True, name="mmbench_dev_20230712.tsv"):
    header = HEADER if with_answer else [h for h in HEADER if h != "answer"]
    lines = ["\t".join(header)] + ["\t".join(row[h] for h in header) for row in _rows(with_copies, with_answer)]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def write_copy_answers(tmp_path):
    """model_vqa over the TSV's copy rows: question_id = the row's index."""
    answers = {int(q) + r * 1_000_000: text for q, texts in ANSWERS.items() for r, text in enumerate(texts)}
    return write_answers(tmp_path / "answers.jsonl", answers)


def write_round_answers(tmp_path, drop=(), extra=()):
    """LLaVA's model_vqa_mmbench --all-rounds layout: one line per (question_id, round_id)."""
    path = tmp_path / "rounds.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for q, texts in ANSWERS.items():
            for r, text in enumerate(texts):
                if (q, r) not in drop:
                    f.write(json.dumps({"question_id": int(q), "round_id": r, "prompt": "", "text": text,
                                        "options": [], "option_char": [], "answer_id": "x",
                                        "model_id": "m", "metadata": {}}) + "\n")
        for q, r in extra:
            f.write(json.dumps({"question_id": int(q), "round_id": r, "text": "A"}) + "\n")
    return str(path)


@pytest.mark.parametrize("answer, options, expected", [
    ("B", ["cat", "dog"], "B"),
    ("(B) dog", ["cat", "dog"], "B"),
    ("B. dog", ["cat", "dog"], "B"),
    ("B)", ["cat", "dog"], "B"),
    ("The answer is B.", ["cat", "dog"], "B"),
    ("Answer: C", ["cat", "dog", "cow"], "C"),
    ("A", ["cat", "dog"], "A"),
    ("E", ["cat", "dog"], "E"),                       # read, though no such option (so wrong)
    ("A dog is on the sofa", ["cat", "dog"], "B"),    # "A" is an article here; the text picks dog
    ("A or B", ["cat", "dog"], None),                 # two letters
    ("It is a cat or a dog", ["cat", "dog"], None),   # two option texts
    ("Answer:B", ["cat", "dog"], None),               # glued to a word: not a token
    ("b", ["cat", "dog"], None),                      # lower case is no letter
    ("a dog", ["cat", "dog"], "B"),
])
def test_evaluator_reading(answer, options, expected):
    assert official_letter(answer, options) == expected


def test_circular_eval_over_the_tsv_copies(tmp_path, capsys):
    tsv = write_tsv(tmp_path)
    mmbench.main(["--answers", write_copy_answers(tmp_path), "--tsv", tsv])
    summary = last_json_line(capsys.readouterr().out)
    assert summary["num_questions"] == 3 and summary["num_answers"] == 9
    assert summary["accuracy"] == 33.33                  # only question 0 is right in every copy
    assert summary["single_pass_accuracy"] == 66.67      # questions 0 and 1 right in the TSV order
    assert summary["per_category"] == {"animals": 100.0, "colours": 0.0, "scenes": 0.0}
    assert summary["per_l2_category"] == {"perception": 50.0, "reasoning": 0.0}
    assert summary["per_split"] == {"dev": 33.33}
    assert summary["num_unparsed"] == 1 and summary["unparsed_ids"] == ["2"]
    assert "lenient" not in summary and "misread_by_official" not in summary


def test_llava_all_rounds_answers_score_like_the_tsv_copies(tmp_path, capsys):
    copies_tsv = write_tsv(tmp_path)
    mmbench.main(["--answers", write_copy_answers(tmp_path), "--tsv", copies_tsv])
    by_copies = last_json_line(capsys.readouterr().out)
    plain_tsv = write_tsv(tmp_path, with_copies=False, name="plain.tsv")
    mmbench.main(["--answers", write_round_answers(tmp_path), "--tsv", plain_tsv])
    by_rounds = last_json_line(capsys.readouterr().out)
    assert by_rounds["layout"] == "all-rounds"
    for key in ("accuracy", "single_pass_accuracy", "per_category", "per_l2_category", "num_answers"):
        assert by_rounds[key] == by_copies[key]
    assert by_rounds["unparsed_ids"] == ["2"]


def test_missing_and_impossible_rounds_are_named(tmp_path, capsys):
    tsv = write_tsv(tmp_path, with_copies=False)
    with pytest.raises(SystemExit) as exc:
        mmbench.main(["--answers", write_round_answers(tmp_path, drop={("2", 2)}), "--tsv", tsv])
    assert exc.value.code == 2
    assert "1 question(s) have no answer: 2 round 2" in capsys.readouterr().err
    mmbench.main(["--answers", write_round_answers(tmp_path, drop={("2", 2)}), "--tsv", tsv,
                  "--allow-missing"])
    assert last_json_line(capsys.readouterr().out)["num_missing"] == 1
    with pytest.raises(SystemExit):
        mmbench.main(["--answers", write_round_answers(tmp_path, extra={("1", 2)}), "--tsv", tsv])
    assert "match no TSV row (or a round beyond the row's options): 1 round 2" in capsys.readouterr().err


def test_lenient_reported_beside_the_official_number(tmp_path, capsys):
    tsv = write_tsv(tmp_path)
    mmbench.main(["--answers", write_copy_answers(tmp_path), "--tsv", tsv, "--lenient"])
    summary = last_json_line(capsys.readouterr().out)
    assert summary["accuracy"] == 33.33                  # the headline stays official
    assert summary["lenient"]["accuracy"] == 66.67       # "Answer:C" read as C: question 2 right too
    assert summary["lenient"]["per_category"]["colours"] == 100.0
    assert summary["misread_by_official"] == 1


def _sheet(path):
    rows = list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))
    return list(rows[0]), [list(r) for r in rows[1:]]


def test_submission_sheet_in_llava_converter_layout(tmp_path, capsys):
    tsv = write_tsv(tmp_path)
    mmbench.main(["--answers", write_copy_answers(tmp_path), "--tsv", tsv,
                  "--submission", str(tmp_path / "up" / "model.xlsx")])
    summary = last_json_line(capsys.readouterr().out)
    assert summary["submission"] == str(tmp_path / "up" / "model.xlsx")
    header, rows = _sheet(summary["submission"])
    assert header == ["index", "question", "A", "B", "C", "D", "prediction", "answer", "split"]
    assert len(rows) == 9
    assert rows[0] == [0, "Which animal?", "cat", "dog", "bird", "fish", "A", "A", "dev"]
    assert [r[0] for r in rows if r[0] >= 1_000_000] == [1000000, 2000000, 3000000, 1000001, 1000002,
                                                          2000002]
    row_1 = next(r for r in rows if r[0] == 1)
    assert row_1 == [1, "Is it day?", "yes", "no", None, None, "B", "B", "dev"]   # raw answer text
    assert next(r for r in rows if r[0] == 2)[6] == "Answer:C"


def test_submission_for_the_test_split_and_round_answers(tmp_path, capsys):
    tsv = write_tsv(tmp_path, with_copies=False, with_answer=False, name="mmbench_test_20230712.tsv")
    mmbench.main(["--answers", write_round_answers(tmp_path), "--tsv", tsv,
                  "--submission", str(tmp_path / "test.xlsx")])
    summary = last_json_line(capsys.readouterr().out)
    assert "accuracy" not in summary                     # no answers in the test TSV
    header, rows = _sheet(tmp_path / "test.xlsx")
    assert header == ["index", "question", "A", "B", "C", "D", "prediction", "split"]
    assert [r[6] for r in rows] == ["A", "B", "Answer:C"]     # round 0: the TSV's option order


def test_control_characters_removed_and_formula_like_text_kept(tmp_path, capsys):
    tsv = write_tsv(tmp_path, with_copies=False)
    answers = write_answers(tmp_path / "a.jsonl", {0: "A\x07", 1: "B", 2: "=C"})
    mmbench.main(["--answers", answers, "--tsv", tsv, "--submission", str(tmp_path / "s.xlsx")])
    captured = capsys.readouterr()
    assert last_json_line(captured.out)["submission_cleaned_cells"] == 1
    assert "control characters" in captured.err
    rows = [list(r) for r in openpyxl.load_workbook(tmp_path / "s.xlsx", data_only=True).active.iter_rows(
        min_row=2, values_only=True)]
    assert [r[6] for r in rows] == ["A", "B", "=C"]   # "=C" stays text, not an empty formula


def test_missing_openpyxl_is_one_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "openpyxl", None)
    tsv = write_tsv(tmp_path, with_copies=False)
    answers = write_answers(tmp_path / "a.jsonl", {0: "A", 1: "B", 2: "C"})
    with pytest.raises(SystemExit) as exc:
        mmbench.main(["--answers", answers, "--tsv", tsv, "--submission", str(tmp_path / "s.xlsx")])
    assert exc.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: writing the MMBench .xlsx submission needs openpyxl "
        "(a dependency of this project: pip install openpyxl)"]


@pytest.mark.parametrize("line, message", [
    ("7\tq\tnan\tyes\tno\t\tmaybe\tA\tc\timg\ts\tl2\t\tdev", "option C is empty but a later one is not"),
    ("1000005\tq\tnan\tyes\tno\tnan\tnan\tA\tc\timg\ts\tl2\t\tdev",
     "index 1000005 is a circular copy of question 5, which the TSV does not have"),
    ("x1\tq\tnan\tyes\tno\tnan\tnan\tA\tc\timg\ts\tl2\t\tdev", "index 'x1' is not a whole number"),
])
def test_malformed_tsv_rows_are_named(tmp_path, capsys, line, message):
    path = tmp_path / "bad.tsv"
    path.write_text("\t".join(HEADER) + "\n" + line + "\n")
    answers = write_answers(tmp_path / "a.jsonl", {})
    with pytest.raises(SystemExit) as exc:
        mmbench.main(["--answers", answers, "--tsv", str(path), "--allow-missing"])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_duplicate_answer_is_named(tmp_path, capsys):
    tsv = write_tsv(tmp_path, with_copies=False)
    path = tmp_path / "a.jsonl"
    path.write_text('{"question_id": 0, "text": "A"}\n{"question_id": 0, "text": "B"}\n')
    with pytest.raises(SystemExit):
        mmbench.main(["--answers", str(path), "--tsv", tsv])
    assert f"{path}:2: duplicate answer for question_id 0 round 0" in capsys.readouterr().err


def test_entry_point_prints_one_error_line(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "-m", "eval.mmbench", "--answers", str(tmp_path / "a.jsonl"),
                           "--tsv", str(tmp_path / "none.tsv")], capture_output=True, text=True, cwd=root,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: {tmp_path / 'none.tsv'}: file not found"]


def test_tsv_that_is_not_utf8_is_named(tmp_path, capsys):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("index\tquestion\tA\tB\n0\tcaf\xe9?\tyes\tno\n".encode("latin-1"))
    answers = write_answers(tmp_path / "a.jsonl", {0: "A"})
    with pytest.raises(SystemExit) as exc:
        mmbench.main(["--answers", answers, "--tsv", str(path)])
    assert exc.value.code == 2
    assert f"error: {path}: not a readable UTF-8 TSV" in capsys.readouterr().err
