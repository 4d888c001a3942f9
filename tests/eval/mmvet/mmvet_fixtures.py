"""A 4-question MM-Vet set with hand-computed scores, shared by the grader tests."""
from tests.eval.file_fixtures import write_json

GROUND_TRUTH = {
    "v1_0": {"imagename": "v1_0.png", "question": "What animal is this?", "answer": "cat",
             "capability": ["rec"]},
    "v1_1": {"imagename": "v1_1.png", "question": "What is the sum of the two numbers?",
             "answer": "12", "capability": ["ocr", "math"]},
    "v1_2": {"imagename": "v1_2.png", "question": "What does the sign say?",
             "answer": "stop <OR> stop sign", "capability": ["ocr"]},
    "v1_3": {"imagename": "v1_3.png", "question": "Which fruits are on the table?",
             "answer": "banana <AND> orange", "capability": ["rec", "know", "gen"]},
}
RESULTS = {"v1_0": "It is a cat.", "v1_1": "12", "v1_2": "A stop sign.", "v1_3": "A banana."}
# What the scripted judge answers for each prediction, and what that makes the table:
JUDGE_REPLIES = {"It is a cat.": "1.0", "12": "0.5", "A stop sign.": "0.0", "A banana.": "0.8"}
EXPECTED_TABLE = {"rec": 90.0, "ocr": 25.0, "know": 80.0, "gen": 80.0, "math": 50.0, "total": 57.5}


def write_set(tmp_path, results=None):
    gt = write_json(tmp_path / "mm-vet.json", GROUND_TRUTH)
    res = write_json(tmp_path / "results.json", RESULTS if results is None else results)
    return gt, res


# A stand-in for MM-Vet's mm-vet_evaluator.py with the same structure (a module-level `prompt`
# string; the retry request appends an instruction after the " | "-joined item row) but made-up
# text. Running it would fail and leave a marker file: the grader must only parse it.
FAKE_PROMPT = """Rate the prediction against the ground truth from 0.0 to 1.0.

Question | Ground truth | Prediction | Correctness
--- | --- | --- | ---
How many dogs? | 2 | two dogs | 1.0
How many dogs? | 2 | three | 0.0
"""
FAKE_RETRY_SUFFIX = "\nJust the number, please: "
FAKE_EVALUATOR = '''import argparse
import missing_module_that_does_not_exist
open("EXECUTED", "w").write("the evaluator was run")

prompt = """''' + FAKE_PROMPT + '''"""


def grade(args, line, model_pred):
    question = args.prompt + "\\n" + " | ".join([line["question"], line["answer"], model_pred, ""])
    retry = (
        args.prompt
        + "\\n"
        + " | ".join([line["question"], line["answer"], model_pred, ""])
        + ''' + repr(FAKE_RETRY_SUFFIX) + '''
    )
    return question, retry
'''


def write_evaluator(folder, source=FAKE_EVALUATOR):
    path = folder / "mm-vet_evaluator.py"
    path.write_text(source, encoding="utf-8")
    return path
