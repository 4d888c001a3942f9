"""Layer-level benchmark: one adapted Linear with a frozen base, fused vs per-expert loop vs LoRA.

    python -m bench.layers            # full run (median of 7 repeats)
    python -m bench.layers --quick    # smoke run, about two minutes on 2 idle cores
    python -m bench.layers --dry-run  # tiny shapes, seconds (CI)

See `--help` for what is measured and the quality bars. The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from teamlora import TeamLoraConfig, TeamLoraLinear

from .cli import choices, csv_list, require_min
from .harness import Plan, bar_verdict, benchmark_parser, format_table as aligned_table, interleaved, plan_for, run_mode
from .output import emit_json, fmt_ratio, print_bars
from .timing import Sample, contention_report, median, paired_ratio, torch_threads


@dataclass(frozen=True)
class Shape:
    name: str
    d_in: int
    d_out: int
    tokens: int


SHAPES = {
    "7b": Shape("7b", 4096, 11008, 512),  # LLaMA-7B FFN up/gate projection, 512 tokens
    "small": Shape("small", 1024, 2752, 2048),  # adapters are a large share of the step here
}
# --dry-run keeps the shape names (so the JSON keys are the same) but shrinks the sizes
DRY_SHAPES = {
    "7b": Shape("7b", 128, 344, 32),
    "small": Shape("small", 64, 176, 64),
}

MODES = ("train", "infer")
REFERENCES = ("lora_kr", "base", "moelora_loop")  # every variant is reported over each of these
ROUTED = ("moelora", "hydralora", "teamlora")
QUICK_KS = {"7b": (4,), "small": (8,)}  # --quick without --ks: the (shape, k) groups the bars are about


@dataclass(frozen=True)
class Bar:
    shape: str
    k: Optional[int]  # None: every k measured at that shape
    variant: str
    ref: str
    mode: str
    limit: float

    def key(self, k: int, r: int) -> str:
        return ratio_key(self.shape, k, r, self.variant, self.ref, self.mode)


# docs/design.md#speed-bars: fused TeamLoRA costs no more than LoRA of rank k*r; where the adapters are a large
# share of the step (small shape, k=8, r=16) it clearly beats the per-expert MoELoRA loop.
BARS = (
    Bar("7b", None, "teamlora", "lora_kr", "train", 1.08),
    Bar("7b", None, "teamlora", "lora_kr", "infer", 1.08),
    Bar("small", 8, "teamlora", "moelora_loop", "train", 0.75),
    Bar("small", 8, "teamlora", "moelora_loop", "infer", 0.80),
)

HELP = """\
Times one adapted Linear (fp32, frozen base weight, no bias, dropout 0) for these variants:
  base            the frozen nn.Linear alone
  lora_r          LoRA of rank r
  lora_kr         LoRA of rank k*r (same A/B sizes as TeamLoRA/MoELoRA)
  moelora_loop    MoELoRA as a per-expert Python loop (TeamLoraLinear.forward_reference: slices the
                  stacked A/B weights expert by expert)
  moelora_modlist MoELoRA as many repositories write it: a ModuleList of k LoRA experts, looped
                  (no weight slicing; its backward skips the slice-gradient scatter of the loop above)
  hydralora_loop  HydraLoRA, per-expert loop (forward_reference)
  teamlora_loop   TeamLoRA, per-expert loop (forward_reference)
  moelora, hydralora, teamlora
                  the fused layers (TeamLoraLinear.forward): two GEMMs and an elementwise gate
                  (teamlora in its default variant, "authors": the gate also renormalises per token)
Two measurements per variant:
  train  forward + backward of a fixed random output gradient w.r.t. the input and the adapter
         parameters (router and interaction matrix included; the base weight is frozen)
  infer  forward under torch.inference_mode()
Shapes: 7b = 4096->11008 x 512 tokens (LLaMA-7B FFN), small = 1024->2752 x 2048 tokens.
Ranks: r = total_rank // k (default 128: k=4 -> r=32, k=8 -> r=16). Stay at r >= 16: rank-8
weight-gradient GEMMs are pathologically slow in CPU BLAS.
--quick: 3 repeats of one call, train-only warm-up and, unless --ks is given, only the groups the
bars are about (7b k=4, small k=8): a smoke run, about 2 minutes on 2 idle cores.
Method: all variants of one (shape, k) are built on one shared base Linear and timed round-robin
inside each repeat (the order rotates between repeats), after warm-up; each repeat times a block
of a few calls. A ratio is the median over repeats of (variant / reference) timed in the same
round; the table also shows median milliseconds per call. Process CPU time is recorded beside
wall time: CPU/wall well below the thread count means other processes took the cores.
Before timing, fused and loop outputs are checked to agree (the benchmark refuses to compare
layers that compute different things).
Bars (docs/design.md#speed-bars), PASS/FAIL printed after the tables:
  7b shape, every k:   teamlora / lora_kr <= 1.08, train and infer
  small shape, k=8:    teamlora / moelora_loop <= 0.75 train, <= 0.80 infer
JSON keys (last line): <shape>k<k>r<r>_<variant>_over_<ref>_<train|infer>, where <shape> is empty
for the 7b shape and "small_" for the small one, ref in lora_kr, base, moelora_loop, plus
<m>_over_<m>_loop for each routed method m; e.g. k4r32_teamlora_over_lora_kr_train,
small_k8r16_teamlora_over_moelora_loop_infer.
"""


def ratio_key(shape: str, k: int, r: int, variant: str, ref: str, mode: str) -> str:
    prefix = "" if shape == "7b" else f"{shape}_"
    return f"{prefix}k{k}r{r}_{variant}_over_{ref}_{mode}"


def group_key(shape: str, k: int, r: int) -> str:
    prefix = "" if shape == "7b" else f"{shape}_"
    return f"{prefix}k{k}r{r}"


# ---- the peer-style MoELoRA --------------------------------------------------------------------
class ModuleListMoELoRA(nn.Module):
    """MoELoRA written the common way: k separate LoRA experts in ModuleLists and a Python loop."""

    def __init__(self, base: nn.Linear, k: int, r: int, scaling: float):
        super().__init__()
        self.base = base
        self.scaling = scaling
        self.gate = nn.Linear(base.in_features, k, bias=False)
        self.lora_A = nn.ModuleList(nn.Linear(base.in_features, r, bias=False) for _ in range(k))
        self.lora_B = nn.ModuleList(nn.Linear(r, base.out_features, bias=False) for _ in range(k))

    @torch.no_grad()
    def load_from(self, layer: TeamLoraLinear) -> "ModuleListMoELoRA":
        """Copy the weights of a fused moelora layer, so both compute the same function."""
        r = layer.r
        self.gate.weight.copy_(layer.router.gate.weight)
        for i, (a, b) in enumerate(zip(self.lora_A, self.lora_B)):
            a.weight.copy_(layer.lora_A.weight[i * r : (i + 1) * r])
            b.weight.copy_(layer.lora_B.weight[:, i * r : (i + 1) * r])
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        weights = torch.softmax(self.gate(x).float(), dim=-1)
        for i, (a, b) in enumerate(zip(self.lora_A, self.lora_B)):
            out = out + weights[..., i : i + 1] * b(a(x)) * self.scaling
        return out


# ---- variants ----------------------------------------------------------------------------------
@dataclass
class Variant:
    name: str
    label: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    params: List[nn.Parameter]  # trainable parameters (gradients taken in the train step)


def _adapter(base: nn.Linear, method: str, k: int, r: int) -> TeamLoraLinear:
    # alpha left to TeamLoraConfig (2 * r); teamlora is its default variant, "authors"
    cfg = TeamLoraConfig(method=method, r=r, num_experts=None if method == "lora" else k, dropout=0.0)
    layer = TeamLoraLinear(base, cfg)
    with torch.no_grad():
        # B starts at zero; give it trained-looking values so no term of the computation is trivially zero
        layer.lora_B.weight.normal_(0.0, 0.02)
    return layer


def _trainable(module: nn.Module) -> List[nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


def build_variants(shape: Shape, k: int, r: int, *, modulelist: bool = True) -> List[Variant]:
    base = nn.Linear(shape.d_in, shape.d_out, bias=False)
    base.weight.requires_grad_(False)
    layers = {m: _adapter(base, m, k, r) for m in ROUTED}
    lora_r, lora_kr = _adapter(base, "lora", 1, r), _adapter(base, "lora", 1, k * r)
    for layer in (lora_r, lora_kr, *layers.values()):
        layer.base.weight.requires_grad_(False)

    names = {"moelora": "MoELoRA", "hydralora": "HydraLoRA", "teamlora": "TeamLoRA"}
    variants = [
        Variant("base", "base Linear", base, []),
        Variant("lora_r", f"LoRA r={r}", lora_r, _trainable(lora_r)),
        Variant("lora_kr", f"LoRA r={k * r}", lora_kr, _trainable(lora_kr)),
        Variant("moelora_loop", "MoELoRA loop (reference)", layers["moelora"].forward_reference,
                _trainable(layers["moelora"])),
    ]
    if modulelist:
        peer = ModuleListMoELoRA(base, k, r, layers["moelora"].scaling).load_from(layers["moelora"])
        variants.append(Variant("moelora_modlist", "MoELoRA loop (ModuleList)", peer, _trainable(peer)))
    for m in ("hydralora", "teamlora"):
        variants.append(Variant(f"{m}_loop", f"{names[m]} loop (reference)", layers[m].forward_reference,
                                _trainable(layers[m])))
    for m in ROUTED:
        variants.append(Variant(m, f"{names[m]} fused", layers[m], _trainable(layers[m])))

    # The check also creates the layers' routing-statistics buffers outside inference mode. Keep them:
    # buffers first created under inference_mode make a later training forward fail (a teamlora quirk).
    _check_agreement(variants, shape)
    return variants


@torch.no_grad()
def _check_agreement(variants: Sequence[Variant], shape: Shape) -> None:
    """Loop and fused forms of one method must give the same output (on a few tokens: cheap)."""
    x = torch.randn(1, min(16, shape.tokens), shape.d_in)
    out = {v.name: v.fn(x) for v in variants}
    pairs = [("moelora", "moelora_loop"), ("hydralora", "hydralora_loop"), ("teamlora", "teamlora_loop")]
    if "moelora_modlist" in out:
        pairs.append(("moelora", "moelora_modlist"))
    for a, b in pairs:
        scale = out[a].abs().max().item()
        err = (out[a] - out[b]).abs().max().item()
        if not err <= 1e-4 * max(scale, 1.0):
            raise RuntimeError(f"{a} and {b} disagree (max abs diff {err:.3g}, output scale {scale:.3g})")


# ---- timing ------------------------------------------------------------------------------------
def _train_step(v: Variant, x: torch.Tensor, grad_out: torch.Tensor) -> Callable[[], None]:
    inputs = [x, *v.params]

    def step() -> None:
        y = v.fn(x)
        # a fixed dense gradient: y.sum().backward() would feed the GEMMs a stride-0 expanded tensor
        torch.autograd.grad(y, inputs, grad_out)

    return step


def _infer_step(v: Variant, x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        with torch.inference_mode():
            v.fn(x)

    return step


# the timed rounds per mode; blocks of up to 200 calls in a full run (a small shape's call is short)
PLANS = {
    "dry": Plan(repeats=1, warmup=1, target_s=0.0, min_iters=1, max_iters=200),
    "quick": Plan(repeats=3, warmup=1, target_s=0.0, min_iters=1, max_iters=200),
    "full": Plan(repeats=7, warmup=1, target_s=0.5, min_iters=2, max_iters=200),
}


def measure_group(shape: Shape, k: int, r: int, plan: Plan, *, modulelist: bool = True
                  ) -> Tuple[List[Variant], Dict[Tuple[str, str], List[Sample]]]:
    """Time every variant x mode of one (shape, k), interleaved; returns samples per (variant, mode)."""
    torch.manual_seed(0)
    variants = build_variants(shape, k, r, modulelist=modulelist)
    x = torch.randn(1, shape.tokens, shape.d_in, requires_grad=True)
    x_infer = x.detach().clone()
    grad_out = torch.randn(1, shape.tokens, shape.d_out)
    steps: Dict[Tuple[str, str], Callable[[], None]] = {}
    for v in variants:
        steps[(v.name, "train")] = _train_step(v, x, grad_out)
        steps[(v.name, "infer")] = _infer_step(v, x_infer)
    # In quick and dry runs (fixed blocks) only the train steps warm up: an inference step runs the same
    # forward, minus autograd. The order rotates by 3 places a round (train and infer of one variant apart).
    samples = interleaved(steps, plan, rotate=3, warm=lambda key: plan.target_s > 0 or key[1] == "train")
    return variants, samples


def format_table(shape: Shape, k: int, r: int, variants: Sequence[Variant],
                 samples: Dict[Tuple[str, str], List[Sample]], threads: int) -> str:
    names = [v.name for v in variants]
    refs = [ref for ref in REFERENCES if ref in names]
    head = (f"== {shape.name}: {shape.d_in} -> {shape.d_out}, {shape.tokens} tokens; k={k}, r={r} (k*r={k * r}); "
            f"{len(samples[(names[0], 'train')])} repeats, {threads} threads ==")
    ref_cols = {"lora_kr": "/LoRA kr", "base": "/base", "moelora_loop": "/MoE loop"}
    headers, widths = ["variant"], [26]
    for mode in MODES:
        headers += [f"{mode} ms", *(ref_cols[ref] for ref in refs)]
        widths += [10] + [9] * len(refs)
    headers.append("cpu/wall")
    widths.append(9)
    rows = []
    for v in variants:
        row = [v.label]
        for mode in MODES:
            row.append(f"{1e3 * median(s.wall_s for s in samples[(v.name, mode)]):.2f}")
            row += [fmt_ratio(paired_ratio(samples[(v.name, mode)], samples[(ref, mode)])) for ref in refs]
        row.append(f"{median(s.utilisation for mode in MODES for s in samples[(v.name, mode)]):.2f}")
        rows.append(row)
    return aligned_table(head, headers, rows, min_widths=widths)


def group_ratios(shape: Shape, k: int, r: int, names: Sequence[str],
                 samples: Dict[Tuple[str, str], List[Sample]]) -> Dict[str, float]:
    out: Dict[str, float] = {}
    for mode in MODES:
        for ref in REFERENCES:
            if ref not in names:
                continue
            for v in names:
                if v != ref:
                    out[ratio_key(shape.name, k, r, v, ref, mode)] = paired_ratio(
                        samples[(v, mode)], samples[(ref, mode)])
        for m in ("hydralora", "teamlora"):  # moelora over moelora_loop is already a REFERENCES ratio
            if m in names and f"{m}_loop" in names:
                out[ratio_key(shape.name, k, r, m, f"{m}_loop", mode)] = paired_ratio(
                    samples[(m, mode)], samples[(f"{m}_loop", mode)])
    return out


def evaluate_bars(ratios: Dict[str, float], measured: Sequence[Tuple[str, int, int]]) -> List[dict]:
    results = []
    for bar in BARS:
        for shape, k, r in measured:
            if shape != bar.shape or (bar.k is not None and bar.k != k):
                continue
            key = bar.key(k, r)
            results.append(bar_verdict(key, ratios.get(key), bar.limit))
    return results


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = benchmark_parser("python -m bench.layers", HELP)
    p.add_argument("--quick", action="store_true",
                   help="3 repeats of 1 call, train-only warm-up, and only the groups the bars need "
                        "(7b k=4, small k=8) unless --ks is given: a smoke run of about 2 min on 2 idle cores")
    p.add_argument("--dry-run", action="store_true", help="tiny shapes, 1 repeat: checks the code runs (seconds)")
    p.add_argument("--shapes", default="7b,small", help="comma list from: " + ", ".join(SHAPES))
    p.add_argument("--ks", default=None, help="comma list of expert counts k (default 4,8 at every shape)")
    p.add_argument("--total-rank", type=int, default=128, help="k*r; r = total_rank // k (default 128)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (default 7; --quick 3; --dry-run 1)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up rounds (default 1)")
    p.add_argument("--iters", type=int, default=None,
                   help="calls per timed block (default: enough for ~0.5 s, at least 2; --quick: 1)")
    p.add_argument("--no-modulelist", action="store_true", help="skip the ModuleList MoELoRA variant")
    p.add_argument("--json-out", default=None, help="also write the JSON result to this file")
    args = p.parse_args(argv)
    shapes = choices(args.shapes, list(SHAPES), "--shapes", p)
    try:
        ks = [int(k) for k in csv_list(args.ks if args.ks is not None else "4,8")]
    except ValueError:
        p.error(f"--ks must be a comma list of integers (got {args.ks!r})")
    if not ks or any(k < 2 for k in ks):
        p.error("--ks: every k must be >= 2")
    for k in ks:
        if args.total_rank // k < 1:
            p.error(f"--total-rank {args.total_rank} gives rank 0 for k={k}")
    require_min(p, args, 1, "threads", "repeats", "iters")
    if args.ks is None and args.quick and not args.dry_run:
        args.groups = [(s, k) for s in shapes for k in QUICK_KS[s]]
    else:
        args.groups = [(s, k) for s in shapes for k in ks]
    args.shape_list = shapes
    return args


def settings_for(args: argparse.Namespace) -> Plan:
    plan = plan_for(run_mode(args), PLANS, repeats=args.repeats, warmup=args.warmup, iters=args.iters)
    if plan.iters is None and plan.target_s > 0:
        plan.warmup = max(1, plan.warmup)  # the warm-up sizes the blocks
    return plan


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    settings = settings_for(args)
    shapes = DRY_SHAPES if args.dry_run else SHAPES
    with torch_threads(args.threads):
        warnings: List[str] = []
        if torch.get_num_threads() != args.threads:
            warnings.append(f"WARNING: asked for {args.threads} threads, torch uses {torch.get_num_threads()}")
        if args.dry_run:
            warnings.append("dry run: tiny shapes and one repeat; the timings and PASS/FAIL mean nothing")
        elif args.quick:
            warnings.append(f"quick run: {settings.repeats} repeats of one call; use the full run for reported numbers")
        ratios: Dict[str, float] = {}
        median_ms: Dict[str, Dict[str, Dict[str, float]]] = {}
        cpu_util: Dict[str, Dict[str, float]] = {}
        utilisations: Dict[str, List[float]] = {}
        measured: List[Tuple[str, int, int]] = []
        for shape_name, k in args.groups:
            shape = shapes[shape_name]
            r = args.total_rank // k
            if r < 16 and not args.dry_run:
                warnings.append(f"note: r={r} < 16 at k={k}: CPU BLAS is pathologically slow at small ranks")
            variants, samples = measure_group(shape, k, r, settings, modulelist=not args.no_modulelist)
            names = [v.name for v in variants]
            print(format_table(shape, k, r, variants, samples, args.threads), flush=True)
            print(flush=True)
            ratios.update(group_ratios(shape, k, r, names, samples))
            g = group_key(shape.name, k, r)
            median_ms[g] = {v: {m: 1e3 * median(s.wall_s for s in samples[(v, m)]) for m in MODES} for v in names}
            cpu_util[g] = {}
            for v in names:
                for m in MODES:
                    u = [s.utilisation for s in samples[(v, m)]]
                    cpu_util[g][f"{v}_{m}"] = median(u)
                    utilisations[f"{g}_{v}_{m}"] = u
            measured.append((shape.name, k, r))

    if not args.dry_run:
        warnings += contention_report(utilisations, args.threads)
    bars = evaluate_bars(ratios, measured)
    print_bars(bars)
    for w in warnings:
        print(w)

    result = {
        **{key: (round(v, 4) if math.isfinite(v) else None) for key, v in sorted(ratios.items())},
        "bars": bars,
        "all_bars_pass": bool(bars) and all(b["pass"] for b in bars),
        "median_ms": median_ms,
        "cpu_wall": cpu_util,
        "threads": args.threads,
        "torch": torch.__version__,
        "repeats": settings.repeats,
        "warmup": settings.warmup,
        "iters": settings.iters if settings.iters is not None else "auto",
        "quick": bool(args.quick),
        "dry_run": bool(args.dry_run),
        "total_rank": args.total_rank,
        "shapes": {s: vars(shapes[s]) for s in args.shape_list},
        "warnings": warnings,
    }
    return emit_json(result, args.json_out)


if __name__ == "__main__":
    main(sys.argv[1:])
