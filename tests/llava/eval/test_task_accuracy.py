"""Per-task accuracy of the synthetic held-out questions (llava.eval.task_accuracy), hand-checked."""
import json

import pytest

from eval.errors import EvalInputError
from llava.data.synthetic.tasks import TASKS
from llava.eval.task_accuracy import load_chance, main, per_task_accuracy

GT = [
    (0, "red", "colour"), (1, "blue", "colour"), (2, "green", "colour"), (3, "red", "colour"),
    (4, "2", "count"), (5, "3", "count"),
    (6, "left", "position"),
]
# colour 3/4 (case, trailing period and article are forgiven; "purple" is wrong), count 1/2, position 0/1
PREDICTIONS = {0: "Red.", 1: "the blue", 2: "purple", 3: "red", 4: "two", 5: "1", 6: "on the left"}


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def files(tmp_path):
    (tmp_path / "test").mkdir()
    gt = write_jsonl(tmp_path / "test" / "answers.jsonl",
                     [{"question_id": q, "answer": a, "category": c} for q, a, c in GT])
    answers = write_jsonl(tmp_path / "answers.jsonl",
                          [{"question_id": q, "prompt": "?", "text": t} for q, t in PREDICTIONS.items()])
    info = tmp_path / "dataset_info.json"
    info.write_text(json.dumps({"chance": {"colour": 0.25, "count": 1 / 3, "position": 0.5}}))
    return {"gt": gt, "answers": answers, "info": info, "root": tmp_path}


def test_per_task_accuracy_with_chance(files):
    per_task = per_task_accuracy(files["answers"], files["gt"], files["info"])
    assert per_task == {
        "colour": {"accuracy": 75.0, "chance": 25.0, "correct": 3, "total": 4},
        "count": {"accuracy": 50.0, "chance": 33.33, "correct": 1, "total": 2},
        "position": {"accuracy": 0.0, "chance": 50.0, "correct": 0, "total": 1},
    }


def test_cli_prints_a_table_then_the_json_summary(files, capsys):
    main(["--answers", str(files["answers"]), "--gt", str(files["gt"])])  # info found beside test/
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["overall"] == round(100 * 4 / 7, 2)
    assert summary["mean_over_tasks"] == round((75 + 50 + 0) / 3, 2)
    assert summary["mean_chance"] == round((25 + 33.33 + 50) / 3, 2)
    assert summary["num_missing"] == 0
    table = "\n".join(lines[:-1])
    assert "colour" in table and "75.00" in table and "25.00" in table and "3/4" in table


def test_chance_falls_back_to_the_generator_tasks(tmp_path):
    chance = load_chance(None, tmp_path / "nowhere" / "answers.jsonl")
    assert chance == {name: spec.chance for name, spec in TASKS.items()}


def test_missing_answers_error_or_count_as_wrong(files, capsys):
    write_jsonl(files["answers"], [{"question_id": 0, "text": "red"}])
    with pytest.raises(EvalInputError, match="6 question\\(s\\) have no answer"):
        per_task_accuracy(files["answers"], files["gt"], files["info"])
    with pytest.raises(SystemExit) as exit_info:
        main(["--answers", str(files["answers"]), "--gt", str(files["gt"])])
    assert exit_info.value.code == 2
    assert "answers.jsonl" in capsys.readouterr().err
    per_task = per_task_accuracy(files["answers"], files["gt"], files["info"], allow_missing=True)
    assert per_task["colour"]["correct"] == 1 and per_task["colour"]["total"] == 4
    main(["--answers", str(files["answers"]), "--gt", str(files["gt"]), "--allow-missing"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["num_missing"] == 6


def test_bad_ground_truth_names_the_line(files):
    write_jsonl(files["gt"], [{"question_id": 0, "answer": "red", "category": "colour"}, {"question_id": 1}])
    with pytest.raises(EvalInputError, match=r"answers\.jsonl:2: missing field\(s\) answer, category"):
        per_task_accuracy(files["answers"], files["gt"], files["info"])
