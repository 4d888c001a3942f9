"""LazySupervisedDataset: items, pad-to-square, lengths, and the bad-input catalogue."""
import io
import logging

import pytest
import torch
from PIL import Image

from llava.data.dataset import expand_to_square, load_records
from llava.data.errors import BadSampleError, DatasetFileError, DatasetValidationError
from llava.data.preprocess import image_token_id

from ..conftest import IMAGE_PX, NUM_IMAGE_TOKENS, gpt, human, image_record, text_record

CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
PAD_RGB = (122, 116, 104)  # int(255 * CLIP mean), LLaVA's padding colour

GOOD = [image_record("img-1"), text_record("txt-1"), image_record("img-2", image="blue.png", answer="Blue.")]


def normalised(value_255, channel):
    return (value_255 / 255 - CLIP_MEAN[channel]) / CLIP_STD[channel]


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_items_and_modality_lengths(write_data, make_dataset, tokenizer, fmt):
    dataset = make_dataset(write_data(GOOD, fmt))
    assert len(dataset) == 3 and dataset.ids == ["img-1", "txt-1", "img-2"]
    image_item, text_item = dataset[0], dataset[1]
    assert image_item["pixel_values"].shape == (3, IMAGE_PX, IMAGE_PX)
    assert "pixel_values" not in text_item
    image_id = image_token_id(tokenizer)
    assert int((image_item["input_ids"] == image_id).sum()) == NUM_IMAGE_TOKENS
    assert int((text_item["input_ids"] == image_id).sum()) == 0
    assert image_item["input_ids"].shape == image_item["labels"].shape
    # words: "<image>\nWhat colour is the shape?" 6 + "The shape is red." 4; text: 5 + 4; blue: 6 + 1
    assert dataset.modality_lengths == [10, -9, 7]
    assert dataset.lengths == [10 + NUM_IMAGE_TOKENS, 9, 7 + NUM_IMAGE_TOKENS]


def test_json_and_jsonl_give_the_same_items(write_data, make_dataset):
    from_json = make_dataset(write_data(GOOD, "json"))
    from_jsonl = make_dataset(write_data(GOOD, "jsonl"))
    for i in range(3):
        assert torch.equal(from_json[i]["input_ids"], from_jsonl[i]["input_ids"])
        assert torch.equal(from_json[i]["labels"], from_jsonl[i]["labels"])


def test_expand_to_square_pads_centred_without_resizing():
    image = Image.new("RGB", (40, 24), (255, 0, 0))
    square = expand_to_square(image, PAD_RGB)
    assert square.size == (40, 40)
    assert square.getpixel((20, 0)) == PAD_RGB and square.getpixel((20, 39)) == PAD_RGB  # bands of 8 px
    assert square.getpixel((20, 8)) == (255, 0, 0) and square.getpixel((20, 31)) == (255, 0, 0)
    assert square.getpixel((20, 7)) == PAD_RGB
    same = Image.new("RGB", (24, 24))
    assert expand_to_square(same, PAD_RGB) is same


def test_pad_aspect_ratio_shows_the_mean_colour_at_the_border(write_data, make_dataset):
    path = write_data(GOOD)
    padded = make_dataset(path, image_aspect_ratio="pad")[0]["pixel_values"]  # [3, 32, 32]
    cropped = make_dataset(path, image_aspect_ratio="none")[0]["pixel_values"]
    for channel, value in enumerate(PAD_RGB):
        assert padded[channel, 0, 16].item() == pytest.approx(normalised(value, channel), abs=0.02)
    red = [normalised(v, c) for c, v in enumerate((255, 0, 0))]
    assert padded[:, 16, 16].tolist() == pytest.approx(red, abs=0.02)
    assert cropped[:, 0, 16].tolist() == pytest.approx(red, abs=0.02)  # shortest side resized, centre cropped


def _png_bytes():
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (0, 128, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


CATALOGUE = [
    # (record, reason, what the message must name besides the id)
    (image_record("miss-1", image="nope.png"), "missing_image", "nope.png"),
    (image_record("garbage-1", image="garbage.png"), "corrupt_image", "garbage.png"),
    (image_record("truncated-1", image="truncated.png"), "corrupt_image", "truncated.png"),
    ({"id": "noconv-1", "image": "red.png"}, "no_conversations", "no 'conversations'"),
    ({"id": "noreply-1", "conversations": [human("Hello there")]}, "no_reply", "ends on a human turn"),
    ({"id": "badfrom-1", "conversations": [human("a"), {"from": "bot", "value": "b"}]}, "bad_role", "'bot'"),
    ({"id": "twoimg-1", "image": ["red.png", "blue.png"], "conversations": [human("<image> a"), gpt("b")]},
     "several_images", "2 images"),
    (text_record("long-1", answer="circle " * 300), "over_long", "> model_max_length 256"),
]


@pytest.fixture
def write_bad_images(tmp_path):
    (tmp_path / "images" / "garbage.png").write_bytes(b"these bytes are not an image")
    (tmp_path / "images" / "truncated.png").write_bytes(_png_bytes()[:60])


@pytest.mark.parametrize("record, reason, named", CATALOGUE, ids=[c[1] + "-" + c[0]["id"] for c in CATALOGUE])
def test_bad_sample_raises_naming_id_and_place(write_data, make_dataset, write_bad_images, record, reason, named):
    dataset = make_dataset(write_data([GOOD[0], record, GOOD[1]]))
    assert dataset[0]["id"] == "img-1"
    with pytest.raises(BadSampleError) as info:
        dataset[1]
    message = str(info.value)
    assert info.value.reason == reason and info.value.sample_id == record["id"]
    assert f"'{record['id']}'" in message and named in message and "data.json item 1" in message
    assert "--skip_bad_samples True skips such records" in message  # the way out, named


@pytest.mark.parametrize("record, reason, named", CATALOGUE, ids=[c[1] + "-" + c[0]["id"] for c in CATALOGUE])
def test_bad_sample_is_skipped_and_counted(write_data, make_dataset, write_bad_images, record, reason, named):
    dataset = make_dataset(write_data([GOOD[0], record, GOOD[1]]), skip_bad_samples=True)
    assert dataset[1]["id"] == "txt-1"  # the next good record stands in, deterministically
    assert dataset[1]["id"] == "txt-1"
    assert dataset.skip_report() == {"total": 1, "counts": {reason: 1}, "ids": {reason: [record["id"]]}}


def test_whole_catalogue_skipped_counts_each_reason(write_data, make_dataset, write_bad_images, caplog):
    records = [GOOD[0]] + [c[0] for c in CATALOGUE] + [GOOD[1]]
    dataset = make_dataset(write_data(records), skip_bad_samples=True)
    with caplog.at_level(logging.WARNING, logger="llava.data.errors"):
        served = [dataset[i]["id"] for i in range(len(dataset))]
    assert served == ["img-1"] + ["txt-1"] * len(CATALOGUE) + ["txt-1"]
    report = dataset.skip_report()
    assert report["total"] == 8
    assert report["counts"] == {"missing_image": 1, "corrupt_image": 2, "no_conversations": 1, "no_reply": 1,
                                "bad_role": 1, "several_images": 1, "over_long": 1}
    assert report["ids"]["corrupt_image"] == ["garbage-1", "truncated-1"]
    assert sum("skipping bad sample" in r.message for r in caplog.records) == 8  # logged once each
    assert dataset.skips.summary().startswith("skipped 8 samples: bad_role=1, corrupt_image=2")


def test_all_bad_with_skipping_raises(write_data, make_dataset):
    dataset = make_dataset(write_data([CATALOGUE[0][0], CATALOGUE[4][0]]), skip_bad_samples=True)
    with pytest.raises(DatasetValidationError, match="2 bad samples in .*data.json"):
        dataset[0]


def test_validate_all_lists_every_bad_sample(write_data, make_dataset, write_bad_images):
    records = [GOOD[0], CATALOGUE[0][0], CATALOGUE[1][0], CATALOGUE[4][0], GOOD[1]]
    path = write_data(records)
    with pytest.raises(DatasetValidationError) as info:
        make_dataset(path).validate_all(load_images=True)
    message = str(info.value)
    assert "3 bad samples" in message
    assert "missing_image=1 (ids: miss-1)" in message and "corrupt_image=1 (ids: garbage-1)" in message
    assert "no_reply=1 (ids: noreply-1)" in message
    # Without decoding, only the existence of image files is checked: the corrupt one passes.
    report = make_dataset(path, skip_bad_samples=True).validate_all()
    assert report["counts"] == {"missing_image": 1, "no_reply": 1}


def test_validate_all_then_items_skip_known_bad(write_data, make_dataset, write_bad_images):
    dataset = make_dataset(write_data([GOOD[0], CATALOGUE[0][0], GOOD[1]]), skip_bad_samples=True)
    assert dataset.validate_all()["ids"] == {"missing_image": ["miss-1"]}
    assert dataset[1]["id"] == "txt-1" and dataset.skip_report()["total"] == 1


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "the file is empty"),
        ("  \n\n", "the file is empty"),
        ("[]", "no records"),
        ('"just a string"', "expected a JSON list or JSONL"),
        ("[1, 2]", "item 0 is a int"),
        ('[\n {"id": "a"},\n {"id": "b",,}\n]', "malformed JSON at line 3"),
        ('{"id": "a"}\n{"id": "b"}\n{"id": "c", oops}\n', "malformed JSON at line 3"),
        ('{"id": "a"}\n\n[1]\n', "line 3 is a list"),
    ],
)
def test_bad_data_file_names_file_and_line(tmp_path, content, message):
    path = tmp_path / "broken.jsonl"
    path.write_text(content)
    with pytest.raises(DatasetFileError, match=message) as info:
        load_records(str(path))
    assert "broken.jsonl" in str(info.value)


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_non_utf8_data_file_names_the_line(tmp_path, suffix):
    path = tmp_path / f"latin1{suffix}"
    body = '{"id": "a"}\n{"id": "caf\xe9"}\n' if suffix == ".jsonl" else '[\n {"id": "a"},\n {"id": "caf\xe9"}\n]'
    path.write_bytes(body.encode("latin-1"))  # "é" as the single byte 0xe9
    line = 2 if suffix == ".jsonl" else 3
    with pytest.raises(DatasetFileError, match=f"latin1{suffix}: line {line} is not UTF-8 text"):
        load_records(str(path))


def test_missing_data_file(tmp_path):
    with pytest.raises(DatasetFileError, match="data file not found: .*absent.json"):
        load_records(str(tmp_path / "absent.json"))


def test_jsonl_blank_lines_are_not_records(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": "a"}\n\n{"id": "b"}\n')
    records, places = load_records(str(path))
    assert [r["id"] for r in records] == ["a", "b"] and places == ["line 1", "line 3"]


def test_missing_ids_fall_back_to_position_and_duplicates_warn(write_data, make_dataset, caplog):
    records = [text_record("dup"), text_record("dup"), {"conversations": GOOD[1]["conversations"]}]
    with caplog.at_level(logging.WARNING, logger="llava.data.dataset"):
        dataset = make_dataset(write_data(records, "jsonl"))
    assert dataset.ids == ["dup", "dup", "data.jsonl:line 3"]
    assert dataset[2]["id"] == "data.jsonl:line 3"
    text = caplog.text
    assert "1 records have no 'id'" in text and "1 ids occur more than once (e.g. dup)" in text


def test_configuration_errors(write_data, make_dataset, tokenizer):
    from llava.data.conversation import get_template
    from llava.data.dataset import LazySupervisedDataset

    path = write_data(GOOD)
    with pytest.raises(ValueError, match="image_aspect_ratio must be one of"):
        make_dataset(path, image_aspect_ratio="anyres")
    with pytest.raises(ValueError, match="has records with images but no image_processor"):
        LazySupervisedDataset(str(path), tokenizer, None, template=get_template("vicuna_v1"),
                              num_image_tokens=4, model_max_length=256)
    text_only = write_data([GOOD[1]], name="text.json")
    dataset = LazySupervisedDataset(str(text_only), tokenizer, None, template=get_template("vicuna_v1"),
                                    num_image_tokens=4, model_max_length=256)
    assert "pixel_values" not in dataset[0]


def test_images_default_to_the_data_files_folder(write_data, make_dataset, tmp_path):
    records = [image_record("img-1", image="images/red.png")]
    dataset = make_dataset(write_data(records), image_folder=None)
    assert dataset[0]["pixel_values"].shape == (3, IMAGE_PX, IMAGE_PX)
