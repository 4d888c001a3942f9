import pytest

from eval.choice import extract_choice
from eval.yesno import parse_yes_no

OPTIONS = ["cat", "dog", "bird", "fish"]


@pytest.mark.parametrize("text, expected", [
    ("B", 1),
    ("B.", 1),
    ("(B)", 1),
    ("(B) dog", 1),
    ("C: bird", 2),
    ("The answer is B.", 1),
    ("Answer: D", 3),
    ("I would pick (C) here.", 2),
    ("dog", 1),           # the option's text, no letter
    ("The dog.", 1),
    ("A dog", 1),         # "A" is an article here; the text names option B
    ("E", None),          # no fifth option
    ("a", None),
    ("no idea", None),
])
def test_extract_choice(text, expected):
    assert extract_choice(text, OPTIONS) == expected


@pytest.mark.parametrize("text, expected", [
    ("Yes", "yes"),
    ("yes.", "yes"),
    ("Yes, there is a dog in the image.", "yes"),
    ("No", "no"),
    ("No, there is not.", "no"),
    ("There is no cat in the image.", "no"),
    ("The image doesn't show a cat.", "no"),
    ("I think yes", "yes"),
    ("Yes, but it is not red.", "yes"),  # first word decides
    ("Maybe.", None),
    ("", None),
])
def test_parse_yes_no(text, expected):
    assert parse_yes_no(text) == expected
