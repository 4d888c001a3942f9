"""MM-Vet score tables: per capability, per capability combination, over runs."""
import statistics

from eval.mmvet.data import MMVetItem, capability_order


def _mean_percent(values: list[float]) -> float:
    return round(100.0 * sum(values) / len(values), 2) if values else 0.0


def capability_scores(scores: dict[str, float], items: dict[str, MMVetItem]) -> dict[str, float]:
    """{capability: mean score x100 over questions tagged with it, ..., "total": over all}."""
    table = {cap: _mean_percent([scores[q] for q, it in items.items() if cap in it.capabilities])
             for cap in capability_order(items)}
    table["total"] = _mean_percent([scores[q] for q in items])
    return table


def combination_key(item: MMVetItem, order: list[str]) -> str:
    """The question's exact capability set, e.g. "ocr_math", in MM-Vet's capability order."""
    return "_".join(c for c in order if c in item.capabilities)


def combination_scores(scores: dict[str, float], items: dict[str, MMVetItem]) -> dict[str, dict]:
    """{combination: {"count", "score"}} for every capability set the data holds."""
    order = capability_order(items)
    groups: dict[str, list[float]] = {}
    for qid, item in items.items():
        groups.setdefault(combination_key(item, order), []).append(scores[qid])
    return {k: {"count": len(v), "score": _mean_percent(v)} for k, v in sorted(groups.items())}


def summarize_runs(tables: list[dict[str, float]]) -> tuple[dict, dict]:
    """(mean, population std) of every column over the runs' capability tables."""
    columns = tables[0].keys()
    mean = {c: round(statistics.fmean(t[c] for t in tables), 2) for c in columns}
    std = {c: round(statistics.pstdev([t[c] for t in tables]), 2) for c in columns}
    return mean, std


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
