import json

import pytest

from eval.errors import EvalInputError
from eval.mmvet.cache import GradeCache, content_hash


def entry(qid, run=0, score=1.0):
    return {"id": qid, "judge": "j", "run": run, "hash": content_hash("p", "g"), "score": score,
            "tries": 1, "failed": False, "reply": str(score)}


def test_grades_survive_reopening_and_are_keyed_by_run(tmp_path):
    path = tmp_path / "cache.jsonl"
    with GradeCache(path) as cache:
        cache.add(entry("v1_0", run=0, score=1.0))
        cache.add(entry("v1_0", run=1, score=0.3))
        assert path.read_text().count("\n") == 2   # on disk before close
    with GradeCache(path) as cache:
        assert len(cache) == 2
        assert cache.get("v1_0", "j", 1, content_hash("p", "g"))["score"] == 0.3
        assert cache.get("v1_0", "j", 0, content_hash("p", "other gt")) is None
        assert cache.get("v1_0", "other-judge", 0, content_hash("p", "g")) is None


def test_half_written_last_line_is_dropped(tmp_path, capsys):
    path = tmp_path / "cache.jsonl"
    path.write_text(json.dumps(entry("v1_0")) + "\n" + '{"id": "v1_1", "jud')
    with GradeCache(path) as cache:
        assert len(cache) == 1
        cache.add(entry("v1_2"))
    assert f"{path}:2: dropping a half-written last line" in capsys.readouterr().err
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["v1_0", "v1_2"]


def test_corrupt_complete_line_is_an_error(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_text(json.dumps(entry("v1_0")) + "\nnot json\n" + json.dumps(entry("v1_1")) + "\n")
    with pytest.raises(EvalInputError, match=r"cache.jsonl:2: corrupt cache line"):
        GradeCache(path)


def test_hash_separates_prediction_from_ground_truth():
    assert content_hash("a b", "c") != content_hash("a", "b c")


def test_last_line_cut_at_any_byte_is_torn_never_a_decode_error(tmp_path, capsys):
    """Issue 13.2: cut anywhere in a non-ASCII line (inside "é" or "–" too), the line is redone."""
    whole = (json.dumps(entry("v1_1", score=0.5) | {"reply": "0.5 – très"}, ensure_ascii=False) + "\n").encode()
    first = (json.dumps(entry("v1_0")) + "\n").encode()
    cuts = range(1, len(whole) - 1)      # every cut that leaves part of the line, newline lost
    assert any(whole[c - 1] >= 0x80 and whole[c] >= 0x80 for c in cuts)   # some fall inside a character
    for cut in cuts:
        path = tmp_path / f"cache_{cut}.jsonl"
        path.write_bytes(first + whole[:cut])
        for reopen in range(2):
            with GradeCache(path) as cache:
                assert len(cache) == 1 and cache.get("v1_1", "j", 0, content_hash("p", "g")) is None
            err = capsys.readouterr().err
            assert ("dropping a half-written last line" in err) == (reopen == 0)
        assert path.read_bytes() == first
