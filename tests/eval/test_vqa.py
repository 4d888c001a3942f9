"""VQAv2 and TextVQA scorers on tiny files in the real layouts, with hand-computed results."""
import json

import pytest
from tests.eval.file_fixtures import last_json_line, write_answers, write_json

from eval import textvqa, vqav2
from eval.textvqa import prompt_question
from eval.vqa import vqa_accuracy

SHORT = "\nAnswer the question using a single word or phrase."


@pytest.mark.parametrize("matching, expected", [
    (0, 0.0),
    (1, 0.3),   # 9 subsets hold 1 match -> 1/3 each; the one without it -> 0
    (2, 0.6),   # (2 * 1/3 + 8 * 2/3) / 10
    (3, 0.9),   # (3 * 2/3 + 7 * 1) / 10
    (4, 1.0),
    (10, 1.0),
])
def test_lenient_leave_one_out_accuracy(matching, expected):
    humans = ["yes"] * matching + ["no"] * (10 - matching)
    assert vqa_accuracy("yes", humans) == pytest.approx(expected)


def _annotation(qid, qtype, atype, answers):
    """One record of v2_mscoco_val2014_annotations.json."""
    return {"question_id": qid, "image_id": 7, "question_type": qtype, "answer_type": atype,
            "multiple_choice_answer": answers[0],
            "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": i + 1}
                        for i, a in enumerate(answers)]}


def _vqav2_files(tmp_path):
    annotations = {"info": {}, "license": {}, "data_subtype": "val2014", "annotations": [
        _annotation(1, "is the", "yes/no", ["yes"] * 10),
        _annotation(2, "how many", "number", ["2"] * 2 + ["3"] * 8),
        _annotation(3, "what is the", "other", ["t-shirt"] * 10),
    ]}
    questions = tmp_path / "llava_vqav2_mscoco_val.jsonl"   # LLaVA's question-file layout
    questions.write_text("".join(json.dumps({"question_id": q, "image": f"COCO_val2014_{q:012d}.jpg",
                                             "text": "?" + SHORT, "category": "default"}) + "\n"
                                 for q in (1, 2, 3)))
    return write_json(tmp_path / "ann.json", annotations), str(questions)


def test_vqav2_official_and_lenient(tmp_path, capsys):
    ann, questions = _vqav2_files(tmp_path)
    answers = write_answers(tmp_path / "a.jsonl", {1: "Yes.", 2: "two", 3: "t-shirt"})
    vqav2.main(["--answers", answers, "--questions", questions, "--annotations", ann])
    summary = last_json_line(capsys.readouterr().out)
    # 1.0, 0.6 ("2": 2 of 10), 0.0 (uploaded as "t shirt"; the 10 identical humans stay "t-shirt")
    assert summary["accuracy"] == 53.33
    assert summary["per_answer_type"] == {"number": 60.0, "other": 0.0, "yes/no": 100.0}
    assert summary["per_question_type"] == {"how many": 60.0, "is the": 100.0, "what is the": 0.0}
    assert "lenient" not in summary and "misread_by_official" not in summary

    vqav2.main(["--answers", answers, "--questions", questions, "--annotations", ann, "--lenient"])
    summary = last_json_line(capsys.readouterr().out)
    assert summary["accuracy"] == 53.33                 # the headline stays official
    assert summary["lenient"]["accuracy"] == 86.67      # (1.0 + 0.6 + 1.0) / 3
    assert summary["lenient"]["per_answer_type"] == {"number": 60.0, "other": 100.0, "yes/no": 100.0}
    assert set(summary["lenient"]) == {"accuracy", "per_answer_type", "per_question_type"}
    assert summary["misread_by_official"] == 1


def test_vqav2_submission_is_evalai_list(tmp_path, capsys):
    _, questions = _vqav2_files(tmp_path)
    answers = write_answers(tmp_path / "a.jsonl", {1: "Yes.", 2: "Two", 3: "The T-shirt?"})
    out = tmp_path / "sub.json"
    vqav2.main(["--answers", answers, "--questions", questions, "--submission", str(out)])
    assert json.loads(out.read_text()) == [
        {"question_id": 1, "answer": "yes"},
        {"question_id": 2, "answer": "2"},
        {"question_id": 3, "answer": "t shirt"},
    ]


def test_vqav2_test_dev_padded_to_test2015(tmp_path, capsys):
    testdev = tmp_path / "llava_vqav2_mscoco_test-dev2015.jsonl"
    testdev.write_text("".join(json.dumps({"question_id": q, "image": "x.jpg", "text": "?" + SHORT}) + "\n"
                               for q in (20, 40)))
    test2015 = tmp_path / "llava_vqav2_mscoco_test2015.jsonl"
    test2015.write_text("".join(json.dumps({"question_id": q, "image": "x.jpg", "text": "?" + SHORT}) + "\n"
                                for q in (10, 20, 30, 40, 50)))
    answers = write_answers(tmp_path / "a.jsonl", {20: "red", 40: "No"})
    out = tmp_path / "sub.json"
    vqav2.main(["--answers", answers, "--questions", str(testdev), "--submission", str(out),
                "--test2015-questions", str(test2015)])
    captured = capsys.readouterr()
    assert "padded the submission with 3 test2015 question id(s)" in captured.err
    assert last_json_line(captured.out)["num_padded"] == 3
    assert json.loads(out.read_text()) == [
        {"question_id": 10, "answer": ""}, {"question_id": 20, "answer": "red"},
        {"question_id": 30, "answer": ""}, {"question_id": 40, "answer": "no"},
        {"question_id": 50, "answer": ""}]


def test_vqav2_test2015_must_hold_test_dev(tmp_path, capsys):
    testdev = write_json(tmp_path / "td.json", {"questions": [{"question_id": 5, "image_id": 1, "question": "?"}]})
    full = write_json(tmp_path / "full.json", {"questions": [{"question_id": 6, "image_id": 1, "question": "?"}]})
    answers = write_answers(tmp_path / "a.jsonl", {5: "red"})
    with pytest.raises(SystemExit):
        vqav2.main(["--answers", answers, "--questions", testdev, "--submission", str(tmp_path / "s.json"),
                    "--test2015-questions", full])
    assert "1 question id(s) of --questions are not in it" in capsys.readouterr().err


def test_vqav2_submission_needs_every_answer(tmp_path, capsys):
    _, questions = _vqav2_files(tmp_path)
    answers = write_answers(tmp_path / "a.jsonl", {1: "Yes.", 3: "The Red"})
    out = tmp_path / "sub.json"
    with pytest.raises(SystemExit) as exc:
        vqav2.main(["--answers", answers, "--questions", questions, "--submission", str(out)])
    assert exc.value.code == 2
    assert "1 question(s) have no answer: 2" in capsys.readouterr().err
    assert not out.exists()

    vqav2.main(["--answers", answers, "--questions", questions, "--submission", str(out),
                "--allow-missing"])
    assert json.loads(out.read_text())[1] == {"question_id": 2, "answer": ""}
    assert last_json_line(capsys.readouterr().out)["num_missing"] == 1


def test_answer_for_unknown_question_is_an_error(tmp_path, capsys):
    ann, questions = _vqav2_files(tmp_path)
    answers = write_answers(tmp_path / "a.jsonl", {1: "yes", 2: "2", 3: "red", 99: "x"})
    with pytest.raises(SystemExit):
        vqav2.main(["--answers", answers, "--questions", questions, "--annotations", ann])
    assert "not in the ground truth: 99" in capsys.readouterr().err


def test_malformed_answer_line_names_file_and_line(tmp_path, capsys):
    ann, questions = _vqav2_files(tmp_path)
    bad = tmp_path / "a.jsonl"
    bad.write_text('{"question_id": 1, "text": "yes"}\n{"question_id": 2, "text": \n')
    with pytest.raises(SystemExit):
        vqav2.main(["--answers", str(bad), "--questions", questions, "--annotations", ann])
    assert f"{bad}:2: not valid JSON" in capsys.readouterr().err


@pytest.mark.parametrize("prompt, expected", [
    ("What brand?\nReference OCR token: Nikon, D90\nAnswer the question using a single word or phrase.",
     "what brand?"),
    ("Reference OCR token: Nikon\nWhat brand?\nAnswer briefly.", "what brand?"),
    ("OCR tokens: a b Question: What Brand? Short answer:", "what brand?"),
    ("What brand?\nAnswer the question using a single word or phrase.", "what brand?"),
    ("What brand?", None),                      # LLaVA's processor stops on this
])
def test_textvqa_prompt_question(prompt, expected):
    assert prompt_question(prompt) == expected


def _textvqa_record(image_id, qid, question, answers):
    """One record of TextVQA_0.5.1_val.json's "data"."""
    return {"question": question, "image_id": image_id, "image_classes": ["Camera"],
            "flickr_original_url": "", "flickr_300k_url": "", "image_width": 1024, "image_height": 768,
            "answers": answers, "question_tokens": question.split(), "question_id": qid, "set_name": "val"}


def test_textvqa_matches_repeated_ids_by_image_and_question(tmp_path, capsys):
    ann = write_json(tmp_path / "TextVQA_0.5.1_val.json", {
        "dataset_type": "val", "dataset_name": "textvqa", "dataset_version": "0.5.1", "data": [
            _textvqa_record("img1", 34602, "what brand is this?", ["nikon"] * 10),
            _textvqa_record("img1", 34603, "What does the sign say?", ["stop"] * 3 + ["stop sign"] * 7),
            _textvqa_record("img2", 34604, "what is written?", ["let's go"] * 10),
        ]})
    ocr = "\nReference OCR token: Nikon, STOP" + SHORT
    # LLaVA's question file uses the image id as question_id: both img1 answers share it.
    rows = [("img1", "What does the sign say?" + ocr, "STOP"),
            ("img1", "what brand is this?" + ocr, "Nikon."),
            ("img2", "what is written?" + SHORT, "lets go")]
    answers = tmp_path / "a.jsonl"
    answers.write_text("".join(json.dumps({"question_id": q, "prompt": p, "text": t}) + "\n" for q, p, t in rows))
    textvqa.main(["--answers", str(answers), "--annotations", ann, "--lenient"])
    summary = last_json_line(capsys.readouterr().out)
    assert summary["accuracy"] == 63.33           # (0.9 + 1.0 + 0.0) / 3
    assert summary["lenient"] == {"accuracy": 96.67}
    assert summary["misread_by_official"] == 1
    assert summary["num_questions"] == 3


def test_textvqa_unmatched_answer_is_an_error(tmp_path, capsys):
    ann = write_json(tmp_path / "val.json", {"data": [_textvqa_record("img1", 1, "what?", ["a"] * 10)]})
    answers = tmp_path / "a.jsonl"
    answers.write_text(json.dumps({"question_id": "img1", "prompt": "who?" + SHORT, "text": "a"}) + "\n")
    with pytest.raises(SystemExit):
        textvqa.main(["--answers", str(answers), "--annotations", ann])
    assert "1 answer(s) match no (image_id, question)" in capsys.readouterr().err
