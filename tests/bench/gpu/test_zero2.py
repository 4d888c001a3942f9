"""bench.gpu.zero2: the real deepspeed-launcher run on CPU ranks (slow: DeepSpeed's first CPU launch compiles an op)."""
import json
import math
from pathlib import Path

import pytest

from .gpu_fixtures import run_main


@pytest.mark.slow
def test_dry_run_with_zero2_deepspeed_launcher(capsys, tmp_path):
    out_file = tmp_path / "gpu.json"
    result, printed = run_main(["--dry-run", "--variants", "teamlora", "--grad-ckpt", "off", "--steps", "1",
                                "--warmup", "0", "--work-dir", str(tmp_path / "work"), "--json-out", str(out_file)],
                               capsys)
    assert json.loads(printed[-1]) == json.loads(out_file.read_text())
    zero = result["zero2"]
    log = Path(zero["log"]).read_text() if zero["log"] else ""
    assert zero["finished"] is True, log[-3000:]
    assert zero["returncode"] == 0 and zero["steps"] == 2 and zero["skipped"] is None
    assert zero["step_time_s"] > 0 and math.isfinite(zero["loss"])
    assert zero["checkpoint_loaded"] is True and zero["adapted_layers"] > 0
    assert "--num_gpus 1" in zero["command"] and "llava.train.train" in zero["command"]
    assert (tmp_path / "work" / "zero2" / "run" / "adapter_model.safetensors").is_file()
