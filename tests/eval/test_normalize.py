import pytest

from eval.normalize import normalize_answer


@pytest.mark.parametrize("raw, expected", [
    ("two", "2"),
    ("Two", "2"),
    ("none", "0"),
    ("ten", "10"),
    ("the dog", "dog"),
    ("A red car", "red car"),
    ("an apple", "apple"),
    ("3.5", "3.5"),
    ("3.5 inches.", "3.5 inches"),
    ("1,000", "1000"),
    ("12,345,678", "12345678"),
    ("dont", "don't"),
    ("don't", "don't"),
    ("isnt", "isn't"),
    ("Yes.", "yes"),
    ("u.s.", "us"),
    ("red, white, blue", "red white blue"),
    ("t-shirt", "t shirt"),
    ("what?!", "what"),
    ("  big \t  DOG \n ", "big dog"),
    ("10:30", "10:30"),
    ("50%", "50%"),
])
def test_normalize_answer(raw, expected):
    assert normalize_answer(raw) == expected


def test_equivalent_forms_normalise_alike():
    assert normalize_answer("two") == normalize_answer("2")
    assert normalize_answer("the dog") == normalize_answer("dog")
    assert normalize_answer("don't") == normalize_answer("dont")
    assert normalize_answer("1,000") == normalize_answer("1000")
    assert normalize_answer("3.5") != normalize_answer("35")
