"""MM-Vet's protocol: prompt read from the evaluator's source, score parsing, score tables."""
import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.eval.file_fixtures import last_json_line, write_json
from tests.eval.mmvet.openai_server_fixtures import ScriptedChatServer, user_message
from tests.eval.mmvet.mmvet_fixtures import (FAKE_EVALUATOR, FAKE_PROMPT, FAKE_RETRY_SUFFIX, write_evaluator,
                                       write_set)

from eval.errors import EvalInputError
from eval.mmvet import grade
from eval.mmvet.data import load_ground_truth
from eval.mmvet.prompt import PROJECT_PROMPT, parse_score
from eval.mmvet.protocol import read_official
from eval.mmvet.report import write_reports
from eval.mmvet.scores import official_tables


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "MMVET_EVALUATOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


def test_prompt_and_retry_instruction_are_read_without_running_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_evaluator(tmp_path)
    protocol = read_official(path)
    assert protocol.prompt == FAKE_PROMPT and protocol.retry_suffix == FAKE_RETRY_SUFFIX
    assert not (tmp_path / "EXECUTED").exists()          # its top-level code never ran
    assert protocol.message("Q?", "a<AND>b<OR>c", "p") == FAKE_PROMPT + "\nQ? | a <AND> b <OR> c | p | "
    assert protocol.retry_message("Q?", "a", "p") == FAKE_PROMPT + "\nQ? | a | p | " + FAKE_RETRY_SUFFIX
    info = protocol.describe()
    assert info["source"] == "official" and info["comparable_with_published"] is True
    assert info["path"] == str(path)
    assert info["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("source, message", [
    ("x = 1\n", "expected one module-level string `prompt`"),
    ("prompt = 'p'\n", "expected one retry instruction"),
    (FAKE_EVALUATOR + "\nprompt = 'again'\n", "found 2"),
    ("def broken(:\n", "not a Python file"),
])
def test_a_file_that_is_not_the_evaluator_is_named(tmp_path, source, message):
    path = write_evaluator(tmp_path, source)
    with pytest.raises(EvalInputError, match=message) as exc:
        read_official(path)
    assert str(path) in str(exc.value)


@pytest.mark.parametrize("reply, expected", [
    ("0.7", 0.7), ("1", 1.0), ("0.8\n", 0.8), ("0.5 points", 0.5), ("0", 0.0),
    ("1.0.", None),       # float("1.0.") fails in the evaluator too
    (" 0.5", None),       # text before the first space is empty
    ("Score: 1", None), ("1.5", None), ("-0.1", None), ("nan", None), ("", None), (None, None),
])
def test_score_parsing_follows_the_evaluator(reply, expected):
    assert parse_score(reply) == expected


def _items(tmp_path):
    gt = {f"v1_{i}": {"question": f"q{i}", "answer": "a", "capability": caps}
          for i, caps in enumerate([["rec"], ["rec", "ocr"], ["ocr"], ["ocr", "math"], ["rec"]])}
    return load_ground_truth(write_json(tmp_path / "mm-vet.json", gt))


def test_official_tables_hand_computed(tmp_path):
    items = _items(tmp_path)
    runs = [dict(zip(items, [1.0, 0.5, 0.0, 0.3, 1.0])), dict(zip(items, [1.0, 0.0, 0.0, 0.7, 0.5]))]
    tables = official_tables(runs, items)
    # run 0: rec 2.5/3, ocr 0.8/3, math 0.3, total 2.8/5; run 1: rec 1.5/3, ocr 0.7/3, math 0.7, total 2.2/5
    assert list(tables["capabilities"]) == ["rec", "ocr", "math"]       # by count, ties by first use
    assert tables["capabilities"] == {"rec": 66.7, "ocr": 25.0, "math": 50.0}
    assert tables["total"] == 50.0 and tables["std"] == 6.0 and tables["runs"] == [56.0, 44.0]
    assert tables["per_run"][0] == {"rec": 83.3, "ocr": 26.7, "math": 30.0, "total": 56.0}
    assert tables["capability_integration"] == {
        "rec": {"count": 2, "score": 87.5}, "rec_ocr": {"count": 1, "score": 25.0},
        "ocr": {"count": 1, "score": 0.0}, "ocr_math": {"count": 1, "score": 50.0}}
    assert list(tables["capability_integration"]) == ["rec", "rec_ocr", "ocr", "ocr_math"]

    write_reports(tmp_path / "out", "j", {"comparable_with_published": True}, "my_model", items,
                  {}, runs, 1)
    with (tmp_path / "out" / "cap_score.csv").open() as f:
        assert list(csv.reader(f)) == [["", "rec", "ocr", "math", "total", "std", "runs"],
                                       ["my_model", "66.7", "25.0", "50.0", "50.0", "6.0", "[56.0, 44.0]"]]
    with (tmp_path / "out" / "cap_int_score.csv").open() as f:
        assert list(csv.reader(f))[1] == ["my_model", "87.5", "25.0", "0.0", "50.0", "50.0", "6.0",
                                          "[56.0, 44.0]"]


def _grade(tmp_path, server, extra=()):
    gt, res = write_set(tmp_path)
    grade.main(["--gt", gt, "--results", res, "--out-dir", str(tmp_path / "out"),
                "--base-url", server.url, "--backoff-initial", "0.01", *extra])


def test_env_var_names_the_evaluator_and_the_summary_records_it(tmp_path, monkeypatch, capsys):
    path = write_evaluator(tmp_path)
    monkeypatch.setenv("MMVET_EVALUATOR", str(path))
    with ScriptedChatServer(lambda i, body: "1.0") as server:
        _grade(tmp_path, server)
    assert all(user_message(c).startswith(FAKE_PROMPT + "\n") for c in server.calls)
    captured = capsys.readouterr()
    summary = last_json_line(captured.out)
    assert summary["comparable_with_published"] is True
    assert summary["prompt"]["path"] == str(path)
    assert summary["prompt"]["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "NOT comparable" not in captured.err
    saved = json.loads((tmp_path / "out" / "capability_scores.json").read_text())
    assert saved["prompt"] == summary["prompt"]


def test_without_the_evaluator_the_project_prompt_is_used_and_flagged(tmp_path, capsys):
    with ScriptedChatServer(lambda i, body: "1.0") as server:
        _grade(tmp_path, server)
    assert all(user_message(c).startswith(PROJECT_PROMPT + "\n") for c in server.calls)
    captured = capsys.readouterr()
    assert "NOT comparable with published MM-Vet numbers" in captured.err
    summary = last_json_line(captured.out)
    assert summary["comparable_with_published"] is False and summary["prompt"]["source"] == "project"
    assert "not comparable" in (tmp_path / "out" / "capability_scores.md").read_text()


def test_grades_under_another_prompt_are_not_reused(tmp_path, capsys):
    path = write_evaluator(tmp_path)
    with ScriptedChatServer(lambda i, body: "1.0") as server:
        _grade(tmp_path, server)
        _grade(tmp_path, server, ["--official-evaluator", str(path)])
        _grade(tmp_path, server, ["--official-evaluator", str(path)])
    assert len(server.calls) == 4 + 4          # the third run is all cached
    assert last_json_line(capsys.readouterr().out)["cached"] == 4


def _cli(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("OPENAI_API_KEY", None)
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=cwd, env=env)


def test_grader_bad_input_is_one_error_line(tmp_path):
    gt, res = write_set(tmp_path)
    root = str(Path(__file__).resolve().parents[3])
    done = _cli("eval.mmvet.grade", "--gt", gt, "--results", res, "--out-dir", str(tmp_path / "o"),
                "--base-url", "http://127.0.0.1:9/v1", "--official-evaluator", str(tmp_path / "nope.py"),
                cwd=root)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: {tmp_path / 'nope.py'}: MM-Vet evaluator not found"]
