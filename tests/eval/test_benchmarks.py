"""MMBench on a tiny fabricated set with a hand-computed result; every scorer's --help.

GQA, POPE, ScienceQA and MME: tests/eval/test_official_benchmarks.py."""
import pytest
from tests.eval.file_fixtures import last_json_line, write_answers

from eval import gqa, mmbench, mme, pope, scienceqa


def _mmbench_tsv(tmp_path):
    header = "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\n"
    rows = ["0\tWhich animal?\t\tcat\tdog\tbird\tfish\tA\tanimals\n",
            "1\tWhich colour?\t\tred\tgreen\tblue\tpink\tB\tcolours\n",
            "2\tWhich animal?\t\tcat\tdog\tbird\ttiger\tC\tanimals\n",
            "3\tIs it day?\t\tyes\tno\tnan\t\tB\tscenes\n"]
    path = tmp_path / "mmbench_dev.tsv"
    path.write_text(header + "".join(rows))
    return str(path)


def test_mmbench_accuracy_and_sheet(tmp_path, capsys):
    tsv = _mmbench_tsv(tmp_path)
    answers = write_answers(tmp_path / "a.jsonl", {
        0: "A", 1: "The answer is B.", 2: "(D) tiger", 3: "C"})  # right right wrong unreadable
    mmbench.main(["--answers", answers, "--tsv", tsv, "--submission", str(tmp_path / "sub.xlsx")])
    summary = last_json_line(capsys.readouterr().out)
    assert summary["accuracy"] == 50.0
    assert summary["per_category"] == {"animals": 50.0, "colours": 100.0, "scenes": 0.0}
    assert summary["unparsed_ids"] == ["3"]
    sheet = tmp_path / f"sub.{summary['submission_format']}"
    assert summary["submission"] == str(sheet) and sheet.exists()
    assert summary["submission_format"] == "xlsx"  # openpyxl is a dependency: no .tsv fallback


def test_mmbench_letter_answer_outside_options_is_rejected(tmp_path, capsys):
    path = tmp_path / "bad.tsv"
    path.write_text("index\tquestion\tA\tB\tanswer\n0\tq\tyes\tno\tC\n")
    answers = write_answers(tmp_path / "a.jsonl", {0: "A"})
    with pytest.raises(SystemExit):
        mmbench.main(["--answers", answers, "--tsv", str(path)])
    assert f"{path}:2: answer 'C' is not one of the options" in capsys.readouterr().err


@pytest.mark.parametrize("module", [gqa, mmbench, mme, pope, scienceqa])
def test_help_explains(module, capsys):
    with pytest.raises(SystemExit) as exc:
        module.main(["--help"])
    assert exc.value.code == 0
    assert "--answers" in capsys.readouterr().out
