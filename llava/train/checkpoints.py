"""Checkpoint folders that a kill at any moment cannot leave half-written in the way of a restart.

A checkpoint is written into ``tmp-checkpoint-N/checkpoint-N`` and renamed to ``checkpoint-N``
only when every rank has finished writing, so a ``checkpoint-N`` is whole. A ``tmp-checkpoint-*``
folder is what a kill during a save leaves: it is deleted on the next start. Folders written
otherwise (older code, a copy that stopped half-way) are checked for the files a resume reads;
resume takes the newest complete one and names the incomplete ones it skipped, and rotation
(--save_total_limit) neither counts nor deletes incomplete ones, so the last complete checkpoint
always survives.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
from typing import Iterable, List, Optional, Tuple

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, sort_checkpoints

from llava.model.checkpoint import RUN_INFO_NAME

logger = logging.getLogger(__name__)

STAGING_PREFIX = "tmp-"
TRAINER_STATE = "trainer_state.json"  # written last by transformers' Trainer._save_checkpoint
_CHECKPOINT = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")


class CheckpointError(ValueError):
    """A checkpoint asked for by name cannot be resumed; the message names the folder and what it lacks."""


def staging_dir(run_dir: str, step: int) -> str:
    """Where checkpoint ``step`` is written before it is published (its parent; the Trainer adds checkpoint-N)."""
    return os.path.join(run_dir, f"{STAGING_PREFIX}{PREFIX_CHECKPOINT_DIR}-{step}")


def missing_files(checkpoint: str, save_only_model: bool = False) -> List[str]:
    """What ``checkpoint`` lacks for a resume: the trainer state, our run info (written after the weights),
    and the optimizer state (optimizer.pt, or DeepSpeed's ``latest``) unless only the model is saved."""
    if not os.path.isdir(checkpoint):
        return ["the folder itself"]
    names = set(os.listdir(checkpoint))
    missing = [name for name in (TRAINER_STATE, RUN_INFO_NAME) if name not in names]
    if not save_only_model and not names & {"optimizer.pt", "latest"}:
        missing.append("optimizer.pt (or DeepSpeed's latest)")
    return missing


def list_checkpoints(run_dir: str) -> List[Tuple[int, str]]:
    """(step, path) of every checkpoint-N folder in ``run_dir``, oldest step first."""
    if not os.path.isdir(run_dir):
        return []
    found = [(int(m.group(1)), os.path.join(run_dir, name)) for name in os.listdir(run_dir)
             if (m := _CHECKPOINT.match(name)) and os.path.isdir(os.path.join(run_dir, name))]
    return sorted(found)


def newest_complete(run_dir: str, save_only_model: bool = False) -> Optional[str]:
    """The complete checkpoint with the highest step; each newer incomplete one is named in a warning."""
    for _, path in reversed(list_checkpoints(run_dir)):
        missing = missing_files(path, save_only_model)
        if not missing:
            return path
        logger.warning("skipping incomplete checkpoint %s (no %s): a run was killed while saving it; "
                       "it is replaced when training reaches its step again", path, ", ".join(missing))
    return None


def check_resumable(checkpoint: str, save_only_model: bool = False) -> str:
    """``checkpoint`` if it can be resumed, else a CheckpointError saying what it lacks and what to use."""
    missing = missing_files(checkpoint, save_only_model)
    if missing:
        hint = newest_complete(os.path.dirname(os.path.normpath(checkpoint)), save_only_model)
        raise CheckpointError(f"--resume_from_checkpoint {checkpoint} cannot be resumed: no {', '.join(missing)}"
                              + (f"; the newest complete checkpoint beside it is {hint}" if hint else ""))
    return checkpoint


def remove_staging(run_dir: str) -> List[str]:
    """Delete the tmp-checkpoint-* folders a kill during a save left behind; returns their paths."""
    if not os.path.isdir(run_dir):
        return []
    prefix = f"{STAGING_PREFIX}{PREFIX_CHECKPOINT_DIR}-"
    removed = [os.path.join(run_dir, n) for n in sorted(os.listdir(run_dir)) if n.startswith(prefix)]
    for path in removed:
        logger.warning("removing %s: a checkpoint save that was killed before it completed", path)
        shutil.rmtree(path, ignore_errors=True)
    return removed


def publish(staged: str, final: str) -> None:
    """Rename the finished ``staged`` checkpoint to ``final``; an older ``final`` (an incomplete leftover,
    or a save of the same step by an earlier run) is first moved aside, so a kill leaves one of the two."""
    root = os.path.dirname(staged)
    if os.path.lexists(final):
        aside = os.path.join(root, "replaced")
        os.rename(final, aside)
    os.rename(staged, final)
    shutil.rmtree(root, ignore_errors=True)


def rotate(run_dir: str, limit: Optional[int], protect: Iterable[Optional[str]], save_only_model: bool = False) -> List[str]:
    """--save_total_limit: delete the oldest complete checkpoints beyond ``limit``; returns the deleted paths.

    Order is transformers' own (modification time, steps when the clock is too coarse). ``protect``
    (the checkpoint just published, the best one) is never deleted; incomplete folders are neither
    counted nor deleted, so the newest complete checkpoint cannot be rotated away.
    """
    if not limit or limit <= 0:
        return []
    complete = [c for c in sort_checkpoints(run_dir, use_mtime=True) if not missing_files(c, save_only_model)]
    kept = {os.path.realpath(p) for p in protect if p}
    deletable = [c for c in complete if os.path.realpath(c) not in kept]
    excess = len(complete) - max(limit, len(complete) - len(deletable))
    deleted = deletable[:max(excess, 0)]
    for path in deleted:
        logger.info("deleting older checkpoint %s (--save_total_limit %d)", path, limit)
        shutil.rmtree(path, ignore_errors=True)
    return deleted
