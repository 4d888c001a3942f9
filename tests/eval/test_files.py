"""eval.files: unreadable bytes in an answers or ground-truth file are one error naming the file and line."""
import pytest

from eval.errors import EvalInputError
from eval.files import load_answers, read_json


def test_non_utf8_answers_line_is_named(tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_bytes(b'{"question_id": 1, "text": "ok"}\n{"question_id": 2, "text": "caf\xe9"}\n')
    with pytest.raises(EvalInputError, match=r"answers\.jsonl:2: not UTF-8 text \(byte 31"):
        load_answers(path)


def test_utf8_answers_read_back(tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_text('{"question_id": 1, "text": "caf\u00e9"}\n\n{"question_id": "b", "text": "\u4e24"}\n',
                    encoding="utf-8")
    assert load_answers(path) == {"1": "caf\u00e9", "b": "\u4e24"}


def test_non_utf8_json_is_named(tmp_path):
    path = tmp_path / "truth.json"
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(EvalInputError, match=r"truth\.json: not UTF-8 text \(byte 7"):
        read_json(path)
