"""Command-line checks the benchmarks share: comma lists of known names, and lower bounds on integer flags."""
from __future__ import annotations

import argparse
from typing import List, Sequence


def csv_list(text: str) -> List[str]:
    """"a, b,,c" -> ["a", "b", "c"]"""
    return [t.strip() for t in text.split(",") if t.strip()]


def choices(text: str, allowed: Sequence[str], flag: str, parser: argparse.ArgumentParser) -> List[str]:
    """The comma list `text`, each item one of `allowed`, duplicates dropped (order kept); else a usage error."""
    items = csv_list(text)
    unknown = [t for t in items if t not in allowed]
    if unknown or not items:
        parser.error(f"{flag}: {f'unknown {unknown}' if unknown else 'nothing given'}; choose from {', '.join(allowed)}")
    return list(dict.fromkeys(items))


def require_min(parser: argparse.ArgumentParser, args: argparse.Namespace, minimum: int, *flags: str) -> None:
    """A usage error for the first of `flags` (attribute names) that is set and below `minimum`."""
    for flag in flags:
        value = getattr(args, flag)
        if value is not None and value < minimum:
            parser.error(f"--{flag.replace('_', '-')} must be >= {minimum}")
