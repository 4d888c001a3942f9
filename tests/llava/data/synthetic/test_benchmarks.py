"""Held-out questions in MM-Vet's and VQAv2's on-disk layouts."""
import json

from llava.data.synthetic.tasks import CAPTION, TASKS

MMVET_TAGS = {"rec", "ocr", "know", "gen", "spat", "math"}


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
