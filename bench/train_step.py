"""End-to-end training benchmark: one LLaVA training step per adapter variant, tokens/s, samples/s, memory.

    python -m bench.train_step            # full run (5 rounds), sizes tiny and mid
    python -m bench.train_step --quick    # smoke run (3 rounds of one step)
    python -m bench.train_step --dry-run  # tiny shapes under both size names, seconds (CI)

See `--help` for what is measured and the bars. The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .cli import require_min
from .e2e import (
    RATIO_HEADERS, RATIO_NOTE, Size, ThroughputBar, add_common_flags, build_variant, build_variants,
    TimingLog, check_common, evaluate_bars, finish, optimizer_step, fmt_count, interleaved, paired_ratios,
    param_counts, plan_for, progress, random_inputs, ratio_cells, run_warnings, sizes_for, sync,
    utilisation_warnings,
)
from .harness import benchmark_parser, format_table
from .output import emit_json
from .timing import torch_threads

MODE = "train"
MIB = 1024 * 1024
LR = 1e-4

# docs/design.md#speed-bars (end to end): TeamLoRA training throughput >= 0.95x LoRA of equal parameters (rank k*r),
# and clearly above the per-expert MoELoRA loop, at the mid size (the tiny one is overhead-dominated).
BARS = (
    ThroughputBar("mid", "teamlora", "lora_kr", 0.95),
    ThroughputBar("mid", "teamlora", "moelora_loop", 1.15),
)

HELP = """\
Times one LLaVA training step (transformers' LlavaForConditionalGeneration, random weights, fp32, train
mode, dropout 0): forward with labels, loss.backward(), AdamW step over the trainable parameters
(lr 1e-4, weight decay 0), zero_grad. Per variant (bench/variants.py), all adapting the language model's
FFN (gate/up/down_proj) and training the projector fully:
  none          no adapters: only the projector trains (the backward still runs through the whole LM)
  lora_r        LoRA of rank r                  lora_kr   LoRA of rank k*r (the reference)
  moelora       MoELoRA, fused                  moelora_loop  MoELoRA as a per-expert Python loop
  hydralora     HydraLoRA, fused                teamlora  TeamLoRA, fused
Adapter B matrices get small random values (B = 0 would zero the A and router gradients).
Inputs: random token ids, BOS then the image's <image> tokens then text; one random image per row;
labels = ids with BOS and image positions at -100; no padding.
Sizes:
  tiny  the embedded default's model: LM 256 wide, 2 layers, FFN 688, vocab 512; vision 128 wide,
        2 layers, 64 px / 16 px patches (16 image tokens); batch 32 x 96 tokens (its training batch)
  mid   LLaMA-7B aspect ratios at 1/4 width: LM 1024 wide, 8 layers, FFN 2752, 8 heads of 128, vocab
        32000 (181M parameters); vision 256 wide, 2 layers, 224 px / 14 px (256 image tokens);
        batch 1 x 384 tokens (256 image + 128 text), a step of about 5 s on 2 cores
tokens/s counts every sequence position the language model processes (image tokens included);
samples/s = batch / step time.
Method: every variant of a size is built from the same seeded base model (the frozen weights are
shared, not copied); the steps are timed round-robin, one block of steps per variant in each round
(the order rotates between rounds), after warm-up steps. Throughput is the median over rounds. Ratios
are paired: the median over rounds of (variant step time / reference step time in the same round),
reported as a time ratio and as a throughput ratio (= 1 / time ratio), over lora_kr and over
moelora_loop. CPU time / wall time is recorded per block: well below the thread count means
other processes took the cores (a warning is printed).
Memory (unless --no-memory; after the timing): per variant, a fresh process builds that one model
and runs 2 steps (multiprocessing forkserver: the server imports the libraries once and never builds
a model; each measurement is a new process forked from it). On CPU: peak = the process's peak
resident set during the 2 steps (VmHWM from /proc/self/status, reset through /proc/self/clear_refs
just before the first step; ru_maxrss is not used: it also counts the peak of the process a child
was started from), step = peak minus the resident set just before the first step (the peak includes
the ~300 MiB of imported libraries and the model; the step figure is activations, gradients and
optimizer state). On CUDA:
torch.cuda.max_memory_allocated() after reset_peak_memory_stats(), and its increase over the memory
allocated before the first step.
Bars (docs/design.md#speed-bars; PASS/FAIL printed, the exit code does not change):
  mid: teamlora throughput >= 0.95x lora_kr  (time ratio <= 1.053)
  mid: teamlora throughput >= 1.15x moelora_loop  (time ratio <= 0.870)
JSON keys (last line): <size>_<variant>_{samples_per_s,tokens_per_s,trainable_params,total_params,
peak_mem_mib,step_mem_mib}, <size>_<variant>_over_<lora_kr|moelora_loop>_train_{time,throughput},
bars, threads, repeats, dry_run, torch, device, ...
--quick: 3 rounds of one step (mid included): a smoke run. Full run: 5 rounds, blocks of ~2 s.
"""


# ---- the step ----------------------------------------------------------------------------------
def trainable_parameters(model: nn.Module) -> List[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


class TrainStep:
    """One optimizer step on a fixed batch: forward with labels, backward, AdamW, zero_grad."""

    def __init__(self, model: nn.Module, batch: Dict[str, torch.Tensor], device: str = "cpu", lr: float = LR):
        self.model = model.train()
        self.batch = batch
        self.device = device
        self.params = trainable_parameters(model)
        if not self.params:
            raise ValueError("the model has no trainable parameters")
        self.optimizer = torch.optim.AdamW(self.params, lr=lr, weight_decay=0.0)
        self.first_loss: Optional[float] = None

    def __call__(self) -> torch.Tensor:
        loss = optimizer_step(self.model, self.optimizer, self.batch)
        sync(self.device)
        if self.first_loss is None:
            self.first_loss = loss.item()
        return loss.detach()


def check_loop_agrees(steps: Dict[str, TrainStep]) -> None:
    """moelora and moelora_loop start from the same weights: their first losses must agree (the benchmark
    refuses to compare models that compute different things)."""
    if "moelora" not in steps or "moelora_loop" not in steps:
        return
    a, b = steps["moelora"].first_loss, steps["moelora_loop"].first_loss
    if a is None or b is None:
        return
    if not abs(a - b) <= 1e-4 * max(1.0, abs(a)):
        raise RuntimeError(f"moelora and moelora_loop disagree: first-step losses {a:.6g} vs {b:.6g}")


def changed_parameters(model: nn.Module, step: Callable[[], object]) -> Tuple[int, int]:
    """(trainable tensors that one call of step() changed, trainable tensors); frozen ones must not change."""
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    step()
    changed = total = 0
    for n, p in model.named_parameters():
        moved = not torch.equal(before[n], p.detach())
        if p.requires_grad:
            total += 1
            changed += moved
        elif moved:
            raise AssertionError(f"frozen parameter {n} changed in a training step")
    return changed, total


# ---- memory (in a fresh process) ---------------------------------------------------------------
def _proc_status_kib(field: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # Linux >= 4.0: reset the peak resident set size to the current one
        return True
    except OSError:
        return False


def memory_child(job: dict) -> dict:
    """Runs in a fresh process: build one variant, run 2 steps, report peak and step memory in MiB."""
    torch.set_num_threads(job["threads"])
    size = Size(**job["size"])
    device = job["device"]
    model = build_variant(size, job["variant"], job["k"], job["r"], seed=job["seed"], device=device)
    batch = random_inputs(size, size.train_batch, size.train_seq, seed=job["seed"], labels=True, device=device)
    step = TrainStep(model, batch, device)
    gc.collect()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        step()
        peak = torch.cuda.max_memory_allocated()
        return {"peak_mem_mib": peak / MIB, "step_mem_mib": (peak - before) / MIB,
                "method": "cuda max_memory_allocated"}
    if _proc_status_kib("VmHWM") is not None:
        reset = _reset_peak_rss()
        before = _proc_status_kib("VmRSS") if reset else _proc_status_kib("VmHWM")
        step()
        step()
        peak = _proc_status_kib("VmHWM")
        method = "VmHWM" + (" (reset before the steps)" if reset else " (not resettable: step memory is a lower bound)")
        return {"peak_mem_mib": peak / 1024, "step_mem_mib": (peak - before) / 1024, "method": method}
    import resource  # no /proc: ru_maxrss (KiB on Linux); it includes the launching process's peak

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step()
    step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_mem_mib": peak / 1024, "step_mem_mib": (peak - before) / 1024, "method": "ru_maxrss"}


def measure_memory(jobs: Sequence[dict]) -> List[Optional[dict]]:
    """Each job in its own fresh process, one at a time (they would compete for memory bandwidth and cores)."""
    ctx = multiprocessing.get_context("forkserver")
    # the libraries are imported once by the server, before any fork; not this module itself: under
    # `python -m bench.train_step` the children re-run it as __mp_main__, and runpy warns if it is loaded
    ctx.set_forkserver_preload(["bench.e2e"])
    target = importlib.import_module("bench.train_step").memory_child  # picklable under `python -m` too
    out: List[Optional[dict]] = []
    for job in jobs:
        try:
            with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:  # one new process per job
                out.append(pool.submit(target, job).result())
        except Exception as e:  # noqa: BLE001 - reported, the timings stay valid
            progress(f"memory measurement failed for {job['size']['name']} {job['variant']}: {e!r}")
            out.append(None)
    return out


# ---- main --------------------------------------------------------------------------------------
def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = benchmark_parser("python -m bench.train_step", HELP)
    add_common_flags(p)
    p.add_argument("--batch", type=int, default=None, help="override every size's training batch")
    p.add_argument("--seq", type=int, default=None, help="override every size's sequence length (image tokens included)")
    p.add_argument("--no-memory", action="store_true", help="skip the per-variant memory measurement")
    args = p.parse_args(argv)
    check_common(args, p)
    require_min(p, args, 1, "batch", "seq")
    return args


def workload(size: Size, args: argparse.Namespace) -> Tuple[int, int]:
    return args.batch or size.train_batch, args.seq or size.train_seq


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    plan = plan_for(args)
    sizes = sizes_for(args)
    variants = args.variant_list
    results: Dict[str, object] = {}
    ratios: Dict[str, float] = {}
    timing = TimingLog()
    memory_method = None
    used_sizes: Dict[str, Size] = {}
    with torch_threads(args.threads):
        warnings = run_warnings(args, plan)
        for size in sizes.values():
            batch_size, seq = workload(size, args)
            size = used_sizes[size.name] = Size(**{**asdict(size), "train_batch": batch_size, "train_seq": seq})
            progress(f"[train_step] {size.name}: building {len(variants)} variants")
            models = build_variants(size, variants, args.k, args.r, seed=args.seed, device=args.device)
            batch = random_inputs(size, batch_size, seq, seed=args.seed, labels=True, device=args.device)
            steps = {v: TrainStep(m, batch, args.device) for v, m in models.items()}
            counts = {v: param_counts(m) for v, m in models.items()}
            samples = interleaved(steps, plan, label=f"[train_step] {size.name}: ")
            check_loop_agrees(steps)
            del steps, models
            gc.collect()

            mem: Dict[str, Optional[dict]] = {v: None for v in variants}
            if not args.no_memory:
                progress(f"[train_step] {size.name}: memory, one fresh process per variant")
                jobs = [dict(size=asdict(size), variant=v, k=args.k, r=args.r, seed=args.seed,
                             threads=args.threads, device=args.device) for v in variants]
                for v, m in zip(variants, measure_memory(jobs)):
                    mem[v] = m
                    if m is None:
                        warnings.append(f"WARNING: memory measurement failed for {size.name} {v}")
                    else:
                        memory_method = m["method"]

            size_ratios = paired_ratios(size.name, MODE, samples)
            ratios.update(size_ratios)
            seconds = timing.record(size.name, samples)
            rows = []
            for v in variants:
                step_s = seconds[v]
                trainable, total = counts[v]
                results[f"{size.name}_{v}_samples_per_s"] = batch_size / step_s
                results[f"{size.name}_{v}_tokens_per_s"] = batch_size * seq / step_s
                results[f"{size.name}_{v}_trainable_params"] = trainable
                results[f"{size.name}_{v}_total_params"] = total
                m = mem[v]
                results[f"{size.name}_{v}_peak_mem_mib"] = m["peak_mem_mib"] if m else None
                results[f"{size.name}_{v}_step_mem_mib"] = m["step_mem_mib"] if m else None
                rows.append([v, fmt_count(trainable), f"{batch_size / step_s:.2f}", f"{batch_size * seq / step_s:.0f}",
                             f"{1e3 * step_s:.0f}", *ratio_cells(size.name, MODE, v, size_ratios),
                             f"{timing.cpu_wall[size.name][v]:.2f}",
                             f"{m['peak_mem_mib']:.0f}" if m else "-", f"{m['step_mem_mib']:.0f}" if m else "-"])
            title = (f"== {size.name}: {size.describe()}; batch {batch_size} x {seq} tokens; k={args.k}, r={args.r}; "
                     f"{plan.repeats} rounds, {args.threads} threads, {args.device} ==")
            headers = ["variant", "trainable", "samples/s", "tokens/s", "step ms", *RATIO_HEADERS, "cpu/wall",
                       "peak MiB", "step MiB"]
            print(format_table(title, headers, rows), flush=True)
            print(RATIO_NOTE + "; peak MiB: peak memory of a fresh process running the steps, step MiB: "
                  "its increase over the memory just before the first step", flush=True)
            print(flush=True)

        warnings += utilisation_warnings(args, timing.utilisations)

    bars = evaluate_bars(BARS, MODE, ratios, list(sizes), variants)
    result = finish(args, plan, used_sizes, bars=bars, results=results, ratios=ratios, warnings=warnings,
                    timing=timing.as_json("median_step_ms"), extra={"memory": "skipped" if args.no_memory else memory_method})
    return emit_json(result, args.json_out)


if __name__ == "__main__":
    main(sys.argv[1:])
