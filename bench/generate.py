"""End-to-end generation benchmark: batched greedy LLaVA generation per adapter variant, new tokens/s.

    python -m bench.generate            # full run (5 rounds), sizes tiny and mid
    python -m bench.generate --quick    # smoke run (3 rounds of one call)
    python -m bench.generate --dry-run  # tiny shapes under both size names, seconds (CI)

See `--help` for what is measured and the bar. The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import gc
import sys
from dataclasses import asdict
from typing import Dict, Optional, Sequence

import torch
from torch import nn

from .cli import require_min
from .e2e import (
    EOS, PAD, RATIO_HEADERS, RATIO_NOTE, Size, ThroughputBar, add_common_flags, build_variants,
    TimingLog, check_common, evaluate_bars, finish, fmt_count, interleaved, paired_ratios,
    param_counts, plan_for, progress, random_inputs, ratio_cells, run_warnings, sizes_for, sync,
    utilisation_warnings,
)
from .harness import benchmark_parser, format_table
from .output import emit_json
from .timing import torch_threads

MODE = "generate"

# docs/design.md#speed-bars: the fused TeamLoRA costs about what LoRA of rank k*r costs, in generation as well.
BARS = (ThroughputBar("mid", "teamlora", "lora_kr", 0.95),)

HELP = """\
Times batched greedy generation with transformers' LlavaForConditionalGeneration.generate (random
weights, fp32, eval mode, torch.inference_mode, use_cache=True, do_sample=False, num_beams=1,
min_new_tokens = max_new_tokens so every variant generates the same number of tokens) for these
variants (bench/variants.py; adapters on the language model's FFN, B small random values):
  none          the base model, no adapters
  lora_r        LoRA of rank r                  lora_kr   LoRA of rank k*r (the reference)
  moelora       MoELoRA, fused                  moelora_loop  MoELoRA as a per-expert Python loop
  hydralora     HydraLoRA, fused                teamlora  TeamLoRA, fused
Prompts: equal-length rows (no padding): BOS, the image's <image> tokens, random text ids; one random
image per row. A call is the whole generate(): vision tower + prompt prefill + the decoding steps.
Sizes (see bench.train_step --help for the models):
  tiny  batch 32, prompts of 64 tokens (16 image tokens), 16 new tokens (the embedded default's eval
        batch)
  mid   batch 2, prompts of 272 tokens (256 image tokens), 32 new tokens (a call of about 6 s on 2
        cores: 2 s of prefill, 4 s of decoding)
new tokens/s = batch x new tokens / call time.
Method: every variant of a size is built from the same seeded base model (frozen weights shared);
calls are timed round-robin (the order rotates between rounds) after warm-up; throughput is the median
over rounds; ratios are paired per round (time ratio and throughput ratio = 1 / time ratio, over
lora_kr and over moelora_loop). CPU/wall is recorded per block (a warning flags contention).
Bar (docs/design.md#speed-bars; PASS/FAIL printed, the exit code does not change):
  mid: teamlora generation throughput >= 0.95x lora_kr  (time ratio <= 1.053)
JSON keys (last line): <size>_<variant>_{new_tokens_per_s,trainable_params,total_params},
<size>_<variant>_over_<lora_kr|moelora_loop>_generate_{time,throughput}, bars, threads, repeats,
dry_run, torch, device, ...
--quick: 3 rounds of one call (mid included): a smoke run. Full run: 5 rounds, blocks of ~2 s.
"""


def generate_once(model: nn.Module, inputs: Dict[str, torch.Tensor], new_tokens: int) -> torch.Tensor:
    """Greedy generation of exactly `new_tokens` tokens per row; returns the new tokens [B, new_tokens]."""
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                             num_beams=1, use_cache=True, pad_token_id=PAD, eos_token_id=EOS)
    return out[:, inputs["input_ids"].shape[1]:]


class GenerateCall:
    def __init__(self, model: nn.Module, inputs: Dict[str, torch.Tensor], new_tokens: int, device: str = "cpu"):
        self.model = model.eval()
        self.inputs = inputs
        self.new_tokens = new_tokens
        self.device = device

    def __call__(self) -> torch.Tensor:
        out = generate_once(self.model, self.inputs, self.new_tokens)
        sync(self.device)
        return out


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = benchmark_parser("python -m bench.generate", HELP)
    add_common_flags(p)
    p.add_argument("--batch", type=int, default=None, help="override every size's generation batch")
    p.add_argument("--new-tokens", type=int, default=None, help="override every size's new-token count")
    args = p.parse_args(argv)
    check_common(args, p)
    require_min(p, args, 1, "batch", "new_tokens")
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    plan = plan_for(args)
    variants = args.variant_list
    results: Dict[str, object] = {}
    ratios: Dict[str, float] = {}
    timing = TimingLog()
    used_sizes: Dict[str, Size] = {}
    with torch_threads(args.threads):
        warnings = run_warnings(args, plan)
        for size in sizes_for(args).values():
            batch_size, n_new = args.batch or size.gen_batch, args.new_tokens or size.gen_new_tokens
            size = used_sizes[size.name] = Size(**{**asdict(size), "gen_batch": batch_size, "gen_new_tokens": n_new})
            progress(f"[generate] {size.name}: building {len(variants)} variants")
            models = build_variants(size, variants, args.k, args.r, seed=args.seed, device=args.device)
            inputs = random_inputs(size, batch_size, size.gen_prompt, seed=args.seed, labels=False, device=args.device)
            calls = {v: GenerateCall(m, inputs, n_new, args.device) for v, m in models.items()}
            counts = {v: param_counts(m) for v, m in models.items()}
            samples = interleaved(calls, plan, label=f"[generate] {size.name}: ")
            del calls, models
            gc.collect()

            size_ratios = paired_ratios(size.name, MODE, samples)
            ratios.update(size_ratios)
            seconds = timing.record(size.name, samples)
            rows = []
            for v in variants:
                call_s = seconds[v]
                trainable, total = counts[v]
                results[f"{size.name}_{v}_new_tokens_per_s"] = batch_size * n_new / call_s
                results[f"{size.name}_{v}_trainable_params"] = trainable
                results[f"{size.name}_{v}_total_params"] = total
                rows.append([v, fmt_count(trainable), fmt_count(total),
                             f"{batch_size * n_new / call_s:.1f}", f"{1e3 * call_s:.0f}",
                             *ratio_cells(size.name, MODE, v, size_ratios), f"{timing.cpu_wall[size.name][v]:.2f}"])
            title = (f"== {size.name}: {size.describe()}; batch {batch_size}, prompts of {size.gen_prompt} tokens, "
                     f"{n_new} new tokens; k={args.k}, r={args.r}; {plan.repeats} rounds, {args.threads} threads, "
                     f"{args.device} ==")
            headers = ["variant", "trainable", "total", "new tok/s", "call ms", *RATIO_HEADERS, "cpu/wall"]
            print(format_table(title, headers, rows), flush=True)
            print(RATIO_NOTE, flush=True)
            print(flush=True)

        warnings += utilisation_warnings(args, timing.utilisations)

    bars = evaluate_bars(BARS, MODE, ratios, list(used_sizes), variants)
    result = finish(args, plan, used_sizes, bars=bars, results=results, ratios=ratios, warnings=warnings,
                    timing=timing.as_json("median_call_ms"))
    return emit_json(result, args.json_out)


if __name__ == "__main__":
    main(sys.argv[1:])
