"""bench.study.usage on a TeamLoRA run trained for one step: prompts built in the checkpoint's recorded format."""
import json
import logging
import subprocess
import sys

import pytest

from bench.study import usage
from tests.llava.eval.eval_fixtures import make_eval_setup


@pytest.fixture(scope="module")
def teamlora_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("usage")
    setup = make_eval_setup(root)
    data, run = setup["data"], root / "run"
    subprocess.run(
        [sys.executable, "-m", "llava.train.train", "--model_name_or_path", str(setup["model_dir"]),
         "--data_path", str(data.train_json), "--image_folder", str(data.image_folder), "--output_dir", str(run),
         "--peft", "teamlora", "--adapter_r", "2", "--num_experts", "4", "--max_steps", "1",
         "--per_device_train_batch_size", "2", "--image_aspect_ratio", "square",
         "--report_to", "none", "--use_cpu", "--model_max_length", "256"],
        check=True, capture_output=True, timeout=300,
    )
    return data, run


def test_usage_follows_the_checkpoints_format_and_weights_sum(teamlora_run, tmp_path, caplog):
    """The run records square images (the script used to build every prompt with pad)."""
    data, run = teamlora_run
    out = tmp_path / "usage.json"
    with caplog.at_level(logging.INFO, logger="llava.model.input_format"):
        result = usage.main(["--model-path", str(run), "--question-file", str(data.test_questions),
                             "--image-folder", str(data.image_folder), "--out", str(out), "--batch-size", "4"])
    assert any("image aspect ratio square (checkpoint record" in r.getMessage() for r in caplog.records)
    assert set(result) == {"colour", "count", "position", "shape", "digit", "bigger"}
    assert json.loads(out.read_text())["tasks"] == json.loads(json.dumps(result))
    for layers in result.values():
        assert layers  # every adapted layer is routed
        for stats in layers.values():
            assert len(stats["phi"]) == 4 and abs(sum(stats["phi"]) - 1) < 1e-6
            assert abs(sum(stats["omega"]) - 4) < 1e-5  # the authors' variant: omega sums to k
            assert stats["tokens"] > 0
