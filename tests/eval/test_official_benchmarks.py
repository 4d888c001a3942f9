"""GQA, POPE, ScienceQA and MME scorers on tiny files in the real benchmark layouts, official
reading by default and --lenient beside it, with hand-computed results."""
import json

import pytest
from tests.eval.file_fixtures import last_json_line, write_answers, write_json

from eval import gqa, mme, pope, scienceqa

SHORT = "\nAnswer the question using a single word or phrase."


# ----- GQA -------------------------------------------------------------------------------

def _gqa_question(answer, structural, balanced=True):
    """One record of testdev_balanced_questions.json."""
    return {"semantic": [], "entailed": [], "equivalent": [], "question": "?", "imageId": "n1",
            "isBalanced": balanced, "groups": {"global": None, "local": "x"}, "answer": answer,
            "semanticStr": "", "annotations": {"answer": {}, "question": {}, "fullAnswer": {}},
            "types": {"detailed": "d", "semantic": "attr" if structural == "verify" else "rel",
                      "structural": structural}, "fullAnswer": answer}


def test_gqa_exact_match_after_llava_converter(tmp_path, capsys):
    questions = write_json(tmp_path / "testdev_balanced_questions.json", {
        "201307251": _gqa_question("no", "verify"),
        "201640614": _gqa_question("left", "query"),
        "20968379": _gqa_question("left", "query"),
        "20968380": _gqa_question("cat", "query"),
        "20968381": _gqa_question("red", "query", balanced=False),   # not scored
    })
    answers = write_answers(tmp_path / "a.jsonl", {
        "201307251": "No.",       # trailing '.' off, lower-cased: right
        "201640614": "Left",
        "20968379": "The left",   # official: wrong; lenient drops the article
        "20968380": "dog",
        "20968381": "blue"})
    gqa.main(["--answers", answers, "--questions", questions, "--lenient"])
    summary = last_json_line(capsys.readouterr().out)
    assert summary["accuracy"] == 50.0 and summary["num_questions"] == 4
    assert summary["binary"] == 100.0 and summary["open"] == 33.33
    assert summary["per_structural_type"] == {"query": 33.33, "verify": 100.0}
    assert summary["per_semantic_type"] == {"attr": 100.0, "rel": 33.33}
    assert summary["lenient"]["accuracy"] == 75.0
    assert set(summary["lenient"]) == {"accuracy", "binary", "open", "per_structural_type", "per_semantic_type"}
    assert summary["misread_by_official"] == 1


# ----- POPE ------------------------------------------------------------------------------

def _pope_files(tmp_path, swap_images=False):
    """LLaVA's llava_pope_test.jsonl (offset ids, category) and POPE's coco/ label files (ids from 0)."""
    splits = {"adversarial": (0, ["yes", "no"]), "popular": (3000, ["no", "yes"]),
              "random": (6000, ["yes", "yes", "no", "no"])}
    questions, label_paths = [], []
    (tmp_path / "coco").mkdir()
    for name, (offset, labels) in splits.items():
        lines = []
        for k, label in enumerate(labels):
            image = f"COCO_val2014_{offset + k:012d}.jpg"
            questions.append({"question_id": offset + k, "image": image,
                              "text": "Is there a dog in the image?", "category": name})
            lines.append({"question_id": k, "image": image, "text": "Is there a dog in the image?",
                          "label": label})
        if swap_images and name == "random":
            lines[0]["image"], lines[1]["image"] = lines[1]["image"], lines[0]["image"]
        path = tmp_path / "coco" / f"coco_pope_{name}.json"
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        label_paths.append(str(path))
    qfile = tmp_path / "llava_pope_test.jsonl"
    qfile.write_text("".join(json.dumps(q) + "\n" for q in questions))
    return str(qfile), label_paths


POPE_ANSWERS = {  # in no particular order: answers are placed by question_id
    6003: "", 6002: "No!", 6001: "There is no dog.", 6000: "Yes, there is a dog.",
    3001: "NO", 3000: "Yes, but it is not red.",
    1: "no", 0: "yes",
}


def test_pope_llava_reading_and_pairing(tmp_path, capsys):
    questions, labels = _pope_files(tmp_path)
    answers = write_answers(tmp_path / "a.jsonl", POPE_ANSWERS)
    pope.main(["--answers", answers, "--questions", questions, "--labels", *labels, "--lenient"])
    summary = last_json_line(capsys.readouterr().out)
    # random: yes(TP) no(FN) "No!"->yes(FP) ""->yes(FP)
    assert summary["splits"]["random"] == {
        "accuracy": 25.0, "precision": 33.33, "recall": 50.0, "f1": 40.0, "yes_ratio": 75.0,
        "num_questions": 4, "num_unparsed": 0}
    # popular: "Yes, but it is not red." -> no (TN); "NO" -> yes (TP)
    assert summary["splits"]["popular"]["accuracy"] == 100.0
    assert summary["splits"]["adversarial"]["f1"] == 100.0
    assert summary["mean_accuracy"] == 75.0 and summary["mean_f1"] == 80.0
    # lenient: random yes no no unparsed; popular yes(FP) no(FN)
    assert summary["lenient"]["splits"]["random"] == {
        "accuracy": 50.0, "precision": 100.0, "recall": 50.0, "f1": 66.67, "yes_ratio": 25.0,
        "num_questions": 4, "num_unparsed": 1}
    assert summary["lenient"]["splits"]["popular"]["accuracy"] == 0.0
    assert summary["misread_by_official"] == 1          # only "No!"
    assert summary["num_unscored"] == 0


def test_pope_label_file_out_of_order_is_an_error(tmp_path, capsys):
    questions, labels = _pope_files(tmp_path, swap_images=True)
    answers = write_answers(tmp_path / "a.jsonl", POPE_ANSWERS)
    with pytest.raises(SystemExit):
        pope.main(["--answers", answers, "--questions", questions, "--labels", *labels])
    assert "coco_pope_random.json: line 1 is about COCO_val2014_000000006001.jpg" in capsys.readouterr().err


def test_pope_rejects_bad_label(tmp_path, capsys):
    questions, labels = _pope_files(tmp_path)
    path = tmp_path / "coco" / "coco_pope_adversarial.json"
    path.write_text(path.read_text().replace('"label": "no"', '"label": "maybe"'))
    answers = write_answers(tmp_path / "a.jsonl", POPE_ANSWERS)
    with pytest.raises(SystemExit):
        pope.main(["--answers", answers, "--questions", questions, "--labels", *labels])
    assert f"{path}:2: label 'maybe' is not yes/no" in capsys.readouterr().err


# ----- ScienceQA -------------------------------------------------------------------------

def _scienceqa_files(tmp_path):
    def problem(choices, answer, image, subject):
        return {"question": "?", "choices": choices, "answer": answer, "hint": "", "image": image,
                "task": "closed choice", "grade": "grade5", "subject": subject, "topic": "t",
                "category": "c", "skill": "s", "lecture": "", "solution": "", "split": "test"}
    problems = write_json(tmp_path / "problems.json", {
        "p1": problem(["cat", "dog"], 1, "image.png", "natural science"),
        "p2": problem(["red", "green", "blue"], 0, "image.png", "natural science"),
        "p3": problem(["x", "y", "z"], 2, "image.png", "language science"),
        "p4": problem(["yes", "no"], 0, None, "social science"),
        "p5": problem(["yes", "no"], 0, None, "social science"),
    })
    splits = write_json(tmp_path / "pid_splits.json", {"test": ["p1", "p2", "p3", "p4"], "val": ["p5"]})
    answers = write_answers(tmp_path / "a.jsonl", {
        "p1": "The answer is B.", "p2": "(A) red", "p3": "C. z", "p4": "A"})
    return ["--answers", answers, "--problems", problems, "--pid-splits", splits]


def test_scienceqa_img_llava_formats_only(tmp_path, capsys):
    scienceqa.main(_scienceqa_files(tmp_path) + ["--lenient"])
    summary = last_json_line(capsys.readouterr().out)
    assert summary["accuracy"] == 66.67       # "(A) red" is not an accepted format
    assert summary["num_questions"] == 3
    assert summary["unparsed_ids"] == ["p2"]
    assert summary["per_subject"] == {"language science": 100.0, "natural science": 50.0}
    assert summary["lenient"]["accuracy"] == 100.0 and summary["lenient"]["unparsed_ids"] == []
    assert summary["misread_by_official"] == 1


def test_scienceqa_all_problems(tmp_path, capsys):
    scienceqa.main(_scienceqa_files(tmp_path) + ["--subset", "all"])
    summary = last_json_line(capsys.readouterr().out)
    assert summary["accuracy"] == 75.0 and "lenient" not in summary


# ----- MME -------------------------------------------------------------------------------

def _mme_files(tmp_path):
    """eval_tool/Your_Results (one space and two spaces before 'Please answer yes or no.') and
    answers to LLaVA's llava_mme.jsonl."""
    gt = tmp_path / "Your_Results"
    gt.mkdir()
    (gt / "existence.txt").write_text(
        "1.jpg\tIs there a dog in this image? Please answer yes or no.\tYes\n"
        "1.jpg\tIs there a cat in this image? Please answer yes or no.\tNo\n"
        "2.jpg\tIs there a car in this image? Please answer yes or no.\tYes\n"
        "2.jpg\tIs there a bus in this image? Please answer yes or no.\tNo\n")
    (gt / "code_reasoning.txt").write_text(
        "0020.png\tWill the code print 3?  Please answer yes or no.\tYes\n"
        "0020.png\tWill the code print 4?  Please answer yes or no.\tNo\n")
    rows = [("code_reasoning/0020.png", "Will the code print 4?", "Not really"),
            ("existence/1.jpg", "Is there a dog in this image?", "Yes"),
            ("existence/1.jpg", "Is there a cat in this image?", "No"),
            ("existence/2.jpg", "Is there a car in this image?", "The answer is yes."),
            ("existence/2.jpg", "Is there a bus in this image?", "No\nthere is none"),
            ("code_reasoning/0020.png", "Will the code print 3?", "yes")]
    answers = tmp_path / "a.jsonl"
    answers.write_text("".join(json.dumps({"question_id": q, "prompt": p + SHORT, "text": t}) + "\n"
                               for q, p, t in rows))
    return gt, answers


def calculation_scores(results_dir, subtasks):
    """What the eval tool's calculation.py computes from a results folder, by its documented
    procedure: lines read with their newline, pairs of consecutive lines, 4 tab-separated cells,
    lower-cased; a 'yes'/'no' in the first 4 characters of the answer decides."""
    scores = {}
    for name in subtasks:
        lines = (results_dir / f"{name}.txt").open().readlines()
        right = right_images = 0
        for k in range(0, len(lines), 2):
            oks = []
            for line in lines[k:k + 2]:
                _, _, gt, pred = line.split("\t")
                pred = pred.lower()
                read = pred if pred in ("yes", "no") else \
                    "yes" if "yes" in pred[:4] else "no" if "no" in pred[:4] else "other"
                oks.append(read == gt.lower())
            right += sum(oks)
            right_images += all(oks)
        scores[name] = 100 * right / len(lines) + 100 * right_images / (len(lines) // 2)
    return scores


def test_mme_official_scores_and_eval_tool_results(tmp_path, capsys):
    gt, answers = _mme_files(tmp_path)
    out = tmp_path / "results"
    mme.main(["--answers", str(answers), "--gt-dir", str(gt), "--results-dir", str(out), "--lenient"])
    summary = last_json_line(capsys.readouterr().out)
    # "The answer is yes." is 'other' for the eval tool: existence acc 3/4, acc+ 1/2
    assert summary["subtasks"]["existence"] == {"acc": 75.0, "acc_plus": 50.0, "score": 125.0,
                                                "num_images": 2, "num_other": 1}
    assert summary["subtasks"]["code_reasoning"]["score"] == 200.0   # two-space questions matched
    assert summary["perception"] == 125.0 and summary["cognition"] == 200.0
    assert summary["lenient"]["perception"] == 200.0
    assert summary["misread_by_official"] == 1
    # The result files: the tool's layout, one line per question, an image's pair adjacent.
    assert (out / "existence.txt").read_text().splitlines() == [
        "1.jpg\tIs there a dog in this image? Please answer yes or no.\tYes\tYes",
        "1.jpg\tIs there a cat in this image? Please answer yes or no.\tNo\tNo",
        "2.jpg\tIs there a car in this image? Please answer yes or no.\tYes\tThe answer is yes.",
        "2.jpg\tIs there a bus in this image? Please answer yes or no.\tNo\tNo there is none"]
    assert calculation_scores(out, ["existence", "code_reasoning"]) == {
        "existence": summary["subtasks"]["existence"]["score"],
        "code_reasoning": summary["subtasks"]["code_reasoning"]["score"]}


def test_mme_missing_answer_listed(tmp_path, capsys):
    gt, answers = _mme_files(tmp_path)
    answers.write_text("".join(answers.read_text().splitlines(keepends=True)[1:]))
    with pytest.raises(SystemExit):
        mme.main(["--answers", str(answers), "--gt-dir", str(gt)])
    assert "code_reasoning/0020.png q2" in capsys.readouterr().err


def test_mme_unmatched_prompt_is_an_error(tmp_path, capsys):
    gt, answers = _mme_files(tmp_path)
    answers.write_text(answers.read_text().replace("Is there a dog", "Is there a fox"))
    with pytest.raises(SystemExit):
        mme.main(["--answers", str(answers), "--gt-dir", str(gt)])
    assert "matches none (or both) of the questions of existence/1.jpg" in capsys.readouterr().err


def test_mme_ground_truth_from_the_release_folders(tmp_path, capsys):
    """MME_Benchmark_release_version: <subtask>/<image>.txt beside the image, or images/ +
    questions_answers_YN/; same scores as from Your_Results."""
    gt, answers = _mme_files(tmp_path)
    release = tmp_path / "MME_Benchmark_release_version"
    flat = release / "existence"
    flat.mkdir(parents=True)
    for image, lines in (("1", (0, 1)), ("2", (2, 3))):
        (flat / f"{image}.jpg").write_bytes(b"")
        rows = (gt / "existence.txt").read_text().splitlines()
        (flat / f"{image}.txt").write_text("".join("\t".join(rows[i].split("\t")[1:]) + "\n" for i in lines))
    nested = release / "code_reasoning"
    (nested / "images").mkdir(parents=True)
    (nested / "questions_answers_YN").mkdir()
    (nested / "images" / "0020.png").write_bytes(b"")
    (nested / "questions_answers_YN" / "0020.txt").write_text(
        "".join("\t".join(r.split("\t")[1:]) + "\n" for r in (gt / "code_reasoning.txt").read_text().splitlines()))
    mme.main(["--answers", str(answers), "--gt-dir", str(release)])
    summary = last_json_line(capsys.readouterr().out)
    assert summary["perception"] == 125.0 and summary["cognition"] == 200.0
