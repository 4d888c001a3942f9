"""Does the study's setting show task interference? The per-task oracle against the one shared adapter.

    python -m bench.study.validate --runs checkpoints/study-interference

k separate LoRAs of rank r (each trained and scored on its own task) against one LoRA of rank k*r on
all tasks: same trainable parameters, same examples per task. Interference is shown when the oracle's
mean accuracy beats the shared adapter's by more than two standard errors of the seed-to-seed
variation (bench.study.aggregate.Comparison.exceeds_noise). Exit status 0 when shown, 3 when not
(so scripts/study.sh can stop before comparing methods on a setting that cannot separate them).
"""
from __future__ import annotations

import argparse
import sys
from typing import Dict, Optional, Sequence

from .aggregate import Comparison, MethodSummary, compare, summarize
from .collect import collect_runs
from .methods import ORACLE, REFERENCE

NOT_SHOWN = 3  # exit status: no interference beyond the seed noise


def interference(summaries: Dict[str, MethodSummary], oracle: str = ORACLE, shared: str = REFERENCE) -> Comparison:
    """oracle − shared, mean over tasks then seeds, with the SE of the difference."""
    for name in (oracle, shared):
        if name not in summaries:
            raise ValueError(f"interference check needs runs of {oracle!r} and {shared!r}; missing {name!r}")
    return compare(summaries, oracle, shared)


def shown(c: Comparison) -> bool:
    return c.diff > 0 and c.exceeds_noise


def describe(c: Comparison, summaries: Dict[str, MethodSummary]) -> str:
    o, s = summaries[c.a], summaries[c.b]
    verdict = "interference shown" if shown(c) else "NO interference beyond the seed noise"
    return (f"oracle {o.mean.fmt()} vs shared {s.mean.fmt()} (mean over tasks, ± std over {o.mean.n} / "
            f"{s.mean.n} seeds): difference {c.diff:+.1f} points, 2 SE = {2 * c.se:.1f} -> {verdict}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.study.validate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", required=True, help="study directory with <oracle>/ and <shared>/ runs")
    p.add_argument("--oracle", default=ORACLE)
    p.add_argument("--shared", default=REFERENCE)
    args = p.parse_args(argv)
    summaries = summarize(collect_runs(args.runs, only=(args.oracle, args.shared)), args.shared)
    c = interference(summaries, args.oracle, args.shared)
    for task, o in summaries[args.oracle].per_task.items():
        print(f"  {task:<12} oracle {o.fmt()}  shared {summaries[args.shared].per_task[task].fmt()}")
    print(describe(c, summaries))
    return 0 if shown(c) else NOT_SHOWN


if __name__ == "__main__":
    sys.exit(main())
