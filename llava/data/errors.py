"""Error types for bad training data, and the counter that records skipped samples.

Two kinds of failure, kept apart on purpose:

- ``DatasetFileError``: the data file itself is unusable (missing, empty, malformed
  JSON). Nothing sensible can be trained from it, so this is never skipped.
- ``BadSampleError``: one record is unusable (missing image, no reply, too long, ...).
  Raised by default; with ``skip_bad_samples=True`` the dataset skips it and records
  it in a ``SkipCounter`` so the trainer can log exactly what was left out.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


class DatasetFileError(ValueError):
    """The data file cannot be read as a LLaVA dataset; the message names the file (and line)."""


class BadSampleError(ValueError):
    """One record cannot become a training sample.

    ``reason`` is a short stable key (e.g. ``"missing_image"``) used to count skips;
    the message always names the record id.
    """

    def __init__(self, sample_id: str, reason: str, detail: str):
        self.sample_id = sample_id
        self.reason = reason
        self.detail = detail
        super().__init__(f"bad sample {sample_id!r} [{reason}]: {detail}")

    def __reduce__(self):  # pickled by its fields (the shared pre-flight sends it to the other ranks)
        return (type(self), (self.sample_id, self.reason, self.detail))


@dataclass
class SkipCounter:
    """Skipped samples by reason. Each sample id is counted once, however often it is hit."""

    log_each: bool = True  # log a warning per newly skipped sample
    ids_by_reason: dict[str, list[str]] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set, repr=False)

    def record(self, error: BadSampleError, log: bool = True) -> bool:
        """Count ``error``'s sample; returns False if that sample was already counted."""
        if error.sample_id in self._seen:
            return False
        self._seen.add(error.sample_id)
        self.ids_by_reason.setdefault(error.reason, []).append(error.sample_id)
        if self.log_each and log:
            logger.warning("skipping %s", error)
        return True

    @property
    def total(self) -> int:
        return len(self._seen)

    def counts(self) -> dict[str, int]:
        return {reason: len(ids) for reason, ids in self.ids_by_reason.items()}

    def report(self) -> dict:
        """A JSON-friendly summary: ``{"total": n, "counts": {reason: n}, "ids": {reason: [ids]}}``."""
        return {
            "total": self.total,
            "counts": self.counts(),
            "ids": {reason: list(ids) for reason, ids in self.ids_by_reason.items()},
        }

    def summary(self) -> str:
        """One log line, e.g. ``skipped 3 samples: missing_image=2, over_long=1``."""
        if not self.total:
            return "skipped 0 samples"
        parts = ", ".join(f"{reason}={n}" for reason, n in sorted(self.counts().items()))
        return f"skipped {self.total} samples: {parts}"


class DatasetValidationError(ValueError):
    """``validate_all`` found bad samples while skipping is off; ``report`` lists them all."""

    def __init__(self, data_path: str, report: dict):
        self.report = report
        listed = "; ".join(
            f"{reason}={len(ids)} (ids: {', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''})"
            for reason, ids in sorted(report["ids"].items())
        )
        super().__init__(f"{report['total']} bad samples in {data_path}: {listed}")


class DataPolicyError(ValueError):
    """The pre-flight found records with a quirk that has no safe fix; the message names them
    and the flag that skips them instead (``llava.data.quirks``)."""

    def __init__(self, data_path: str, stopping: dict[str, list[str]]):
        self.stopping = stopping
        total = len({i for ids in stopping.values() for i in ids})
        listed = "; ".join(
            f"{reason}={len(ids)} (ids: {', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''})"
            for reason, ids in sorted(stopping.items())
        )
        super().__init__(
            f"{total} records in {data_path} cannot be trained as they are: {listed}. "
            "Fix them, or rerun with --skip_bad_samples True to skip them (counted and named in data_report.json)"
        )


class PreflightFailedError(RuntimeError):
    """Rank 0's data pre-flight stopped with an error; the other ranks stop with this one, naming it."""
