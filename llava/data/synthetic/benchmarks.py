"""Held-out synthetic questions in the on-disk layouts of real benchmarks (MM-Vet, VQAv2).

So the evaluation code runs unchanged on the embedded default and on the real data.
"""
from __future__ import annotations

import random

from eval.jsonl import write_jsonl
from llava.data.conversation import SHORT_ANSWER_PROMPT

from .files import DatasetPaths, ImageWriter, item_rng, write_json
from .tasks import CAPTION, TASKS, Example, capabilities, sample_example

VQA_NUM_ANSWERS = 10  # VQAv2 collects ten human answers per question


def mmvet_ground_truth(example: Example) -> str:
    """MM-Vet's answer syntax: '<OR>' between accepted forms, '<AND>' between required parts."""
    if example.task == CAPTION:
        return "<AND>".join(example.keywords or ())
    if example.task in ("count", "digit"):
        return "<OR>".join((example.answer,) + example.variants)
    return example.answer


def write_mmvet(paths: DatasetPaths, writer: ImageWriter, per_task: int, seed: int) -> int:
    """mm-vet.json {"v1_<n>": {imagename, question, answer, capability}}, images/ and the question file."""
    entries, questions = {}, []
    n = 0
    for task in list(TASKS) + [CAPTION]:
        for j in range(per_task):
            example = sample_example(task, item_rng(seed, f"mm-vet-{task}", j))
            key = f"v1_{n}"
            image = writer.write(f"{key}.png", example)
            entries[key] = {
                "imagename": image,
                "question": example.question,
                "answer": mmvet_ground_truth(example),
                "capability": list(capabilities(task)),
            }
            questions.append({"question_id": key, "image": image, "text": example.question, "category": task})
            n += 1
    write_json(paths.mmvet_json, entries)
    write_jsonl(paths.mmvet_questions, questions)
    return n


def human_answers(example: Example, rng: random.Random) -> list[str]:
    """Ten answers: mostly the true one, a few variants ('two' for '2'), sometimes one wrong."""
    num_variants = rng.randint(0, 3) if example.variants else 0
    num_wrong = rng.choice((0, 0, 1))
    wrong_pool = [a for a in TASKS[example.task].answers if a != example.answer]
    answers = [rng.choice(example.variants) for _ in range(num_variants)]
    answers += [rng.choice(wrong_pool) for _ in range(num_wrong)]
    answers += [example.answer] * (VQA_NUM_ANSWERS - len(answers))
    rng.shuffle(answers)
    return answers


def write_vqav2(paths: DatasetPaths, writer: ImageWriter, per_task: int, seed: int) -> int:
    """VQAv2 questions/annotations json (ten answers each), images/ and LLaVA's question file."""
    questions, annotations, question_file = [], [], []
    n = 0
    for task in TASKS:
        for j in range(per_task):
            rng = item_rng(seed, f"vqav2-{task}", j)
            example = sample_example(task, rng)
            image_id = n + 1
            question_id = image_id * 1000  # VQAv2 numbers questions image_id * 1000 + k
            image = writer.write(f"vqa_{image_id:012d}.png", example)
            questions.append({"question_id": question_id, "image_id": image_id, "question": example.question})
            annotations.append(
                {
                    "question_id": question_id,
                    "image_id": image_id,
                    "question_type": task,
                    "answer_type": "number" if task in ("count", "digit") else "other",
                    "multiple_choice_answer": example.answer,
                    "answers": [
                        {"answer": a, "answer_confidence": "yes", "answer_id": k + 1}
                        for k, a in enumerate(human_answers(example, rng))
                    ],
                }
            )
            question_file.append(
                {"question_id": question_id, "image": image,
                 "text": f"{example.question}\n{SHORT_ANSWER_PROMPT}", "category": task}
            )
            n += 1
    write_json(paths.vqav2_questions, {"data_subtype": "synthetic", "questions": questions})
    write_json(paths.vqav2_annotations, {"data_subtype": "synthetic", "annotations": annotations})
    write_jsonl(paths.vqav2_question_file, question_file)
    return n
