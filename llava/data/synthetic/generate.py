"""Generate the synthetic multi-task visual dataset (the embedded default of every entry point).

    python -m llava.data.synthetic --out playground/data/synthetic --num-train 20000 --num-test 200

Every "image" field is relative to the images folder of its set (``images/`` for
pretrain/train/test, ``mm-vet/images/``, ``vqav2/images/``), as LLaVA's ``--image_folder`` expects.
Each item draws from its own ``random.Random("<seed>/<split>/<index>")``, so the output
is byte-identical for a seed whatever else changes.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Optional, Sequence

from tqdm import tqdm

from eval.jsonl import write_jsonl
from llava.data.conversation import SHORT_ANSWER_PROMPT

from .benchmarks import write_mmvet, write_vqav2
from .cli import generator_parser
from .files import DatasetPaths, ImageWriter, already_generated, conversation, generation_args, item_rng
from .files import remove_generated, write_json
from .scenes import caption
from .tasks import CAPTION, TASKS, sample_example, sample_text_only

GENERATOR_VERSION = 1  # bump when the output for a given seed changes
CAPTION_SHARE = 0.25  # of stage-2 image records: captions make a tiny model look at the image
SHORT_PROMPT_SHARE = 0.8  # of stage-2 questions carrying SHORT_ANSWER_PROMPT (MM-Vet questions don't)
MULTI_TURN_SHARE = 0.1  # of stage-2 questions followed by a second turn asking for a caption
TEXT_ONLY_SHARE = 0.02  # extra text-only records, relative to num_train


def _train_records(writer: ImageWriter, num_train: int, seed: int):
    """Images + stage-1 caption records + stage-2 instruction records; returns (pretrain, train, counts)."""
    tasks = list(TASKS) + [CAPTION]
    weights = [(1 - CAPTION_SHARE) / len(TASKS)] * len(TASKS) + [CAPTION_SHARE]
    pretrain, train = [], []
    counts: dict[str, int] = {name: 0 for name in tasks}
    counts["multi_turn"] = 0
    for i in tqdm(range(num_train), desc="train images", unit="img"):
        rng = item_rng(seed, "train", i)
        example = sample_example(rng.choices(tasks, weights)[0], rng)
        record_id = f"train_{i:06d}"
        image = writer.write(f"{record_id}.png", example)
        description = caption(example.scene)
        pretrain.append({"id": record_id, "image": image, "conversations": conversation(("<image>", description))})
        counts[example.task] += 1
        if example.task == CAPTION:
            turns = [(f"<image>\n{example.question}", example.answer)]
        else:
            question = example.question
            if rng.random() < SHORT_PROMPT_SHARE:
                question += "\n" + SHORT_ANSWER_PROMPT
            turns = [(f"<image>\n{question}", example.answer)]
            if rng.random() < MULTI_TURN_SHARE:
                turns.append(("Describe the image.", description))
                counts["multi_turn"] += 1
        train.append({"id": record_id, "image": image, "conversations": conversation(*turns)})

    num_text = round(num_train * TEXT_ONLY_SHARE)
    for i in range(num_text):
        question, answer = sample_text_only(item_rng(seed, "text", i))
        train.append({"id": f"text_{i:06d}", "conversations": conversation((question, answer))})
    counts["text_only"] = num_text
    # Interleave text-only records with image records, deterministically.
    random.Random(f"{seed}/shuffle").shuffle(train)
    return pretrain, train, counts


def _test_records(writer: ImageWriter, num_test: int, seed: int):
    """num_test held-out questions per scored task, in model_vqa's question/answer file format."""
    questions, answers = [], []
    items = [(task, j) for task in TASKS for j in range(num_test)]
    for qid, (task, j) in enumerate(tqdm(items, desc="test images", unit="img")):
        example = sample_example(task, item_rng(seed, f"test-{task}", j))
        image = writer.write(f"test_{qid:06d}.png", example)
        text = f"{example.question}\n{SHORT_ANSWER_PROMPT}"
        questions.append({"question_id": qid, "image": image, "text": text, "category": task})
        answers.append({"question_id": qid, "answer": example.answer, "category": task})
    return questions, answers


def generate_dataset(
    out_dir: str | Path,
    num_train: int = 20000,
    num_test: int = 200,
    seed: int = 0,
    image_size: int = 64,
    overwrite: bool = False,
) -> DatasetPaths:
    """Write the whole dataset under ``out_dir``; a no-op when it already holds the same arguments."""
    if num_train < 0 or num_test < 1 or image_size < 16:
        raise ValueError(f"need num_train >= 0, num_test >= 1, image_size >= 16; got {num_train}, {num_test}, {image_size}")
    paths = DatasetPaths.under(out_dir)
    args = generation_args(GENERATOR_VERSION, num_train, num_test, seed, image_size)
    if already_generated(paths.info_json, args, overwrite):
        return paths
    remove_generated((paths.image_folder, paths.test_questions.parent, paths.mmvet_dir, paths.vqav2_dir),
                     (paths.info_json, paths.pretrain_json, paths.train_json))

    writer = ImageWriter(paths.image_folder, image_size)
    pretrain, train, train_counts = _train_records(writer, num_train, seed)
    write_json(paths.pretrain_json, pretrain)
    write_json(paths.train_json, train)
    questions, answers = _test_records(writer, num_test, seed)
    write_jsonl(paths.test_questions, questions)
    write_jsonl(paths.test_answers, answers)
    mmvet_count = write_mmvet(paths, ImageWriter(paths.mmvet_images, image_size), min(num_test, 20), seed)
    vqa_count = write_vqav2(paths, ImageWriter(paths.vqav2_images, image_size), min(num_test, 50), seed)

    info = {
        "args": args,
        "counts": {
            "pretrain": len(pretrain),
            "train": train_counts,
            "test": {task: num_test for task in TASKS},
            "mm-vet": mmvet_count,
            "vqav2": vqa_count,
        },
        "chance": {name: spec.chance for name, spec in TASKS.items()},
        "answers": {name: list(spec.answers) for name, spec in TASKS.items()},
        "image_folder": paths.image_folder.name,
    }
    write_json(paths.info_json, info)  # written last: its presence marks a complete dataset
    return paths


def main(argv: Optional[Sequence[str]] = None) -> DatasetPaths:
    parser = generator_parser("python -m llava.data.synthetic", __doc__, out="playground/data/synthetic",
                              num_train=20000, num_test=200,
                              num_train_help="training images (one stage-2 record each)",
                              num_test_help="held-out questions per task")
    args = parser.parse_args(argv)
    paths = generate_dataset(args.out, args.num_train, args.num_test, args.seed, args.image_size, args.overwrite)
    print(f"dataset ready in {paths.root}")
    return paths
