"""Pre-flight: one pass over the data before the first step, so a bad record costs seconds, not
a crash hours into a job.

Per record: the conversation is normalised exactly as the dataset will (``normalize_conversation``),
its text goes through the fast tokenizer in batches (``tokenizer(list_of_texts)``, chunk by
chunk; the Rust tokenizer uses every core), and its image file is checked to exist (threads;
with ``decode_images`` every image is decoded, in parallel, as ``--validate_data`` asks).
Token counts are those of ``tokenize_conversation`` (same segments, same pieces), so
"over-long" here is exactly what training would truncate. The result is a ``DataReport``.
Under several ranks only rank 0 makes the pass and sends the others its result (``run_preflight_once``).
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Optional

from tqdm import tqdm

from llava.data.conversation import render_segments
from llava.data.dataset import LazySupervisedDataset, image_of, load_rgb_image
from llava.data.errors import BadSampleError, DataPolicyError, PreflightFailedError
from llava.data.preprocess import normalize_conversation
from llava.data.quirks import STOP
from llava.data.report import DataReport

logger = logging.getLogger(__name__)

CHUNK = 4096  # records per tokenizer call: big enough for the Rust threads, small enough for memory


@contextmanager
def tokenizer_threads():
    """Let the Rust tokenizer use its threads for this pass (the scripts turn them off so that
    DataLoader workers can fork safely); the setting is put back afterwards."""
    old = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "true"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = old


def token_counts(tokenizer, texts: list[str]) -> list[int]:
    """len(tokenizer.encode(t, add_special_tokens=False)) for each text, in one batched call.

    A fast tokenizer is asked through its Rust backend directly (the same ``encode_batch``
    that ``tokenizer(texts)`` runs, without turning every encoding into Python lists: that
    conversion cost as much as the tokenising); any other tokenizer through ``tokenizer(texts)``.
    """
    if not texts:
        return []
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if getattr(tokenizer, "is_fast", False) and backend is not None:
        return [len(encoding.ids) for encoding in backend.encode_batch(texts, add_special_tokens=False)]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def _layout(segments, image_token: str, texts: list[str]) -> list[tuple[bool, list]]:
    """Segments -> [(is_reply, items)], an item being an index into ``texts`` or None for an image."""
    layout = []
    for segment in segments:
        items: list = []
        for j, part in enumerate(segment.text.split(image_token)):
            if j > 0:
                items.append(None)
            if part:
                texts.append(part)
                items.append(len(texts) - 1)
        layout.append((segment.is_reply, items))
    return layout


def _measure(layout, lengths: list[int], start: int, num_image_tokens: int) -> tuple[int, int, Optional[int]]:
    """-> (total length, end of the last image token, start of the first reply token)."""
    position, image_end, first_reply = start, 0, None
    for is_reply, items in layout:
        segment_start = position
        for item in items:
            if item is None:
                position += num_image_tokens
                image_end = position
            else:
                position += lengths[item]
        if is_reply and first_reply is None and position > segment_start:
            first_reply = segment_start
    return position, image_end, first_reply


def _check_image(path: str, sample_id: str, decode: bool) -> Optional[BadSampleError]:
    if decode:
        try:
            load_rgb_image(path, sample_id)
        except BadSampleError as err:
            return err
        return None
    if not os.path.isfile(path):
        return BadSampleError(sample_id, "missing_image", f"image file not found: {path}")
    return None


def run_preflight(dataset: LazySupervisedDataset, *, decode_images: bool = False, workers: Optional[int] = None,
                  chunk: int = CHUNK, progress: bool = True) -> DataReport:
    """The report of ``dataset``'s records under its policy, its bad records handed to the dataset
    (nothing is raised here; see ``enforce``)."""
    report, errors = check_records(dataset, decode_images=decode_images, workers=workers, chunk=chunk,
                                   progress=progress)
    dataset.apply_preflight(errors)
    return report


def run_preflight_once(dataset: LazySupervisedDataset, *, decode_images: bool = False,
                       progress: bool = True) -> DataReport:
    """``run_preflight`` across ranks: rank 0 checks the records and sends its report and bad records to
    the others (every rank reads the same file; a 665K-record pass runs once per job, not once per GPU).
    Without an initialised process group (one process) it is ``run_preflight``."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return run_preflight(dataset, decode_images=decode_images, progress=progress)
    box: list = [None]
    if dist.get_rank() == 0:
        try:
            box[0] = ("ok", check_records(dataset, decode_images=decode_images, progress=progress))
        except BaseException as err:  # the others wait in the broadcast: tell them, then raise here
            dist.broadcast_object_list([("failed", f"{type(err).__name__}: {err}")], src=0)
            raise
    dist.broadcast_object_list(box, src=0)
    status, payload = box[0]
    if status != "ok":
        raise PreflightFailedError(f"rank 0's data pre-flight of {dataset.data_path} failed ({payload})")
    report, errors = payload
    dataset.apply_preflight(errors)
    return report


def check_records(dataset: LazySupervisedDataset, *, decode_images: bool = False, workers: Optional[int] = None,
                  chunk: int = CHUNK, progress: bool = True) -> tuple[DataReport, dict[int, BadSampleError]]:
    """The report of ``dataset``'s records under its policy, and the first error of each record that
    cannot be trained as it is (by index). Changes nothing."""
    tokenizer, template, image_token = dataset.tokenizer, dataset.template, dataset.image_token
    max_length, truncate = dataset.model_max_length, dataset.policy.truncate
    bos = 0 if tokenizer.bos_token_id is None else 1
    n = len(dataset)
    found: dict[int, list[tuple[str, Optional[BadSampleError]]]] = {}  # index -> [(key, error or None)]
    images: list[tuple[int, str]] = []
    with tokenizer_threads():
        for start in tqdm(range(0, n, chunk), desc="pre-flight: tokens", unit="chunk", disable=not progress or n <= chunk):
            plans, texts = [], []
            for index in range(start, min(n, start + chunk)):
                record, sample_id = dataset.records[index], dataset.ids[index]
                fixes: list[str] = []
                try:
                    image_file = image_of(record, sample_id)
                    turns, _ = normalize_conversation(
                        record.get("conversations"), template, image_token=image_token, sample_id=sample_id,
                        expected_images=0 if image_file is None else 1, fixes=fixes)
                except BadSampleError as err:
                    found[index] = [(key, None) for key in fixes] + [(err.reason, err)]
                    continue
                segments = render_segments(template, turns, image_token=image_token)
                plans.append((index, fixes, _layout(segments, image_token, texts), image_file))
            lengths = token_counts(tokenizer, texts)
            for index, fixes, layout, image_file in plans:
                entries = [(key, None) for key in fixes]
                length, image_end, first_reply = _measure(layout, lengths, bos, dataset.num_image_tokens)
                if length > max_length:
                    sample_id = dataset.ids[index]
                    if truncate and (image_end > max_length or first_reply is None or first_reply >= max_length):
                        entries.append(("over_long_unfixable", BadSampleError(
                            sample_id, "over_long_unfixable", f"{length} tokens > model_max_length {max_length}, "
                            "and truncating would cut the image tokens or every reply")))
                    elif truncate:
                        entries.append(("over_long", None))
                    else:
                        entries.append(("over_long", BadSampleError(
                            sample_id, "over_long", f"{length} tokens > model_max_length {max_length}")))
                if entries:
                    found[index] = entries
                if image_file is not None and not any(err for _, err in entries):
                    images.append((index, os.path.join(dataset.image_folder, image_file)))

    with ThreadPoolExecutor(max_workers=workers or min(32, (os.cpu_count() or 1) * 4)) as pool:
        results = pool.map(lambda item: _check_image(item[1], dataset.ids[item[0]], decode_images), images,
                           chunksize=64)
        what = "decoding images" if decode_images else "image files"
        for (index, _), err in zip(images, tqdm(results, total=len(images), desc=f"pre-flight: {what}",
                                                unit="img", disable=not progress or len(images) < 1000)):
            if err is not None:
                found.setdefault(index, []).append((err.reason, err))

    has_image = sum(1 for record in dataset.records if record.get("image") not in (None, "", []))
    report = DataReport(
        data_path=dataset.data_path, records=n, modalities={"image": has_image, "text": n - has_image},
        policy=dataset.policy,
        checks=["tokens", "images decoded" if decode_images else "image files exist"],
    )
    errors: dict[int, BadSampleError] = {}
    for index in sorted(found):
        for key, err in found[index]:
            report.add(key, dataset.ids[index])
            if err is not None and index not in errors:
                errors[index] = err
    return report, errors


def enforce(report: DataReport) -> None:
    """Stop (``DataPolicyError``) when a quirk without a safe fix is present and not skipped."""
    stopping = report.stopping()
    if stopping:
        raise DataPolicyError(report.data_path, stopping)
