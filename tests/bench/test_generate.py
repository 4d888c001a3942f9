"""bench.generate --dry-run: the code runs, its JSON is complete, every variant generates the same count."""
import contextlib
import io
import json
import math

import pytest

from bench import e2e, generate
from bench.variants import VARIANTS

SIZES = ("tiny", "mid")


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out_file = tmp_path_factory.mktemp("generate") / "generate.json"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        result = generate.main(["--dry-run", "--threads", "1", "--json-out", str(out_file)])
    return result, buf.getvalue().strip().splitlines(), json.loads(out_file.read_text())


def test_dry_run_json(dry_run):
    result, printed, last = dry_run
    assert json.loads(printed[-1]) == last
    assert last["dry_run"] is True and last["threads"] == 1 and last["repeats"] == 1
    assert last["device"] == "cpu" and isinstance(last["torch"], str) and last["torch"]
    assert result["mid_teamlora_new_tokens_per_s"] == last["mid_teamlora_new_tokens_per_s"]
    for size in SIZES:
        for v in VARIANTS:
            assert last[f"{size}_{v}_new_tokens_per_s"] > 0
            assert last[f"{size}_{v}_trainable_params"] > 0 and last[f"{size}_{v}_total_params"] > 0
            for ref in ("lora_kr", "moelora_loop"):
                for what in ("generate_time", "generate_throughput"):
                    key = f"{size}_{v}_over_{ref}_{what}"
                    if v == ref:
                        assert key not in last
                    else:
                        assert math.isfinite(last[key]) and last[key] > 0, key
        assert any(line.startswith(f"== {size}:") for line in printed)
        n = {v: last[f"{size}_{v}_trainable_params"] for v in VARIANTS}
        assert n["none"] < n["lora_r"] < n["lora_kr"] < n["moelora"] == n["moelora_loop"] <= n["teamlora"]
        assert n["hydralora"] < n["moelora"]


def test_bar(dry_run):
    _, printed, last = dry_run
    assert [b["key"] for b in last["bars"]] == ["mid_teamlora_over_lora_kr_generate_throughput"]
    bar = last["bars"][0]
    assert bar["limit"] == 0.95 and bar["op"] == ">=" and bar["value"] == last[bar["key"]]
    assert sum(line.strip().startswith(("PASS ", "FAIL ")) for line in printed) == 1


@pytest.mark.parametrize("variant", ["none", "teamlora"])
def test_generates_exactly_the_requested_tokens(variant):
    size = e2e.DRY_SIZES["tiny"]
    model = e2e.build_variant(size, variant, 4, 8).eval()
    inputs = e2e.random_inputs(size, 3, size.gen_prompt, seed=1, labels=False)
    first = generate.generate_once(model, inputs, 5)
    assert first.shape == (3, 5)
    assert (first == generate.generate_once(model, inputs, 5)).all()  # greedy: deterministic


def test_flags_override_the_workload(capsys):
    result = generate.main(["--dry-run", "--threads", "1", "--sizes", "tiny", "--variants", "lora_kr",
                            "--batch", "3", "--new-tokens", "2"])
    capsys.readouterr()
    assert result["sizes"]["tiny"]["gen_batch"] == 3 and result["sizes"]["tiny"]["gen_new_tokens"] == 2
    assert result["bars"] == [] and result["variants"] == ["lora_kr"]
    assert not any("_over_" in k for k in result)
