"""The methods of the multi-task study, at matched trainable parameters on the tiny default model.

Every routed method has k = 4 experts of rank 16 (A: 64 rows); LoRA gets rank k*r = 64, the same A/B
sizes. HydraLoRA shares one rank-r A, so at r = 16 it would train far fewer parameters: its rank is
raised to 24: within 3% of MoELoRA/TeamLoRA on the tiny FFN (256 -> 688 -> 256); LoRA, without
routers, is 3% below them. Scaling is 2 for every
method (no --adapter_alpha: TeamLoraConfig's default alpha = 2 * rank), learning rates are the embedded
default's. TeamLoRA runs in the trainer's default variant ("authors" unless the flags say otherwise).

The paper's two ablations need no runs of their own under DESIGN §2's math:
  collaboration only (shared A / split B, plain softmax router) = teamlora --use_interaction False,
      which is MoELoRA weight for weight (tests/teamlora/test_ablations.py);
  competition only (MoELoRA + Shapley router + interaction matrix) = teamlora itself, since MoELoRA's
      k stacked A's are one shared A of k*r rows.

    python -m bench.study.methods list             # the method names, one per line
    python -m bench.study.methods args METHOD      # its stage-2 trainer flags
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

EXPERTS = 4
RANK = 16


@dataclass(frozen=True)
class StudyMethod:
    name: str
    label: str
    peft: str
    r: int
    experts: int
    extra: tuple = ()
    ablation_of: tuple = ()  # paper ablations this run also stands for

    def trainer_args(self) -> List[str]:
        return ["--peft", self.peft, "--adapter_r", str(self.r), "--num_experts", str(self.experts), *self.extra]


METHODS: Dict[str, StudyMethod] = {m.name: m for m in (
    StudyMethod("lora_kr", f"LoRA (r={EXPERTS * RANK})", "lora", EXPERTS * RANK, 1),
    StudyMethod("moelora", f"MoELoRA (k={EXPERTS}, r={RANK})", "moelora", RANK, EXPERTS,
                ablation_of=("collaboration only",)),
    StudyMethod("hydralora", f"HydraLoRA (k={EXPERTS}, r=24)", "hydralora", 24, EXPERTS),
    StudyMethod("teamlora", f"TeamLoRA (k={EXPERTS}, r={RANK})", "teamlora", RANK, EXPERTS,
                ablation_of=("competition only",)),
)}
REFERENCE = "lora_kr"


def get_method(name: str) -> StudyMethod:
    if name not in METHODS:
        raise SystemExit(f"unknown study method {name!r}; choose from {', '.join(METHODS)}")
    return METHODS[name]


def main(argv: Optional[Sequence[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["list"]:
        print("\n".join(METHODS))
    elif len(argv) == 2 and argv[0] == "args":
        print(" ".join(get_method(argv[1]).trainer_args()))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
