"""Counts made in DataLoader workers reach the report (issue: worker-side counts were lost)."""
import json

import pytest
from torch.utils.data import DataLoader

from llava.data.collator import DataCollatorForSupervisedDataset
from llava.data.events import clear_events, read_events, record_event
from llava.data.preflight import run_preflight

from ..conftest import image_record, text_record


def _bad_images(tmp_path, names):
    for name in names:
        (tmp_path / "images" / name).write_bytes(b"not an image at all")


def test_two_workers_skips_reach_the_event_folder(write_data, make_dataset, tokenizer, tmp_path):
    _bad_images(tmp_path, ["bad1.png", "bad2.png", "bad3.png"])
    records = [image_record("img-1"), text_record("txt-1"), image_record("bad-1", image="bad1.png"),
               text_record("txt-2"), image_record("bad-2", image="bad2.png"), image_record("img-2"),
               image_record("bad-3", image="bad3.png"), text_record("txt-3")]
    events = tmp_path / "run" / "data_events"
    dataset = make_dataset(write_data(records), skip_bad_samples=True, events_dir=str(events))
    report = run_preflight(dataset, progress=False)  # files exist: the corrupt ones show only in training
    assert report.ids == {}
    loader = DataLoader(dataset, batch_size=2, num_workers=2,
                        collate_fn=DataCollatorForSupervisedDataset.from_tokenizer(tokenizer))
    batches = list(loader)
    assert sum(b["input_ids"].shape[0] for b in batches) == 8
    assert dataset.skip_report()["total"] == 0  # the main process met nothing: the workers did
    for event in read_events(str(events)):
        report.add(event["reason"], event["id"], during_training=True)
    assert sorted(report.ids["corrupt_image"]) == ["bad-1", "bad-2", "bad-3"]
    assert len(list(events.glob("*.jsonl"))) >= 1
    assert "3 (3 in training)" in report.table()


def test_torn_event_line_is_left_out_and_clear_forgets(tmp_path):
    folder = tmp_path / "events"
    record_event(str(folder), "corrupt_image", "a")
    record_event(str(folder), "corrupt_image", "b\u00e9")
    path = next(folder.glob("*.jsonl"))
    path.write_bytes(path.read_bytes() + b'{"reason": "corrupt_image", "id": "\xc3')  # killed mid-write
    assert [e["id"] for e in read_events(str(folder))] == ["a", "b\u00e9"]
    clear_events(str(folder))
    assert list(read_events(str(folder))) == []
    record_event(None, "x", "y")  # no folder: nothing written, no error


def test_corrupt_event_line_before_the_end_is_named(tmp_path):
    from eval.jsonl import JsonlError

    folder = tmp_path / "events"
    record_event(str(folder), "corrupt_image", "a")
    path = next(folder.glob("*.jsonl"))
    path.write_bytes(b"garbage\n" + path.read_bytes())  # not what a kill leaves: never skipped silently
    with pytest.raises(JsonlError, match=rf"{path.name}:1: corrupt line"):
        list(read_events(str(folder)))


@pytest.mark.slow
def test_training_with_two_workers_reports_every_skip(tmp_path, tmp_path_factory):
    """The real entry point, --dataloader_num_workers 2: corrupt images met in the workers are in
    data_report.json, the missing image found by the pre-flight too."""
    from llava.train.train import main

    from ..train.train_fixtures import build_assets, train_args

    data, model_dir = build_assets(tmp_path_factory.mktemp("assets"), num_train=40)
    records = json.loads((data / "train.json").read_text())
    images = [r for r in records if "image" in r]
    for record in images[:3]:
        (data / "images" / record["image"]).write_bytes(b"corrupt")
    images[3]["image"] = "missing.png"
    (data / "train.json").write_text(json.dumps(records))
    out = tmp_path / "run"
    main(train_args(data, model_dir, out, "--peft", "lora", "--adapter_r", "4", "--max_steps", "12",
                    "--save_steps", "100", "--dataloader_num_workers", "2", "--skip_bad_samples", "True",
                    "--plot", "False"))
    report = json.loads((out / "data_report.json").read_text())
    assert sorted(report["quirks"]["corrupt_image"]["ids"]) == sorted(r["id"] for r in images[:3])
    assert report["quirks"]["missing_image"]["ids"] == [images[3]["id"]]
    assert report["trained_records"] == len(records) - 4
    assert "corrupt_image" in (out / "data_report.txt").read_text()
