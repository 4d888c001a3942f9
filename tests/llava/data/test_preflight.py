"""Pre-flight: one pass over the data gives the policy table; it agrees with what training does."""
import io
import json

import pytest
from PIL import Image

from llava.data.errors import DataPolicyError
from llava.data.preflight import enforce, run_preflight
from llava.data.preprocess import tokenize_conversation

from ..conftest import gpt, human, image_record, text_record

GOOD = [image_record("img-1"), text_record("txt-1")]
QUIRKY = [
    {"id": "lead-1", "image": "red.png", "conversations": [gpt("Hi."), human("<image>\nWhat colour?"), gpt("Red.")]},
    {"id": "notag-1", "image": "red.png", "conversations": [human("What colour?"), gpt("Red.")]},
    {"id": "tags-1", "image": "red.png", "conversations": [human("<image> What <image> colour?"), gpt("Red.")]},
    {"id": "empty-1", "conversations": [human("Hi."), gpt("")]},
    {"id": "trail-1", "conversations": [human("Hi."), gpt("Hello there."), human("Bye.")]},
    text_record("long-1", answer="circle " * 300),
    text_record("long-2", answer="square " * 300),
]
BAD = [
    image_record("miss-1", image="nope.png"),
    {"id": "order-1", "conversations": [human("a"), human("b"), gpt("c")]},
    {"id": "tag-noimg-1", "conversations": [human("<image> a"), gpt("b")]},
]


def test_table_counts_names_and_policies(write_data, make_dataset):
    dataset = make_dataset(write_data(GOOD + QUIRKY), truncate=True)
    report = run_preflight(dataset, progress=False)
    assert report.records == 9 and report.modalities == {"image": 4, "text": 5}
    assert report.ids == {"leading_gpt_turn": ["lead-1"], "image_without_tag": ["notag-1"],
                          "several_image_tags": ["tags-1"], "empty_reply": ["empty-1"],
                          "trailing_human_turn": ["trail-1"], "over_long": ["long-1", "long-2"]}
    enforce(report)  # every quirk here has a safe fix: no stop
    table = report.table()
    row = next(line for line in table.splitlines() if line.startswith("over_long:"))
    assert row.split()[4:7] == ["2", "long-1,", "long-2"], row
    assert "truncated to model_max_length (as LLaVA)" in table and "first turn is from gpt" in table
    assert "records used for training: 9 of 9" in table
    assert dataset.skip_report()["total"] == 0


def test_over_long_stops_without_truncation_and_skip_flag_names_it(write_data, make_dataset):
    path = write_data(GOOD + QUIRKY)
    report = run_preflight(make_dataset(path, truncate=False), progress=False)
    with pytest.raises(DataPolicyError, match=r"2 records .* over_long=2 \(ids: long-1, long-2\).*--skip_bad_samples True"):
        enforce(report)
    skipping = make_dataset(path, truncate=False, skip_bad_samples=True)
    report = run_preflight(skipping, progress=False)
    enforce(report)
    assert "records used for training: 7 of 9" in report.table() and "record skipped (--skip_bad_samples True)" in report.table()
    assert skipping.skip_report()["ids"] == {"over_long": ["long-1", "long-2"]}
    assert skipping[7]["id"] == "img-1"  # a known-bad record is never built: the next good one (wrapping) stands in


def test_no_safe_fix_stops_naming_records_and_flag(write_data, make_dataset):
    dataset = make_dataset(write_data(GOOD + BAD + QUIRKY), truncate=True)
    report = run_preflight(dataset, progress=False)
    with pytest.raises(DataPolicyError) as info:
        enforce(report)
    message = str(info.value)
    assert "3 records" in message and "missing_image=1 (ids: miss-1)" in message
    assert "bad_turn_order=1 (ids: order-1)" in message and "tag_without_image=1 (ids: tag-noimg-1)" in message
    assert set(info.value.stopping) == {"missing_image", "bad_turn_order", "tag_without_image"}
    assert "run stops; --skip_bad_samples True skips these records" in report.table()
    assert report.table().endswith("the run stops here: 3 records have no safe fix (--skip_bad_samples True skips them)")


def test_validate_data_decodes_images_in_parallel(write_data, make_dataset, tmp_path):
    (tmp_path / "images" / "garbage.png").write_bytes(b"not an image")
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, format="PNG")
    (tmp_path / "images" / "cut.png").write_bytes(buffer.getvalue()[:60])
    records = GOOD + [image_record("garbage-1", image="garbage.png"), image_record("cut-1", image="cut.png")]
    path = write_data(records)
    shallow = run_preflight(make_dataset(path), progress=False)
    assert shallow.ids == {} and shallow.checks == ["tokens", "image files exist"]
    deep = run_preflight(make_dataset(path, skip_bad_samples=True), decode_images=True, workers=4, progress=False)
    assert deep.ids == {"corrupt_image": ["garbage-1", "cut-1"]} and deep.checks[1] == "images decoded"
    assert "records used for training: 2 of 4" in deep.table()


def test_token_counts_equal_training_tokenisation(write_data, make_dataset, tokenizer):
    """Over-long in the pre-flight is exactly over-long in training, at every limit."""
    records = GOOD + QUIRKY[:5] + [text_record(f"t{i}", answer="red blue " * i) for i in range(1, 30, 3)]
    path = write_data(records)
    full = make_dataset(path, model_max_length=10_000)
    lengths = {}
    for index in range(len(full)):
        record = full.records[index]
        sample = tokenize_conversation(record["conversations"], full.template, tokenizer, num_image_tokens=4,
                                       sample_id=full.ids[index], expected_images=1 if "image" in record else 0)
        lengths[full.ids[index]] = sample.input_ids.numel()
    for limit in sorted(set(lengths.values()))[::3]:
        report = run_preflight(make_dataset(path, model_max_length=limit, truncate=True), progress=False, chunk=5)
        over = report.ids.get("over_long", []) + report.ids.get("over_long_unfixable", [])
        assert set(over) == {i for i, n in lengths.items() if n > limit}, limit


def test_truncation_that_cuts_the_image_has_no_safe_fix(write_data, make_dataset):
    path = write_data([image_record("img-long", question="What colour " * 40), text_record("txt-1")])
    report = run_preflight(make_dataset(path, model_max_length=6, truncate=True), progress=False)
    # the system prompt alone is longer: the image (img-long) or every reply (txt-1) would be cut
    assert report.ids == {"over_long_unfixable": ["img-long", "txt-1"]}
    assert report.stopping() == {"over_long_unfixable": ["img-long", "txt-1"]}


def test_report_saved_as_json_and_text(write_data, make_dataset, tmp_path):
    report = run_preflight(make_dataset(write_data(GOOD + QUIRKY), truncate=True), progress=False)
    out = tmp_path / "run"
    report.save(str(out))
    saved = json.loads((out / "data_report.json").read_text())
    assert saved["quirks"]["over_long"]["ids"] == ["long-1", "long-2"]
    assert saved["quirks"]["over_long"]["action"] == "fixed" and saved["trained_records"] == 9
    assert (out / "data_report.txt").read_text().strip() == report.table()
