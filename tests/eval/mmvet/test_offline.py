import json

import pytest
from tests.eval.file_fixtures import last_json_line, write_answers
from tests.eval.mmvet.mmvet_fixtures import write_set

from eval.mmvet import convert, grade
from eval.mmvet.offline import rule_based_score


@pytest.mark.parametrize("truth, prediction, expected", [
    ("cat", "Cat.", 1.0),                              # exact after normalisation
    ("cat", "It is a cat sitting on a sofa", 1.0),     # contained as a word
    ("cat", "category", 0.0),                          # not a whole word
    ("two", "2", 1.0),
    ("12", "112", 0.0),
    ("banana <AND> orange", "a banana and an orange", 1.0),
    ("banana <AND> orange <AND> apple", "a banana and an orange", 0.7),   # 2 of 3, 0.1 grid
    ("banana <AND> orange", "a banana", 0.5),
    ("cat <OR> kitten", "a small kitten", 1.0),
    ("cat <OR> kitten", "a dog", 0.0),
    ("red <OR> crimson <AND> round", "a crimson round ball", 1.0),
    ("cat", "", 0.0),
])
def test_rule_based_score(truth, prediction, expected):
    assert rule_based_score(truth, prediction) == expected


@pytest.fixture
def no_endpoint(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_grader_without_endpoint_uses_offline_judge(tmp_path, capsys, no_endpoint):
    gt, res = write_set(tmp_path)
    out = tmp_path / "out"
    grade.main(["--gt", gt, "--results", res, "--out-dir", str(out)])
    captured = capsys.readouterr()
    assert "no judge endpoint configured" in captured.err.lower()
    summary = last_json_line(captured.out)
    assert summary["judge"] == "offline-rule-based"
    assert summary["comparable_with_published"] is False
    assert summary["prompt"] == {"source": "offline-rule-based", "comparable_with_published": False}
    # cat 1.0, 12 1.0, stop sign 1.0, banana only 0.5
    assert summary["totals"] == [87.5]
    assert summary["capabilities"] == {"rec": 75.0, "ocr": 100.0, "know": 50.0, "gen": 50.0,
                                       "math": 100.0}
    tables = json.loads((out / "capability_scores.json").read_text())
    assert tables["judge"] == "offline-rule-based"
    assert tables["capability_integration"]["ocr_math"] == {"count": 1, "score": 100.0}
    assert json.loads((out / "per_question.json").read_text())["v1_3"]["scores"] == [0.5]
    assert "judge: offline-rule-based" in (out / "capability_scores.md").read_text()


def test_convert_answers_to_results(tmp_path, capsys):
    answers = write_answers(tmp_path / "a.jsonl", {0: "a cat", 7: "twelve", "v1_9": "red"})
    out = tmp_path / "results.json"
    convert.main(["--answers", answers, "--out", str(out)])
    assert json.loads(out.read_text()) == {"v1_0": "a cat", "v1_7": "twelve", "v1_9": "red"}
    assert last_json_line(capsys.readouterr().out)["num_answers"] == 3


def test_convert_rejects_clashing_ids(tmp_path, capsys):
    answers = write_answers(tmp_path / "a.jsonl", {3: "x", "v1_3": "y"})
    with pytest.raises(SystemExit):
        convert.main(["--answers", answers, "--out", str(tmp_path / "r.json")])
    assert "maps to v1_3" in capsys.readouterr().err
