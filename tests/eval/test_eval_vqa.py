import json

import pytest
from tests.eval.eval_test_files import last_json_line, write_answers, write_json

from eval import textvqa, vqav2
from eval.vqa import vqa_accuracy


@pytest.mark.parametrize("matching, expected", [
    (0, 0.0),
    (1, 0.3),   # 9 subsets hold 1 match -> 1/3 each; the one without it -> 0
    (2, 0.6),   # (2 * 1/3 + 8 * 2/3) / 10
    (3, 0.9),   # (3 * 2/3 + 7 * 1) / 10
    (4, 1.0),
    (10, 1.0),
])
def test_leave_one_out_accuracy(matching, expected):
    humans = ["yes"] * matching + ["no"] * (10 - matching)
    assert vqa_accuracy("yes", humans) == pytest.approx(expected)


def test_accuracy_compares_normalised_answers():
    humans = ["two"] * 3 + ["3"] * 7
    assert vqa_accuracy("2", humans) == pytest.approx(0.9)
    assert vqa_accuracy("The dog.", ["dog"] * 10) == 1.0


def _vqav2_files(tmp_path):
    annotations = {"annotations": [
        {"question_id": 1, "answer_type": "yes/no", "answers": [{"answer": "yes"}] * 10},
        {"question_id": 2, "answer_type": "number",
         "answers": [{"answer": "2"}] * 2 + [{"answer": "3"}] * 8},
        {"question_id": 3, "answer_type": "other",
         "answers": [{"answer": "red"}] + [{"answer": "blue"}] * 9},
    ]}
    questions = {"questions": [{"question_id": q, "image_id": 7, "question": "?"} for q in (1, 2, 3)]}
    return (write_json(tmp_path / "ann.json", annotations),
            write_json(tmp_path / "q.json", questions))


def test_vqav2_accuracy_per_answer_type(tmp_path, capsys):
    ann, questions = _vqav2_files(tmp_path)
    answers = write_answers(tmp_path / "a.jsonl", {1: "Yes.", 2: "two", 3: "red"})
    vqav2.main(["--answers", answers, "--questions", questions, "--annotations", ann])
    summary = last_json_line(capsys.readouterr().out)
    # (1.0 + 0.6 + 0.3) / 3
    assert summary["accuracy"] == 63.33
    assert summary["per_answer_type"] == {"number": 60.0, "other": 30.0, "yes/no": 100.0}
    assert summary["num_questions"] == 3


def test_vqav2_submission_needs_every_answer(tmp_path, capsys):
    _, questions = _vqav2_files(tmp_path)
    answers = write_answers(tmp_path / "a.jsonl", {1: "Yes.", 3: "The Red"})
    out = tmp_path / "sub.json"
    with pytest.raises(SystemExit) as exc:
        vqav2.main(["--answers", answers, "--questions", questions, "--submission", str(out)])
    assert exc.value.code == 2
    assert "1 question(s) have no answer: 2" in capsys.readouterr().err
    assert not out.exists()

    vqav2.main(["--answers", answers, "--questions", questions, "--submission", str(out),
                "--allow-missing"])
    assert json.loads(out.read_text()) == [
        {"question_id": 1, "answer": "yes"},
        {"question_id": 2, "answer": ""},
        {"question_id": 3, "answer": "red"},
    ]
    assert last_json_line(capsys.readouterr().out)["num_missing"] == 1


def test_answer_for_unknown_question_is_an_error(tmp_path, capsys):
    ann, questions = _vqav2_files(tmp_path)
    answers = write_answers(tmp_path / "a.jsonl", {1: "yes", 2: "2", 3: "red", 99: "x"})
    with pytest.raises(SystemExit):
        vqav2.main(["--answers", answers, "--questions", questions, "--annotations", ann])
    assert "not in the ground truth: 99" in capsys.readouterr().err


def test_malformed_answer_line_names_file_and_line(tmp_path, capsys):
    ann, questions = _vqav2_files(tmp_path)
    bad = tmp_path / "a.jsonl"
    bad.write_text('{"question_id": 1, "text": "yes"}\n{"question_id": 2, "text": \n')
    with pytest.raises(SystemExit):
        vqav2.main(["--answers", str(bad), "--questions", questions, "--annotations", ann])
    assert f"{bad}:2: not valid JSON" in capsys.readouterr().err


def test_textvqa_accuracy(tmp_path, capsys):
    ann = write_json(tmp_path / "val.json", {"data": [
        {"question_id": 10, "answers": ["stop"] * 3 + ["stop sign"] * 7},
        {"question_id": 11, "answers": ["coca cola"] * 10},
    ]})
    answers = write_answers(tmp_path / "a.jsonl", {10: "STOP", 11: "coca-cola"})
    textvqa.main(["--answers", answers, "--annotations", ann])
    summary = last_json_line(capsys.readouterr().out)
    assert summary["accuracy"] == 95.0  # (0.9 + 1.0) / 2
    assert summary["num_questions"] == 2
