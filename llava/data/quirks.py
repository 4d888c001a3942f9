"""The data policy table: every quirk a LLaVA record can have, and what a run does about it.

One table serves the pre-flight (``llava.data.preflight``), the dataset at training time and
the end-of-run report, so a quirk met anywhere is handled and reported the same way.

A quirk either has a safe fix (what LLaVA-1.5 effectively does, and nothing is lost without
a word: the record is trained, the quirk counted and named), or it has none: then the run
stops at pre-flight naming the records, unless ``--skip_bad_samples`` asks to skip them
(counted and named too).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Optional

SKIP_FLAG = "--skip_bad_samples True"


@dataclass(frozen=True)
class Quirk:
    what: str  # what is wrong with the record
    fix: Optional[str] = None  # what is done about it when fixed; None: no safe fix
    fix_flag: Optional[str] = None  # the flag that turns the fix off (the quirk then has no fix)


QUIRKS = MappingProxyType({
    # fixed, as LLaVA-1.5 does
    "over_long": Quirk("longer than --model_max_length", "truncated to model_max_length (as LLaVA)",
                       "--truncate_long_samples False"),
    "leading_gpt_turn": Quirk("first turn is from gpt", "that turn dropped (as LLaVA)"),
    "trailing_human_turn": Quirk("last turn is from human", "that turn dropped (LLaVA masks it: never supervised)"),
    "several_image_tags": Quirk("several <image> tags for one image", "first tag kept, others removed"),
    "image_without_tag": Quirk("image record without <image> tag",
                               "<image> put before the first question (LLaVA would ignore the image)"),
    "empty_reply": Quirk("a gpt turn with empty text", "kept as written (as LLaVA)"),
    # no safe fix
    "missing_image": Quirk("image file not found"),
    "corrupt_image": Quirk("image file cannot be decoded"),
    "over_long_unfixable": Quirk("longer than --model_max_length, and truncation would cut the image or every reply"),
    "several_images": Quirk("more than one image (LLaVA-1.5 takes one)"),
    "tag_without_image": Quirk("<image> tag in a record without an image"),
    "image_in_reply": Quirk("<image> tag in a gpt turn"),
    "bad_turn_order": Quirk("turns do not alternate human/gpt"),
    "bad_role": Quirk("a turn's 'from' is not human/gpt (user/assistant)"),
    "no_reply": Quirk("no gpt reply"),
    "no_conversations": Quirk("no 'conversations'"),
    "empty_conversations": Quirk("'conversations' is empty"),
    "malformed_record": Quirk("malformed record (turn without 'from'/'value', bad 'image')"),
    "tokenization_mismatch": Quirk("replies do not tokenise back to themselves"),
})

FIXED, SKIPPED, STOP = "fixed", "skipped", "stop"


@dataclass(frozen=True)
class DataPolicy:
    """What the flags ask: ``truncate`` (--truncate_long_samples, default True as LLaVA) and
    ``skip_bad`` (--skip_bad_samples: records without a safe fix are skipped, not fatal)."""

    truncate: bool = True
    skip_bad: bool = False

    def action(self, key: str) -> str:
        """FIXED, SKIPPED or STOP for quirk ``key`` (an unknown key has no fix)."""
        quirk = QUIRKS.get(key)
        fixable = quirk is not None and quirk.fix is not None and (key != "over_long" or self.truncate)
        if fixable:
            return FIXED
        return SKIPPED if self.skip_bad else STOP

    def describe(self, key: str) -> str:
        """The policy column of the table."""
        action = self.action(key)
        if action == FIXED:
            quirk = QUIRKS[key]
            return quirk.fix + (f"; {quirk.fix_flag} stops instead" if quirk.fix_flag else "")
        if action == SKIPPED:
            return f"record skipped ({SKIP_FLAG})"
        return f"run stops; {SKIP_FLAG} skips these records"


def what(key: str) -> str:
    quirk = QUIRKS.get(key)
    return quirk.what if quirk is not None else key
