"""What every benchmark prints: ratios, PASS/FAIL bar lines, and the closing JSON line."""
from __future__ import annotations

import json
import math
from typing import Optional, Sequence


def fmt_ratio(x: Optional[float]) -> str:
    return f"{x:.3f}" if x is not None and math.isfinite(x) else "-"


def print_bars(bars: Sequence[dict], title: str = "Bars (docs/design.md#speed-bars):") -> None:
    """One PASS/FAIL line per bar dict (key, value, limit, pass; op, when given, e.g. ">=")."""
    print(title)
    for b in bars:
        verdict = "PASS" if b["pass"] else "FAIL"
        op = f"{b['op']} " if b.get("op") else ""
        print(f"  {verdict}  {b['key']} = {fmt_ratio(b['value'])} (limit {op}{b['limit']:.2f})")
    if not bars:
        print("  none apply to what was measured")


def emit_json(result: dict, json_out: Optional[str] = None) -> dict:
    line = json.dumps(result)
    if json_out:
        with open(json_out, "w") as f:
            f.write(line + "\n")
    print(line, flush=True)
    return result
