"""bench.gpu.cli: flags and presets, --help, refusing to run without CUDA (python -m bench.gpu and bench/gpu.sh),
--quick, the time budget, and the JSON file written as the run goes (a killed run leaves its finished parts)."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bench.gpu import cli, matrix
from bench.gpu.results import PENDING, ResultFile, default_json_path
from bench.gpu.settings import ATTNS, REPO

from .gpu_fixtures import run_main

# this interpreter's environment, marked ready so scripts/env.sh skips its (slow) import check
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "LLAVA_TEAMLORA_ENV_READY": str(REPO),
       "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}


def test_flags_are_checked():
    with pytest.raises(SystemExit):
        cli.parse_args(["--attn", "sdpa,xformers"])
    with pytest.raises(SystemExit):
        cli.parse_args(["--grad-ckpt", "maybe"])
    with pytest.raises(SystemExit):
        cli.parse_args(["--time-budget", "-1"])
    args = cli.parse_args(["--variants", "teamlora"])
    assert args.variants == ["lora_kr", "teamlora"]  # the reference is always measured
    assert cli.parse_args([]).attn == list(ATTNS) and cli.parse_args(["--dry-run"]).attn == ["sdpa"]
    settings = cli.settings_for(cli.parse_args([]), torch.device("cpu"))
    assert (settings.batch, settings.seq_len, settings.dtype) == (16, 2048, torch.bfloat16)
    assert (settings.steps, settings.warmup, settings.grad_ckpts, settings.skip_zero) == (5, 2, ["on", "off"], False)


def test_quick_is_the_core_table_and_qlora_within_a_budget():
    args = cli.parse_args(["--quick"])
    settings = cli.settings_for(args, torch.device("cpu"))
    assert (settings.batch, settings.seq_len, settings.dtype) == (16, 2048, torch.bfloat16)
    assert (settings.attns, settings.grad_ckpts) == (["sdpa"], ["on"])
    assert settings.variants == ["lora_kr", "moelora", "moelora_loop", "hydralora", "teamlora"]
    assert (settings.k, settings.r, settings.steps, settings.warmup) == (4, 32, 3, 1)
    assert settings.skip_zero and not settings.skip_qlora and args.time_budget == 360
    # flags given explicitly win over the preset
    args = cli.parse_args(["--quick", "--grad-ckpt", "on,off", "--steps", "4", "--time-budget", "100"])
    settings = cli.settings_for(args, torch.device("cpu"))
    assert (settings.grad_ckpts, settings.steps, args.time_budget) == (["on", "off"], 4, 100)


def test_help_lists_the_flags_and_points_to_the_docs(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.parse_args(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "docs/benchmarks.md" in text
    for flag in ("--dry-run", "--quick", "--batch", "--seq-len", "--steps", "--warmup", "--attn", "--grad-ckpt",
                 "--variants", "--k", "--r", "--skip-qlora", "--skip-zero", "--time-budget", "--work-dir",
                 "--json-out"):
        assert flag in text, flag
    assert (REPO / "docs" / "benchmarks.md").read_text().count("## GPU benchmark") == 1


def test_default_json_path_is_decided_in_python():
    path = default_json_path()
    assert path.parent == REPO / "bench" / "results"
    assert re.fullmatch(r"gpu-\d{4}-\d\d-\d\dT\d{6}\.json", path.name)


def test_result_file_is_replaced_whole(tmp_path):
    out = ResultFile(tmp_path / "sub" / "r.json")
    assert out.write({"a": 1}) == '{"a": 1}'
    out.write({"a": 2, "b": [1]})
    assert json.loads(out.path.read_text()) == {"a": 2, "b": [1]}
    assert [p.name for p in out.path.parent.iterdir()] == ["r.json"]  # no temporary file left


def test_quick_dry_run_measures_checkpointing_on_only(capsys, tmp_path):
    out_file = tmp_path / "quick.json"
    result, printed = run_main(["--dry-run", "--quick", "--json-out", str(out_file)], capsys)
    assert json.loads(out_file.read_text()) == json.loads(printed[-1])
    on, off = result["train"]["sdpa"]["ckpt_on"], result["train"]["sdpa"]["ckpt_off"]
    assert all(c["skipped"] is None and c["step_ms"] > 0 for c in on.values())
    assert all(c["skipped"] == "not requested (--grad-ckpt)" for c in off.values())
    assert result["zero2"]["skipped"] == "skipped by --skip-zero (--quick implies it)"
    assert result["settings"]["quick"] is True and result["settings"]["time_budget_s"] == 360
    assert result["complete"] is True


def test_time_budget_skips_the_parts_not_started(monkeypatch, capsys, tmp_path):
    """The budget runs out during the first group: that group is kept, every later part is recorded as skipped."""
    spent = []
    real_group_cells = matrix.group_cells

    def group_cells_then_out_of_time(*args, **kwargs):
        spent.append(True)
        return real_group_cells(*args, **kwargs)

    monkeypatch.setattr(matrix, "group_cells", group_cells_then_out_of_time)
    monkeypatch.setattr(cli.Deadline, "elapsed", lambda self: 61.0 if spent else 0.0)
    out_file = tmp_path / "budget.json"
    result, printed = run_main(["--dry-run", "--skip-zero", "--variants", "teamlora", "--steps", "1",
                                "--warmup", "0", "--time-budget", "60", "--json-out", str(out_file)], capsys)
    reason = "not started: the --time-budget of 60 s was spent (61 s elapsed)"
    cells = result["train"]["sdpa"]
    assert all(cells["ckpt_on"][v]["step_ms"] > 0 for v in ("lora_kr", "teamlora"))
    assert all(cells["ckpt_off"][v]["skipped"] == reason and cells["ckpt_off"][v]["step_ms"] is None
               for v in ("lora_kr", "teamlora"))
    assert result["qlora"]["skipped"] == reason and result["zero2"]["skipped"] == reason
    assert f"  sdpa ckpt_off: {reason}" in printed  # under "Skipped:" after the tables
    assert set(result["part_s"]) == {"build", "sdpa/ckpt_on", "qlora", "zero2"}
    assert json.loads(out_file.read_text())["complete"] is True


def test_a_killed_run_leaves_its_finished_cells(tmp_path):
    """python -m bench.gpu killed (SIGKILL) during its second group: the JSON holds the first, parses, and says
    it is incomplete."""
    out_file = tmp_path / "killed.json"
    proc = subprocess.Popen([sys.executable, "-m", "bench.gpu", "--dry-run", "--skip-zero", "--skip-qlora",
                             "--variants", "teamlora", "--steps", "40", "--warmup", "0", "--json-out", str(out_file)],
                            cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        partial, deadline = None, time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if out_file.is_file():
                partial = json.loads(out_file.read_text())  # never half a file: it is replaced whole
                if "sdpa/ckpt_on" in partial["part_s"]:
                    proc.send_signal(signal.SIGKILL)
                    break
            time.sleep(0.02)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-2000:]
    last = json.loads(out_file.read_text())
    assert last["complete"] is False and "sdpa/ckpt_on" in last["part_s"]
    done, left = last["train"]["sdpa"]["ckpt_on"], last["train"]["sdpa"]["ckpt_off"]
    assert all(done[v]["step_ms"] > 0 and done[v]["skipped"] is None for v in ("lora_kr", "teamlora"))
    assert all(left[v]["skipped"] == PENDING and left[v]["step_ms"] is None for v in ("lora_kr", "teamlora"))
    assert last["qlora"]["skipped"] == PENDING and last["zero2"]["skipped"] == PENDING


def test_module_refuses_without_cuda(capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    with pytest.raises(SystemExit) as exc:
        cli.main(["--skip-zero"])
    assert exc.value.code == 2 and "--dry-run" in capsys.readouterr().err


def test_gpu_sh_refuses_without_cuda(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu.sh")], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "no CUDA device is visible" in proc.stderr and "--dry-run" in proc.stderr
    assert not proc.stdout.strip()
    assert not (REPO / "bench" / "results").exists() or not any(
        p.stat().st_mtime > time.time() - 300 for p in (REPO / "bench" / "results").iterdir())
