"""How every benchmark ends: one JSON object as the last printed line (and optionally in a file)."""
from __future__ import annotations

import json
from typing import Optional


def emit_json(result: dict, json_out: Optional[str] = None) -> dict:
    line = json.dumps(result)
    if json_out:
        with open(json_out, "w") as f:
            f.write(line + "\n")
    print(line, flush=True)
    return result
