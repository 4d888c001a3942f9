"""eval.jsonl: every reader names the file and line of a bad line; append-only files cut by a kill at any
byte, a multi-byte character included: the torn last line is redone, a corrupt line before the end stops
with its line number."""
import json

import pytest

from eval.jsonl import (
    JsonlAppender,
    JsonlError,
    keep_records,
    parse_jsonl,
    read_append_log,
    read_jsonl,
    repair_append_log,
    write_jsonl,
)
from llava.train.plots import mean_expert_weights, read_expert_stats

RECORDS = [{"question_id": 1, "text": "café"}, {"question_id": "b", "text": "ja, größer"},
           {"question_id": 3, "text": "猫が二匹"}]


def lines_of(records):
    return [(json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8") for r in records]


def test_repair_warns_and_reads_the_remaining_records(tmp_path, caplog):
    path = tmp_path / "log.jsonl"
    body = b"".join(lines_of(RECORDS[:2]))
    path.write_bytes(body + lines_of(RECORDS)[2][:5])
    with caplog.at_level("WARNING"):
        log = repair_append_log(path)
    assert log.records == RECORDS[:2] and log.torn == 5 and log.size == len(body)
    assert "log.jsonl:3: dropping a half-written last line (5 bytes)" in caplog.text
    assert read_append_log(tmp_path / "absent.jsonl").records == []


def expert_record(step, phi):
    return {"step": step, "layers": {"model.language_model.layers.0.mlp.up_proj": phi}}


def test_expert_stats_torn_inside_a_character_and_cut_back_to_a_step(tmp_path):
    path = tmp_path / "expert_stats.jsonl"
    records = [expert_record(s, [0.25 * s, 1 - 0.25 * s]) for s in (1, 2, 3)]
    torn = json.dumps({"step": 4, "note": "ü"}, ensure_ascii=False).encode()
    path.write_bytes(b"".join((json.dumps(r) + "\n").encode() for r in records) + torn[:torn.index(b"\xc3") + 1])
    assert read_expert_stats(path) == records  # the plot never sees the torn line
    assert mean_expert_weights(read_expert_stats(path)) == {
        "model.language_model.layers.0.mlp.up_proj": pytest.approx([0.5, 0.5])}

    assert keep_records(path, lambda r: r["step"] <= 2) == 1  # a resume from step 2
    assert read_expert_stats(path) == records[:2]
    assert path.read_bytes().endswith(b"}\n") and not (tmp_path / "expert_stats.jsonl.tmp").exists()
    assert keep_records(path, lambda r: r["step"] <= 2) == 0

    path.write_text(json.dumps(records[0]) + "\n{\"step\": 2, \"lay\n" + json.dumps(records[2]) + "\n")
    with pytest.raises(JsonlError, match=r"expert_stats\.jsonl:2: corrupt line"):
        read_expert_stats(path)


# --- reading with line numbers ------------------------------------------------------------------

class OwnError(ValueError):
    pass


def test_read_jsonl_skips_blank_lines_and_numbers_the_rest(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_bytes(b"".join(lines_of(RECORDS[:2])) + b"\n  \n" + lines_of(RECORDS)[2])
    assert list(read_jsonl(path)) == [(1, RECORDS[0]), (2, RECORDS[1]), (5, RECORDS[2])]


@pytest.mark.parametrize("content, message", [
    (b'{"a": 1}\n{"a": "caf\xe9"}\n', r"q\.jsonl:2: not UTF-8 text \(byte 10: invalid continuation byte\)"),
    (b'{"a": 1}\n\n{"a": 1,,}\n', r"q\.jsonl:3: not valid JSON \(Expecting property name enclosed in double "
                                 r"quotes, column 9\)"),
    (b'{"a": 1}\n[1, 2]\n', r"q\.jsonl:2: expected a JSON object, got a list"),
])
def test_a_bad_line_is_the_callers_error_naming_file_and_line(tmp_path, content, message):
    path = tmp_path / "q.jsonl"
    path.write_bytes(content)
    with pytest.raises(OwnError, match=message):
        list(read_jsonl(path, OwnError))
    with pytest.raises(JsonlError, match=message):
        list(read_jsonl(path))


def test_a_missing_file_and_values_that_need_not_be_objects(tmp_path):
    with pytest.raises(OwnError, match=r"absent\.jsonl: file not found"):
        list(read_jsonl(tmp_path / "absent.jsonl", OwnError))
    path = tmp_path / "values.jsonl"
    path.write_text('[1, 2]\n"x"\n', encoding="utf-8")
    assert list(read_jsonl(path, objects=False)) == [(1, [1, 2]), (2, "x")]


def test_parse_jsonl_takes_text_lines_and_the_callers_wording():
    lines = ['{"id": "a"}', "", '{"id": "b", oops}']
    wording = dict(not_json="{path}: malformed JSON at line {lineno} column {colno}: {msg}",
                   not_object="{path}: line {lineno} is a {type}, expected an object")
    with pytest.raises(OwnError, match=r"^d\.jsonl: malformed JSON at line 3 column 13: Expecting property name "
                       r"enclosed in double quotes$"):
        list(parse_jsonl(lines, "d.jsonl", OwnError, **wording))
    with pytest.raises(OwnError, match=r"^d\.jsonl: line 2 is a int, expected an object$"):
        list(parse_jsonl(['{"id": "a"}', "7"], "d.jsonl", OwnError, **wording))


# --- writing ------------------------------------------------------------------------------------

def test_write_jsonl_is_utf8_one_line_a_row_and_reads_back(tmp_path):
    path = tmp_path / "new" / "folder" / "rows.jsonl"
    assert write_jsonl(path, iter(RECORDS)) == 3
    assert path.read_bytes() == b"".join(lines_of(RECORDS))
    assert [record for _, record in read_jsonl(path)] == RECORDS
    write_jsonl(path, RECORDS[:1], ensure_ascii=True)
    assert path.read_bytes() == b'{"question_id": 1, "text": "caf\\u00e9"}\n'


def test_appender_writes_whole_batches_after_a_repaired_tear(tmp_path):
    path = tmp_path / "sub" / "answers.jsonl"
    with JsonlAppender(path) as log:
        log.append(RECORDS[:2])
        assert path.read_bytes() == b"".join(lines_of(RECORDS[:2]))  # on disk before close
    path.write_bytes(path.read_bytes() + lines_of(RECORDS)[2][:7])  # killed mid-write
    assert repair_append_log(path).records == RECORDS[:2]
    with JsonlAppender(path) as log:
        log.append(iter(RECORDS[2:]))
    assert read_append_log(path).records == RECORDS and path.read_bytes() == b"".join(lines_of(RECORDS))


# --- append-only logs: the torn tail's line number, the missing newline, the caller's wording --------

def test_the_torn_line_is_numbered_past_blank_lines(tmp_path):
    warnings = []
    path = tmp_path / "log.jsonl"
    path.write_bytes(lines_of(RECORDS)[0] + b"\n\n" + lines_of(RECORDS)[1][:4])
    log = repair_append_log(path, warn=warnings.append)
    assert (log.records, log.torn, log.torn_lineno) == (RECORDS[:1], 4, 4)
    assert warnings == [f"{path}:4: dropping a half-written last line (4 bytes) left by a killed run; "
                        "its record is redone"]
    assert path.read_bytes() == lines_of(RECORDS)[0] + b"\n\n"


def test_a_whole_last_record_without_its_newline_is_kept_and_ended(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"".join(lines_of(RECORDS))[:-1])
    log = repair_append_log(path, warn=pytest.fail)
    assert log.records == RECORDS and log.missing_newline and not log.torn
    assert path.read_bytes() == b"".join(lines_of(RECORDS))


def test_a_corrupt_line_before_the_end_in_the_callers_words(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_bytes(lines_of(RECORDS)[0] + b"not json\n" + lines_of(RECORDS)[1])
    with pytest.raises(OwnError, match=r"^.*cache\.jsonl:2: corrupt cache line$"):
        read_append_log(path, OwnError, corrupt="{path}:{lineno}: corrupt cache line")
    with pytest.raises(JsonlError, match=r"cache\.jsonl:2: corrupt line \(not JSON\) before the end of the file"):
        repair_append_log(path)
