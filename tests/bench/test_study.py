"""The study's aggregation, figures and report, on a fabricated result set with hand-checkable numbers."""
import json
import math

import pytest
import torch
from safetensors.torch import save_file

from bench.study import methods, report
from bench.study.aggregate import compare, per_task_wins, stat, summarize
from teamlora import expert_cv
from bench.study.collect import StudyInputError, collect_runs

TASKS = ("colour", "count")
LAYERS = ("model.language_model.layers.0.mlp.up_proj", "model.language_model.layers.1.mlp.up_proj")
# accuracy[method][seed] = (colour, count); runtimes in seconds
ACCURACY = {
    "lora_kr": {0: (80.0, 40.0), 1: (82.0, 42.0), 2: (84.0, 44.0)},
    "teamlora": {0: (90.0, 41.0), 1: (92.0, 43.0), 2: (94.0, 45.0)},
}
RUNTIME = {"lora_kr": {0: 100.0, 1: 110.0, 2: 90.0}, "teamlora": {0: 105.0, 1: 121.0, 2: 90.0}}


def _write_run(path, method, seed):
    (path / "eval").mkdir(parents=True)
    acc = ACCURACY[method][seed]
    per_task = {t: {"accuracy": a, "chance": 25.0 if t == "colour" else 33.33, "correct": int(2 * a), "total": 200}
                for t, a in zip(TASKS, acc)}
    summary = {"mean_over_tasks": sum(acc) / 2, "per_task": per_task}
    (path / "eval" / "accuracy.txt").write_text("task  accuracy\n...\n" + json.dumps(summary) + "\n")
    state = {"log_history": [{"loss": 1.0, "step": 10}, {"train_runtime": RUNTIME[method][seed], "step": 10}]}
    (path / "trainer_state.json").write_text(json.dumps(state))
    routed = method != "lora_kr"
    tensors = {"model.multi_modal_projector.linear_1.weight": torch.zeros(3, 4)}  # 12 projector params
    tensors["model.language_model.layers.0.mlp.up_proj.lora_A.weight"] = torch.zeros(8, 5)  # 40 adapter params
    if routed:
        tensors["model.language_model.layers.0.mlp.up_proj.router.gate.weight"] = torch.zeros(2, 5)  # +10
    save_file(tensors, str(path / "adapter_model.safetensors"))
    if routed:
        # colour routes to expert 0, count to expert 1, in both layers; 100 tokens each
        usage = {"colour": {name: {"phi": [0.75, 0.25], "omega": [0.8, 0.3], "tokens": 100} for name in LAYERS},
                 "count": {name: {"phi": [0.25, 0.75], "omega": [0.2, 0.9], "tokens": 100} for name in LAYERS}}
        (path / "eval" / "usage.json").write_text(json.dumps({"tasks": usage}))
        stats = [{"step": s, "layers": {name: [0.5 + 0.1 * s / 10, 0.5 - 0.1 * s / 10] for name in LAYERS}}
                 for s in (10, 20)]
        (path / "expert_stats.jsonl").write_text("\n".join(json.dumps(r) for r in stats) + "\n")


@pytest.fixture()
def study_dir(tmp_path):
    for method, seeds in ACCURACY.items():
        for seed in seeds:
            _write_run(tmp_path / "runs" / method / f"seed{seed}", method, seed)
    return tmp_path / "runs"


def test_stat_and_cv():
    s = stat([1.0, 2.0, 3.0])
    assert (s.mean, s.std, s.n) == (2.0, 1.0, 3)
    assert s.se == pytest.approx(1 / math.sqrt(3))
    assert stat([5.0]).std == 0.0
    assert expert_cv([0.25, 0.25, 0.25, 0.25]) == 0.0
    assert expert_cv([1.0, 0.0]) == pytest.approx(1.0)  # pstdev 0.5 / mean 0.5


def test_collect_and_summarize(study_dir):
    runs = collect_runs(study_dir)
    assert sorted(runs) == ["lora_kr", "teamlora"]
    assert [r.seed for r in runs["teamlora"]] == [0, 1, 2]
    s = summarize(runs, "lora_kr")
    team, lora = s["teamlora"], s["lora_kr"]
    assert team.per_task["colour"].mean == pytest.approx(92.0) and team.per_task["colour"].std == pytest.approx(2.0)
    assert team.mean.mean == pytest.approx((65.5 + 67.5 + 69.5) / 3)
    assert lora.mean.mean == pytest.approx(62.0)
    assert (team.adapter_params, team.projector_params, lora.adapter_params) == (50, 12, 40)
    # per-seed runtime ratios 1.05, 1.1, 1.0
    assert team.time_ratio.mean == pytest.approx(1.05) and team.time_ratio.std == pytest.approx(0.05)
    assert lora.time_ratio.mean == 1.0 and lora.cv is None and lora.spread is None
    # pooled phi per layer = (0.5, 0.5): balanced overall; omega spread over tasks: experts 0.6 and 0.6
    assert team.cv.mean == pytest.approx(0.0)
    assert team.spread.mean == pytest.approx(0.6)

    c = compare(s, "teamlora", "lora_kr")
    assert c.diff == pytest.approx(5.5)
    assert c.se == pytest.approx(math.sqrt(2 * (2.0 ** 2) / 3))  # both have seed std 2.0 over 3 seeds
    assert c.exceeds_noise  # 5.5 > 2 * 1.63
    # colour: +10 (beyond noise); count: +1 with SE 1.63 (within)
    assert per_task_wins(s, "teamlora", "lora_kr") == {"better": 1, "worse": 0, "within_noise": 1}


def test_report_writes_tables_and_figures_between_markers(study_dir, tmp_path):
    out = tmp_path / "docs" / "results.md"
    out.parent.mkdir()
    out.write_text(f"# Results\n\nintro kept\n\n{report.BEGIN}\nold study text\n{report.END}\n\n## GPU\nkept too\n")
    images = tmp_path / "docs" / "images" / "study"
    report.main(["--runs", str(study_dir), "--out", str(out), "--images", str(images), "--steps", "200",
                 "--parallel", "2", "--wall-s", "600"])
    text = out.read_text()
    assert "intro kept" in text and "## GPU\nkept too" in text and "old study text" not in text
    assert text.count(report.BEGIN) == 1 and text.count(report.END) == 1
    assert "6 runs (2 methods × seeds 0, 1, 2), 200 stage-2 steps each, 2 at a time; the whole study took 10.0 min" in text
    assert "| TeamLoRA (k=4, r=16) | 50 | **67.5 ± 2.0** | 92.0 ± 2.0 | 43.0 ± 2.0 | 1.05 ± 0.05 |" in text
    assert "| LoRA (r=64) | 40 | **62.0 ± 2.0** | 82.0 ± 2.0 | 42.0 ± 2.0 | 1.00 ± 0.00 |" in text
    assert "| chance | | 29.2 | 25.0 | 33.3 | |" in text
    assert "| TeamLoRA (k=4, r=16) − LoRA (r=64) | +5.5 | 3.3 | yes | 1 / 0 / 1 |" in text
    assert "TeamLoRA (k=4, r=16) is better than LoRA (r=64) by 5.5 points" in text
    for name in ("usage_teamlora.png", "balance_teamlora.png"):
        png = images / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert f"](images/study/{name})" in text
    assert not (images / "usage_lora_kr.png").exists()  # no router, no heatmap

    # rerun: the section is replaced, not appended
    report.main(["--runs", str(study_dir), "--out", str(out), "--images", str(images)])
    assert out.read_text().count(report.BEGIN) == 1


def test_within_noise_is_said_plainly(study_dir):
    # make the seeds noisy: the 5.5-point gap no longer exceeds 2 SE
    for seed, acc in ((0, (70.0, 30.0)), (2, (99.0, 60.0))):
        path = study_dir / "teamlora" / f"seed{seed}" / "eval" / "accuracy.txt"
        per_task = {t: {"accuracy": a, "chance": None, "correct": 0, "total": 200} for t, a in zip(TASKS, acc)}
        path.write_text(json.dumps({"per_task": per_task}) + "\n")
    s = summarize(collect_runs(study_dir), "lora_kr")
    assert not compare(s, "teamlora", "lora_kr").exceeds_noise
    assert any("does not separate the methods" in line for line in report.conclusions(s, "teamlora"))


def test_incomplete_run_is_named(study_dir):
    (study_dir / "teamlora" / "seed1" / "trainer_state.json").unlink()
    with pytest.raises(StudyInputError, match=r"teamlora/seed1/trainer_state.json: missing"):
        collect_runs(study_dir)


def test_routed_run_without_expert_usage_is_named(study_dir):
    (study_dir / "teamlora" / "seed2" / "eval" / "usage.json").unlink()
    with pytest.raises(StudyInputError, match=r"teamlora/seed2/eval/usage.json: missing"):
        collect_runs(study_dir)


def test_study_methods_are_parameter_matched():
    """On the tiny default's FFN (256 -> 688 -> 256, 2 layers) the routed methods train within 3% of MoELoRA's
    count, and LoRA(k*r) (same A/B, no routers) within 3% below it."""
    from transformers import LlavaForConditionalGeneration

    from llava.model.tiny import tiny_llava_config
    from teamlora import TeamLoraConfig, add_adapters, count_parameters

    config = tiny_llava_config(vocab_size=64, image_token_id=3, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    counts = {}
    for name, m in methods.METHODS.items():
        with torch.device("meta"):
            model = LlavaForConditionalGeneration._from_config(config)
        add_adapters(model, TeamLoraConfig(method=m.peft, r=m.r, num_experts=m.experts,
                                           modules_scope="language_model"))
        counts[name] = count_parameters(model).trainable
    reference = counts["moelora"]
    for name, n in counts.items():
        assert abs(n / reference - 1) < 0.03, (name, n, reference)
    assert counts["lora_kr"] < reference
    # no --adapter_alpha: the trainer leaves it to TeamLoraConfig (2 * r)
    assert methods.METHODS["hydralora"].trainer_args() == ["--peft", "hydralora", "--adapter_r", "24",
                                                           "--num_experts", "4"]
