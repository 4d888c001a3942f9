"""MM-Vet score tables, computed as MM-Vet's evaluator computes them.

Per run: a column's score = sum of its questions' scores / its question count * 100.
Reported: the mean over runs of each column, rounded to `decimals` (numpy's rounding,
as the evaluator uses); std = population std of the per-run totals; runs = the per-run
totals. Columns: capabilities by question count (most first), then "total"; capability
integrations are the exact capability sets, also by count.
"""
from collections import Counter

import numpy as np

from eval.mmvet.data import MMVetItem, capability_order


def _round(value, decimals: int) -> float:
    return float(np.round(value, decimals))


def capability_columns(items: dict[str, MMVetItem]) -> list[str]:
    """Capabilities by question count, most first (ties in the order they first appear)."""
    counts = Counter(c for item in items.values() for c in dict.fromkeys(item.capabilities))
    return [c for c, _ in counts.most_common()]


def combination_key(item: MMVetItem, order: list[str]) -> str:
    """The question's exact capability set, e.g. "ocr_math", in MM-Vet's capability order."""
    return "_".join(c for c in order if c in item.capabilities)


def integration_groups(items: dict[str, MMVetItem]) -> dict[str, list[str]]:
    """{capability set name: question ids}, the sets by question count, most first."""
    order = capability_order(items)
    groups: dict[str, list[str]] = {}
    for qid, item in items.items():
        groups.setdefault(combination_key(item, order), []).append(qid)
    return dict(sorted(groups.items(), key=lambda kv: -len(kv[1])))   # stable for ties


def _run_percent(scores: dict[str, float], members: list[str]) -> float:
    total = 0.0
    for qid in members:
        total += scores[qid]
    return total / len(members) * 100


def official_tables(run_scores: list[dict[str, float]], items: dict[str, MMVetItem],
                    decimals: int = 1) -> dict:
    """The evaluator's cap-score and cap-int-score rows, plus the per-run columns."""
    columns = {c: [q for q, it in items.items() if c in it.capabilities] for c in capability_columns(items)}
    columns["total"] = list(items)
    per_run = {c: [_run_percent(scores, m) for scores in run_scores] for c, m in columns.items()}
    totals = np.array(per_run["total"])
    integration = {name: {"count": len(m),
                          "score": _round(np.mean([_run_percent(s, m) for s in run_scores]), decimals)}
                   for name, m in integration_groups(items).items()}
    return {
        "capabilities": {c: _round(np.mean(v), decimals) for c, v in per_run.items() if c != "total"},
        "total": _round(np.mean(totals), decimals),
        "std": _round(np.std(totals), decimals),
        "runs": [float(x) for x in np.round(totals, decimals)],
        "per_run": [{c: _round(v[i], decimals) for c, v in per_run.items()} for i in range(len(run_scores))],
        "capability_integration": integration,
    }


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
