"""The command line shared by the synthetic generators (the embedded default and the interference set).

Both take the same flags and differ only in defaults and in what one "image" yields, so one
builder makes both parsers and one runner turns their bad input into a single 'error:' line.
"""
from __future__ import annotations

import argparse
from typing import Any, Callable, Optional, Sequence

from llava.entry import run_entry


def generator_parser(prog: str, description: Optional[str], out: str, num_train: int, num_test: int,
                     num_train_help: str, num_test_help: str) -> argparse.ArgumentParser:
    """--out, --num-train, --num-test, --seed, --image-size, --overwrite with this generator's defaults."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=out, help="output directory")
    parser.add_argument("--num-train", type=int, default=num_train, help=num_train_help)
    parser.add_argument("--num-test", type=int, default=num_test, help=num_test_help)
    parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    parser.add_argument("--image-size", type=int, default=64, help="side of the square PNGs, in pixels")
    parser.add_argument("--overwrite", action="store_true", help="regenerate even if the out dir matches")
    return parser


def run_generator(main: Callable[[Optional[Sequence[str]]], Any]) -> None:
    """Run a generator's main from ``python -m``: bad sizes and a set made with other flags are one line."""
    run_entry(main, ValueError, FileExistsError)
