"""A synthetic multi-task set built for task interference (the method study's data, not the embedded default).

    python -m llava.data.synthetic.interference --out playground/data/interference --num-train 2000 --num-test 150

Every task asks the same question about the same kind of image (one shape; "What colour is the shape?")
and answers from the same four colour words, but under its own convention, named by one cue word in
the question ("Rule: next."):

    same      the shape's colour                          red -> red
    next      the next colour in red, green, blue, yellow  red -> green
    opposite  two steps on                                 red -> blue
    previous  one step back                                red -> yellow

So the tasks want conflicting outputs from near-identical inputs: one shared adapter must learn the
cue x colour table (16 cells), while an adapter that only ever sees one task learns one relabelling
of four colours. Each training image is asked under every rule (one record per rule), and so is each
held-out image, so the per-task test sets hold the same images.

Layout (the embedded default's file formats, so llava.train, model_vqa and task_accuracy read it as is):
    images/                              PNGs of train and test
    train.json, test/questions.jsonl, test/answers.jsonl, dataset_info.json    all tasks
    tasks/<task>/{train.json, test/..., dataset_info.json, images -> ../../images}  one task each
      (what a per-task "oracle" adapter trains and is scored on)
Each item draws from its own ``random.Random("<seed>/<split>/<index>")``: same seed, same bytes.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Optional, Sequence

from tqdm import tqdm

from eval.jsonl import write_jsonl
from llava.data.conversation import SHORT_ANSWER_PROMPT

from .cli import generator_parser, run_generator
from .files import (ImageWriter, already_generated, conversation, generation_args, item_rng, remove_generated,
                    write_json)
from .scenes import COLOURS, centred_shape_scene
from .tasks import TASKS, Example

GENERATOR_VERSION = 1  # bump when the output for a given seed changes
CYCLE = tuple(COLOURS)  # red, green, blue, yellow
# task (= cue word) -> steps along CYCLE
RULES: Mapping[str, int] = MappingProxyType({"same": 0, "next": 1, "opposite": 2, "previous": 3})
QUESTIONS = TASKS["colour"].questions  # the embedded default's colour phrasings
TASK_DIR = "tasks"


def apply_rule(rule: str, colour: str) -> str:
    """The answer to a colour question under ``rule`` ('next' of red is green)."""
    if rule not in RULES:
        raise KeyError(f"unknown interference rule {rule!r}; expected one of {', '.join(RULES)}")
    return CYCLE[(CYCLE.index(colour) + RULES[rule]) % len(CYCLE)]


def question_text(phrasing: str, rule: str) -> str:
    """The cue is one word; the rest is the default's colour question and LLaVA's short-answer prompt."""
    return f"{phrasing} Rule: {rule}.\n{SHORT_ANSWER_PROMPT}"


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def info(self) -> Path:
        return self.root / "dataset_info.json"

    def task_root(self, task: Optional[str] = None) -> Path:
        """The folder of one task's subset, or the root for all tasks."""
        return self.root if task is None else self.root / TASK_DIR / task


def _image_records(writer: ImageWriter, split: str, count: int, seed: int):
    """count images; per image and rule: (image file, phrasing, rule, answer)."""
    items = []
    for i in tqdm(range(count), desc=f"{split} images", unit="img"):
        rng = item_rng(seed, f"interference-{split}", i)
        scene = centred_shape_scene(rng)  # as the default's colour task draws it
        name = writer.write(f"{split}_{i:06d}.png", Example("colour", scene, "", scene.shapes[0].colour, ()))
        for rule in RULES:
            items.append((name, rng.choice(QUESTIONS), rule, apply_rule(rule, scene.shapes[0].colour)))
    return items


def _write_set(root: Path, args: dict, train: list, questions: list, answers: list, tasks: Sequence[str]) -> None:
    write_json(root / "train.json", train)
    write_jsonl(root / "test" / "questions.jsonl", questions)
    write_jsonl(root / "test" / "answers.jsonl", answers)
    info = {
        "args": args,
        "counts": {"train": {t: sum(r["id"].endswith(f"_{t}") for r in train) for t in tasks},
                   "test": {t: sum(a["category"] == t for a in answers) for t in tasks}},
        "chance": {t: 1 / len(CYCLE) for t in tasks},
        "answers": {t: list(CYCLE) for t in tasks},
        "image_folder": "images",
    }
    write_json(root / "dataset_info.json", info)  # written last: marks a complete set


def generate_interference(out_dir: str | Path, num_train: int = 2000, num_test: int = 150, seed: int = 0,
                          image_size: int = 64, overwrite: bool = False) -> Paths:
    """Write the set under out_dir (a no-op when it holds the same arguments); num_* count images."""
    if num_train < 1 or num_test < 1 or image_size < 16:
        raise ValueError(f"need num_train >= 1, num_test >= 1, image_size >= 16; got {num_train}, {num_test}, {image_size}")
    paths = Paths(Path(out_dir))
    args = generation_args(GENERATOR_VERSION, num_train, num_test, seed, image_size, kind="interference")
    if already_generated(paths.info, args, overwrite):
        return paths
    remove_generated((paths.images, paths.root / "test", paths.root / TASK_DIR), (paths.info, paths.root / "train.json"))

    writer = ImageWriter(paths.images, image_size)
    train = [{"id": f"{image[:-4]}_{rule}", "image": image,
              "conversations": conversation((f"<image>\n{question_text(q, rule)}", answer))}
             for image, q, rule, answer in _image_records(writer, "train", num_train, seed)]
    random.Random(f"{seed}/interference-shuffle").shuffle(train)  # rules interleaved, deterministically
    questions, answers = [], []
    for qid, (image, q, rule, answer) in enumerate(_image_records(writer, "test", num_test, seed)):
        questions.append({"question_id": qid, "image": image, "text": question_text(q, rule), "category": rule})
        answers.append({"question_id": qid, "answer": answer, "category": rule})

    for task in RULES:  # the per-task subsets first: the root's dataset_info.json marks the whole set done
        root = paths.task_root(task)
        root.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.join("..", "..", "images"), root / "images")
        keep = {a["question_id"] for a in answers if a["category"] == task}
        _write_set(root, {**args, "task": task}, [r for r in train if r["id"].endswith(f"_{task}")],
                   [q for q in questions if q["question_id"] in keep],
                   [a for a in answers if a["question_id"] in keep], (task,))
    _write_set(paths.root, args, train, questions, answers, tuple(RULES))
    return paths


def main(argv: Optional[Sequence[str]] = None) -> Paths:
    parser = generator_parser("python -m llava.data.synthetic.interference", __doc__,
                              out="playground/data/interference", num_train=2000, num_test=150,
                              num_train_help=f"training images; each gives {len(RULES)} records (one per rule)",
                              num_test_help="held-out images = questions per task")
    args = parser.parse_args(argv)
    paths = generate_interference(args.out, args.num_train, args.num_test, args.seed, args.image_size, args.overwrite)
    print(f"interference set ready in {paths.root} ({len(RULES)} tasks: {', '.join(RULES)})")
    return paths


if __name__ == "__main__":
    run_generator(main)
