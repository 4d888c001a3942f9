"""Where the synthetic dataset's files live, and the small writers shared by its generators."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from PIL import Image, ImageFont

from .scenes import render_scene
from .tasks import Example


@dataclass(frozen=True)
class DatasetPaths:
    root: Path
    image_folder: Path  # images of pretrain.json, train.json and test/
    pretrain_json: Path
    train_json: Path
    test_questions: Path
    test_answers: Path
    mmvet_dir: Path
    mmvet_json: Path
    mmvet_questions: Path
    mmvet_images: Path
    vqav2_dir: Path
    vqav2_questions: Path
    vqav2_annotations: Path
    vqav2_question_file: Path
    vqav2_images: Path
    info_json: Path

    @classmethod
    def under(cls, root: str | Path) -> "DatasetPaths":
        root = Path(root)
        mmvet, vqa = root / "mm-vet", root / "vqav2"
        return cls(
            root=root,
            image_folder=root / "images",
            pretrain_json=root / "pretrain.json",
            train_json=root / "train.json",
            test_questions=root / "test" / "questions.jsonl",
            test_answers=root / "test" / "answers.jsonl",
            mmvet_dir=mmvet,
            mmvet_json=mmvet / "mm-vet.json",
            mmvet_questions=mmvet / "llava-mm-vet.jsonl",
            mmvet_images=mmvet / "images",
            vqav2_dir=vqa,
            vqav2_questions=vqa / "questions.json",
            vqav2_annotations=vqa / "annotations.json",
            vqav2_question_file=vqa / "llava_vqav2_test.jsonl",
            vqav2_images=vqa / "images",
            info_json=root / "dataset_info.json",
        )


class ImageWriter:
    """Renders scenes into one folder as PNG (holds the font so it is loaded once)."""

    def __init__(self, folder: Path, image_size: int):
        self.folder = folder
        self.image_size = image_size
        # Pillow's built-in font scaled so a digit fills about 70% of the image height.
        self.font = ImageFont.load_default(size=max(8, round(image_size * 0.7)))
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, example: Example) -> str:
        image: Image.Image = render_scene(example.scene, self.image_size, self.font)
        image.save(self.folder / name, format="PNG")
        return name


def item_rng(seed: int, split: str, index: int | str) -> random.Random:
    return random.Random(f"{seed}/{split}/{index}")


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
