"""The MM-Vet grader against a scripted OpenAI-compatible server on 127.0.0.1.

The grader reads its prompt from a made-up evaluator file in the official file's structure
(mmvet_fixtures.FAKE_EVALUATOR), as a user passes MM-Vet's own mm-vet_evaluator.py.
"""
import json
import time

import pytest
from openai import OpenAI
from tests.eval.file_fixtures import last_json_line
from tests.eval.mmvet.openai_server_fixtures import CUT_OFF, Delay, ScriptedChatServer, Status, item_row, user_message
from tests.eval.mmvet.mmvet_fixtures import (EXPECTED_TABLE, FAKE_PROMPT, FAKE_RETRY_SUFFIX, JUDGE_REPLIES,
                                       RESULTS, write_evaluator, write_set)

from eval.errors import JudgeError
from eval.mmvet.judge import ChatJudge
from eval.mmvet.protocol import read_official
from eval.mmvet.retry import BackoffPolicy

FAST = ["--backoff-initial", "0.01", "--timeout", "5"]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("MMVET_EVALUATOR", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture
def evaluator(tmp_path):
    return write_evaluator(tmp_path)


@pytest.fixture
def grade_main(evaluator):
    def run(args):
        from eval.mmvet import grade
        return grade.main(args + FAST + ["--official-evaluator", str(evaluator)])
    return run


def reply_by_prediction(index, body):
    prediction = item_row(body, FAKE_PROMPT).split(" | ")[2]
    return JUDGE_REPLIES[prediction]


def make_judge(server, evaluator, timeout=5.0, max_retries=3, sleeps=None):
    client = OpenAI(base_url=server.url, api_key="test", timeout=timeout, max_retries=0)
    policy = BackoffPolicy(max_retries=max_retries, initial_delay=0.01)
    return ChatJudge(client, "judge-x", policy, read_official(evaluator),
                     sleep=sleeps.append if sleeps is not None else time.sleep)


def test_scripted_scores_give_capability_table(tmp_path, capsys, grade_main):
    gt, res = write_set(tmp_path)
    out = tmp_path / "out"
    with ScriptedChatServer(reply_by_prediction) as server:
        grade_main(["--gt", gt, "--results", res, "--out-dir", str(out), "--base-url", server.url])
    summary = last_json_line(capsys.readouterr().out)
    assert summary["judge"] == "gpt-4-0613"
    assert summary["totals"] == [57.5] and summary["total_std"] == 0.0
    assert summary["capabilities"] == {k: v for k, v in EXPECTED_TABLE.items() if k != "total"}
    assert summary["graded"] == 4 and summary["cached"] == 0 and summary["network_retries"] == 0
    assert len(server.calls) == 4
    for body, (qid, prediction) in zip(server.calls, RESULTS.items()):
        assert body["model"] == "gpt-4-0613"
        assert body["temperature"] == 0 and body["max_tokens"] == 3
        assert len(body["messages"]) == 1 and body["messages"][0]["role"] == "user"
    # The item row exactly as MM-Vet writes it: <AND>/<OR> padded with spaces, empty last cell.
    assert [item_row(c, FAKE_PROMPT) for c in server.calls] == [
        "What animal is this? | cat | It is a cat. | ",
        "What is the sum of the two numbers? | 12 | 12 | ",
        "What does the sign say? | stop  <OR>  stop sign | A stop sign. | ",
        "Which fruits are on the table? | banana  <AND>  orange | A banana. | "]
    tables = json.loads((out / "capability_scores.json").read_text())
    assert tables["per_run"] == [EXPECTED_TABLE]
    assert tables["capability_integration"]["rec_know_gen"] == {"count": 1, "score": 80.0}
    assert "| run 0 | 90.0 | 25.0 | 50.0 | 80.0 | 80.0 | 57.5 |" in (out / "capability_scores.md").read_text()


def test_unreadable_reply_is_asked_again_with_the_retry_instruction(evaluator):
    script = {0: "Great answer", 1: "I'd say", 2: "0.7"}
    with ScriptedChatServer(lambda i, body: script[i]) as server:
        result = make_judge(server, evaluator).grade("What is it?", "cat", "a cat")
    assert result.score == 0.7 and result.tries == 3 and not result.failed
    # MM-Vet's schedule: the first retry at the same temperature, then 0.5 warmer each time.
    assert [c["temperature"] for c in server.calls] == [0, 0, 0.5]
    row = "What is it? | cat | a cat | "
    assert [user_message(c) for c in server.calls] == [
        FAKE_PROMPT + "\n" + row] + [FAKE_PROMPT + "\n" + row + FAKE_RETRY_SUFFIX] * 2


def test_five_unreadable_retries_score_zero_and_are_counted(tmp_path, capsys, grade_main):
    gt, res = write_set(tmp_path)
    # The 6th reply ("1.0") arrives but is never read: after 5 retries the item scores 0.0.
    script = ["perfect", "x", "y", "z", "w", "1.0"]
    with ScriptedChatServer(lambda i, body: script[i] if i < 6 else reply_by_prediction(i, body)) as server:
        grade_main(["--gt", gt, "--results", res, "--out-dir", str(tmp_path / "o"),
                    "--base-url", server.url])
    assert [c["temperature"] for c in server.calls[:6]] == [0, 0, 0.5, 1.0, 1.5, 2.0]
    assert len(server.calls) == 6 + 3
    summary = last_json_line(capsys.readouterr().out)
    assert summary["format_failures"] == 1
    assert summary["totals"] == [32.5]   # v1_0 scored 0.0 instead of 1.0: (0 + .5 + 0 + .8) / 4


def test_http_errors_and_timeout_back_off_then_succeed(evaluator):
    script = {0: Status(500), 1: Status(429), 2: Delay(1.0, "0.1"), 3: "0.9"}
    sleeps = []
    with ScriptedChatServer(lambda i, body: script[i]) as server:
        result = make_judge(server, evaluator, timeout=0.2, max_retries=5, sleeps=sleeps).grade("q", "a", "b")
    assert result.score == 0.9 and result.network_retries == 3
    assert len(server.calls) == 4
    assert sleeps == pytest.approx([0.01, 0.02, 0.04])   # exponential backoff


def test_cut_off_json_body_is_retried_like_a_network_error(evaluator):
    sleeps = []
    script = {0: CUT_OFF, 1: "0.6"}
    with ScriptedChatServer(lambda i, body: script[i]) as server:
        result = make_judge(server, evaluator, sleeps=sleeps).grade("q", "a", "b")
    assert result.score == 0.6 and result.network_retries == 1 and result.tries == 1
    assert len(server.calls) == 2 and sleeps == pytest.approx([0.01])


def test_judge_sending_cut_off_bodies_stops_with_grades_saved(tmp_path, capsys, grade_main):
    gt, res = write_set(tmp_path)
    out = tmp_path / "out"
    with ScriptedChatServer(lambda i, body: reply_by_prediction(i, body) if i < 2 else CUT_OFF) as server:
        with pytest.raises(SystemExit) as exc:
            grade_main(["--gt", gt, "--results", res, "--out-dir", str(out), "--base-url", server.url,
                        "--max-retries", "2"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    [error] = [line for line in err.splitlines() if line.startswith("error:")]
    assert "after 2 retries: reply body is not valid JSON" in error
    assert "2 grade(s) are saved" in err and "Traceback" not in err
    assert len(server.calls) == 2 + 3
    assert len((out / "grade_cache.jsonl").read_text().splitlines()) == 2


def test_backoff_gives_up_after_max_retries(evaluator):
    sleeps = []
    with ScriptedChatServer(lambda i, body: Status(503)) as server:
        with pytest.raises(JudgeError, match="after 2 retries"):
            make_judge(server, evaluator, max_retries=2, sleeps=sleeps).grade("q", "a", "b")
    assert len(server.calls) == 3 and len(sleeps) == 2


def test_refused_request_is_not_retried(evaluator):
    with ScriptedChatServer(lambda i, body: Status(401)) as server:
        with pytest.raises(JudgeError, match="refused"):
            make_judge(server, evaluator).grade("q", "a", "b")
    assert len(server.calls) == 1


def test_killed_run_resumes_without_regrading(tmp_path, capsys, grade_main):
    gt, res = write_set(tmp_path)
    out = tmp_path / "out"
    args = ["--gt", gt, "--results", res, "--out-dir", str(out)]
    # First endpoint dies after two grades: every later request fails for good.
    with ScriptedChatServer(lambda i, body: reply_by_prediction(i, body) if i < 2 else Status(503)) as dying:
        with pytest.raises(SystemExit) as exc:
            grade_main(args + ["--base-url", dying.url, "--max-retries", "1"])
    assert exc.value.code == 1
    assert "rerun the same command to resume" in capsys.readouterr().err
    cache = out / "grade_cache.jsonl"
    assert [json.loads(line)["id"] for line in cache.read_text().splitlines()] == ["v1_0", "v1_1"]
    with cache.open("a") as f:
        f.write('{"id": "v1_2", "judge": "gpt-4')   # a kill in the middle of a write

    with ScriptedChatServer(reply_by_prediction) as healthy:
        grade_main(args + ["--base-url", healthy.url])
    summary = last_json_line(capsys.readouterr().out)
    assert [item_row(c, FAKE_PROMPT) for c in healthy.calls] == [
        "What does the sign say? | stop  <OR>  stop sign | A stop sign. | ",
        "Which fruits are on the table? | banana  <AND>  orange | A banana. | "]
    assert summary["graded"] == 2 and summary["cached"] == 2 and summary["totals"] == [57.5]

    with ScriptedChatServer(reply_by_prediction) as third:
        grade_main(args + ["--base-url", third.url])
    assert third.calls == []
    assert last_json_line(capsys.readouterr().out)["cached"] == 4


def test_cache_torn_inside_a_multibyte_character_is_regraded_on_every_rerun(tmp_path, capsys, grade_main):
    """Issue 13.2: a non-ASCII grade cut inside a UTF-8 character is a torn line, not a crash."""
    results = {**RESULTS, "v1_2": "Ein Stoppschild – „STOP“."}
    gt, res = write_set(tmp_path, results=results)
    out = tmp_path / "out"
    args = ["--gt", gt, "--results", res, "--out-dir", str(out)]
    replies = {**JUDGE_REPLIES, results["v1_2"]: "0.0 – non"}   # a judge reply with non-ASCII text
    with ScriptedChatServer(lambda i, body: replies[item_row(body, FAKE_PROMPT).split(" | ")[2]]) as server:
        grade_main(args + ["--base-url", server.url])
    cache = out / "grade_cache.jsonl"
    lines = cache.read_bytes().splitlines(keepends=True)
    assert b"\xe2\x80\x93" in lines[2]                       # the en dash, 3 bytes in UTF-8
    cut = lines[2].index(b"\xe2\x80\x93") + 1                 # keep only its first byte
    cache.write_bytes(b"".join(lines[:2]) + lines[2][:cut])
    capsys.readouterr()

    for rerun in range(2):
        with ScriptedChatServer(lambda i, body: replies[item_row(body, FAKE_PROMPT).split(" | ")[2]]) as server:
            grade_main(args + ["--base-url", server.url])
        captured = capsys.readouterr()
        summary = last_json_line(captured.out)
        if rerun == 0:   # the torn line is dropped with a warning and its item graded again
            assert "grade_cache.jsonl:3: dropping a half-written last line" in captured.err
            assert len(server.calls) == 2 and summary["graded"] == 2 and summary["cached"] == 2
        else:            # and the file is whole again afterwards
            assert "dropping" not in captured.err
            assert server.calls == [] and summary["cached"] == 4
        assert summary["totals"] == [57.5]


def test_changed_prediction_is_regraded(tmp_path, capsys, grade_main):
    gt, res = write_set(tmp_path)
    args = ["--gt", gt, "--out-dir", str(tmp_path / "out")]
    with ScriptedChatServer(reply_by_prediction) as server:
        grade_main(args + ["--results", res, "--base-url", server.url])
        _, changed = write_set(tmp_path, results={**RESULTS, "v1_0": "12"})
        grade_main(args + ["--results", changed, "--base-url", server.url])
    assert len(server.calls) == 5
    assert last_json_line(capsys.readouterr().out)["totals"] == [45.0]  # v1_0 now 0.5


def test_num_runs_cache_separately_and_report_mean_std(tmp_path, capsys, grade_main):
    gt, res = write_set(tmp_path)
    args = ["--gt", gt, "--results", res, "--out-dir", str(tmp_path / "out")]
    # Run 0 is all right, run 1 all wrong, run 2 all right.
    with ScriptedChatServer(lambda i, body: "1.0" if i < 4 or i >= 8 else "0.0") as server:
        grade_main(args + ["--base-url", server.url, "--num-runs", "2"])
        first = last_json_line(capsys.readouterr().out)
        grade_main(args + ["--base-url", server.url, "--num-runs", "3"])
        second = last_json_line(capsys.readouterr().out)
    assert first["totals"] == [100.0, 0.0]
    assert first["total_mean"] == 50.0 and first["total_std"] == 50.0
    assert len(server.calls) == 12           # the third run only adds 4 calls
    assert second["cached"] == 8 and second["graded"] == 4
    assert second["totals"] == [100.0, 0.0, 100.0]
    # mean 66.666.. and population std 47.140.. rounded to MM-Vet's one decimal
    assert second["total_mean"] == 66.7 and second["total_std"] == 47.1


def test_missing_answers_reported_before_any_call(tmp_path, capsys, grade_main):
    partial = {k: v for k, v in RESULTS.items() if k != "v1_3"}
    gt, res = write_set(tmp_path, results=partial)
    args = ["--gt", gt, "--results", res, "--out-dir", str(tmp_path / "out")]
    with ScriptedChatServer(reply_by_prediction) as server:
        with pytest.raises(SystemExit) as exc:
            grade_main(args + ["--base-url", server.url])
        assert exc.value.code == 2
        assert "have no answer: v1_3" in capsys.readouterr().err
        assert server.calls == []

        grade_main(args + ["--base-url", server.url, "--allow-missing"])
    captured = capsys.readouterr()
    assert "warning: 1 question(s) have no answer and score 0: v1_3" in captured.err
    assert len(server.calls) == 3
    assert last_json_line(captured.out)["totals"] == [37.5]   # (1 + .5 + 0 + 0) / 4


def test_api_key_alone_selects_the_chat_judge(tmp_path, monkeypatch, capsys, grade_main):
    gt, res = write_set(tmp_path)
    with ScriptedChatServer(reply_by_prediction) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        grade_main(["--gt", gt, "--results", res, "--out-dir", str(tmp_path / "o"),
                    "--judge-model", "local-judge"])
    assert {c["model"] for c in server.calls} == {"local-judge"}
    assert last_json_line(capsys.readouterr().out)["judge"] == "local-judge"
