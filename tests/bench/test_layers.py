"""bench.layers --dry-run: the code runs and its JSON is complete. Nothing here depends on timings."""
import json
import math

from bench import layers

REQUIRED = (
    "k4r32_teamlora_over_lora_kr_train",
    "k4r32_teamlora_over_lora_kr_infer",
    "small_k8r16_teamlora_over_moelora_loop_train",
    "small_k8r16_teamlora_over_moelora_loop_infer",
)


def test_dry_run_json(capsys, tmp_path):
    out_file = tmp_path / "layers.json"
    result = layers.main(["--dry-run", "--threads", "1", "--json-out", str(out_file)])
    printed = capsys.readouterr().out.strip().splitlines()
    last = json.loads(printed[-1])  # the last line is the machine-readable result
    assert last == json.loads(out_file.read_text())
    assert last["threads"] == 1 and last["repeats"] == 1 and last["dry_run"] is True
    assert isinstance(last["torch"], str) and last["torch"]
    for key in REQUIRED:
        assert key in last, key

    ratios = {k: v for k, v in last.items() if "_over_" in k}
    variants = ("base", "lora_r", "lora_kr", "moelora_loop", "moelora_modlist", "hydralora_loop",
                "teamlora_loop", "moelora", "hydralora", "teamlora")
    # every variant over each reference, both modes, for all four (shape, k) groups
    for prefix in ("k4r32", "k8r16", "small_k4r32", "small_k8r16"):
        for mode in ("train", "infer"):
            for ref in ("lora_kr", "base", "moelora_loop"):
                for v in variants:
                    if v != ref:
                        assert f"{prefix}_{v}_over_{ref}_{mode}" in ratios
            assert f"{prefix}_teamlora_over_teamlora_loop_{mode}" in ratios
            assert f"{prefix}_hydralora_over_hydralora_loop_{mode}" in ratios
    for key, value in ratios.items():
        assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, (key, value)

    assert {b["key"] for b in last["bars"]} >= set(REQUIRED)
    assert any(line.startswith("Bars") for line in printed)
    verdicts = [line.split()[0] for line in printed if line.strip().startswith(("PASS ", "FAIL "))]
    assert len(verdicts) == len(last["bars"])
    assert result["k4r32_teamlora_over_lora_kr_train"] == last["k4r32_teamlora_over_lora_kr_train"]


def test_flags_select_shapes_and_ks(capsys):
    result = layers.main(["--dry-run", "--threads", "1", "--shapes", "small", "--ks", "8", "--no-modulelist"])
    capsys.readouterr()
    ratios = [k for k in result if "_over_" in k]
    assert ratios and all(k.startswith("small_k8r16_") for k in ratios)
    assert not any("modlist" in k for k in ratios)
    assert [b["key"] for b in result["bars"]] == [
        "small_k8r16_teamlora_over_moelora_loop_train", "small_k8r16_teamlora_over_moelora_loop_infer"]


def test_loop_and_fused_variants_compute_the_same_function():
    # build_variants refuses layers that disagree; exercise it directly at a tiny shape
    variants = layers.build_variants(layers.Shape("t", 48, 40, 8), k=4, r=16)
    assert {v.name for v in variants} >= {"teamlora", "teamlora_loop", "moelora_modlist"}


def test_quick_measures_the_bar_groups_unless_ks_is_given():
    assert layers.parse_args(["--quick"]).groups == [("7b", 4), ("small", 8)]
    assert layers.parse_args(["--quick", "--ks", "4,8"]).groups == [
        ("7b", 4), ("7b", 8), ("small", 4), ("small", 8)]
    assert layers.parse_args([]).groups == [("7b", 4), ("7b", 8), ("small", 4), ("small", 8)]
    quick = layers.settings_for(layers.parse_args(["--quick"]))
    full = layers.settings_for(layers.parse_args([]))
    assert quick.repeats < full.repeats and full.repeats >= 5
