"""The answers file of model_vqa: cut by a kill at any byte (a multi-byte character included) it resumes
with the torn question redone; a corrupt line before the end stops with its line number."""
import json

import pytest

from llava.eval.answers_file import AnswersFileError, answered_ids

from .eval_fixtures import run_vqa

RECORDS = [{"question_id": 1, "text": "café"}, {"question_id": "b", "text": "ja, größer"},
           {"question_id": 3, "text": "猫が二匹"}]


def lines_of(records):
    return [(json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8") for r in records]


def test_answers_file_cut_at_every_byte_of_its_last_line(tmp_path):
    complete = b"".join(lines_of(RECORDS[:2]))
    last = lines_of(RECORDS)[2]
    assert len(last) > len(json.dumps(RECORDS[2], ensure_ascii=False)) + 1  # multi-byte: cuts land inside characters
    path = tmp_path / "answers.jsonl"
    for cut in range(1, len(last) - 1):  # every byte except the closing brace and the newline
        path.write_bytes(complete + last[:cut])
        assert answered_ids(path) == {"1", "b"}, cut
        assert path.read_bytes() == complete, cut  # the torn line is gone: its question is generated again
    path.write_bytes(complete + last[:-1])  # only the newline is missing: the record is whole
    assert answered_ids(path) == {"1", "b", "3"}
    assert path.read_bytes() == complete + last


def test_a_torn_character_before_the_end_is_corruption_with_its_line(tmp_path):
    first, second, third = lines_of(RECORDS)
    path = tmp_path / "answers.jsonl"
    cut = second.index("ö".encode()) + 1  # between the two bytes of ö
    path.write_bytes(first + second[:cut] + b"\n" + third)
    with pytest.raises(AnswersFileError, match=r"answers\.jsonl:2: corrupt line"):
        answered_ids(path)
    assert path.read_bytes() == first + second[:cut] + b"\n" + third  # nothing repaired behind the user's back


def test_model_vqa_resumes_an_answers_file_cut_inside_a_character(setup, tmp_path, caplog):
    full = tmp_path / "full.jsonl"
    assert run_vqa(setup, full) == 5
    lines = full.read_bytes().splitlines(keepends=True)
    third = json.loads(lines[2])
    third["text"] = "größer " + third["text"]  # a non-ASCII answer, killed half-way through its "ö"
    torn = json.dumps(third, ensure_ascii=False).encode()
    resumed = tmp_path / "resumed.jsonl"
    resumed.write_bytes(b"".join(lines[:2]) + torn[:torn.index("ö".encode()) + 1])
    with caplog.at_level("WARNING"):
        assert run_vqa(setup, resumed) == 3
    assert "half-written last line" in caplog.text
    assert resumed.read_bytes() == full.read_bytes()
