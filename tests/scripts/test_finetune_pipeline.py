"""The real shell entry point, end to end, on a miniature embedded default (about a minute on one CPU thread).

`bash scripts/finetune_teamlora.sh` with no MODEL_PATH runs scripts/embedded_default.sh: synthetic data,
tiny LLaVA, stage 1, TeamLoRA stage 2, held-out eval with the per-task accuracy table. A second run with
the same settings must skip both training stages and must not regenerate any answer.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llava.data.synthetic.tasks import TASKS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "finetune_teamlora.sh"
NUM_TEST = 5
STAGE2_STEPS = 24  # 12 steps lower the loss too, but by little more than its batch-to-batch noise
TASK_NAMES = ("colour", "count", "position", "shape", "digit", "bigger")


def pipeline_env(tmp_path: Path) -> dict:
    """The test's own interpreter and environment, miniature sizes, every output under tmp_path."""
    env = dict(os.environ)
    env.pop("MODEL_PATH", None)  # a set MODEL_PATH selects the 7B DeepSpeed recipe
    env.pop("CONDA_PREFIX", None)
    bin_dir = str(Path(sys.executable).parent)
    env["VIRTUAL_ENV"] = sys.prefix  # env.sh keeps an active env instead of sourcing the repo's .venv
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env.update(
        OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
        DATA_DIR=str(tmp_path / "data"), TINY_DIR=str(tmp_path / "tiny"),
        STAGE1_DIR=str(tmp_path / "stage1"), OUTPUT_DIR=str(tmp_path / "stage2"),
        NUM_TRAIN="200", NUM_TEST=str(NUM_TEST), STAGE1_STEPS="6", STAGE2_STEPS=str(STAGE2_STEPS), BATCH="8",
    )
    return env


def run_script(env: dict, *extra: str):
    start = time.monotonic()
    proc = subprocess.run(["bash", str(SCRIPT), *extra], cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)
    return proc, time.monotonic() - start


def test_finetune_teamlora_script_runs_the_embedded_default(tmp_path):
    assert sorted(TASK_NAMES) == sorted(TASKS)  # the table must list every scored task
    env = pipeline_env(tmp_path)
    stage1, stage2 = tmp_path / "stage1", tmp_path / "stage2"
    answers = stage2 / "eval" / "answers.jsonl"

    # extra arguments go to the stage-2 trainer: log every step so the loss curve has points
    first, first_s = run_script(env, "--logging_steps", "1")
    log = first.stdout
    assert first.returncode == 0, log[-6000:]
    assert "=== data: synthetic multi-task dataset in" in log
    assert f"=== stage 1: captions -> {stage1} ===" in log
    assert "note: LLaVA-1.5-7B's stage 1 trains only the projector" in log
    assert "The tiny model's language model is random, so here it is trained as well" in log
    assert f"=== stage 2: teamlora instruction tuning -> {stage2} ===" in log
    assert "=== eval: held-out synthetic questions ===" in log
    assert "=== finished in" in log

    assert (stage1 / "llava_run.json").is_file()
    assert (stage2 / "llava_run.json").is_file()
    assert json.loads((stage2 / "adapter_config.json").read_text())["method"] == "teamlora"
    assert (stage2 / "loss_curve.png").stat().st_size > 1000

    # the per-task table from llava.eval.task_accuracy (tee'd to eval/accuracy.txt), then its JSON summary
    *table, summary_line = (stage2 / "eval" / "accuracy.txt").read_text().strip().splitlines()
    assert "\n".join(table) in log
    assert table[0].split() == ["task", "accuracy", "chance", "correct/total"], table
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert set(rows) == set(TASK_NAMES) | {"mean"}, table
    for task in TASK_NAMES:
        assert float(rows[task][2]) == pytest.approx(100 * TASKS[task].chance, abs=0.01), table
        assert rows[task][3].endswith(f"/{NUM_TEST}"), table
    summary = json.loads(summary_line)
    assert summary["num_questions"] == NUM_TEST * len(TASK_NAMES) and summary["num_missing"] == 0

    lines = answers.read_text().splitlines()
    assert len(lines) == NUM_TEST * len(TASK_NAMES)

    state = json.loads((stage2 / "trainer_state.json").read_text())
    losses = [h["loss"] for h in state["log_history"] if "loss" in h]
    assert len(losses) == STAGE2_STEPS, state["log_history"]
    assert losses[0] > losses[-1], losses
    quarter = STAGE2_STEPS // 4
    assert sum(losses[:quarter]) > sum(losses[-quarter:]), losses

    # second run, same settings: both stages are skipped and every answer is already there
    mtimes = {p: p.stat().st_mtime_ns for p in (stage1 / "llava_run.json", stage2 / "llava_run.json", answers)}
    second, second_s = run_script(env, "--logging_steps", "1")
    log2 = second.stdout
    assert second.returncode == 0, log2[-6000:]
    assert f"=== stage 1: done already ({stage1}) ===" in log2
    assert f"=== stage 2: done already ({stage2}) ===" in log2
    assert "captions ->" not in log2 and "instruction tuning ->" not in log2
    assert "nothing to do: every question of this chunk is answered" in log2
    assert answers.read_text().splitlines() == lines
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    assert "mean" in log2 and all(task in log2 for task in TASK_NAMES)
    # what is left is process start-up (imports in env.sh, the tiny builder, model_vqa): about 20 s
    assert second_s < 0.75 * first_s, (first_s, second_s)
    print(f"first run {first_s:.1f} s, second run {second_s:.1f} s; stage-2 losses {losses}")
