"""The interference study's data: conflicting conventions on the same images, per-task subsets, determinism."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from llava.data.conversation import SHORT_ANSWER_PROMPT
from llava.data.synthetic.interference import CYCLE, RULES, apply_rule, generate_interference, main, question_text
from llava.data.synthetic.scenes import COLOURS

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return generate_interference(tmp_path_factory.mktemp("interference") / "set", num_train=6, num_test=5, seed=3)


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_rules_by_hand():
    assert CYCLE == ("red", "green", "blue", "yellow")
    assert [apply_rule(r, "red") for r in RULES] == ["red", "green", "blue", "yellow"]
    assert [apply_rule(r, "yellow") for r in RULES] == ["yellow", "red", "green", "blue"]
    assert apply_rule("opposite", "green") == "yellow" and apply_rule("previous", "green") == "red"
    with pytest.raises(KeyError, match="unknown interference rule 'left'"):
        apply_rule("left", "red")
    assert question_text("What colour is the shape?", "next") == \
        f"What colour is the shape? Rule: next.\n{SHORT_ANSWER_PROMPT}"


def test_every_image_is_asked_under_every_rule_with_conflicting_answers(data):
    train = json.loads((data.root / "train.json").read_text())
    assert len(train) == 6 * len(RULES)
    by_image = {}
    for record in train:
        human, gpt = record["conversations"]
        rule = record["id"].rsplit("_", 1)[1]
        assert human["value"].startswith("<image>\n") and f" Rule: {rule}.\n" in human["value"]
        by_image.setdefault(record["image"], {})[rule] = gpt["value"]
    assert len(by_image) == 6
    for image, answers in by_image.items():
        assert sorted(answers) == sorted(RULES)
        assert sorted(answers.values()) == sorted(CYCLE)  # four rules -> four different colours
        # the drawn colour is the 'same' answer: it is the only palette colour in the image
        pixels = {tuple(p) for p in np.asarray(Image.open(data.images / image).convert("RGB")).reshape(-1, 3).tolist()}
        assert [c for c, rgb in COLOURS.items() if rgb in pixels] == [answers["same"]]
        for rule, answer in answers.items():
            assert answer == apply_rule(rule, answers["same"])


def test_test_split_and_per_task_subsets(data):
    questions = _lines(data.root / "test" / "questions.jsonl")
    answers = _lines(data.root / "test" / "answers.jsonl")
    assert len(questions) == len(answers) == 5 * len(RULES)
    assert [q["question_id"] for q in questions] == [a["question_id"] for a in answers] == list(range(20))
    info = json.loads(data.info.read_text())
    assert info["chance"] == {r: 0.25 for r in RULES} and info["counts"]["test"] == {r: 5 for r in RULES}
    assert info["counts"]["train"] == {r: 6 for r in RULES}
    train = json.loads((data.root / "train.json").read_text())
    for rule in RULES:
        sub = data.task_root(rule)
        sub_train = json.loads((sub / "train.json").read_text())
        assert sorted(r["id"] for r in sub_train) == sorted(r["id"] for r in train if r["id"].endswith("_" + rule))
        sub_q, sub_a = _lines(sub / "test" / "questions.jsonl"), _lines(sub / "test" / "answers.jsonl")
        assert sub_q == [q for q in questions if q["category"] == rule]
        assert sub_a == [a for a in answers if a["category"] == rule]
        assert (sub / "images" / sub_q[0]["image"]).is_file()  # the shared images, through the link
        sub_info = json.loads((sub / "dataset_info.json").read_text())
        assert sub_info["chance"] == {rule: 0.25} and sub_info["args"]["task"] == rule


def test_same_seed_same_bytes_reuse_and_mismatch(data, tmp_path):
    again = generate_interference(tmp_path / "again", num_train=6, num_test=5, seed=3)
    for name in ("train.json", "test/questions.jsonl", "test/answers.jsonl", "images/train_000004.png"):
        assert (again.root / name).read_bytes() == (data.root / name).read_bytes()
    stamp = (again.root / "train.json").stat().st_mtime_ns
    generate_interference(tmp_path / "again", num_train=6, num_test=5, seed=3)  # same args: untouched
    assert (again.root / "train.json").stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match="dataset_info.json was generated with"):
        generate_interference(tmp_path / "again", num_train=7, num_test=5, seed=3)
    main(["--out", str(tmp_path / "again"), "--num-train", "7", "--num-test", "5", "--seed", "3", "--overwrite"])
    assert len(json.loads((again.root / "train.json").read_text())) == 7 * len(RULES)
    assert not (again.root / "images" / "test_000005.png").exists()
    with pytest.raises(ValueError, match="need num_train >= 1"):
        generate_interference(tmp_path / "bad", num_train=0)
