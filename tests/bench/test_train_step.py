"""bench.train_step --dry-run: the code runs, its JSON is complete, a step trains. Nothing here depends on timings."""
import contextlib
import io
import json
import math

import pytest
import torch

from bench import e2e, train_step
from bench.variants import VARIANTS

SIZES = ("tiny", "mid")
PER_VARIANT = ("samples_per_s", "tokens_per_s", "trainable_params", "total_params", "peak_mem_mib", "step_mem_mib")


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    """One full dry run (every size and variant), without the memory processes."""
    out_file = tmp_path_factory.mktemp("train_step") / "train_step.json"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        result = train_step.main(["--dry-run", "--threads", "1", "--no-memory", "--json-out", str(out_file)])
    return result, buf.getvalue().strip().splitlines(), json.loads(out_file.read_text())


def test_last_line_is_the_json_file(dry_run):
    result, printed, from_file = dry_run
    assert json.loads(printed[-1]) == from_file
    assert from_file["dry_run"] is True and from_file["threads"] == 1 and from_file["repeats"] == 1
    assert from_file["device"] == "cpu" and isinstance(from_file["torch"], str) and from_file["torch"]
    assert from_file["memory"] == "skipped"
    assert result["mid_teamlora_tokens_per_s"] == from_file["mid_teamlora_tokens_per_s"]


def test_every_size_and_variant_is_reported(dry_run):
    _, printed, last = dry_run
    for size in SIZES:
        for v in VARIANTS:
            for what in PER_VARIANT:
                assert f"{size}_{v}_{what}" in last, (size, v, what)
            assert last[f"{size}_{v}_samples_per_s"] > 0 and last[f"{size}_{v}_tokens_per_s"] > 0
            assert last[f"{size}_{v}_peak_mem_mib"] is None  # --no-memory
            for ref in ("lora_kr", "moelora_loop"):
                for what in ("train_time", "train_throughput"):
                    key = f"{size}_{v}_over_{ref}_{what}"
                    if v == ref:
                        assert key not in last  # never a ratio over itself
                    else:
                        assert math.isfinite(last[key]) and last[key] > 0, key
            t = last[f"{size}_{v}_over_lora_kr_train_time"] if v != "lora_kr" else 1.0
            tp = last[f"{size}_{v}_over_lora_kr_train_throughput"] if v != "lora_kr" else 1.0
            assert t * tp == pytest.approx(1.0, rel=1e-3)
        assert any(line.startswith(f"== {size}:") for line in printed)
    assert set(last["median_step_ms"]) == set(SIZES)


def test_bars(dry_run):
    _, printed, last = dry_run
    keys = [b["key"] for b in last["bars"]]
    assert keys == ["mid_teamlora_over_lora_kr_train_throughput", "mid_teamlora_over_moelora_loop_train_throughput"]
    for b in last["bars"]:
        assert b["op"] == ">=" and b["value"] == last[b["key"]] and isinstance(b["pass"], bool)
    assert [b["limit"] for b in last["bars"]] == [0.95, 1.15]
    verdicts = [line.split()[0] for line in printed if line.strip().startswith(("PASS ", "FAIL "))]
    assert len(verdicts) == len(last["bars"])


def test_trainable_parameter_counts_are_ordered(dry_run):
    _, _, last = dry_run
    for size in SIZES:
        n = {v: last[f"{size}_{v}_trainable_params"] for v in VARIANTS}
        assert 0 < n["none"] < n["lora_r"] < n["lora_kr"] < n["moelora"] <= n["teamlora"]
        assert n["moelora"] == n["moelora_loop"]
        assert n["hydralora"] < n["moelora"]
        # every variant freezes the same base model
        frozen = {v: last[f"{size}_{v}_total_params"] - n[v] for v in VARIANTS}
        assert len(set(frozen.values())) == 1


def test_memory_in_fresh_processes(tmp_path):
    out_file = tmp_path / "mem.json"
    result = train_step.main(["--dry-run", "--threads", "1", "--sizes", "tiny", "--variants", "teamlora",
                              "--json-out", str(out_file)])
    assert json.loads(out_file.read_text()) == result
    assert result["variants"] == ["lora_kr", "teamlora"]  # the reference is always added
    assert result["bars"] == []  # the bars are about the mid size
    for v in ("lora_kr", "teamlora"):
        peak, step = result[f"tiny_{v}_peak_mem_mib"], result[f"tiny_{v}_step_mem_mib"]
        assert peak > 50 and 0 <= step < peak, (v, peak, step)  # a process that imported torch
    assert result["memory"].startswith(("VmHWM", "ru_maxrss"))


@pytest.mark.parametrize("variant", ["none", "lora_kr", "moelora_loop", "teamlora"])
def test_a_training_step_changes_every_trainable_tensor(variant):
    size = e2e.DRY_SIZES["tiny"]
    model = e2e.build_variant(size, variant, 4, 8)
    batch = e2e.random_inputs(size, 2, size.train_seq, seed=0, labels=True)
    changed, total = train_step.changed_parameters(model, train_step.TrainStep(model, batch))
    assert total > 0 and changed == total
    expected = 4 if variant == "none" else 4 + 3 * size.text_layers * {"lora_kr": 2, "moelora_loop": 3, "teamlora": 4}[variant]
    assert total == expected  # projector (2 Linear: weight + bias) + per adapted layer A, B (+ router, M)


def test_changed_parameters_counts_what_moved():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 3))
    model[1].requires_grad_(False)

    def nudge_first_weight():
        with torch.no_grad():
            model[0].weight += 1

    assert train_step.changed_parameters(model, nudge_first_weight) == (1, 2)

    def nudge_frozen():
        with torch.no_grad():
            model[1].bias += 1

    with pytest.raises(AssertionError, match="frozen"):
        train_step.changed_parameters(model, nudge_frozen)


def test_fused_and_loop_moelora_start_identical():
    size = e2e.DRY_SIZES["tiny"]
    models = e2e.build_variants(size, ["moelora", "moelora_loop"], 4, 8)
    batch = e2e.random_inputs(size, 2, size.train_seq, seed=0, labels=True)
    steps = {v: train_step.TrainStep(m, batch) for v, m in models.items()}
    for s in steps.values():
        s()
    train_step.check_loop_agrees(steps)  # raises if they differ
    steps["moelora"].first_loss += 1.0
    with pytest.raises(RuntimeError, match="disagree"):
        train_step.check_loop_agrees(steps)


def test_flags():
    args = train_step.parse_args(["--quick", "--sizes", "mid", "--variants", "teamlora,moelora_loop", "--threads", "1"])
    assert args.size_list == ["mid"] and args.variant_list == ["lora_kr", "moelora_loop", "teamlora"]
    quick, full = e2e.plan_for(args), e2e.plan_for(train_step.parse_args([]))
    assert quick.repeats < full.repeats and quick.target_s == 0
    for bad in (["--sizes", "huge"], ["--variants", "nope"], ["--k", "1"], ["--threads", "0"]):
        with pytest.raises(SystemExit):
            train_step.parse_args(bad)
