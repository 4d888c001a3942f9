"""The methods of the multi-task study, at matched trainable parameters on the tiny default model.

With r the rank per expert (--rank; 1 in the interference setting, 16 in the plain one) and k = 4:

    lora_kr           LoRA of rank k*r: the one shared adapter of equal size
    oracle            k separate LoRAs of rank r, one per task, each trained and scored on its own task
                      (knows the task; needs exactly k tasks to match lora_kr's size)
    moelora           k experts of rank r, softmax router (weights sum to 1)
    moelora_xk        MoELoRA with alpha times k: its output scale equals TeamLoRA "authors"' (weights sum
                      to k), so it separates the interaction matrix from the x k
    hydralora         one shared rank-(3r/2) A, k B's: 3r/2 brings its count within 3% of MoELoRA's
                      (r >= 4; at r = 1 it is rank 1, 22% below MoELoRA: rank 2 would be 26% above)
    teamlora_paper    TeamLoRA, omega = M phi (the paper's text)
    teamlora_authors  TeamLoRA as the authors' released layer: omega = k * normalise(phi M)

Routed methods' A/B sizes equal LoRA(k*r)'s; routers add k*d_in per adapted layer, 9,600 parameters on
the tiny FFN (256 -> 688 -> 256, 2 blocks): LoRA(k*r) and the oracle are 3% below MoELoRA at r = 16,
30% below at r = 1. Scaling is alpha / r with alpha unset = 2r (TeamLoraConfig's
default), except moelora_xk (alpha = 2rk). Learning rates are the embedded default's.

The paper's two ablations need no runs of their own under the adapter math (docs/design.md#adapter-math):
  collaboration only (shared A / split B, plain softmax router) = teamlora_paper --use_interaction False,
      which is MoELoRA weight for weight (tests/teamlora/test_ablations.py);
  competition only (MoELoRA + Shapley router + interaction matrix) = TeamLoRA itself, since MoELoRA's
      k stacked A's are one shared A of k*r rows.

    python -m bench.study.methods list                  # the method names, one a line
    python -m bench.study.methods args METHOD [--rank R] # its stage-2 trainer flags
    python -m bench.study.methods per-task METHOD        # "yes" when it trains one adapter per task
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

EXPERTS = 4
RANK = 1  # per expert, interference setting: a tight budget, so one shared adapter must divide its capacity
# (at r = 4 one shared LoRA of rank 16 learnt all four conventions in 2 of 3 seeds: no interference; docs/results.md 3.1)
PLAIN_RANK = 16  # per expert, the plain setting (the embedded default's data)
ALPHA_PER_RANK = 2  # TeamLoraConfig's default alpha = 2 * r


@dataclass(frozen=True)
class StudyMethod:
    name: str
    title: str  # label without sizes
    peft: str
    experts: int
    rank_times: int = 1  # rank = rank_times * r // rank_over
    rank_over: int = 1
    alpha_times_k: bool = False  # alpha = 2 * rank * k instead of TeamLoraConfig's 2 * rank
    per_task: bool = False
    extra: tuple = ()
    ablation_of: tuple = ()  # paper ablations this run also stands for

    def rank(self, r: int = RANK) -> int:
        return self.rank_times * r // self.rank_over

    def alpha(self, r: int = RANK) -> Optional[int]:
        return ALPHA_PER_RANK * self.rank(r) * EXPERTS if self.alpha_times_k else None

    def label(self, r: int = RANK) -> str:
        if self.per_task:
            return f"{self.title} ({EXPERTS} × r={self.rank(r)})"
        size = f"r={self.rank(r)}" if self.experts == 1 else f"k={self.experts}, r={self.rank(r)}"
        alpha = f", α={self.alpha(r)}" if self.alpha_times_k else ""
        return f"{self.title} ({size}{alpha})"

    def trainer_args(self, r: int = RANK) -> List[str]:
        args = ["--peft", self.peft, "--adapter_r", str(self.rank(r)), "--num_experts", str(self.experts)]
        if self.alpha_times_k:
            args += ["--adapter_alpha", str(self.alpha(r))]
        return args + list(self.extra)


METHODS: Dict[str, StudyMethod] = {m.name: m for m in (
    StudyMethod("lora_kr", "LoRA", "lora", 1, rank_times=EXPERTS),
    StudyMethod("oracle", "per-task LoRAs", "lora", 1, per_task=True),
    StudyMethod("moelora", "MoELoRA", "moelora", EXPERTS, ablation_of=("collaboration only",)),
    StudyMethod("moelora_xk", "MoELoRA ×k", "moelora", EXPERTS, alpha_times_k=True),
    StudyMethod("hydralora", "HydraLoRA", "hydralora", EXPERTS, rank_times=3, rank_over=2),
    StudyMethod("teamlora_paper", "TeamLoRA paper", "teamlora", EXPERTS, extra=("--variant", "paper"),
                ablation_of=("competition only",)),
    StudyMethod("teamlora_authors", "TeamLoRA authors", "teamlora", EXPERTS, extra=("--variant", "authors")),
)}
REFERENCE = "lora_kr"  # the shared adapter every ratio is taken against
ORACLE = "oracle"
# The earlier plain study's TeamLoRA (before the variants; its layer computed "paper"): kept so its runs still read.
LEGACY_LABELS = {"teamlora": "TeamLoRA (k=4, r=16)"}


def get_method(name: str) -> StudyMethod:
    if name not in METHODS:
        raise SystemExit(f"unknown study method {name!r}; choose from {', '.join(METHODS)}")
    return METHODS[name]


def label(name: str, r: int = RANK) -> str:
    return METHODS[name].label(r) if name in METHODS else LEGACY_LABELS.get(name, name)


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.study.methods", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="method names, one a line")
    args_p = sub.add_parser("args", help="a method's stage-2 trainer flags")
    args_p.add_argument("method")
    args_p.add_argument("--rank", type=int, default=RANK, help=f"rank per expert r (default {RANK})")
    sub.add_parser("per-task", help="'yes' when the method trains one adapter per task").add_argument("method")
    args = p.parse_args(argv)
    if args.command == "list":
        print("\n".join(METHODS))
    elif args.command == "args":
        if args.rank < 1:
            raise SystemExit(f"--rank must be >= 1 (got {args.rank})")
        print(" ".join(get_method(args.method).trainer_args(args.rank)))
    else:
        print("yes" if get_method(args.method).per_task else "no")


if __name__ == "__main__":
    main()
