"""python -m bench.gpu: the flags, the time budget, and one run from the model build to the printed tables.

The result is written to --json-out (default bench/results/gpu-<date>.json) at the start and again after
every finished part (model build, each attention x checkpointing group, QLoRA, ZeRO-2), so a run that is
cut off leaves the parts it finished. What is measured and how: docs/benchmarks.md, "GPU benchmark".
"""
from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence

import torch

from llava.model.config import num_image_tokens

from ..cli import choices, require_min
from ..harness import benchmark_parser, plan_for, run_mode
from ..variants import REFERENCE, VARIANTS
from .environment import device_name, first_attn, versions
from .matrix import flat_ratios, plan_cells, run_train_matrix
from .memory import free_memory
from .model import build_base, dry_config, llava7b_config
from .qlora import empty_qlora, run_qlora, save_qlora_base
from .results import PENDING, ResultFile, default_json_path, failure
from .settings import (ATTNS, DEFAULT_VARIANTS, FFN_TARGETS, GIB, GRAD_CKPT, PLANS, QUICK_TIME_BUDGET_S,
                       Settings)
from .tables import format_tables
from .zero2 import empty_zero2, run_zero2

DESCRIPTION = """\
GPU benchmark at LLaVA-1.5-7B shapes (random weights, bf16): adapter variants x attention x activation
checkpointing (step time, tokens/s, peak memory, ratio over LoRA of rank k*r), a QLoRA (4-bit) TeamLoRA
step, and a 2-step ZeRO-2 run through the deepspeed launcher. One JSON object is printed last and written
to --json-out after every finished part. What each part measures, the JSON keys and the time it takes:
docs/benchmarks.md, section "GPU benchmark".

  bash bench/gpu.sh --quick     # the core table + QLoRA in a short GPU loan (< 8 min on one H200, estimate)
  bash bench/gpu.sh             # everything
  python -m bench.gpu --dry-run # CPU, tiny shapes, seconds: the same code path (the tests run it)
"""


@dataclass
class Deadline:
    """--time-budget: once spent, the parts not yet started are recorded as skipped with this reason."""

    budget_s: Optional[float]
    start: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def reason(self) -> Optional[str]:
        if self.budget_s is None or self.elapsed() < self.budget_s:
            return None
        return (f"not started: the --time-budget of {self.budget_s:g} s was spent "
                f"({self.elapsed():.0f} s elapsed)")


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = benchmark_parser("python -m bench.gpu", DESCRIPTION)
    p.add_argument("--dry-run", action="store_true",
                   help="CPU, tiny LLaVA, batch 2 x 64 tokens, fp32, sdpa only, 2 timed steps: checks the code runs")
    p.add_argument("--quick", action="store_true",
                   help="the core table only: sdpa, activation checkpointing on, 1 warm-up + 3 timed rounds, "
                        f"QLoRA, no ZeRO-2, --time-budget {QUICK_TIME_BUDGET_S:g} (flags given override these)")
    p.add_argument("--batch", type=int, default=None,
                   help="starting batch, halved on out-of-memory (default 16; dry run 2)")
    p.add_argument("--seq-len", type=int, default=None,
                   help="tokens per sample, image tokens included (default 2048; dry run 64)")
    p.add_argument("--steps", type=int, default=None, help="timed rounds per group (default 5; --quick 3; dry run 2)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed warm-up rounds per group (default 2; --quick and dry run 1)")
    p.add_argument("--attn", default=None,
                   help="comma list from sdpa,flash_attention_2 (default both; --quick and dry run sdpa)")
    p.add_argument("--grad-ckpt", default=None,
                   help="activation checkpointing settings, comma list from on,off (default on,off; --quick on)")
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                   help=f"comma list from {', '.join(VARIANTS)} (lora_kr, the reference, is always added)")
    p.add_argument("--k", type=int, default=4, help="experts (default 4)")
    p.add_argument("--r", type=int, default=32, help="rank per expert (default 32; lora_kr has rank k*r)")
    p.add_argument("--skip-qlora", action="store_true", help="skip the bitsandbytes 4-bit TeamLoRA step")
    p.add_argument("--skip-zero", action="store_true",
                   help="skip the 2-step ZeRO-2 deepspeed-launcher run (--quick implies it)")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="start no part (attention x checkpointing group, QLoRA, ZeRO-2) after this many seconds "
                        "since the start; the parts left are recorded as skipped (default none; "
                        f"--quick {QUICK_TIME_BUDGET_S:g}). A part already running runs to its end")
    p.add_argument("--work-dir", default=None,
                   help="where the QLoRA checkpoint and the ZeRO-2 run go (default: a temporary directory, removed)")
    p.add_argument("--json-out", default=None,
                   help="the JSON result, rewritten after every part (default bench/results/gpu-<date>.json)")
    args = p.parse_args(argv)
    narrow = args.dry_run or args.quick  # one attention implementation unless asked for more
    args.attn = choices(args.attn, ATTNS, "--attn", p) if args.attn else (["sdpa"] if narrow else list(ATTNS))
    args.grad_ckpt = choices(args.grad_ckpt or ("on" if args.quick else ",".join(GRAD_CKPT)), GRAD_CKPT,
                             "--grad-ckpt", p)
    args.variants = choices(args.variants, VARIANTS, "--variants", p)
    if REFERENCE not in args.variants:
        args.variants.insert(0, REFERENCE)
    if args.quick:
        args.skip_zero = True
        if args.time_budget is None:
            args.time_budget = QUICK_TIME_BUDGET_S
    require_min(p, args, 1, "batch", "seq_len", "steps")
    require_min(p, args, 0, "warmup", "time_budget")
    return args


def settings_for(args: argparse.Namespace, device: torch.device) -> Settings:
    dry = args.dry_run
    plan = plan_for(run_mode(args), PLANS, repeats=args.steps, warmup=args.warmup)
    return Settings(
        device=device,
        dtype=torch.float32 if dry else torch.bfloat16,
        dry_run=dry,
        batch=args.batch or (2 if dry else 16),
        seq_len=args.seq_len or (64 if dry else 2048),
        steps=plan.repeats,
        warmup=plan.warmup,
        attns=args.attn,
        grad_ckpts=args.grad_ckpt,
        variants=args.variants,
        k=args.k,
        r=args.r,
        skip_qlora=args.skip_qlora,
        skip_zero=args.skip_zero,
        quick=args.quick,
        work_dir=args.work_dir,
    )


def new_result(settings: Settings, image_tokens: int, train: dict, skipped_attn: Dict[str, Optional[str]], *,
               time_budget_s: Optional[float]) -> dict:
    """The result object before anything is measured: every part pending."""
    device = settings.device
    return {
        "benchmark": "gpu",
        "dry_run": settings.dry_run,
        "device": device_name(device),
        "gpu_memory_gib": torch.cuda.get_device_properties(device).total_memory / GIB if settings.cuda else None,
        "versions": versions(),
        "model": {"name": "tiny-llava (dry run)" if settings.dry_run else "llava-1.5-7b-shaped (random weights)",
                  "params": None, "dtype": str(settings.dtype).removeprefix("torch."), "image_tokens": image_tokens},
        "settings": {"batch": settings.batch, "seq_len": settings.seq_len, "steps": settings.steps,
                     "warmup": settings.warmup, "attn": settings.attns, "grad_ckpt": settings.grad_ckpts,
                     "variants": settings.variants, "k": settings.k, "r": settings.r,
                     "targets": list(FFN_TARGETS), "lr": settings.lr, "quick": settings.quick,
                     "time_budget_s": time_budget_s},
        "skipped_attn": skipped_attn,
        "train": train,
        "ratios": flat_ratios(train),
        "qlora": empty_qlora(PENDING),
        "zero2": empty_zero2(PENDING),
        "complete": False,  # true only in the file written after the last part
        "elapsed_s": 0.0,
        "part_s": {},  # seconds each finished part took: "build", "<attn>/ckpt_<on|off>", "qlora", "zero2"
    }


@contextlib.contextmanager
def work_folder(settings: Settings) -> Iterator[Path]:
    """--work-dir (kept), or a temporary folder removed at the end."""
    if settings.work_dir:
        Path(settings.work_dir).mkdir(parents=True, exist_ok=True)
        yield Path(settings.work_dir)
        return
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        yield Path(tmp)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        print("bench.gpu: no CUDA device is visible (torch.cuda.is_available() is False). This benchmark needs "
              "a GPU; pass --dry-run to exercise the code path on CPU with tiny shapes.", file=sys.stderr)
        raise SystemExit(2)
    deadline = Deadline(args.time_budget)
    device = torch.device("cpu") if args.dry_run else torch.device("cuda", torch.cuda.current_device())
    settings = settings_for(args, device)
    torch.manual_seed(0)
    config = dry_config() if settings.dry_run else llava7b_config()
    n_img = num_image_tokens(config)
    if settings.seq_len < n_img + 2:
        raise SystemExit(f"bench.gpu: --seq-len {settings.seq_len} cannot hold {n_img} image tokens plus text")

    train, skipped_attn = plan_cells(settings)
    result = new_result(settings, n_img, train, skipped_attn, time_budget_s=args.time_budget)
    out = ResultFile(args.json_out or default_json_path())
    log = settings.log

    def save() -> str:
        result["ratios"] = flat_ratios(train)
        result["elapsed_s"] = round(deadline.elapsed(), 1)
        return out.write(result)

    def part_done(name: str, seconds: float) -> None:
        result["part_s"][name] = round(seconds, 1)
        save()

    log(f"bench.gpu on {result['device']}{' (dry run)' if settings.dry_run else ''}; JSON: {out.path}")
    save()
    with work_folder(settings) as work_dir:
        attn = first_attn(settings)
        log(f"building the base model ({result['model']['name']}, {result['model']['dtype']}, attn {attn})")
        start = time.perf_counter()
        model = build_base(config, settings, attn)
        result["model"]["params"] = sum(p.numel() for p in model.parameters())
        result["model"]["build_s"] = time.perf_counter() - start
        part_done("build", result["model"]["build_s"])
        run_train_matrix(model, config, settings, train, skipped_attn, stop=deadline.reason, done=part_done)

        # the GPU-only parts below cannot be exercised on a CPU machine: a failure is reported, not fatal
        start = time.perf_counter()
        qlora_dir, qlora_reason = None, deadline.reason()
        if qlora_reason is None:
            try:
                qlora_dir, qlora_reason = save_qlora_base(model, settings, work_dir)
            except Exception as err:  # noqa: BLE001
                log(f"QLoRA: {failure(err)}\n{traceback.format_exc()}")
                qlora_dir, qlora_reason = None, failure(err)
                shutil.rmtree(work_dir / "qlora-base", ignore_errors=True)
        del model
        free_memory(device)
        try:
            result["qlora"] = empty_qlora(qlora_reason) if qlora_dir is None else run_qlora(qlora_dir, config, settings)
        except Exception as err:  # noqa: BLE001
            log(f"QLoRA: {failure(err)}\n{traceback.format_exc()}")
            result["qlora"] = empty_qlora(failure(err))
        free_memory(device)
        part_done("qlora", time.perf_counter() - start)

        start = time.perf_counter()
        zero_reason = deadline.reason()
        try:
            result["zero2"] = empty_zero2(zero_reason) if zero_reason else run_zero2(settings, work_dir)
        except Exception as err:  # noqa: BLE001
            log(f"ZeRO-2: {failure(err)}\n{traceback.format_exc()}")
            result["zero2"] = {**empty_zero2(failure(err)), "finished": False}
        part_done("zero2", time.perf_counter() - start)

    result["complete"] = True
    line = save()
    print()
    print(format_tables(result))
    print()
    print(f"JSON written to {out.path} ({result['elapsed_s']:.0f} s). Paste the tables above into docs/results.md "
          "(GPU section), with the date and the device line.")
    print(line, flush=True)  # the last line printed is the result
    return result

