"""The tables a bench.gpu run prints (markdown, to paste into docs/results.md with the device line)."""
from __future__ import annotations

from typing import Optional

from ..harness import markdown_table


def _fmt(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _count(n: Optional[int]) -> str:
    if n is None:
        return "?"
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.2f}M"


def _train_rows(result: dict):
    """The grid's measured rows, and notes for the cells that were asked for but not measured."""
    rows, notes = [], []
    for attn, by_ckpt in result["train"].items():
        attn_reason = result["skipped_attn"].get(attn)
        if attn_reason and not attn_reason.startswith("not requested"):
            notes.append(f"{attn}: {attn_reason}")
        for ckpt, cells in by_ckpt.items():
            for variant, c in cells.items():
                if c["skipped"] and c["batch"] is None:
                    continue
                oom = f" (OOM at {','.join(map(str, c['oom_batches']))})" if c["oom_batches"] else ""
                rows.append([attn, ckpt.removeprefix("ckpt_"), variant, f"{_fmt(c['batch'], 'd')}{oom}",
                             _fmt(c["step_ms"], ".1f"), _fmt(c["tokens_per_s"], ".0f"), _fmt(c["peak_gib"], ".2f"),
                             _fmt(c["over_lora_kr"], ".3f")])
            bad = {c["skipped"] for c in cells.values() if c["skipped"] and c["batch"] is None
                   and not c["skipped"].startswith("not requested")
                   and c["skipped"] != result["skipped_attn"].get(attn)}
            notes.extend(f"{attn} {ckpt}: {reason}" for reason in sorted(bad))
    return rows, notes


def format_tables(result: dict) -> str:
    lines = [f"Device: {result['device']}   " + "  ".join(f"{k} {v}" for k, v in result["versions"].items()),
             f"Model: {result['model']['name']} ({_count(result['model']['params'])} parameters, "
             f"{result['model']['dtype']}, {result['model']['image_tokens']} image tokens); "
             f"adapters on {', '.join(result['settings']['targets'])}, k={result['settings']['k']}, "
             f"r={result['settings']['r']}",
             ""]
    rows, notes = _train_rows(result)
    lines += markdown_table(["attn", "act. ckpt", "variant", "batch", "step (ms)", "tokens/s", "peak (GiB)",
                             "x lora_kr"], rows, right=[False] * 3 + [True] * 5)
    q = result["qlora"]
    if q["batch"] is not None:
        qrows = [["teamlora", q["attn"], q["grad_ckpt"], q["batch"], _fmt(q["step_ms"], ".1f"),
                  _fmt(q["tokens_per_s"], ".0f"), _fmt(q["peak_gib"], ".2f")]]
    else:
        qrows = [[f"skipped: {q['skipped']}", "", "", "", "", "", ""]]
    lines += [""] + markdown_table(["QLoRA (nf4) TeamLoRA", "attn", "act. ckpt", "batch", "step (ms)", "tokens/s",
                                    "peak (GiB)"], qrows, right=[False] * 3 + [True] * 4)
    z = result["zero2"]
    if z["skipped"] and z["finished"] is None:
        lines += ["", f"ZeRO-2 (deepspeed launcher, 1 process): skipped: {z['skipped']}"]
    else:
        lines += ["", f"ZeRO-2 (deepspeed launcher, 1 process, tiny LLaVA, TeamLoRA): finished={z['finished']} "
                      f"steps={z['steps']} step time={_fmt(z['step_time_s'], '.3f')} s (train_runtime / steps) "
                      f"checkpoint loaded={z['checkpoint_loaded']} (log: {z['log']})"]
        if z["skipped"]:
            lines.append(f"  {z['skipped']}")
    if notes:
        lines += ["", "Skipped:"] + [f"  {n}" for n in notes]
    lines += ["", "Peak memory: max_memory_allocated during the variant's steps, minus the other variants' "
                  "adapters and optimizer state (resident only for the interleaving).",
              "x lora_kr: median over rounds of the step time over lora_kr's in the same round (below 1 = faster)."]
    return "\n".join(lines)
