"""LLaVA instruction data as a lazy torch Dataset: records are tokenised and images
loaded in ``__getitem__``, so start-up costs one JSON parse, not a pass over the data.

Choices (documented here because they change what a user sees):

- Files: a JSON list (LLaVA's ``llava_v1_5_mix665k.json``) or JSONL (one record per
  line), told apart by the first non-blank character (``[`` or ``{``).
- Record ids: a record without ``id`` is named by its position, ``"<file>:line 7"``
  (JSONL) or ``"<file>:item 7"`` (JSON list), and one warning counts them. Duplicated ids
  are allowed (LLaVA's mix has some) but warned about, since skip reports list ids.
- Images are resolved against ``image_folder``, or the data file's folder when it is None.
- Quirks follow the policy table of ``llava.data.quirks`` (``truncate``, ``skip_bad_samples``):
  what LLaVA-1.5 fixes is fixed (a leading gpt turn dropped, over-long records truncated
  when ``truncate``, ...); a record without a safe fix raises, or with
  ``skip_bad_samples=True`` is replaced by the next good one (index + 1, wrapping), each
  bad id counted once by reason; ``skip_report()`` returns the counts of this process.
- The pre-flight (``llava.data.preflight``) finds every quirk up front and hands the bad
  indices over (``apply_preflight``), so workers skip them directly. What only shows while
  training (an image that cannot be decoded) is also appended to ``events_dir``, one file per
  process, so counts made in DataLoader workers reach the end-of-run report
  (``llava.data.events``).
"""
from __future__ import annotations

import json
import logging
import os
from collections import Counter
from typing import Any, Optional

import torch
from PIL import Image
from torch.utils.data import Dataset
from tqdm import tqdm

from eval.jsonl import parse_jsonl
from llava.data.conversation import ConversationTemplate
from llava.data.errors import BadSampleError, DatasetFileError, DatasetValidationError, SkipCounter
from llava.data.events import record_event
from llava.data.preprocess import tokenize_conversation
from llava.data.quirks import SKIP_FLAG, DataPolicy

logger = logging.getLogger(__name__)

# LLaVA-1.5's names: "square" (its default: the processor resizes the short side and centre-crops)
# and "pad" (pad to a square first). "none" is this project's earlier name for "square".
ASPECT_RATIOS = ("square", "pad", "none")
_PROGRESS_MIN_RECORDS = 10_000  # below this, loading is instant: no progress bar


def load_records(data_path: str) -> tuple[list[dict], list[str]]:
    """Records of a JSON-list or JSONL file, and where each one is (``"item 3"`` / ``"line 4"``)."""
    if not os.path.isfile(data_path):
        raise DatasetFileError(f"data file not found: {data_path}")
    with open(data_path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:  # name the line, as for malformed JSON
        lineno = data.count(b"\n", 0, e.start) + 1
        raise DatasetFileError(f"{data_path}: line {lineno} is not UTF-8 text (byte {e.start}: {e.reason})") from None
    stripped = text.lstrip()
    if not stripped:
        raise DatasetFileError(f"{data_path}: the file is empty")
    if stripped[0] == "[":
        records, places = _parse_json_list(text, data_path)
    elif stripped[0] == "{":
        records, places = _parse_jsonl(text, data_path)
    else:
        raise DatasetFileError(
            f"{data_path}: expected a JSON list or JSONL records, the file starts with {stripped[:20]!r}"
        )
    if not records:
        raise DatasetFileError(f"{data_path}: no records (empty list)")
    return records, places


def _parse_json_list(text: str, data_path: str) -> tuple[list[dict], list[str]]:
    try:
        records = json.loads(text)
    except json.JSONDecodeError as e:
        raise DatasetFileError(f"{data_path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    if not isinstance(records, list):
        raise DatasetFileError(f"{data_path}: top level is a {type(records).__name__}, expected a list of records")
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise DatasetFileError(f"{data_path}: item {i} is a {type(record).__name__}, expected an object")
    return records, [f"item {i}" for i in range(len(records))]


# The JSON list's wording ("malformed JSON at line N"), so both formats read alike.
_JSONL_NOT_JSON = "{path}: malformed JSON at line {lineno} column {colno}: {msg}"
_JSONL_NOT_OBJECT = "{path}: line {lineno} is a {type}, expected an object"


def _parse_jsonl(text: str, data_path: str) -> tuple[list[dict], list[str]]:
    lines = text.splitlines()
    records, places = [], []
    progress = tqdm(lines, desc=f"reading {os.path.basename(data_path)}", unit="line", leave=False,
                    disable=len(lines) < _PROGRESS_MIN_RECORDS)
    for lineno, record in parse_jsonl(progress, data_path, DatasetFileError, not_json=_JSONL_NOT_JSON,
                                      not_object=_JSONL_NOT_OBJECT):
        records.append(record)
        places.append(f"line {lineno}")
    return records, places


def assign_ids(records: list[dict], places: list[str], data_path: str) -> list[str]:
    """Each record's id as a string; the position stands in for a missing one."""
    name = os.path.basename(data_path)
    ids = [str(r["id"]) if r.get("id") not in (None, "") else f"{name}:{place}" for r, place in zip(records, places)]
    missing = sum(1 for r in records if r.get("id") in (None, ""))
    if missing:
        logger.warning("%s: %d records have no 'id'; they are named by position (e.g. %s)", data_path, missing,
                       next(i for i, r in zip(ids, records) if r.get("id") in (None, "")))
    duplicated = [i for i, n in Counter(ids).items() if n > 1]
    if duplicated:
        logger.warning("%s: %d ids occur more than once (e.g. %s); skip reports may be ambiguous",
                       data_path, len(duplicated), ", ".join(duplicated[:5]))
    return ids


def image_of(record: dict, sample_id: str) -> Optional[str]:
    """The record's image file (relative path), or None for a text-only record."""
    image = record.get("image")
    if isinstance(image, list):
        if len(image) > 1:
            raise BadSampleError(sample_id, "several_images", f"{len(image)} images; LLaVA-1.5 takes at most one")
        image = image[0] if image else None
    if image in (None, ""):
        return None
    if not isinstance(image, str):
        raise BadSampleError(sample_id, "malformed_record", f"'image' is a {type(image).__name__}, expected a path")
    return image


def word_count(record: dict) -> int:
    """Whitespace words over all turns; at least 1 so the sign of a modality length is never lost."""
    turns = record.get("conversations")
    if not isinstance(turns, list):
        return 1
    words = sum(len(t["value"].split()) for t in turns if isinstance(t, dict) and isinstance(t.get("value"), str))
    return max(words, 1)


def expand_to_square(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Pad (never crop or resize) to a centred square, as LLaVA-1.5's ``pad`` aspect ratio."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), background)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def load_rgb_image(path: str, sample_id: str) -> Image.Image:
    """Decode ``path`` fully (so a truncated file fails here, not later) and convert to RGB."""
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except FileNotFoundError:
        raise BadSampleError(sample_id, "missing_image", f"image file not found: {path}") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise BadSampleError(sample_id, "corrupt_image", f"cannot read image {path}: {e}") from None


def image_pixels(image: Image.Image, image_processor, aspect_ratio: str = "pad") -> torch.Tensor:
    """[3, H, W] float pixels; ``pad`` pads to a square of the processor's mean colour first (LLaVA-1.5).

    Training and inference both call this, so images reach the model the same way.
    """
    if aspect_ratio not in ASPECT_RATIOS:
        raise ValueError(f"image_aspect_ratio must be one of {ASPECT_RATIOS}, got {aspect_ratio!r}")
    if aspect_ratio == "pad":  # "square"/"none": the processor alone (resize + centre crop)
        background = tuple(int(255 * m) for m in image_processor.image_mean)  # LLaVA truncates too
        image = expand_to_square(image, background)
    return image_processor(images=image, return_tensors="pt")["pixel_values"][0]


class LazySupervisedDataset(Dataset):
    """Items: ``{"input_ids": [L], "labels": [L], "id": str}`` plus ``"pixel_values": [3, H, W]``
    for records with an image."""

    def __init__(
        self,
        data_path: str,
        tokenizer,
        image_processor,
        *,
        template: ConversationTemplate,
        image_folder: Optional[str] = None,
        num_image_tokens: int,
        model_max_length: int,
        image_aspect_ratio: str = "pad",
        skip_bad_samples: bool = False,
        truncate: bool = False,
        image_token: str = "<image>",
        events_dir: Optional[str] = None,
    ):
        if image_aspect_ratio not in ASPECT_RATIOS:
            raise ValueError(f"image_aspect_ratio must be one of {ASPECT_RATIOS}, got {image_aspect_ratio!r}")
        self.data_path = data_path
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.template = template
        self.image_folder = image_folder if image_folder is not None else os.path.dirname(os.path.abspath(data_path))
        self.num_image_tokens = num_image_tokens
        self.model_max_length = model_max_length
        self.image_aspect_ratio = image_aspect_ratio
        self.skip_bad_samples = skip_bad_samples
        self.truncate = truncate
        self.image_token = image_token
        self.policy = DataPolicy(truncate=truncate, skip_bad=skip_bad_samples)
        self.events_dir = events_dir  # where quirks met while training are appended (any process)
        self.preflighted = False

        self.records, self.places = load_records(data_path)
        self.ids = assign_ids(self.records, self.places, data_path)
        self._has_image = [record.get("image") not in (None, "", []) for record in self.records]
        self._words = [word_count(record) for record in self.records]
        if image_processor is None and any(self._has_image):
            raise ValueError(f"{data_path} has records with images but no image_processor was given")
        self.skips = SkipCounter()
        self._bad: dict[int, BadSampleError] = {}  # index -> why; filled as bad samples are met

    def __len__(self) -> int:
        return len(self.records)

    @property
    def modality_lengths(self) -> list[int]:
        """Word counts, positive for records with an image and negative for text-only (no tokenising)."""
        return [n if has_image else -n for n, has_image in zip(self._words, self._has_image)]

    @property
    def lengths(self) -> list[int]:
        """Rough token counts: words plus the image tokens, for length grouping across modalities."""
        return [n + (self.num_image_tokens if has_image else 0) for n, has_image in zip(self._words, self._has_image)]

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not self.skip_bad_samples:
            return self._build(index)
        for offset in range(len(self)):
            candidate = (index + offset) % len(self)
            if candidate in self._bad:
                continue
            try:
                return self._build(candidate)
            except BadSampleError as err:
                self._mark_bad(candidate, err)
                record_event(self.events_dir, err.reason, err.sample_id, err.detail)
        raise DatasetValidationError(self.data_path, self.skip_report())

    def apply_preflight(self, errors: dict[int, BadSampleError]) -> None:
        """Take the pre-flight's bad records: with skipping on they are never built (in workers
        too, since this happens before they fork) and counted once here."""
        self.preflighted = True
        if self.skip_bad_samples:
            for index, err in errors.items():
                self._bad[index] = err
                self.skips.record(err, log=False)

    def skip_report(self) -> dict:
        """``{"total", "counts": {reason: n}, "ids": {reason: [ids]}}`` of the samples skipped so far."""
        return self.skips.report()

    def validate_all(self, load_images: bool = False) -> dict:
        """Tokenise every record once (and check its image exists, or decode it with
        ``load_images``). Returns the skip report; without ``skip_bad_samples`` raises
        ``DatasetValidationError`` listing every bad sample."""
        found = SkipCounter(log_each=False)  # self.skips logs each one already
        for index in tqdm(range(len(self)), desc=f"validating {os.path.basename(self.data_path)}", unit="sample"):
            try:
                self._build(index, load_image=load_images)
            except BadSampleError as err:
                found.record(err)
                self._mark_bad(index, err)
        if found.total and not self.skip_bad_samples:
            raise DatasetValidationError(self.data_path, found.report())
        return self.skip_report()

    def _mark_bad(self, index: int, err: BadSampleError) -> None:
        self._bad[index] = err
        self.skips.record(err)

    def _build(self, index: int, load_image: bool = True) -> dict[str, Any]:
        record, sample_id = self.records[index], self.ids[index]
        try:
            image_file = image_of(record, sample_id)
            sample = tokenize_conversation(
                record.get("conversations"),
                self.template,
                self.tokenizer,
                num_image_tokens=self.num_image_tokens,
                image_token=self.image_token,
                sample_id=sample_id,
                expected_images=0 if image_file is None else 1,
                model_max_length=self.model_max_length,
                truncate=self.truncate,
            )
            if sample.fixes and not self.preflighted:  # else the pre-flight has counted them already
                for key in dict.fromkeys(sample.fixes):
                    record_event(self.events_dir, key, sample_id)
            item: dict[str, Any] = {"input_ids": sample.input_ids, "labels": sample.labels, "id": sample_id}
            if image_file is not None:
                path = os.path.join(self.image_folder, image_file)
                if load_image:
                    item["pixel_values"] = self._pixels(load_rgb_image(path, sample_id))
                elif not os.path.isfile(path):
                    raise BadSampleError(sample_id, "missing_image", f"image file not found: {path}")
            return item
        except BadSampleError as err:  # add where the record is, for a quick look in the file
            place = f"{os.path.basename(self.data_path)} {self.places[index]}"
            hint = "" if self.skip_bad_samples else f"; {SKIP_FLAG} skips such records"
            if err.reason == "corrupt_image" and not self.skip_bad_samples:
                hint += " (--validate_data True finds every corrupt image before training)"
            raise BadSampleError(err.sample_id, err.reason, f"{err.detail} ({place}){hint}") from None

    def _pixels(self, image: Image.Image) -> torch.Tensor:
        return image_pixels(image, self.image_processor, self.image_aspect_ratio)
