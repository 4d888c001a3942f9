"""Trainable-parameter table for LLaMA-7B with FFN-only adapters, beside the TeamLoRA paper's figures.

    python -m bench.params [--json-out FILE]

Builds transformers' LlamaForCausalLM (LLaMA-7B sizes) on the meta device (no weights are
allocated), adds adapters to gate_proj/up_proj/down_proj with teamlora.add_adapters, and counts
with teamlora.count_parameters: the share is trainable / all parameters, adapters included.
The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import sys
from typing import Dict, List, Optional, Sequence

import torch

from teamlora import TeamLoraConfig, add_adapters, count_parameters

from .output import emit_json

LLAMA_7B = dict(
    vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
    num_attention_heads=32, num_key_value_heads=32, tie_word_embeddings=False,
)

# (method, r, k, the paper's "%Params" or None where the paper gives none)
ROWS = (
    ("lora", 32, 1, 0.67),
    ("lora", 128, 1, 2.68),
    ("moelora", 32, 4, None),
    ("hydralora", 32, 4, 1.84),
    ("teamlora", 32, 4, 2.71),
    ("teamlora", 16, 4, 1.35),
)


def build_llama7b(**overrides):
    from transformers import LlamaConfig, LlamaForCausalLM

    with torch.device("meta"):
        return LlamaForCausalLM(LlamaConfig(**{**LLAMA_7B, **overrides}))


def row_key(method: str, r: int, k: int) -> str:
    return f"{method}_r{r}" if method == "lora" else f"{method}_r{r}_k{k}"


def count_rows(rows: Sequence[tuple] = ROWS, **overrides) -> List[Dict]:
    out = []
    for method, r, k, paper in rows:
        model = build_llama7b(**overrides)
        base_total = count_parameters(model).total
        add_adapters(model, TeamLoraConfig(method=method, r=r, num_experts=None if method == "lora" else k))
        count = count_parameters(model)
        out.append({
            "key": row_key(method, r, k), "method": method, "r": r, "k": k,
            "trainable": count.trainable, "total": count.total, "base_total": base_total,
            "percent": 100.0 * count.share, "paper_percent": paper,
        })
    return out


def format_table(rows: Sequence[Dict]) -> str:
    lines = [
        "| method | r | k | trainable params | % of total | paper % |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        paper = "" if row["paper_percent"] is None else f"{row['paper_percent']:.2f}"
        lines.append(f"| {row['method']} | {row['r']} | {row['k']} | {row['trainable']:,} | "
                     f"{row['percent']:.2f} | {paper} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.params", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json-out", default=None, help="also write the JSON result to this file")
    args = p.parse_args(argv)
    rows = count_rows()
    print(f"LLaMA-7B (LlamaForCausalLM, meta device): {rows[0]['base_total']:,} parameters; "
          "adapters on gate_proj, up_proj, down_proj of all 32 layers.")
    print(format_table(rows))
    print("% of total = trainable / all parameters (adapters included). The paper's % may use a slightly "
          "different denominator; the counts here are exact for this model.")
    result = {
        "model": "llama-7b", "base_total": rows[0]["base_total"],
        "targets": ["gate_proj", "up_proj", "down_proj"],
        "rows": {row["key"]: {k: row[k] for k in ("method", "r", "k", "trainable", "total", "percent",
                                                 "paper_percent")} for row in rows},
        "shares": {row["key"]: round(row["percent"], 4) for row in rows},
        "transformers": __import__("transformers").__version__,
        "torch": torch.__version__,
    }
    return emit_json(result, args.json_out)


if __name__ == "__main__":
    main(sys.argv[1:])
