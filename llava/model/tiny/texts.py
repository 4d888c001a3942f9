"""What the tiny model's tokenizer is trained on: the synthetic data's training turns, plus the
Vicuna v1 template pieces that every prompt spells."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator

from llava.data.conversation import VICUNA_SYSTEM

# Vicuna v1 template pieces: the tokenizer must know them even if the data never spells them out.
TEMPLATE_TEXTS = (VICUNA_SYSTEM, "USER", "ASSISTANT", "USER:", "ASSISTANT:", " USER:", " ASSISTANT:")
TEMPLATE_WEIGHT = 2000  # repeats: the system prompt is in every sample, so it should merge into few tokens


def tokenizer_corpus(texts: Iterable[str]) -> Iterator[str]:
    """The template pieces TEMPLATE_WEIGHT times, then every text as it starts a prompt and after a space."""
    for _ in range(TEMPLATE_WEIGHT):
        yield from TEMPLATE_TEXTS
    for text in texts:
        yield text
        # In a prompt a turn follows "USER: " / "ASSISTANT: ", so its first word carries a space.
        yield " " + text


def dataset_texts(data_dir: str | Path) -> Iterator[str]:
    """Every conversation turn of the training files (test files stay unseen, even by the tokenizer)."""
    data_dir = Path(data_dir)
    for name in ("pretrain.json", "train.json"):
        path = data_dir / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; run `python -m llava.data.synthetic --out {data_dir}` first")
        for n, record in enumerate(json.loads(path.read_text())):
            try:
                yield from (turn["value"] for turn in record["conversations"])
            except (KeyError, TypeError) as err:
                record_id = record.get("id", n) if isinstance(record, dict) else n
                raise ValueError(f"{path}: record {record_id!r} has no valid conversations") from err
