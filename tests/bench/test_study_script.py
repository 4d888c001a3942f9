"""scripts/study.sh end to end on a miniature setting: two methods x two seeds, then the report.

Slow (about two minutes on one thread): it runs the real data generation, stage 1, four stage-2 runs,
their evals, expert usage and the report. Timings and accuracies are not asserted (4 steps learn nothing).
"""
import json
import subprocess

import pytest

from tests.llava.test_pipeline_script import REPO, pipeline_env

pytestmark = pytest.mark.slow
SCRIPT = REPO / "scripts" / "study.sh"


def run_study(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=900)


def test_study_script_trains_scores_and_reports(tmp_path):
    env = pipeline_env(tmp_path)
    study, results = tmp_path / "study", tmp_path / "docs" / "results.md"
    env.update(METHODS="lora_kr,teamlora", SEEDS="0,1", STUDY_STEPS="4", PARALLEL="2",
               STUDY_DIR=str(study), RESULTS=str(results))
    proc = run_study(env)
    log = proc.stdout
    assert proc.returncode == 0, log[-6000:]
    assert "=== study: 4 runs of 4 steps, 2 at a time with 1 thread(s) each" in log
    for method in ("lora_kr", "teamlora"):
        for seed in (0, 1):
            run = study / method / f"seed{seed}"
            assert json.loads((run / "adapter_config.json").read_text())["method"] == method.replace("_kr", "")
            assert (run / "eval" / "accuracy.txt").is_file()
            usage = json.loads((run / "eval" / "usage.json").read_text())["tasks"]
            if method == "teamlora":
                assert len(usage) == 6 and all(len(layers) == 6 for layers in usage.values())  # 2 blocks x FFN
            else:
                assert usage == {}  # no routers

    text = results.read_text()
    assert "4 runs (2 methods × seeds 0, 1), 4 stage-2 steps each, 2 at a time" in text
    assert "| LoRA (r=64) |" in text and "| TeamLoRA (k=4, r=16) |" in text
    images = results.parent / "images" / "study"
    assert (images / "usage_teamlora.png").stat().st_size > 5000
    assert (images / "balance_teamlora.png").stat().st_size > 5000

    # a rerun skips every finished run (no training) and rewrites the report
    mtime = (study / "teamlora" / "seed1" / "llava_run.json").stat().st_mtime_ns
    again = run_study(env)
    assert again.returncode == 0, again.stdout[-4000:]
    assert (study / "teamlora" / "seed1" / "llava_run.json").stat().st_mtime_ns == mtime
    assert results.read_text().count("<!-- study:begin") == 1


def test_unknown_method_stops_before_any_run(tmp_path):
    env = pipeline_env(tmp_path)
    env.update(METHODS="lora_kr,nope", STUDY_DIR=str(tmp_path / "study"), RESULTS=str(tmp_path / "r.md"))
    proc = run_study(env)
    assert proc.returncode != 0
    assert "unknown study method 'nope'" in proc.stdout
    assert not (tmp_path / "study").exists()
