"""Command-line entry points: the project's own errors arrive as one ``error: ...`` line.

Every ``python -m llava...`` entry point ends in ``run_entry(main)``. An error the project raises
on purpose for bad input (a bad flag, data file, adapter, checkpoint, answers file: any exception
class defined in the project's packages) already names what is wrong, so it is printed as one
line on stderr and the process exits with status 2 (1 for a judge that gave up, as the scorers
do). Anything else is a bug and keeps its traceback. ``LLAVA_DEBUG=1`` (or ``--debug`` where the entry point has no ``--debug`` of its own;
the trainer's belongs to transformers) shows the traceback of named errors too.

Under a multi-process launch every rank exits non-zero; rank 0 prints the plain line and other
ranks tag theirs with the rank, because an error met by one rank only (a bad sample in its
share of the data) must not vanish when the launcher stops the others.
"""
from __future__ import annotations

import os
import re
import sys
from typing import Any, Callable, Optional, Sequence, Type

DEBUG_ENV = "LLAVA_DEBUG"
# An exception class defined in one of these packages is one of the project's named errors: each is
# raised on purpose for bad input, with a message that names the file, record, module or flag
# (teamlora.errors, llava.data.errors, eval.errors, AnswersFileError, CheckpointError, FlagError, ...).
PROJECT_PACKAGES = ("teamlora", "llava", "eval", "bench")


class FlagError(ValueError):
    """A command-line flag (or combination of flags) that cannot work; the message names the flag."""


# torch re-raises an exception from a DataLoader worker with the worker's traceback as its message
# (as a RuntimeError when the type cannot be rebuilt from one string); the last line is "pkg.mod.Type: message".
_WORKER = re.compile(r"^Caught \w+ in DataLoader worker process \d+\.")
_LAST_LINE = re.compile(r"^([\w.]+)\.\w+: (.*)$")


def is_named_error(cls: type) -> bool:
    return cls.__module__.split(".")[0] in PROJECT_PACKAGES


def named_error_message(error: BaseException, also: Sequence[Type[BaseException]] = ()) -> Optional[str]:
    """The one-line message of a named error (also one re-raised from a DataLoader worker), else None."""
    text = str(error)
    if _WORKER.match(text):
        lines = [line for line in text.splitlines() if line.strip()]
        last = _LAST_LINE.match(lines[-1].strip())
        if last and last.group(1).split(".")[0] in PROJECT_PACKAGES:
            return f"{last.group(2)} (in a DataLoader worker)"
        return None
    if is_named_error(type(error)) or isinstance(error, tuple(also)):
        return text
    return None


def _debug_requested(argv: list, debug_flag: bool) -> bool:
    debug = os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")
    if debug_flag and "--debug" in argv:
        argv.remove("--debug")
        debug = True
    return debug


def _rank() -> int:
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def run_entry(main: Callable[..., Any], *also: Type[BaseException], debug_flag: bool = True,
              argv: Optional[Sequence[str]] = None) -> Any:
    """Call ``main(argv)`` (argv: sys.argv[1:] without ``--debug``); named errors become one line and exit.

    ``also``: further exception types this entry point raises for bad input (e.g. a converter's
    ValueErrors about the checkpoint it reads). Returns what ``main`` returns.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args, debug_flag)
    try:
        return main(args)
    except Exception as error:  # noqa: BLE001 - re-raised unless it is one of ours
        message = named_error_message(error, also)
        if message is None or debug:
            raise
        rank = _rank()
        print(f"error: {message}" if rank == 0 else f"error: [rank {rank}] {message}", file=sys.stderr, flush=True)
        raise SystemExit(1 if type(error).__name__ == "JudgeError" else 2) from None
