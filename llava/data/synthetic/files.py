"""Where the synthetic dataset's files live, and the small pieces shared by its generators
(image and JSON writers, LLaVA's record format, reuse of a set already generated)."""
from __future__ import annotations

import json
import random
import shutil
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


def conversation(*turns: tuple[str, str]) -> list[dict[str, str]]:
    """[(human, gpt), ...] -> LLaVA's alternating {"from", "value"} list."""
    out = []
    for human, gpt in turns:
        out += [{"from": "human", "value": human}, {"from": "gpt", "value": gpt}]
    return out


def generation_args(version: int, num_train: int, num_test: int, seed: int, image_size: int,
                    **extra: str) -> dict[str, Any]:
    """What dataset_info.json records as "args": a set is reused only when all of it matches."""
    return {"num_train": num_train, "num_test": num_test, "seed": seed, "image_size": image_size,
            "generator_version": version, **extra}


def already_generated(info_json: Path, args: dict[str, Any], overwrite: bool) -> bool:
    """True when ``info_json`` (written last, so the set is complete) records ``args``.

    A set generated with other arguments is refused unless ``overwrite``, so a changed flag
    never silently trains on stale data.
    """
    if overwrite or not info_json.exists():
        return False
    existing = json.loads(info_json.read_text()).get("args")
    if existing == args:
        return True
    raise FileExistsError(f"{info_json} was generated with {existing}, not {args}; pass overwrite=True (--overwrite)")


def remove_generated(folders: Iterable[Path], files: Iterable[Path]) -> None:
    """Delete only what a generator writes (never the whole out dir, which may hold the user's files)."""
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    for file in files:
        file.unlink(missing_ok=True)


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1) + "\n")
