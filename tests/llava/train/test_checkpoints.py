"""Which checkpoint a restart may use, what a killed save leaves, and what rotation may delete."""
import os

import pytest

from llava.train.checkpoints import (
    CheckpointError,
    check_resumable,
    missing_files,
    newest_complete,
    publish,
    remove_staging,
    rotate,
    staging_dir,
)
from llava.train.train import resume_point
from llava.train.args import TrainingArguments

WHOLE = ("adapter_model.safetensors", "llava_run.json", "optimizer.pt", "scheduler.pt", "trainer_state.json")
HALF = ("adapter_model.safetensors", "adapter_config.json")  # a kill after the model files


def make(run, step, files, mtime):
    folder = run / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_text("x")
    os.utime(folder, (mtime, mtime))
    return folder


def test_missing_files_names_what_a_resume_reads(tmp_path):
    whole = make(tmp_path, 2, WHOLE, 1000)
    deepspeed = make(tmp_path, 4, ("llava_run.json", "trainer_state.json", "latest"), 1000)
    half = make(tmp_path, 6, HALF, 1000)
    assert missing_files(str(whole)) == [] and missing_files(str(deepspeed)) == []
    assert missing_files(str(half)) == ["trainer_state.json", "llava_run.json", "optimizer.pt (or DeepSpeed's latest)"]
    assert missing_files(str(make(tmp_path, 8, ("trainer_state.json", "llava_run.json"), 1000)), save_only_model=True) == []


def test_newest_complete_skips_and_names_incomplete_ones(tmp_path, caplog):
    make(tmp_path, 2, WHOLE, 1000)
    make(tmp_path, 10, WHOLE, 1001)  # numeric order, not text order
    make(tmp_path, 12, HALF, 1002)
    (tmp_path / "checkpoint-14").write_text("not a folder")
    (tmp_path / "tmp-checkpoint-16" / "checkpoint-16").mkdir(parents=True)
    with caplog.at_level("WARNING"):
        assert newest_complete(str(tmp_path)) == str(tmp_path / "checkpoint-10")
    assert f"skipping incomplete checkpoint {tmp_path / 'checkpoint-12'} (no trainer_state.json" in caplog.text
    assert newest_complete(str(tmp_path / "absent")) is None

    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    assert resume_point(args) == str(tmp_path / "checkpoint-10")
    args.resume_from_checkpoint = str(tmp_path / "checkpoint-12")
    with pytest.raises(CheckpointError, match=r"checkpoint-12 cannot be resumed: no trainer_state\.json.*"
                                              r"newest complete checkpoint beside it is .*checkpoint-10"):
        resume_point(args)
    assert check_resumable(str(tmp_path / "checkpoint-2")) == str(tmp_path / "checkpoint-2")


def test_staging_is_removed_and_publish_replaces_an_incomplete_leftover(tmp_path):
    stale = staging_dir(str(tmp_path), 6)
    os.makedirs(os.path.join(stale, "checkpoint-6"))
    assert remove_staging(str(tmp_path)) == [stale] and not os.path.exists(stale)

    leftover = make(tmp_path, 6, HALF, 1000)
    staged = os.path.join(staging_dir(str(tmp_path), 6), "checkpoint-6")
    os.makedirs(staged)
    for name in WHOLE:
        open(os.path.join(staged, name), "w").close()
    publish(staged, str(leftover))
    assert missing_files(str(leftover)) == [] and not os.path.exists(staging_dir(str(tmp_path), 6))
    assert not (leftover / "adapter_config.json").exists()  # nothing of the leftover mixed in


def test_rotation_never_deletes_the_last_complete_checkpoint(tmp_path):
    make(tmp_path, 2, WHOLE, 1000)
    newest = make(tmp_path, 4, WHOLE, 1010)
    make(tmp_path, 6, HALF, 1020)  # newer, but incomplete (older code killed while saving)
    # transformers' own rotation keeps only the newest folder, checkpoint-6, and deletes checkpoint-4
    deleted = rotate(str(tmp_path), 1, [str(newest)])
    assert deleted == [str(tmp_path / "checkpoint-2")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-4", "checkpoint-6"]
    assert rotate(str(tmp_path), 1, [str(newest)]) == [] and rotate(str(tmp_path), None, []) == []


def test_rotation_keeps_the_protected_best_and_the_limit(tmp_path):
    best = make(tmp_path, 2, WHOLE, 1000)
    make(tmp_path, 4, WHOLE, 1010)
    make(tmp_path, 6, WHOLE, 1020)
    just_saved = make(tmp_path, 8, WHOLE, 1030)
    assert rotate(str(tmp_path), 2, [str(just_saved), str(best)]) == [str(tmp_path / "checkpoint-4"),
                                                                     str(tmp_path / "checkpoint-6")]
