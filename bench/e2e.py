"""Shared pieces of the end-to-end benchmarks (bench.train_step, bench.generate).

- the model sizes (`Size`, SIZES, DRY_SIZES) and random-weight LLaVA builders: every variant of one size is
  built from the same seeded base model and shares its frozen tensors (vision tower, embeddings, LM
  weights): only the adapters and the projector are per-variant copies;
- random synthetic inputs (token ids with the image tokens right after BOS, random pixels);
- their run plans (bench.harness: the interleaved round-robin timer, presets, bars and tables);
- ratio keys, throughput bars, the shared command-line flags and the closing report.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import math
import sys
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from teamlora import adapted_layers, count_parameters
from llava.model.config import num_image_tokens
from llava.model.tiny import tiny_llava_config

from .cli import choices, require_min
from .harness import Plan, bar_verdict, interleaved as interleave, plan_for as preset_plan, random_llava, run_mode
from .output import fmt_ratio, print_bars
from .timing import Sample, contention_report, median, paired_ratio
from .variants import PROJECTOR, REFERENCE, VARIANTS, apply_variant

# ids of the synthetic vocabulary: the tiny tokenizer's layout (bos 1, eos 2, pad 3, <image> 4)
BOS, EOS, PAD, IMAGE = 1, 2, 3, 4
FIRST_TEXT_ID = 5  # random text tokens are drawn from [5, vocab)
REFERENCES = (REFERENCE, "moelora_loop")  # every variant's time is paired with each of these


@dataclass(frozen=True)
class Size:
    """One model size plus its training and generation workloads."""

    name: str
    text_hidden: int
    text_layers: int
    text_intermediate: int
    text_heads: int
    vocab: int
    image_size: int
    patch_size: int
    vision_hidden: int
    vision_layers: int
    train_batch: int
    train_seq: int  # language-model sequence length, image tokens included
    gen_batch: int
    gen_prompt: int  # prompt length, image tokens included
    gen_new_tokens: int

    @property
    def image_tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2  # the "default" feature strategy drops CLS

    def describe(self) -> str:
        return (f"LM {self.text_hidden}x{self.text_layers} layers (FFN {self.text_intermediate}, "
                f"{self.text_heads} heads of {self.text_hidden // self.text_heads}, vocab {self.vocab}), "
                f"vision {self.vision_hidden}x{self.vision_layers} layers, {self.image_size}px/{self.patch_size} "
                f"({self.image_tokens} image tokens)")


SIZES = {
    # the embedded default's model (llava/model/tiny/model.py defaults; vocab 512) and its training batch
    # (scripts/embedded_default.sh: 32 per step; synthetic samples are 48-109 tokens, mean 75, so a
    # batch padded to its longest row is about 96 tokens); generation as its eval: batch 32
    "tiny": Size("tiny", text_hidden=256, text_layers=2, text_intermediate=688, text_heads=4, vocab=512,
                 image_size=64, patch_size=16, vision_hidden=128, vision_layers=2,
                 train_batch=32, train_seq=96, gen_batch=32, gen_prompt=64, gen_new_tokens=16),
    # LLaMA-7B's aspect ratios (FFN 2.69x hidden, heads of 128, vocab 32000) at 1/4 width, 8 layers:
    # 181M parameters; a small 224px/14px vision tower gives 256 image tokens per sample. Training:
    # 1 x 384 tokens (256 image + 128 text: like LLaVA-1.5, where image tokens are most of a sample),
    # a step of about 5 s on 2 cores (--batch 2: twice that). Generation: 2 prompts of 272 tokens,
    # 32 new tokens each: a call of about 6 s, 2 s of prefill and 4 s of decoding.
    "mid": Size("mid", text_hidden=1024, text_layers=8, text_intermediate=2752, text_heads=8, vocab=32000,
                image_size=224, patch_size=14, vision_hidden=256, vision_layers=2,
                train_batch=1, train_seq=384, gen_batch=2, gen_prompt=272, gen_new_tokens=32),
}
# --dry-run keeps the size names (so the JSON keys are those of a real run) but shrinks everything
DRY_SIZES = {
    name: Size(name, text_hidden=64, text_layers=2, text_intermediate=176, text_heads=1, vocab=128,
               image_size=32, patch_size=16, vision_hidden=32, vision_layers=1,
               train_batch=2, train_seq=16, gen_batch=2, gen_prompt=12, gen_new_tokens=3)
    for name in SIZES
}


# ---- models ------------------------------------------------------------------------------------
def llava_config(size: Size):
    """LlavaConfig of a size: tiny_llava_config with the size's head count."""
    config = tiny_llava_config(
        vocab_size=size.vocab, image_token_id=IMAGE, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
        image_size=size.image_size, patch_size=size.patch_size, vision_hidden=size.vision_hidden,
        vision_layers=size.vision_layers, text_hidden=size.text_hidden, text_layers=size.text_layers,
        text_intermediate=size.text_intermediate,
        max_length=max(512, size.train_seq, size.gen_prompt + size.gen_new_tokens),
    )
    text = config.text_config
    if size.text_hidden % size.text_heads:
        raise ValueError(f"{size.name}: text_hidden {size.text_hidden} is not a multiple of {size.text_heads} heads")
    text.num_attention_heads = text.num_key_value_heads = size.text_heads
    text.head_dim = size.text_hidden // size.text_heads
    assert num_image_tokens(config) == size.image_tokens
    return config


def build_base(size: Size, *, seed: int = 0, device: str = "cpu") -> nn.Module:
    """Random-weight fp32 LLaVA of `size` (no tokenizer), seeded."""
    torch.manual_seed(seed)
    model = random_llava(llava_config(size), dtype=torch.float32, device="cpu")  # seeded on the CPU, then moved
    model.generation_config.pad_token_id = PAD
    model.generation_config.eos_token_id = EOS
    return model.to(device)


@torch.no_grad()
def randomize_lora_b(model: nn.Module, *, seed: int, std: float = 0.02) -> None:
    """B starts at zero; give it small random values so no term of the computation (nor of the
    gradient: with B = 0, A and the router get zero gradients) is trivially zero."""
    g = torch.Generator().manual_seed(seed)
    for _, layer in adapted_layers(model):
        w = layer.lora_B.weight
        w.copy_(torch.randn(w.shape, generator=g) * std)


def prepare_variant(model: nn.Module, variant: str, k: int, r: int, *, seed: int) -> nn.Module:
    """Add the variant's adapters, seeded: the same method gets the same adapter weights (so moelora and
    moelora_loop compute the same function)."""
    torch.manual_seed(seed + 1)
    apply_variant(model, variant, k, r)
    randomize_lora_b(model, seed=seed + 2)
    return model


def build_variant(size: Size, variant: str, k: int, r: int, *, seed: int = 0, device: str = "cpu") -> nn.Module:
    """One variant's model on its own (what a fresh process measuring memory builds)."""
    return prepare_variant(build_base(size, seed=seed, device=device), variant, k, r, seed=seed)


def build_variants(size: Size, variants: Sequence[str], k: int, r: int, *, seed: int = 0,
                   device: str = "cpu") -> Dict[str, nn.Module]:
    """Every variant on the same base weights. The frozen tensors are shared, not copied (they never
    change, and at the mid size seven copies would cost gigabytes); each variant gets its own
    projector and adapters."""
    base = build_base(size, seed=seed, device=device)
    shared = {}
    for name, p in base.named_parameters():
        if PROJECTOR not in name:
            p.requires_grad_(False)
            shared[id(p)] = p
    models = {}
    for v in variants:
        model = copy.deepcopy(base, memo=dict(shared))  # the memo maps every frozen tensor to itself
        models[v] = prepare_variant(model, v, k, r, seed=seed)
    return models


def param_counts(model: nn.Module) -> Tuple[int, int]:
    c = count_parameters(model)
    return c.trainable, c.total


# ---- inputs ------------------------------------------------------------------------------------
def llava_batch(config, batch: int, seq: int, *, seed: int, labels: bool, text_ids: Tuple[int, int],
                device="cpu", pixel_dtype: Optional[torch.dtype] = None, what: str = "sequence") -> Dict[str, torch.Tensor]:
    """A random LLaVA batch for `config`: BOS, the image's <image> tokens, then text ids drawn from
    [text_ids[0], text_ids[1]); one random image per row; no padding (attention mask all ones).

    labels: input_ids with BOS and the image positions set to -100 (the loss is on the text, as LLaVA
    masks the prompt side). `what` names the length in the error when `seq` cannot hold the image.
    """
    n_img = num_image_tokens(config)
    if seq < n_img + 2:
        raise ValueError(f"{what}: {seq} tokens cannot hold the {n_img} image tokens plus text")
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(text_ids[0], text_ids[1], (batch, seq), generator=g)
    ids[:, 0] = config.text_config.bos_token_id
    ids[:, 1 : 1 + n_img] = config.image_token_index
    image_size = config.vision_config.image_size
    pixels = torch.randn(batch, 3, image_size, image_size, generator=g)
    out = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "pixel_values": pixels if pixel_dtype is None else pixels.to(pixel_dtype),
    }
    if labels:
        lab = ids.clone()
        lab[:, : 1 + n_img] = -100
        out["labels"] = lab
    return {key: t.to(device) for key, t in out.items()}


def random_inputs(size: Size, batch: int, seq: int, *, seed: int, labels: bool,
                  device: str = "cpu") -> Dict[str, torch.Tensor]:
    """llava_batch for a size's model: text ids above the tiny tokenizer's special ids."""
    return llava_batch(llava_config(size), batch, seq, seed=seed, labels=labels, text_ids=(FIRST_TEXT_ID, size.vocab),
                       device=device, what=f"{size.name} sequence length")


def optimizer_step(model: nn.Module, optimizer: torch.optim.Optimizer, inputs: Dict[str, torch.Tensor],
                   *, autocast=None) -> torch.Tensor:
    """One training step: forward with labels (under `autocast` when given), backward, step, zero_grad."""
    with autocast if autocast is not None else contextlib.nullcontext():
        loss = model(**inputs).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)  # idle variants hold no gradients
    return loss.detach()


# ---- timing ------------------------------------------------------------------------------------
# rounds per mode; a full run's blocks last about 2 s (1 to 50 calls)
PLANS = {
    "dry": Plan(repeats=1, warmup=1, target_s=0.0),
    "quick": Plan(repeats=3, warmup=1, target_s=0.0),
    "full": Plan(repeats=5, warmup=2, target_s=2.0),
}


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def interleaved(steps: Mapping[str, Callable[[], object]], plan: Plan, *, label: str = "") -> Dict[str, List[Sample]]:
    """bench.harness.interleaved over the variants, a progress line on stderr after every round."""
    return interleave(steps, plan, after_round=lambda rep: progress(f"{label}round {rep + 1}/{plan.repeats} done"))


def ratio_key(size: str, variant: str, ref: str, what: str) -> str:
    """e.g. mid_teamlora_over_lora_kr_train_throughput (what: "<mode>_time" or "<mode>_throughput")."""
    return f"{size}_{variant}_over_{ref}_{what}"


def paired_ratios(size: str, mode: str, samples: Mapping[str, Sequence[Sample]]) -> Dict[str, float]:
    """Time and throughput ratios of every variant over each reference measured (never over itself)."""
    out: Dict[str, float] = {}
    for ref in REFERENCES:
        if ref not in samples:
            continue
        for v in samples:
            if v == ref:
                continue
            t = paired_ratio(samples[v], samples[ref])
            out[ratio_key(size, v, ref, f"{mode}_time")] = t
            out[ratio_key(size, v, ref, f"{mode}_throughput")] = 1.0 / t if t > 0 else math.nan
    return out


# ---- bars --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThroughputBar:
    """variant's throughput / ref's throughput >= limit (i.e. time ratio <= 1 / limit), at one size."""

    size: str
    variant: str
    ref: str
    limit: float

    def key(self, mode: str) -> str:
        return ratio_key(self.size, self.variant, self.ref, f"{mode}_throughput")


def evaluate_bars(bars: Sequence[ThroughputBar], mode: str, ratios: Mapping[str, float],
                  sizes: Sequence[str], variants: Sequence[str]) -> List[dict]:
    out = []
    for bar in bars:
        if bar.size not in sizes or bar.variant not in variants or bar.ref not in variants:
            continue
        out.append(bar_verdict(bar.key(mode), ratios.get(bar.key(mode)), bar.limit, at_least=True,
                               time_ratio_limit=round(1.0 / bar.limit, 4)))
    return out


# ---- tables ------------------------------------------------------------------------------------
def ratio_cells(size: str, mode: str, v: str, ratios: Mapping[str, float]) -> List[str]:
    """time/lora_kr, throughput/lora_kr, throughput/moelora_loop ("1" on the reference's own row)."""
    def get(ref, what):
        return "1" if v == ref else fmt_ratio(ratios.get(ratio_key(size, v, ref, f"{mode}_{what}"), math.nan))
    return [get(REFERENCE, "time"), get(REFERENCE, "throughput"), get("moelora_loop", "throughput")]


RATIO_HEADERS = ("time/LoRA-kr", "thru/LoRA-kr", "thru/MoE-loop")
RATIO_NOTE = ("time/X: median over rounds of (time / X's time in the same round); "
              "thru/X = 1 / time/X: throughput relative to X (higher is faster)")


def fmt_count(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}K"


# ---- command line ------------------------------------------------------------------------------
def add_common_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="fewer repeats, one call per timed block (smoke run)")
    p.add_argument("--dry-run", action="store_true",
                   help="tiny shapes under both size names, one repeat: checks the code runs (CI); "
                        "the JSON keys are those of a real run")
    p.add_argument("--sizes", default="tiny,mid", help="comma list from: " + ", ".join(SIZES))
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help=f"comma list from: {', '.join(VARIANTS)} ({REFERENCE} is always added: every ratio is over it)")
    p.add_argument("--k", type=int, default=4, help="experts (default 4)")
    p.add_argument("--r", type=int, default=32, help="rank per expert; lora_kr has rank k*r (default 32)")
    p.add_argument("--repeats", type=int, default=None, help="timed rounds (default 5; --quick 3; --dry-run 1)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up calls per variant (default 2; --quick/--dry-run 1)")
    p.add_argument("--iters", type=int, default=None,
                   help="calls per timed block (default: enough for ~2 s, at least 1; --quick/--dry-run: 1)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads (default: torch.get_num_threads(), i.e. OMP_NUM_THREADS)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="default cpu (fp32 either way)")
    p.add_argument("--seed", type=int, default=0, help="seed of the base weights and inputs (default 0)")
    p.add_argument("--json-out", default=None, help="also write the JSON result to this file")


def check_common(args: argparse.Namespace, p: argparse.ArgumentParser) -> None:
    args.size_list = choices(args.sizes, list(SIZES), "--sizes", p)
    variants = choices(args.variants, VARIANTS, "--variants", p)
    args.added_reference = REFERENCE not in variants
    if args.added_reference:
        variants.insert(0, REFERENCE)
    args.variant_list = [v for v in VARIANTS if v in variants]  # canonical order
    if args.k < 2 or args.r < 1:
        p.error("need --k >= 2 and --r >= 1")
    if args.threads is None:
        args.threads = torch.get_num_threads()
    require_min(p, args, 1, "threads", "repeats", "iters")
    require_min(p, args, 0, "warmup")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")


def plan_for(args: argparse.Namespace) -> Plan:
    return preset_plan(run_mode(args), PLANS, repeats=args.repeats, warmup=args.warmup, iters=args.iters)


def sizes_for(args: argparse.Namespace) -> Dict[str, Size]:
    table = DRY_SIZES if args.dry_run else SIZES
    return {name: table[name] for name in args.size_list}


def run_warnings(args: argparse.Namespace, plan: Plan) -> List[str]:
    warnings = []
    if torch.get_num_threads() != args.threads:
        warnings.append(f"WARNING: asked for {args.threads} threads, torch uses {torch.get_num_threads()}")
    if args.added_reference:
        warnings.append(f"note: added {REFERENCE}: every ratio is paired with it")
    if args.dry_run:
        warnings.append("dry run: tiny shapes and one repeat; the timings and PASS/FAIL mean nothing")
    elif args.quick:
        warnings.append(f"quick run: {plan.repeats} repeats of one call; use the full run for reported numbers")
    return warnings


def utilisation_warnings(args: argparse.Namespace, utilisations: Dict[str, List[float]]) -> List[str]:
    if args.dry_run or args.device != "cpu":
        return []  # too short to mean anything / the GPU does the work
    return contention_report(utilisations, args.threads)


def common_result(args: argparse.Namespace, plan: Plan, sizes: Mapping[str, Size]) -> dict:
    return {
        "threads": args.threads,
        "repeats": plan.repeats,
        "warmup": plan.warmup,
        "iters": plan.iters if plan.iters is not None else ("auto" if plan.target_s > 0 else 1),
        "quick": bool(args.quick),
        "dry_run": bool(args.dry_run),
        "k": args.k,
        "r": args.r,
        "variants": list(args.variant_list),
        "sizes": {name: asdict(s) for name, s in sizes.items()},
        "torch": torch.__version__,
        "device": args.device if args.device == "cpu" else f"cuda ({torch.cuda.get_device_name()})",
        "dtype": "float32",
    }


class TimingLog:
    """Per size and variant: median ms per call, calls per timed block, CPU/wall; utilisations for warnings."""

    def __init__(self) -> None:
        self.median_ms: Dict[str, Dict[str, float]] = {}
        self.block_iters: Dict[str, Dict[str, int]] = {}
        self.cpu_wall: Dict[str, Dict[str, float]] = {}
        self.utilisations: Dict[str, List[float]] = {}

    def record(self, size: str, samples: Mapping[str, Sequence[Sample]]) -> Dict[str, float]:
        """Store one size's interleaved samples; returns each variant's median seconds per call."""
        seconds = {}
        self.median_ms[size], self.cpu_wall[size] = {}, {}
        self.block_iters[size] = {v: s[0].iters for v, s in samples.items()}
        for v, s in samples.items():
            seconds[v] = median(x.wall_s for x in s)
            util = [x.utilisation for x in s]
            self.utilisations[f"{size}_{v}"] = util
            self.median_ms[size][v] = 1e3 * seconds[v]
            self.cpu_wall[size][v] = median(util)
        return seconds

    def as_json(self, median_key: str) -> dict:
        return {
            median_key: {s: rounded(d, 2) for s, d in self.median_ms.items()},
            "calls_per_block": self.block_iters,
            "cpu_wall": {s: rounded(d, 3) for s, d in self.cpu_wall.items()},
        }


def finish(args: argparse.Namespace, plan: Plan, sizes: Mapping[str, Size], *, bars: List[dict],
           results: Mapping[str, object], ratios: Mapping[str, float], warnings: List[str],
           timing: Mapping[str, object], extra: Optional[Mapping[str, object]] = None) -> dict:
    """Print the bars and warnings and assemble the closing JSON object of an end-to-end benchmark."""
    print_bars(bars)
    for w in warnings:
        print(w)
    return {
        **rounded(dict(results), 2),
        **rounded(dict(sorted(ratios.items())), 4),
        "bars": bars,
        "all_bars_pass": bool(bars) and all(b["pass"] for b in bars),
        "references": [ref for ref in REFERENCES if ref in args.variant_list],
        **timing,
        **(extra or {}),
        **common_result(args, plan, sizes),
        "warnings": warnings,
    }


def rounded(values: Mapping[str, object], digits: int = 4) -> Dict[str, object]:
    """Floats rounded (non-finite ones become None: JSON has no NaN); other values as they are."""
    def one(v):
        if isinstance(v, float):
            return round(v, digits) if math.isfinite(v) else None
        return v
    return {k: one(v) for k, v in values.items()}


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()

