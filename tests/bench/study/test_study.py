"""The study's aggregation, figures, validation and report, on a fabricated result set with hand-checkable numbers."""
import json
import math

import pytest
import torch
from safetensors.torch import save_file

from bench.study import methods, report, validate
from bench.study.aggregate import compare, omega_share, per_task_wins, stat, summarize
from teamlora import expert_cv
from bench.study.collect import StudyInputError, collect_runs

TASKS = ("colour", "count")
LAYERS = ("model.language_model.layers.0.mlp.up_proj", "model.language_model.layers.1.mlp.up_proj")
# accuracy[method][seed] = (colour, count); runtimes in seconds. The oracle is one run per task, each scored
# on its own task only; its runtimes (per task) sum to 100, 110, 90.
ACCURACY = {
    "lora_kr": {0: (80.0, 40.0), 1: (82.0, 42.0), 2: (84.0, 44.0)},
    "teamlora_authors": {0: (90.0, 41.0), 1: (92.0, 43.0), 2: (94.0, 45.0)},
    "oracle": {0: (96.0, 50.0), 1: (98.0, 52.0), 2: (100.0, 54.0)},
}
RUNTIME = {"lora_kr": {0: 100.0, 1: 110.0, 2: 90.0}, "teamlora_authors": {0: 105.0, 1: 121.0, 2: 90.0},
           "oracle": {0: 50.0, 1: 55.0, 2: 45.0}}


def _write_run(path, method, seed, only_task=None):
    (path / "eval").mkdir(parents=True)
    acc = ACCURACY[method][seed]
    per_task = {t: {"accuracy": a, "chance": 25.0 if t == "colour" else 33.33, "correct": int(2 * a), "total": 200}
                for t, a in zip(TASKS, acc) if only_task in (None, t)}
    summary = {"mean_over_tasks": sum(acc) / 2, "per_task": per_task}
    (path / "eval" / "accuracy.txt").write_text("task  accuracy\n...\n" + json.dumps(summary) + "\n")
    state = {"log_history": [{"loss": 1.0, "step": 10}, {"train_runtime": RUNTIME[method][seed], "step": 10}]}
    (path / "trainer_state.json").write_text(json.dumps(state))
    routed = method.startswith("teamlora")
    tensors = {"model.multi_modal_projector.linear_1.weight": torch.zeros(3, 4)}  # 12 projector params
    tensors["model.language_model.layers.0.mlp.up_proj.lora_A.weight"] = torch.zeros(8, 5)  # 40 adapter params
    if routed:
        tensors["model.language_model.layers.0.mlp.up_proj.router.gate.weight"] = torch.zeros(2, 5)  # +10
    save_file(tensors, str(path / "adapter_model.safetensors"))
    if routed:
        # colour routes to expert 0, count to expert 1, in both layers; 100 tokens each. omega sums to k = 2
        # (TeamLoRA "authors"): shares (0.75, 0.25) and (0.25, 0.75)
        usage = {"colour": {name: {"phi": [0.75, 0.25], "omega": [1.5, 0.5], "tokens": 100} for name in LAYERS},
                 "count": {name: {"phi": [0.25, 0.75], "omega": [0.5, 1.5], "tokens": 100} for name in LAYERS}}
        (path / "eval" / "usage.json").write_text(json.dumps({"tasks": usage}))
        stats = [{"step": s, "layers": {name: [0.5 + 0.1 * s / 10, 0.5 - 0.1 * s / 10] for name in LAYERS}}
                 for s in (10, 20)]
        (path / "expert_stats.jsonl").write_text("\n".join(json.dumps(r) for r in stats) + "\n")


@pytest.fixture()
def study_dir(tmp_path):
    for method, seeds in ACCURACY.items():
        for seed in seeds:
            if method == "oracle":
                for task in TASKS:
                    _write_run(tmp_path / "runs" / method / f"seed{seed}" / task, method, seed, only_task=task)
            else:
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
    assert sorted(runs) == ["lora_kr", "oracle", "teamlora_authors"]
    assert [r.seed for r in runs["teamlora_authors"]] == [0, 1, 2]
    s = summarize(runs, "lora_kr")
    team, lora, oracle = s["teamlora_authors"], s["lora_kr"], s["oracle"]
    assert team.per_task["colour"].mean == pytest.approx(92.0) and team.per_task["colour"].std == pytest.approx(2.0)
    assert team.mean.mean == pytest.approx((65.5 + 67.5 + 69.5) / 3)
    assert lora.mean.mean == pytest.approx(62.0)
    assert (team.adapter_params, team.projector_params, lora.adapter_params) == (50, 12, 40)
    # per-seed runtime ratios 1.05, 1.1, 1.0
    assert team.time_ratio.mean == pytest.approx(1.05) and team.time_ratio.std == pytest.approx(0.05)
    assert lora.time_ratio.mean == 1.0 and lora.cv is None and lora.spread is None
    # pooled phi per layer = (0.5, 0.5): balanced overall. omega (sums to k = 2) as shares: expert 0 has
    # 0.75 on colour and 0.25 on count, expert 1 the reverse -> spread 0.5 (it would be 1.0 on raw omega)
    assert team.cv.mean == pytest.approx(0.0)
    assert team.spread.mean == pytest.approx(0.5)
    assert omega_share({"omega": [1.5, 0.5]}) == [0.75, 0.25]

    # the oracle: two per-task runs per seed, each scored on its task only, read as one run
    assert oracle.per_task["colour"].mean == pytest.approx(98.0) and oracle.per_task["count"].mean == pytest.approx(52.0)
    assert oracle.mean.mean == pytest.approx(75.0) and oracle.mean.std == pytest.approx(2.0)
    assert (oracle.adapter_params, oracle.projector_params) == (80, 24)  # 2 x (40, 12)
    assert oracle.time_ratio.mean == pytest.approx(1.0)  # 2 x 50 / 100, 2 x 55 / 110, 2 x 45 / 90
    assert oracle.cv is None

    c = compare(s, "teamlora_authors", "lora_kr")
    assert c.diff == pytest.approx(5.5)
    assert c.se == pytest.approx(math.sqrt(2 * (2.0 ** 2) / 3))  # both have seed std 2.0 over 3 seeds
    assert c.exceeds_noise  # 5.5 > 2 * 1.63
    # colour: +10 (beyond noise); count: +1 with SE 1.63 (within)
    assert per_task_wins(s, "teamlora_authors", "lora_kr") == {"better": 1, "worse": 0, "within_noise": 1}


def test_validation_passes_on_a_clear_oracle_win_and_fails_within_noise(study_dir, capsys):
    assert validate.main(["--runs", str(study_dir)]) == 0
    out = capsys.readouterr().out
    assert "difference +13.0 points, 2 SE = 3.3 -> interference shown" in out
    # noisy oracle seeds: means 55, 75, 95 (std 20): +13 is within 2 SE = 2 * sqrt(400/3 + 4/3) = 23.2
    for seed, acc in ((0, (60.0, 50.0)), (2, (120.0, 70.0))):
        for task, a in zip(TASKS, acc):
            path = study_dir / "oracle" / f"seed{seed}" / task / "eval" / "accuracy.txt"
            path.write_text(json.dumps({"per_task": {task: {"accuracy": a, "chance": None, "total": 200}}}) + "\n")
    assert validate.main(["--runs", str(study_dir)]) == validate.NOT_SHOWN
    assert "2 SE = 23.2 -> NO interference beyond the seed noise" in capsys.readouterr().out


def test_per_task_run_scored_on_another_task_is_named(study_dir):
    path = study_dir / "oracle" / "seed1" / "count" / "eval" / "accuracy.txt"
    path.write_text(json.dumps({"per_task": {"colour": {"accuracy": 1.0, "chance": None, "total": 200}}}) + "\n")
    with pytest.raises(StudyInputError, match=r"oracle/seed1/count: a per-task run must be scored on its own task"):
        collect_runs(study_dir)


def test_report_writes_tables_and_figures_between_markers(study_dir, tmp_path):
    out = tmp_path / "docs" / "results.md"
    out.parent.mkdir()
    plain_begin, plain_end = report.markers("study-plain")
    out.write_text(f"# Results\n\nintro kept\n\n{plain_begin}\nplain study kept\n{plain_end}\n\n"
                   f"{report.BEGIN}\nold study text\n{report.END}\n\n## GPU\nkept too\n")
    images = tmp_path / "docs" / "images" / "study"
    report.main(["--runs", str(study_dir), "--out", str(out), "--images", str(images), "--steps", "200",
                 "--batch", "32", "--oracle-steps", "200", "--oracle-batch", "16", "--parallel", "2", "--wall-s", "600"])
    text = out.read_text()
    assert "intro kept" in text and "## GPU\nkept too" in text and "old study text" not in text
    assert "plain study kept" in text  # another section's markers are left alone
    assert text.count(report.BEGIN) == 1 and text.count(report.END) == 1
    # two tasks: batch 16 per task adapter is each task's share of the batch of 32
    assert ("9 runs (3 methods × seeds 0, 1, 2), 200 stage-2 steps each at batch 32 (the oracle: 200 steps per "
            "task at batch 16: each task's adapter gets that task's share of every batch, the same examples and "
            "updates), 2 at a time; the whole study took 10.0 min") in text
    assert "| per-task LoRAs (4 × r=1) | 80 | **75.0 ± 2.0** | 98.0 ± 2.0 | 52.0 ± 2.0 | 1.00 ± 0.00 |" in text
    assert "| TeamLoRA authors (k=4, r=1) | 50 | **67.5 ± 2.0** | 92.0 ± 2.0 | 43.0 ± 2.0 | 1.05 ± 0.05 |" in text
    assert "| LoRA (r=4) | 40 | **62.0 ± 2.0** | 82.0 ± 2.0 | 42.0 ± 2.0 | 1.00 ± 0.00 |" in text
    assert "| chance | | 29.2 | 25.0 | 33.3 | |" in text
    # seed noise: std of the mean 2.0, per-task std 2.0, SE of a difference sqrt(2) * 2 / sqrt(3) = 1.6
    assert "| LoRA (r=4) | 3 | 2.0 | 2.0 | 1.6 |" in text
    assert ("| per-task LoRAs (4 × r=1) − LoRA (r=4) | task interference (the oracle knows the task) | +13.0 | 3.3 "
            "| yes | 2 / 0 / 0 |") in text
    assert ("| TeamLoRA authors (k=4, r=1) − LoRA (r=4) | against the one shared adapter of equal size | +5.5 | "
            "3.3 | yes | 1 / 0 / 1 |") in text
    assert "- Highest mean accuracy without knowing the task: TeamLoRA authors (k=4, r=1) (67.5 ± 2.0)." in text
    assert "difference +13.0 points, 2 SE = 3.3 -> interference shown" in text
    assert "TeamLoRA authors (k=4, r=1) is better than LoRA (r=4) by 5.5 points" in text
    assert "| TeamLoRA authors (k=4, r=1) | 0.000 ± 0.000 | 0.500 ± 0.000 |" in text
    for name in ("usage_teamlora_authors.png", "balance_teamlora_authors.png"):
        png = images / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert f"](images/study/{name})" in text
    assert not (images / "usage_lora_kr.png").exists()  # no router, no heatmap
    assert not (images / "usage_oracle.png").exists()

    # rerun: the section is replaced, not appended; --rank relabels
    report.main(["--runs", str(study_dir), "--out", str(out), "--images", str(images), "--rank", "16"])
    text = out.read_text()
    assert text.count(report.BEGIN) == 1 and "| LoRA (r=64) | 40 |" in text

    # --methods: only those folders are read
    report.main(["--runs", str(study_dir), "--out", str(out), "--images", str(images), "--methods", "lora_kr,oracle"])
    text = out.read_text()
    assert "6 runs (2 methods × seeds 0, 1, 2)" in text and "| TeamLoRA authors" not in text

    # the plain setting's section, by its own markers
    report.main(["--runs", str(study_dir), "--out", str(out), "--images", str(images), "--section", "study-plain"])
    text = out.read_text()
    assert "plain study kept" not in text and text.count(plain_begin) == 1 and text.count(report.BEGIN) == 1


def test_within_noise_is_said_plainly(study_dir):
    # make the seeds noisy: the 5.5-point gap no longer exceeds 2 SE
    for seed, acc in ((0, (70.0, 30.0)), (2, (99.0, 60.0))):
        path = study_dir / "teamlora_authors" / f"seed{seed}" / "eval" / "accuracy.txt"
        per_task = {t: {"accuracy": a, "chance": None, "correct": 0, "total": 200} for t, a in zip(TASKS, acc)}
        path.write_text(json.dumps({"per_task": per_task}) + "\n")
    runs = collect_runs(study_dir, only=("lora_kr", "teamlora_authors"))
    s = summarize(runs, "lora_kr")
    assert not compare(s, "teamlora_authors", "lora_kr").exceeds_noise
    names = {m: methods.label(m) for m in s}
    assert any("does not separate the methods" in line for line in report.conclusions(s, "lora_kr", names))


def test_comparisons_include_the_scale_control():
    """teamlora_authors is compared with moelora_xk (same output scale), moelora_xk with moelora (the scale alone)."""
    stub = dict.fromkeys(["lora_kr", "oracle", "moelora", "moelora_xk", "teamlora_paper", "teamlora_authors"])
    pairs = [(a, b) for a, b, _ in report.comparisons(stub, "lora_kr")]
    assert pairs[0] == ("oracle", "lora_kr")
    for pair in (("teamlora_authors", "moelora_xk"), ("moelora_xk", "moelora"), ("teamlora_paper", "moelora"),
                 ("teamlora_authors", "teamlora_paper"), ("moelora", "lora_kr"), ("teamlora_authors", "lora_kr")):
        assert pair in pairs
    assert len(pairs) == len(set(pairs))


def test_incomplete_run_is_named(study_dir):
    (study_dir / "teamlora_authors" / "seed1" / "trainer_state.json").unlink()
    with pytest.raises(StudyInputError, match=r"teamlora_authors/seed1/trainer_state.json: missing"):
        collect_runs(study_dir)
    (study_dir / "oracle" / "seed0" / "count" / "trainer_state.json").unlink()
    with pytest.raises(StudyInputError, match=r"oracle/seed0/count/trainer_state.json: missing"):
        collect_runs(study_dir, only=("oracle",))


def test_routed_run_without_expert_usage_is_named(study_dir):
    (study_dir / "teamlora_authors" / "seed2" / "eval" / "usage.json").unlink()
    with pytest.raises(StudyInputError, match=r"teamlora_authors/seed2/eval/usage.json: missing"):
        collect_runs(study_dir)


def test_method_table_flags_and_labels():
    m = methods.METHODS
    assert list(m) == ["lora_kr", "oracle", "moelora", "moelora_xk", "hydralora", "teamlora_paper", "teamlora_authors"]
    assert m["lora_kr"].trainer_args() == ["--peft", "lora", "--adapter_r", "4", "--num_experts", "1"]
    assert m["oracle"].trainer_args() == ["--peft", "lora", "--adapter_r", "1", "--num_experts", "1"]
    assert m["oracle"].per_task and not m["lora_kr"].per_task
    # the x k control: alpha = 2 * r * k, i.e. scaling 8 = k times MoELoRA's 2 (alpha unset = 2r)
    assert m["moelora_xk"].trainer_args() == ["--peft", "moelora", "--adapter_r", "1", "--num_experts", "4",
                                              "--adapter_alpha", "8"]
    assert m["moelora_xk"].trainer_args(4)[-2:] == ["--adapter_alpha", "32"]
    assert m["moelora_xk"].trainer_args(16)[-2:] == ["--adapter_alpha", "128"]
    assert "--adapter_alpha" not in m["moelora"].trainer_args()
    assert m["teamlora_paper"].trainer_args()[-2:] == ["--variant", "paper"]
    assert m["teamlora_authors"].trainer_args()[-2:] == ["--variant", "authors"]
    assert m["hydralora"].trainer_args(16) == ["--peft", "hydralora", "--adapter_r", "24", "--num_experts", "4"]
    assert m["hydralora"].trainer_args(4) == ["--peft", "hydralora", "--adapter_r", "6", "--num_experts", "4"]
    assert m["hydralora"].trainer_args() == ["--peft", "hydralora", "--adapter_r", "1", "--num_experts", "4"]
    assert methods.label("moelora_xk") == "MoELoRA ×k (k=4, r=1, α=8)"
    assert methods.label("oracle", 16) == "per-task LoRAs (4 × r=16)"
    assert methods.label("teamlora") == "TeamLoRA (k=4, r=16)"  # the earlier plain study's runs
    with pytest.raises(SystemExit, match="unknown study method 'nope'"):
        methods.get_method("nope")


def test_methods_cli(capsys):
    methods.main(["list"])
    assert capsys.readouterr().out.split() == list(methods.METHODS)
    methods.main(["args", "moelora_xk", "--rank", "2"])
    assert capsys.readouterr().out.strip() == "--peft moelora --adapter_r 2 --num_experts 4 --adapter_alpha 16"
    methods.main(["per-task", "oracle"])
    methods.main(["per-task", "moelora"])
    assert capsys.readouterr().out.split() == ["yes", "no"]


@pytest.mark.parametrize("rank", [methods.RANK, 4, methods.PLAIN_RANK])
def test_study_methods_are_parameter_matched(rank):
    """On the tiny default's FFN (256 -> 688 -> 256, 2 layers) the routed methods train within 3% of MoELoRA's
    count; LoRA(k*r) has the same A/B and lacks only the routers (k * d_in per layer: 9,600 parameters,
    3% of MoELoRA at r=16, 10% at r=4, 30% at r=1); the k per-task oracle LoRAs together are exactly LoRA(k*r)."""
    from transformers import LlavaForConditionalGeneration

    from llava.model.tiny import tiny_llava_config
    from teamlora import TeamLoraConfig, add_adapters, count_parameters

    config = tiny_llava_config(vocab_size=64, image_token_id=3, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    counts = {}
    for name, m in methods.METHODS.items():
        with torch.device("meta"):
            model = LlavaForConditionalGeneration._from_config(config)
        add_adapters(model, TeamLoraConfig(method=m.peft, r=m.rank(rank), num_experts=m.experts,
                                           alpha=m.alpha(rank), modules_scope="language_model"))
        counts[name] = count_parameters(model).trainable * (methods.EXPERTS if m.per_task else 1)
    reference = counts["moelora"]
    routers = 2 * methods.EXPERTS * (256 + 256 + 688)  # 2 blocks x (gate, up: d_in 256; down: d_in 688)
    for name, n in counts.items():
        if methods.METHODS[name].experts > 1 and not (name == "hydralora" and rank == 1):
            assert abs(n / reference - 1) < 0.03, (name, n, reference)
    if rank == 1:  # HydraLoRA's rank cannot be matched: rank 1 = 2 x (2 x 3008 + 1712 + routers), 22% below
        assert (counts["hydralora"], reference) == (2 * (2 * 3008 + 1712) + routers, 32256)
    assert reference - counts["lora_kr"] == routers == 9600
    assert counts["oracle"] == counts["lora_kr"]
    assert counts["moelora_xk"] == counts["moelora"]
