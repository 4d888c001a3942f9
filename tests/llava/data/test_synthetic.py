"""The synthetic multi-task dataset: determinism, formats of every output file, task semantics."""
import json
import random

import pytest
from PIL import Image

from llava.data.scenes import caption, render_scene
from llava.data.synthetic import generate_dataset, main
from llava.data.synthetic_files import ImageWriter
from llava.data.tasks import CAPTION, TASKS, sample_example

SMALL = dict(num_train=40, num_test=3, image_size=64)
MMVET_TAGS = {"rec", "ocr", "know", "gen", "spat", "math"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("syn"), seed=0, **SMALL)


def _all_files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_other_seed_differs(dataset, tmp_path):
    again = generate_dataset(tmp_path / "again", seed=0, **SMALL)
    first, second = _all_files(dataset.root), _all_files(again.root)
    assert first.keys() == second.keys()
    assert len(first) == 40 + 3 * 6 + 3 * 7 + 3 * 6 + 10  # images + 10 json/jsonl files
    assert first == second
    other = generate_dataset(tmp_path / "other", seed=1, **SMALL)
    assert other.train_json.read_bytes() != dataset.train_json.read_bytes()


def test_task_table_is_immutable_with_known_chance():
    assert {name: spec.chance for name, spec in TASKS.items()} == pytest.approx(
        {"colour": 0.25, "count": 1 / 3, "position": 0.5, "shape": 1 / 3, "digit": 0.1, "bigger": 0.5}
    )
    with pytest.raises(TypeError):
        TASKS["colour"] = None


def test_train_and_pretrain_records(dataset):
    train = json.loads(dataset.train_json.read_text())
    pretrain = json.loads(dataset.pretrain_json.read_text())
    assert len(pretrain) == 40 and len(train) == 40 + 1  # 2% text-only, rounded
    for record in pretrain:
        assert (dataset.image_folder / record["image"]).is_file()
        assert [t["from"] for t in record["conversations"]] == ["human", "gpt"]
        assert record["conversations"][0]["value"] == "<image>"
    text_only = [r for r in train if "image" not in r]
    assert len(text_only) == 1
    assert all("<image>" not in t["value"] for t in text_only[0]["conversations"])
    for record in train:
        roles = [t["from"] for t in record["conversations"]]
        assert roles == ["human", "gpt"] * (len(roles) // 2) and roles
        values = [t["value"] for t in record["conversations"]]
        if "image" in record:
            assert values[0].startswith("<image>\n")
            assert sum(v.count("<image>") for v in values) == 1
        assert all(v.strip() for v in values)
    assert len({r["id"] for r in train}) == len(train)


def test_test_split_answers_come_from_the_task_answer_sets(dataset):
    questions = [json.loads(line) for line in dataset.test_questions.read_text().splitlines()]
    answers = [json.loads(line) for line in dataset.test_answers.read_text().splitlines()]
    assert len(questions) == len(answers) == 3 * len(TASKS)
    assert [q["question_id"] for q in questions] == [a["question_id"] for a in answers]
    for q, a in zip(questions, answers):
        assert q["category"] == a["category"]
        assert a["answer"] in TASKS[a["category"]].answers
        assert (dataset.image_folder / q["image"]).is_file()
        assert not q["image"].startswith("train_")
    info = json.loads(dataset.info_json.read_text())
    assert info["counts"]["test"] == {task: 3 for task in TASKS}
    assert info["chance"]["digit"] == 0.1


def test_mmvet_layout(dataset):
    entries = json.loads(dataset.mmvet_json.read_text())
    questions = [json.loads(line) for line in dataset.mmvet_questions.read_text().splitlines()]
    assert list(entries) == [f"v1_{i}" for i in range(3 * 7)]
    assert [q["question_id"] for q in questions] == list(entries)
    for key, entry in entries.items():
        assert set(entry["capability"]) <= MMVET_TAGS and entry["capability"]
        assert (dataset.mmvet_images / entry["imagename"]).is_file()
    by_task = {q["category"]: entries[q["question_id"]] for q in questions}
    assert by_task["digit"]["capability"] == ["ocr"]
    assert "<AND>" in by_task[CAPTION]["answer"] or by_task[CAPTION]["answer"].isdigit()
    assert "<OR>" in by_task["count"]["answer"]


def test_vqav2_layout_has_ten_answers_agreeing_with_the_majority(dataset):
    questions = json.loads(dataset.vqav2_questions.read_text())["questions"]
    annotations = json.loads(dataset.vqav2_annotations.read_text())["annotations"]
    question_file = [json.loads(line) for line in dataset.vqav2_question_file.read_text().splitlines()]
    assert len(questions) == len(annotations) == len(question_file) == 3 * len(TASKS)
    for q, ann, row in zip(questions, annotations, question_file):
        assert q["question_id"] == ann["question_id"] == row["question_id"]
        answers = [a["answer"] for a in ann["answers"]]
        assert len(answers) == 10
        # VQA accuracy = min(#humans agreeing / 3, 1): the true answer must score 1.
        assert answers.count(ann["multiple_choice_answer"]) >= 6
        assert (dataset.vqav2_images / row["image"]).is_file()


def test_existing_dataset_is_reused_mismatch_refused_and_overwrite_regenerates(dataset, tmp_path):
    stamp = dataset.info_json.stat().st_mtime_ns
    assert generate_dataset(dataset.root, seed=0, **SMALL) == dataset
    assert dataset.info_json.stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match="overwrite"):
        generate_dataset(dataset.root, seed=5, **SMALL)
    paths = main(["--out", str(tmp_path / "cli"), "--num-train", "4", "--num-test", "1"])
    main(["--out", str(paths.root), "--num-train", "2", "--num-test", "1", "--overwrite"])
    assert sorted(p.name for p in paths.image_folder.glob("train_*")) == ["train_000000.png", "train_000001.png"]


def test_scene_semantics_match_answers():
    rng = random.Random(0)
    for _ in range(200):
        pos = sample_example("position", rng)
        shape = pos.scene.shapes[0]
        centre = {"left": shape.cx, "right": 1 - shape.cx, "top": shape.cy, "bottom": 1 - shape.cy}[pos.answer]
        assert centre < 0.35
        big = sample_example("bigger", rng)
        left, right = big.scene.shapes
        assert (left.size > right.size) == (big.answer == "left")
        assert abs(left.size - right.size) > 0.1
        count = sample_example("count", rng)
        assert len(count.scene.shapes) == int(count.answer)
        assert caption(count.scene).startswith(("one shape", "two shapes", "three shapes"))


def test_digits_render_distinctly_and_shapes_use_their_colour(tmp_path):
    writer = ImageWriter(tmp_path, 64)
    rng = random.Random(3)
    examples = {}
    while len(examples) < 10:
        ex = sample_example("digit", rng)
        examples.setdefault(ex.answer, ex)
    pixels = set()
    for digit, ex in examples.items():
        image = render_scene(ex.scene, 64, writer.font)
        ink = image.convert("L").point(lambda p: 255 if p < 180 else 0).histogram()[255]
        assert ink > 60, f"digit {digit} has only {ink} ink pixels at 64 px"
        pixels.add(image.tobytes())
    assert len(pixels) == 10
    colour = sample_example("colour", rng)
    image = Image.open(tmp_path / writer.write("c.png", colour)).convert("RGB")
    assert image.size == (64, 64)
    r, g, b = image.getpixel((round(colour.scene.shapes[0].cx * 64), round(colour.scene.shapes[0].cy * 64 + 4)))
    expected = {"red": r > 150 > g, "green": g > 120 > r, "blue": b > 150 > r, "yellow": r > 150 and g > 150 > b}
    assert expected[colour.answer]
