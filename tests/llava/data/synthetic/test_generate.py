"""The embedded default's generator: determinism, the train/pretrain/test files, reuse of a finished set."""
import json

import pytest

from llava.data.synthetic.generate import generate_dataset, main
from llava.data.synthetic.tasks import TASKS


def _all_files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_other_seed_differs(dataset, small, tmp_path):
    again = generate_dataset(tmp_path / "again", seed=0, **small)
    first, second = _all_files(dataset.root), _all_files(again.root)
    assert first.keys() == second.keys()
    assert len(first) == 40 + 3 * 6 + 3 * 7 + 3 * 6 + 10  # images + 10 json/jsonl files
    assert first == second
    other = generate_dataset(tmp_path / "other", seed=1, **small)
    assert other.train_json.read_bytes() != dataset.train_json.read_bytes()


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


def test_existing_dataset_is_reused_mismatch_refused_and_overwrite_regenerates(dataset, small, tmp_path):
    stamp = dataset.info_json.stat().st_mtime_ns
    assert generate_dataset(dataset.root, seed=0, **small) == dataset
    assert dataset.info_json.stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match="overwrite"):
        generate_dataset(dataset.root, seed=5, **small)
    paths = main(["--out", str(tmp_path / "cli"), "--num-train", "4", "--num-test", "1"])
    main(["--out", str(paths.root), "--num-train", "2", "--num-test", "1", "--overwrite"])
    assert sorted(p.name for p in paths.image_folder.glob("train_*")) == ["train_000000.png", "train_000001.png"]
