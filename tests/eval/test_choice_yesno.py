"""Answer readings: the project's lenient ones (extract_choice, parse_yes_no) and the official
ones (LLaVA's ScienceQA and POPE rules, MME's calculation.py), one hand-worked case per rule."""
import pytest

from eval.choice import extract_choice, llava_sqa_choice
from eval.yesno import mme_calculation_yes_no, parse_yes_no, pope_llava_yes_no

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


@pytest.mark.parametrize("text, expected", [
    ("B", 1),                                  # exactly a letter
    ("B. dog", 1),                             # letter + ". " + anything
    ("The answer is B.", 1),                   # "The answer is X" + any character, once
    ("Because of x. The answer is C!", 2),
    ("The answer is B", None),                 # nothing after the letter
    ("The answer is B. The answer is C.", None),  # twice: not read
    ("B.", None),                              # shorter than 3: not "B. "
    ("B.dog", None),
    ("(B)", None),                             # lenient reads these four
    ("(B) dog", None),
    ("Answer: B", None),
    ("dog", None),
    (" B", None),                              # nothing is stripped
    ("b", None),                               # or case-folded
    ("AB", None),                              # a list of letters, not a substring test
    ("", None),
    ("E", None),                               # beyond the 4 choices
])
def test_llava_sqa_choice(text, expected):
    assert llava_sqa_choice(text, len(OPTIONS)) == expected


@pytest.mark.parametrize("text, expected", [
    ("Yes", "yes"),
    ("No", "no"),
    ("No, there is not.", "no"),
    ("There is no cat in the image.", "no"),
    ("Yes, but it is not red.", "no"),         # any no/not word in the first sentence
    ("Yes. There is no cat.", "yes"),          # only the text before the first '.'
    ("The image doesn't show a cat.", "yes"),  # "doesn't" is not a listed word
    ("No!", "yes"),                            # "No!" is not the word "No"
    ("NO", "yes"),                             # case as written: only No / no / not
    ("Not at all", "yes"),
    ("I see no\ncat", "yes"),                  # words split on single spaces only
    ("Maybe", "yes"),
    ("", "yes"),                               # empty reads as yes
])
def test_pope_llava_yes_no(text, expected):
    assert pope_llava_yes_no(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("Yes", "yes"),
    ("no", "no"),
    ("No.", "no"),
    ("Yes, there is a dog.", "yes"),
    (" yes", "yes"),                           # "yes" within the first 4 characters
    ("  yes", None),                           # not any more: other
    ("The answer is yes.", None),
    ("Not sure", "no"),                        # "no" within the first 4 characters
    ("none", "no"),
    ("know", "no"),
    ("eyes", "yes"),
    ("I know", None),
    ("", None),
])
def test_mme_calculation_yes_no(text, expected):
    assert mme_calculation_yes_no(text) == expected
