"""Shared CLI plumbing: bad input exits with one message, the summary is the last line."""
import argparse
import json
import sys
from typing import Callable

from eval.errors import EvalInputError, JudgeError


def run_cli(parser: argparse.ArgumentParser, score: Callable[[argparse.Namespace], dict],
            argv: list[str] | None = None) -> dict:
    """Parse argv, run `score`, print its summary as one JSON line and return it.

    Bad input (EvalInputError) becomes `error: <message>` on stderr and exit
    status 2, a judge that gave up (JudgeError) exit status 1; no traceback:
    the message already names the file, record or endpoint.
    """
    args = parser.parse_args(argv)
    try:
        summary = score(args)
    except (EvalInputError, JudgeError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2 if isinstance(e, EvalInputError) else 1) from None
    print(json.dumps(summary, sort_keys=True))
    return summary


def add_allow_missing(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-missing", action="store_true",
        help="score unanswered questions as wrong (default: error listing their ids)")


def add_lenient(parser: argparse.ArgumentParser) -> None:
    """The one opt-in for the project's forgiving answer reading, shared by every scorer.

    Without it a scorer reports only the official tool's number. With it the summary keeps the
    official number as the headline and adds a "lenient" block (same keys) and "misread_by_official",
    the count of answers the official rule scored wrong that the lenient reading scores right.
    """
    parser.add_argument(
        "--lenient", action="store_true",
        help="also score with the project's forgiving answer reading ('(B)', 'No!', 'two' -> '2'); "
             "the official number stays the headline and the lenient one is reported beside it")


def percent(numerator: float, denominator: int) -> float:
    """A percentage rounded to 2 decimals; 0.0 for an empty set."""
    return round(100.0 * numerator / denominator, 2) if denominator else 0.0


def count_misread(official: dict, lenient: dict) -> int:
    """How many answers the official rule scored below the lenient reading.

    Both map the same keys to a score (bool for right/wrong, float for soft VQA accuracy);
    for right/wrong scores this is "official wrong, lenient right".
    """
    return sum(lenient[k] > official[k] for k in official)


def add_lenient_block(summary: dict, lenient_metrics: dict, official: dict, lenient: dict) -> dict:
    """Put the lenient metrics beside the official ones, with the misread count (see add_lenient)."""
    summary["lenient"] = lenient_metrics
    summary["misread_by_official"] = count_misread(official, lenient)
    return summary
