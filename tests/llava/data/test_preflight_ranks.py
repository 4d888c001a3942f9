"""The pre-flight across ranks: rank 0 checks the records once and the other ranks take its report and bad
records; an error on rank 0 stops the others with a message naming it (two gloo processes on CPU)."""
import json
import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import llava.data.preflight as preflight
from llava.data.conversation import get_template
from llava.data.dataset import LazySupervisedDataset
from llava.data.errors import BadSampleError, PreflightFailedError

from ..conftest import NUM_IMAGE_TOKENS, image_record, text_record

RECORDS = [image_record("img-1"), text_record("txt-1"), image_record("miss-1", image="nope.png"),
           text_record("long-1", answer="circle " * 300)]


def _rank_main(rank, folder, data_path, tokenizer, image_processor):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/pg", rank=rank, world_size=2)
    calls = []
    real_check = preflight.check_records

    def counted(*args, **kwargs):
        calls.append(rank)
        return real_check(*args, **kwargs)

    preflight.check_records = counted  # this process's copy of the module
    dataset = LazySupervisedDataset(
        data_path, tokenizer, image_processor, template=get_template("vicuna_v1"),
        image_folder=os.path.join(folder, "images"), num_image_tokens=NUM_IMAGE_TOKENS, model_max_length=256,
        skip_bad_samples=True, truncate=False)
    report = preflight.run_preflight_once(dataset, progress=False)
    result = {"calls": len(calls), "report": report.to_json(), "skips": dataset.skip_report()}

    def broken(*args, **kwargs):
        raise ValueError("disk went away")

    preflight.check_records = broken
    try:
        preflight.run_preflight_once(dataset, progress=False)
    except (ValueError, PreflightFailedError) as err:
        result["failure"] = f"{type(err).__name__}: {err}"
    with open(os.path.join(folder, f"rank{rank}.json"), "w") as f:
        json.dump(result, f)
    dist.destroy_process_group()


def test_rank_0_checks_once_and_every_rank_gets_the_same_report(tmp_path, write_data, tokenizer, image_processor):
    path = write_data(RECORDS)
    mp.spawn(_rank_main, args=(str(tmp_path), str(path), tokenizer, image_processor), nprocs=2, join=True)
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert (rank0["calls"], rank1["calls"]) == (1, 0)
    assert rank0["report"]["quirks"]["missing_image"]["ids"] == ["miss-1"]
    assert rank0["report"]["quirks"]["over_long"]["ids"] == ["long-1"]
    assert rank1["report"] == rank0["report"] and rank0["report"]["trained_records"] == 2
    assert rank1["skips"] == rank0["skips"] and rank0["skips"]["total"] == 2
    assert rank0["failure"] == "ValueError: disk went away"
    assert rank1["failure"] == (f"PreflightFailedError: rank 0's data pre-flight of {path} failed "
                                "(ValueError: disk went away)")


def test_bad_sample_error_survives_pickling():
    import pickle

    err = pickle.loads(pickle.dumps(BadSampleError("id-7", "missing_image", "image file not found: x.png")))
    assert (err.sample_id, err.reason, err.detail) == ("id-7", "missing_image", "image file not found: x.png")
    assert str(err) == "bad sample 'id-7' [missing_image]: image file not found: x.png"
