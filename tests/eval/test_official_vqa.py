"""The official VQA answer processing and accuracy, one hand-worked case per rule of vqaEval.py
(GT-Vision-Lab/VQA, current master) and of LLaVA's EvalAIAnswerProcessor, with the cases where --lenient differs."""
import pytest

from eval.normalize import (evalai_answer, normalize_answer, vqa_digit_article, vqa_process, vqa_punctuation,
                            vqa_whitespace)
from eval.vqa import textvqa_accuracy, vqa_accuracy, vqa_eval_accuracy


@pytest.mark.parametrize("raw, expected", [
    ("t-shirt", "t shirt"),               # no space next to the mark: it becomes a space
    ("well-done - yes", "welldone  yes"),  # " -" occurs: every '-' in the text is deleted
    ("1,000 t-shirts", "1000 tshirts"),    # a digit,digit anywhere: every mark is deleted
    ("red,blue", "red blue"),
    ("don't", "don't"),                    # the apostrophe is not in the list
    ("10:30", "10:30"),                    # nor the colon
    ("50%", "50%"),
    ("u.s.", "us"),                        # a period not before a digit goes
    ("3.5", "3.5"),
    ("3.", "3"),
    ("." * 40, "." * 8),                   # re.UNICODE lands in `count`: at most 32 periods go
    ("What?!", "What  "),                  # no lower-casing here
])
def test_vqa_punctuation(raw, expected):
    assert vqa_punctuation(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("Two Dogs", "2 dogs"),                # lower-cased, number words zero..ten
    ("none", "0"),
    ("eleven", "eleven"),
    ("the dog", "dog"),                    # articles dropped
    ("an apple a day", "apple day"),
    ("dont", "don't"),                     # contraction table
    ("somebody'd", "somebodyd"),           # the table maps this one the other way
    ("im", "im"),                          # only "Im" is in the table, and words are lower-cased
    ("ive", "ive"),
    ("lets", "lets"),                      # not in the table (lenient reads "let's")
    ("shes", "shes"),
])
def test_vqa_digit_article(raw, expected):
    assert vqa_digit_article(raw) == expected


def test_whitespace_then_processing():
    assert vqa_whitespace("  the\tRed\ncar. ") == "the Red car."
    assert vqa_process("the Red car.") == "red car"


@pytest.mark.parametrize("raw, expected", [
    ("What?", "what"),                     # '?' and ',' deleted before anything else
    ("1,000", "1000"),
    ("red, white", "red white"),
    ("it's", "it 's"),                     # "'s" split off
    ("McDonald's", "mcdonald 's"),
    ("Two Dogs.", "2 dogs"),
    ("t-shirt", "t shirt"),
    ("U.S.", "us"),
])
def test_evalai_answer(raw, expected):
    assert evalai_answer(raw) == expected


def _records(answers):
    return [{"answer": a, "answer_confidence": "yes", "answer_id": i + 1} for i, a in enumerate(answers)]


def test_unanimous_human_answers_mean_no_processing_at_all():
    # Ten identical human answers: neither side is processed, so case and punctuation count.
    assert vqa_eval_accuracy("Yes", _records(["yes"] * 10)) == 0.0
    assert vqa_eval_accuracy(" yes\n", _records(["yes"] * 10)) == 1.0   # whitespace only
    assert vqa_eval_accuracy("t shirt", _records(["t-shirt"] * 10)) == 0.0
    assert vqa_accuracy("Yes", ["yes"] * 10) == 1.0  # lenient


def test_disagreeing_human_answers_process_both_sides():
    assert vqa_eval_accuracy("Yes.", _records(["yes"] * 9 + ["no"])) == 1.0
    assert vqa_eval_accuracy("t shirt", _records(["t-shirt"] * 9 + ["shirt"])) == 1.0
    # number words on the human side too: all ten read "2"
    assert vqa_eval_accuracy("2", _records(["two"] * 8 + ["2"] * 2)) == 1.0


def test_leave_one_out_drops_every_equal_record():
    # Without answer_id the ten records are equal dicts: leaving one out leaves none.
    assert vqa_eval_accuracy("yes", [{"answer": "yes"}] * 10) == 0.0
    assert vqa_eval_accuracy("yes", _records(["yes"] * 10)) == 1.0


@pytest.mark.parametrize("matching, expected", [(1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (9, 1.0)])
def test_official_leave_one_out_formula(matching, expected):
    records = _records(["yes"] * matching + ["no"] * (10 - matching))
    assert vqa_eval_accuracy("Yes.", records) == pytest.approx(expected)
    assert vqa_eval_accuracy("maybe", records) == 0.0


def test_textvqa_accuracy_processes_both_sides():
    humans = ["stop"] * 3 + ["Stop sign"] * 7
    assert textvqa_accuracy("STOP", humans) == pytest.approx(0.9)   # (3 * 2/3 + 7 * 1) / 10
    assert textvqa_accuracy("stop-sign", humans) == pytest.approx(1.0)
    # "lets" is not in the contraction table; lenient puts the apostrophe back.
    assert textvqa_accuracy("lets go", ["let's go"] * 10) == 0.0
    assert vqa_accuracy("lets go", ["let's go"] * 10) == 1.0
    assert normalize_answer("lets go") == "let's go"
