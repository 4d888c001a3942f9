"""The data report: records per modality, and per quirk its count, first ids and policy.

Made by the pre-flight before the first step, completed at the end of the run with what the
dataset met while training (in the main process or in DataLoader workers, through
``llava.data.events``), printed as one table and saved beside the checkpoints as
``data_report.json`` and ``data_report.txt``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from llava.data.quirks import QUIRKS, SKIPPED, STOP, DataPolicy, what

REPORT_JSON = "data_report.json"
REPORT_TEXT = "data_report.txt"
FIRST_IDS = 5  # ids shown per quirk in the table; the JSON lists them all


@dataclass
class DataReport:
    data_path: str
    records: int
    modalities: dict[str, int]  # {"image": n, "text": m}
    policy: DataPolicy
    checks: list[str] = field(default_factory=list)  # what the pre-flight looked at
    ids: dict[str, list[str]] = field(default_factory=dict)  # quirk -> record ids, each once, file order
    during_training: dict[str, list[str]] = field(default_factory=dict)  # quirks first met while training

    _seen: dict[str, set] = field(default_factory=dict, repr=False)  # ids per key, for O(1) membership

    def add(self, key: str, sample_id: str, during_training: bool = False) -> bool:
        """Count ``sample_id`` under ``key`` once; False if it was counted already."""
        if key not in self._seen:
            self._seen[key] = set(self.ids.get(key, ()))
        seen = self._seen[key]
        if sample_id in seen:
            return False
        seen.add(sample_id)
        self.ids.setdefault(key, []).append(sample_id)
        if during_training:
            self.during_training.setdefault(key, []).append(sample_id)
        return True

    def count(self, key: str) -> int:
        return len(self.ids.get(key, ()))

    def stopping(self) -> dict[str, list[str]]:
        """Quirks whose policy is to stop the run, with their ids."""
        return {k: v for k, v in self.ids.items() if v and self.policy.action(k) == STOP}

    def skipped(self) -> int:
        """Records left out of training (a record with several skipped quirks counts once)."""
        return len({i for k, v in self.ids.items() if self.policy.action(k) == SKIPPED for i in v})

    def table(self) -> str:
        """The one table, e.g. for the log and data_report.txt."""
        name = os.path.basename(self.data_path)
        modalities = ", ".join(f"{k} {v}" for k, v in self.modalities.items())
        lines = [f"data: {name}: {self.records} records ({modalities}); checked: {', '.join(self.checks) or '-'}"]
        keys = [k for k in QUIRKS if self.ids.get(k)] + sorted(k for k in self.ids if k not in QUIRKS and self.ids[k])
        if not keys:
            lines.append("no quirks found")
        else:
            rows = [("quirk", "count", "first ids", "policy")]
            for key in keys:
                ids = self.ids[key]
                shown = ", ".join(ids[:FIRST_IDS]) + (", ..." if len(ids) > FIRST_IDS else "")
                late = len(self.during_training.get(key, ()))
                count = f"{len(ids)}" + (f" ({late} in training)" if late else "")
                rows.append((f"{key}: {what(key)}", count, shown, self.policy.describe(key)))
            widths = [max(len(r[c]) for r in rows) for c in range(3)]
            for row in rows:
                lines.append("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3])
        stopping = {i for ids in self.stopping().values() for i in ids}
        if stopping:
            lines.append(f"the run stops here: {len(stopping)} records have no safe fix (--skip_bad_samples True skips them)")
        else:
            lines.append(f"records used for training: {self.records - self.skipped()} of {self.records}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "data_path": self.data_path,
            "records": self.records,
            "modalities": dict(self.modalities),
            "checks": list(self.checks),
            "trained_records": self.records - self.skipped(),
            "policy": {"truncate_long_samples": self.policy.truncate, "skip_bad_samples": self.policy.skip_bad},
            "quirks": {
                key: {"what": what(key), "count": len(ids), "action": self.policy.action(key),
                      "policy": self.policy.describe(key), "ids": list(ids),
                      "during_training": list(self.during_training.get(key, ()))}
                for key, ids in self.ids.items() if ids
            },
        }

    def save(self, output_dir: str) -> str:
        """Write data_report.json and data_report.txt into ``output_dir``; returns the JSON path."""
        os.makedirs(output_dir, exist_ok=True)
        path = os.path.join(output_dir, REPORT_JSON)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, indent=1)
        os.replace(tmp, path)  # a reader never sees half a report
        with open(os.path.join(output_dir, REPORT_TEXT), "w", encoding="utf-8") as f:
            f.write(self.table() + "\n")
        return path
