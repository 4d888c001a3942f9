"""scripts/study.sh end to end on a miniature interference setting: the validation (per-task oracle vs one
shared LoRA) from the shared instruction base, its stop, FORCE_COMPARE, then a routed method and the report.

Slow (a few minutes on one thread): real data generation, stage 1, six stage-2 runs with their evals, expert
usage and the report. Timings and accuracies are not asserted (a few steps learn nothing).
"""
import json
import subprocess

import pytest

from tests.scripts.test_finetune_pipeline import REPO, pipeline_env

pytestmark = pytest.mark.slow
SCRIPT = REPO / "scripts" / "study.sh"
RULES = ("same", "next", "opposite", "previous")


def run_study(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=900)


def test_study_script_validates_then_compares_and_reports(tmp_path):
    env = pipeline_env(tmp_path)
    study, results = tmp_path / "study", tmp_path / "docs" / "results.md"
    env.update(METHODS="oracle,lora_kr,teamlora_authors", SEEDS="0", STUDY_STEPS="4", PARALLEL="2",
               STUDY_DIR=str(study), RESULTS=str(results), STUDY_DATA=str(tmp_path / "interference"),
               INTERFERENCE_TRAIN="8", INTERFERENCE_TEST="3", BASE_STEPS="2")
    proc = run_study(env)
    log = proc.stdout
    assert proc.returncode == 0, log[-6000:]
    assert "3 methods x 1 seeds, 4 steps at batch 8 (oracle 4 steps at batch 2 per task), 2 at a time with 1 thread(s) each" in log
    # one seed has no seed noise to beat: the validation says no, and the other methods are not trained
    assert "NO interference beyond the seed noise" in log and "the methods are not compared" in log
    assert not (study / "teamlora_authors").exists()
    for rule in RULES:
        run = study / "oracle" / "seed0" / rule
        assert json.loads((run / "adapter_config.json").read_text())["r"] == 1
        summary = json.loads((run / "eval" / "accuracy.txt").read_text().splitlines()[-1])
        assert list(summary["per_task"]) == [rule] and summary["per_task"][rule]["total"] == 3
    lora = study / "lora_kr" / "seed0"
    # every run starts from the shared instruction base (the stage-1 base fully fine-tuned for BASE_STEPS)
    assert json.loads((study / "base" / "llava_run.json").read_text())["peft"] == "none"
    base = json.loads((lora / "llava_run.json").read_text())["base"]["model_name_or_path"]
    assert base.endswith("study/base"), base
    assert json.loads((lora / "adapter_config.json").read_text())["r"] == 4
    assert sorted(json.loads((lora / "eval" / "accuracy.txt").read_text().splitlines()[-1])["per_task"]) == sorted(RULES)
    text = results.read_text()
    assert "| per-task LoRAs (4 × r=1) |" in text and "| LoRA (r=4) |" in text
    assert "4 stage-2 steps each at batch 8 (the oracle: 4 steps per task at batch 2: each task's adapter gets" in text

    # FORCE_COMPARE: the finished runs are skipped, the routed method trains, the report covers all three
    mtime = (lora / "llava_run.json").stat().st_mtime_ns
    env["FORCE_COMPARE"] = "1"
    again = run_study(env)
    assert again.returncode == 0, again.stdout[-6000:]
    assert (lora / "llava_run.json").stat().st_mtime_ns == mtime
    team = study / "teamlora_authors" / "seed0"
    config = json.loads((team / "adapter_config.json").read_text())
    assert (config["method"], config["variant"], config["r"]) == ("teamlora", "authors", 1)
    usage = json.loads((team / "eval" / "usage.json").read_text())["tasks"]
    assert sorted(usage) == sorted(RULES) and all(len(layers) == 6 for layers in usage.values())  # 2 blocks x FFN
    text = results.read_text()
    assert text.count("<!-- study:begin") == 1 and "| TeamLoRA authors (k=4, r=1) |" in text
    assert (results.parent / "images" / "study" / "usage_teamlora_authors.png").stat().st_size > 5000


def test_unknown_method_or_setting_stops_before_any_run(tmp_path):
    env = pipeline_env(tmp_path)
    env.update(METHODS="lora_kr,nope", STUDY_DIR=str(tmp_path / "study"), RESULTS=str(tmp_path / "r.md"))
    proc = run_study(env)
    assert proc.returncode != 0
    assert "unknown study method 'nope'" in proc.stdout
    env.update(METHODS="oracle", SETTING="plain")
    proc = run_study(env)
    assert proc.returncode == 2 and "oracle trains one adapter per task: only with SETTING=interference" in proc.stdout
    env.update(SETTING="other")
    proc = run_study(env)
    assert proc.returncode == 2 and "SETTING=other is not one of" in proc.stdout
    assert not (tmp_path / "study").exists() and not (tmp_path / "data").exists()
