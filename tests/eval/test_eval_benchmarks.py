"""Each scorer on a tiny fabricated set with a hand-computed result."""
import json

import pytest
from tests.eval.eval_test_files import last_json_line, write_answers, write_json

from eval import gqa, mmbench, mme, pope, scienceqa


def test_gqa_exact_match_after_normalisation(tmp_path, capsys):
    questions = write_json(tmp_path / "q.json", {
        "g1": {"answer": "yes", "types": {"structural": "verify"}},
        "g2": {"answer": "left", "types": {"structural": "query"}},
        "g3": {"answer": "cat", "types": {"structural": "query"}},
        "g4": {"answer": "2", "types": {"structural": "query"}},
    })
    answers = write_answers(tmp_path / "a.jsonl",
                            {"g1": "Yes.", "g2": "The left", "g3": "dog", "g4": "two"})
    gqa.main(["--answers", answers, "--questions", questions])
    summary = last_json_line(capsys.readouterr().out)
    assert summary["accuracy"] == 75.0
    assert summary["per_structural_type"] == {"query": 66.67, "verify": 100.0}


def test_pope_metrics_per_split(tmp_path, capsys):
    rand = tmp_path / "coco_pope_random.json"
    rand.write_text("".join(f'{{"question_id": {q}, "label": "{l}"}}\n'
                            for q, l in [(1, "yes"), (2, "yes"), (3, "no"), (4, "no")]))
    pop = tmp_path / "coco_pope_popular.json"
    pop.write_text("".join(f'{{"question_id": {q}, "label": "{l}"}}\n'
                           for q, l in [(5, "yes"), (6, "no"), (7, "yes")]))
    answers = write_answers(tmp_path / "a.jsonl", {
        1: "Yes, there is.", 2: "No.", 3: "There is no cat.", 4: "yes",   # TP FN TN FP
        5: "Yes", 6: "No", 7: "Maybe.",                                   # TP TN unparsed
    })
    pope.main(["--answers", answers, "--labels", str(rand), str(pop)])
    summary = last_json_line(capsys.readouterr().out)
    assert summary["splits"]["random"] == {
        "accuracy": 50.0, "precision": 50.0, "recall": 50.0, "f1": 50.0, "yes_ratio": 50.0,
        "num_questions": 4, "num_unparsed": 0}
    assert summary["splits"]["popular"] == {
        "accuracy": 66.67, "precision": 100.0, "recall": 50.0, "f1": 66.67, "yes_ratio": 33.33,
        "num_questions": 3, "num_unparsed": 1}
    assert summary["mean_f1"] == pytest.approx(58.34, abs=0.01)


def test_pope_rejects_bad_label(tmp_path, capsys):
    labels = tmp_path / "coco_pope_random.json"
    labels.write_text('{"question_id": 1, "label": "yes"}\n{"question_id": 2, "label": "maybe"}\n')
    answers = write_answers(tmp_path / "a.jsonl", {1: "yes", 2: "no"})
    with pytest.raises(SystemExit):
        pope.main(["--answers", answers, "--labels", str(labels)])
    assert f"{labels}:2: label 'maybe' is not yes/no" in capsys.readouterr().err


def _scienceqa_files(tmp_path):
    problems = write_json(tmp_path / "problems.json", {
        "p1": {"question": "?", "choices": ["cat", "dog"], "answer": 1, "image": "i.png",
               "subject": "natural science"},
        "p2": {"question": "?", "choices": ["red", "green", "blue"], "answer": 0, "image": "i.png",
               "subject": "natural science"},
        "p3": {"question": "?", "choices": ["x", "y", "z"], "answer": 2, "image": "i.png",
               "subject": "language science"},
        "p4": {"question": "?", "choices": ["yes", "no"], "answer": 0, "image": None,
               "subject": "social science"},
        "p5": {"question": "?", "choices": ["yes", "no"], "answer": 0, "image": None},
    })
    splits = write_json(tmp_path / "pid_splits.json", {"test": ["p1", "p2", "p3", "p4"], "val": ["p5"]})
    answers = write_answers(tmp_path / "a.jsonl", {
        "p1": "The answer is B.", "p2": "(A) red", "p3": "I am not sure.", "p4": "A"})
    return ["--answers", answers, "--problems", problems, "--pid-splits", splits]


def test_scienceqa_img_subset(tmp_path, capsys):
    scienceqa.main(_scienceqa_files(tmp_path))
    summary = last_json_line(capsys.readouterr().out)
    assert summary["accuracy"] == 66.67       # p1, p2 right; p3 unreadable
    assert summary["num_questions"] == 3
    assert summary["num_unparsed"] == 1 and summary["unparsed_ids"] == ["p3"]
    assert summary["per_subject"] == {"language science": 0.0, "natural science": 100.0}


def test_scienceqa_all_problems(tmp_path, capsys):
    scienceqa.main(_scienceqa_files(tmp_path) + ["--subset", "all"])
    assert last_json_line(capsys.readouterr().out)["accuracy"] == 75.0


def _mme_files(tmp_path):
    gt = tmp_path / "gt"
    gt.mkdir()
    (gt / "existence.txt").write_text(
        "1.jpg\tIs there a dog? Please answer yes or no.\tYes\n"
        "1.jpg\tIs there a cat? Please answer yes or no.\tNo\n"
        "2.jpg\tIs there a car? Please answer yes or no.\tYes\n"
        "2.jpg\tIs there a bus? Please answer yes or no.\tNo\n")
    (gt / "code_reasoning.txt").write_text(
        "c.png\tWill the code print 3? Please answer yes or no.\tYes\n"
        "c.png\tWill the code print 4? Please answer yes or no.\tNo\n")
    suffix = "\nAnswer the question using a single word or phrase."
    rows = [("existence/1.jpg", "Is there a dog? Please answer yes or no.", "Yes"),
            ("existence/1.jpg", "Is there a cat? Please answer yes or no.", "No"),
            ("existence/2.jpg", "Is there a car? Please answer yes or no.", "No"),
            ("existence/2.jpg", "Is there a bus? Please answer yes or no.", "No"),
            ("code_reasoning/c.png", "Will the code print 3? Please answer yes or no.", "Yes"),
            ("code_reasoning/c.png", "Will the code print 4? Please answer yes or no.", "Yes")]
    answers = tmp_path / "a.jsonl"
    answers.write_text("".join(json.dumps({"question_id": q, "prompt": p + suffix, "text": t}) + "\n"
                               for q, p, t in rows))
    return gt, answers


def test_mme_scores(tmp_path, capsys):
    gt, answers = _mme_files(tmp_path)
    mme.main(["--answers", str(answers), "--gt-dir", str(gt)])
    summary = last_json_line(capsys.readouterr().out)
    assert summary["subtasks"]["existence"] == {"acc": 75.0, "acc_plus": 50.0, "score": 125.0,
                                                "num_images": 2}
    assert summary["subtasks"]["code_reasoning"] == {"acc": 50.0, "acc_plus": 0.0, "score": 50.0,
                                                     "num_images": 1}
    assert summary["perception"] == 125.0
    assert summary["cognition"] == 50.0


def test_mme_missing_answer_listed(tmp_path, capsys):
    gt, answers = _mme_files(tmp_path)
    answers.write_text("".join(answers.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(SystemExit):
        mme.main(["--answers", str(answers), "--gt-dir", str(gt)])
    assert "code_reasoning/c.png q2" in capsys.readouterr().err


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
    if summary["submission_format"] == "tsv":
        lines = sheet.read_text().splitlines()
        assert lines[0].split("\t")[-1] == "prediction"
        assert [line.split("\t")[-1] for line in lines[1:]] == ["A", "B", "D", "C"]


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
