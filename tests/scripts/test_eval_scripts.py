"""scripts/eval/{vqav2,textvqa,gqa,pope,sqa,mme}.sh end to end on tiny files in the real layouts.

model_vqa is stubbed (a `python` on PATH that answers from a list and passes every other command to
the real interpreter), so what runs is each script's own plumbing, the converters and the scorers.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHORT = "\nAnswer the question using a single word or phrase."

STUB = '''#!{python}
import json, os, sys
argv = sys.argv[1:]
if argv[:2] != ["-m", "llava.eval.model_vqa"]:
    os.execv({python!r}, [{python!r}] + argv)
opt = lambda name: argv[argv.index(name) + 1] if name in argv else None
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(argv) + "\\n")
rows = [json.loads(line) for line in open(opt("--question-file")) if line.strip()]
texts = json.load(open(os.environ["STUB_ANSWERS"]))
assert len(texts) == len(rows), (len(texts), len(rows))
suffix = opt("--answer-prompt-suffix")
os.makedirs(os.path.dirname(opt("--answers-file")), exist_ok=True)
with open(opt("--answers-file"), "w") as f:
    for row, text in zip(rows, texts):
        prompt = row["text"] + ("\\n" + suffix if suffix else "")
        f.write(json.dumps({{"question_id": row["question_id"], "prompt": prompt, "text": text,
                            "answer_id": "x", "model_id": "stub", "metadata": {{}}}}) + "\\n")
'''


def run_script(tmp_path, name, data, answers, *args, **env_extra):
    """Run scripts/eval/<name>.sh; return (summary JSON, stdout, stderr, model_vqa argv)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stub = bin_dir / "python"
    stub.write_text(STUB.format(python=sys.executable))
    stub.chmod(0o755)
    (tmp_path / "answers.json").write_text(json.dumps(answers))
    (tmp_path / "model").mkdir(exist_ok=True)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LLAVA_TEAMLORA_ENV_READY": str(REPO),
           "STUB_ANSWERS": str(tmp_path / "answers.json"), "STUB_LOG": str(tmp_path / "stub.log"),
           "MODEL_PATH": str(tmp_path / "model"), "CKPT": "stub", "RESULTS": str(tmp_path / "results"),
           "DATA": str(data), "OMP_NUM_THREADS": "1", **env_extra}
    result = subprocess.run(["bash", str(REPO / "scripts" / "eval" / f"{name}.sh"), *args], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads([line for line in result.stdout.splitlines() if line.startswith("{")][-1])
    calls = [json.loads(line) for line in (tmp_path / "stub.log").read_text().splitlines()]
    return summary, result.stdout, result.stderr, calls


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


@pytest.mark.parametrize("name", ["vqav2", "textvqa", "gqa", "pope", "sqa", "mme"])
def test_help_names_the_real_files(name):
    out = subprocess.run(["bash", str(REPO / "scripts" / "eval" / f"{name}.sh"), "--help"],
                         capture_output=True, text=True, timeout=30).stdout
    real = {"vqav2": "llava_vqav2_mscoco_test2015.jsonl", "textvqa": "TextVQA_0.5.1_val.json",
            "gqa": "testdev_balanced_questions.json", "pope": "coco_pope_adversarial.json",
            "sqa": "llava_test_CQM-A.json", "mme": "eval_tool/Your_Results"}[name]
    assert real in out and "--lenient" in out


def test_textvqa_script_repeated_ids(tmp_path):
    data = tmp_path / "textvqa"
    ocr = "\nReference OCR token: Nikon, STOP" + SHORT
    write_jsonl(data / "llava_textvqa_val_v051_ocr.jsonl", [
        {"question_id": "img1", "image": "img1.jpg", "text": "what brand is this?" + ocr},
        {"question_id": "img1", "image": "img1.jpg", "text": "What does the sign say?" + ocr}])
    write_json(data / "TextVQA_0.5.1_val.json", {"dataset_name": "textvqa", "data": [
        {"question": "what brand is this?", "image_id": "img1", "question_id": 1, "answers": ["nikon"] * 10},
        {"question": "What does the sign say?", "image_id": "img1", "question_id": 2,
         "answers": ["stop"] * 3 + ["stop sign"] * 7}]})
    summary, _, _, calls = run_script(tmp_path, "textvqa", data, ["Nikon", "STOP"], "--lenient")
    converted = Path(calls[0][calls[0].index("--question-file") + 1])
    assert [json.loads(line)["question_id"] for line in converted.read_text().splitlines()] == ["img1", "img1#1"]
    assert summary["accuracy"] == 95.0 and summary["lenient"] == {"accuracy": 95.0}


def test_gqa_script(tmp_path):
    data = tmp_path / "gqa"
    write_jsonl(data / "llava_gqa_testdev_balanced.jsonl", [
        {"question_id": "201307251", "image": "n1.jpg", "text": "Is it overcast?" + SHORT},
        {"question_id": "201640614", "image": "n2.jpg", "text": "Which side is the cup on?" + SHORT}])
    write_json(data / "data" / "testdev_balanced_questions.json", {
        "201307251": {"answer": "no", "isBalanced": True, "types": {"structural": "verify", "semantic": "attr"}},
        "201640614": {"answer": "left", "isBalanced": True, "types": {"structural": "query", "semantic": "rel"}}})
    summary, *_ = run_script(tmp_path, "gqa", data, ["No.", "The left"])
    assert summary["accuracy"] == 50.0 and "lenient" not in summary


def test_pope_script_offset_ids(tmp_path):
    data = tmp_path / "pope"
    questions = []
    for name, offset in (("adversarial", 0), ("popular", 3000), ("random", 6000)):
        rows = [{"question_id": k, "image": f"COCO_val2014_{offset + k:012d}.jpg",
                 "text": "Is there a dog in the image?", "label": label} for k, label in enumerate(["yes", "no"])]
        write_jsonl(data / "coco" / f"coco_pope_{name}.json", rows)
        questions += [{"question_id": offset + r["question_id"], "image": r["image"], "text": r["text"],
                       "category": name} for r in rows]
    write_jsonl(data / "llava_pope_test.jsonl", questions)
    summary, *_ = run_script(tmp_path, "pope", data, ["Yes", "No", "Yes", "Yes", "No!", "No!"])  # "No!" reads yes
    assert {k: v["accuracy"] for k, v in summary["splits"].items()} == \
        {"adversarial": 100.0, "popular": 50.0, "random": 50.0}


def test_sqa_script(tmp_path):
    data = tmp_path / "scienceqa"
    write_json(data / "llava_test_CQM-A.json", [
        {"id": "4", "image": "4/image.png", "conversations": [
            {"from": "human", "value": "<image>\nWhich animal?\nA. cat\nB. dog"}, {"from": "gpt", "value": "B"}]},
        {"id": "7", "conversations": [
            {"from": "human", "value": "Is it?\nA. yes\nB. no"}, {"from": "gpt", "value": "A"}]}])
    write_json(data / "problems.json", {
        "4": {"question": "Which animal?", "choices": ["cat", "dog"], "answer": 1, "image": "image.png",
              "subject": "natural science"},
        "7": {"question": "Is it?", "choices": ["yes", "no"], "answer": 0, "image": None,
              "subject": "social science"}})
    write_json(data / "pid_splits.json", {"test": ["4", "7"]})
    summary, _, _, calls = run_script(tmp_path, "sqa", data, ["B.", "A"], "--lenient")
    assert calls[0][calls[0].index("--answer-prompt-suffix") + 1] == \
        "Answer with the option's letter from the given choices directly."
    assert summary["accuracy"] == 0.0 and summary["lenient"]["accuracy"] == 100.0  # "B." is not LLaVA's format


def test_mme_script_writes_eval_tool_results(tmp_path):
    data = tmp_path / "MME"
    gt = data / "eval_tool" / "Your_Results"
    gt.mkdir(parents=True)
    (gt / "existence.txt").write_text(
        "1.jpg\tIs there a dog in this image? Please answer yes or no.\tYes\n"
        "1.jpg\tIs there a cat in this image?  Please answer yes or no.\tNo\n")
    write_jsonl(data / "llava_mme.jsonl", [
        {"question_id": "existence/1.jpg", "image": "existence/1.jpg", "text": "Is there a dog in this image?" + SHORT},
        {"question_id": "existence/1.jpg", "image": "existence/1.jpg", "text": "Is there a cat in this image?" + SHORT}])
    summary, *_ = run_script(tmp_path, "mme", data, ["Yes", "No"])
    assert summary["subtasks"]["existence"]["score"] == 200.0 and summary["perception"] == 200.0
    results = tmp_path / "results" / "mme" / "stub" / "eval_tool_results" / "existence.txt"
    assert results.read_text().splitlines()[1] == \
        "1.jpg\tIs there a cat in this image?  Please answer yes or no.\tNo\tNo"


def test_vqav2_script_test_dev_padded(tmp_path):
    data = tmp_path / "vqav2"
    (data / "test2015").mkdir(parents=True)
    write_jsonl(data / "llava_vqav2_mscoco_test-dev2015.jsonl",
                [{"question_id": q, "image": "COCO_test2015_000000000001.jpg", "text": "What color?" + SHORT,
                  "category": "default"} for q in (20, 40)])
    write_jsonl(data / "llava_vqav2_mscoco_test2015.jsonl",
                [{"question_id": q, "image": "COCO_test2015_000000000001.jpg", "text": "What color?" + SHORT,
                  "category": "default"} for q in (10, 20, 30, 40)])
    summary, stdout, stderr, calls = run_script(tmp_path, "vqav2", data, ["Red.", "Two"],
                                                SPLIT="llava_vqav2_mscoco_test-dev2015")
    assert calls[0][calls[0].index("--image-folder") + 1] == str(data / "test2015")
    assert "padded the submission with 2 test2015 question id(s)" in stderr and summary["num_padded"] == 2
    upload = tmp_path / "results" / "vqav2" / "stub" / "submission.json"
    assert json.loads(upload.read_text()) == [
        {"question_id": 10, "answer": ""}, {"question_id": 20, "answer": "red"},
        {"question_id": 30, "answer": ""}, {"question_id": 40, "answer": "2"}]
    assert f"EvalAI upload: {upload}" in stdout
