"""bench.harness: plan presets and flag overrides, the round-robin order and block sizing, bar verdicts, tables."""
import argparse
import math

import pytest

from bench import harness
from bench.timing import Sample

PRESETS = {"dry": harness.Plan(repeats=1, warmup=1), "quick": harness.Plan(repeats=3, warmup=1),
           "full": harness.Plan(repeats=5, warmup=2, target_s=2.0)}


def test_run_mode_and_plan_overrides():
    ns = argparse.Namespace
    assert harness.run_mode(ns(dry_run=True, quick=True)) == "dry"
    assert harness.run_mode(ns(dry_run=False, quick=True)) == "quick"
    assert harness.run_mode(ns(dry_run=False)) == "full"  # a benchmark without --quick
    plan = harness.plan_for("full", PRESETS, repeats=9, iters=4)
    assert (plan.repeats, plan.warmup, plan.target_s, plan.iters) == (9, 2, 2.0, 4)
    assert PRESETS["full"].repeats == 5 and PRESETS["full"].iters is None  # the preset itself is untouched


def test_block_iters():
    plan = harness.Plan(repeats=1, warmup=1, target_s=1.0, min_iters=2, max_iters=50)
    assert plan.block_iters(0.3) == 4  # ceil(1.0 / 0.3)
    assert plan.block_iters(2.0) == 2 and plan.block_iters(1e-6) == 50  # clamped to [min_iters, max_iters]
    assert plan.block_iters(None) == 2  # no warm-up call to size from
    assert harness.Plan(repeats=1, warmup=1, iters=7).block_iters(0.3) == 7


def test_interleaved_rotates_and_sizes_blocks():
    calls = []

    def timer(step, iters):
        calls.append((step(), iters))
        return Sample({"a": 0.25, "b": 0.5, "c": 1.0}[calls[-1][0]], 0.0, iters)

    steps = {name: (lambda name=name: name) for name in "abc"}
    rounds = []
    plan = harness.Plan(repeats=3, warmup=1, target_s=1.0)
    samples = harness.interleaved(steps, plan, timer=timer, warm=lambda key: key != "c",
                                  after_round=rounds.append)
    # warm-up: one call each of a and b (c is not warmed); then rounds rotated by one place
    assert calls[:2] == [("a", 1), ("b", 1)]
    assert [name for name, _ in calls[2:]] == list("abc" + "bca" + "cab")
    assert {name: iters for name, iters in calls[2:]} == {"a": 4, "b": 2, "c": 1}  # c: min_iters, unsized
    assert rounds == [0, 1, 2] and all(len(s) == 3 for s in samples.values())


def test_bar_verdict():
    assert harness.bar_verdict("k", 1.04, 1.08) == {"key": "k", "value": 1.04, "limit": 1.08, "pass": True}
    assert harness.bar_verdict("k", 1.1, 1.08)["pass"] is False
    missing = harness.bar_verdict("k", math.nan, 1.08)
    assert missing["value"] is None and missing["pass"] is False
    up = harness.bar_verdict("t", 0.96, 0.95, at_least=True, time_ratio_limit=1.0526)
    assert list(up) == ["key", "value", "op", "limit", "time_ratio_limit", "pass"]
    assert up["op"] == ">=" and up["pass"] is True
    assert harness.bar_verdict("t", None, 0.95, at_least=True)["pass"] is False


def test_tables():
    text = harness.format_table("T", ["name", "ms"], [["lora", "1.50"], ["teamlora_long", "12.25"]], min_widths=[6, 7])
    assert text.splitlines() == ["T", "name               ms", "lora             1.50", "teamlora_long   12.25"]
    md = harness.markdown_table(["a", "b"], [["x", 1]], right=[False, True])
    assert md == ["| a | b |", "|---|---:|", "| x | 1 |"]


@pytest.mark.parametrize("attn", [None, "sdpa"])
def test_random_llava_from_a_config(attn):
    import torch

    from bench.gpu.model import dry_config

    model = harness.random_llava(dry_config(), dtype=torch.bfloat16, device="cpu", attn=attn)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    if attn:
        assert model.config._attn_implementation == attn
