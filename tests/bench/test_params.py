"""bench.params: exact trainable counts for LLaMA-7B FFN adapters, and shares near the paper's."""
import contextlib
import io
import json

import pytest

from bench import params

D, FF, LAYERS = 4096, 11008, 32
FFN = ((D, FF), (D, FF), (FF, D))  # gate_proj, up_proj, down_proj as (d_in, d_out)


def expected_trainable(method, r, k):
    per_layer = 0
    for d_in, d_out in FFN:
        if method == "lora":
            per_layer += r * (d_in + d_out)
        elif method == "hydralora":  # one A (r x d_in), k B's, router d_in -> k
            per_layer += r * d_in + k * r * d_out + k * d_in
        else:  # moelora / teamlora: stacked A (k*r x d_in), k B's, router; teamlora adds the k x k matrix
            per_layer += k * r * (d_in + d_out) + k * d_in + (k * k if method == "teamlora" else 0)
    return LAYERS * per_layer


@pytest.fixture(scope="module")
def run():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        result = params.main([])
    return result, buf.getvalue().strip().splitlines()


@pytest.fixture(scope="module")
def result(run):
    return run[0]


def test_prints_a_table_and_ends_with_the_json(run):
    result, lines = run
    assert json.loads(lines[-1]) == json.loads(json.dumps(result))
    table = [line for line in lines if line.startswith("| ")]
    assert len(table) == 1 + len(result["rows"])  # header + one row per method
    assert "| teamlora | 32 | 4 | 188,057,088 | 2.72 | 2.71 |" in table


def test_counts_are_exact(result):
    base = result["base_total"]
    assert base == 6_738_415_616  # LLaMA-7B with an untied lm_head
    for key, row in result["rows"].items():
        want = expected_trainable(row["method"], row["r"], row["k"])
        assert row["trainable"] == want, key
        assert row["total"] == base + want, key
        assert result["shares"][key] == pytest.approx(100 * want / (base + want), abs=1e-4)


def test_shares_near_the_paper(result):
    assert set(result["shares"]) == {"lora_r32", "lora_r128", "moelora_r32_k4", "hydralora_r32_k4",
                                     "teamlora_r32_k4", "teamlora_r16_k4"}
    for key, row in result["rows"].items():
        if row["paper_percent"] is not None:  # the paper's denominator may differ slightly
            assert abs(row["percent"] - row["paper_percent"]) < 0.05, key
    assert result["rows"]["moelora_r32_k4"]["paper_percent"] is None
