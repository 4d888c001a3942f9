"""Find which multiple-choice option (A, B, ...) a free-text answer picks."""
import re

from eval.normalize import normalize_answer

LETTERS = "ABCDEFGHIJ"

# Tried in order; the first rule that finds a letter wins. Letters are upper-case
# only, so the article in "A dog" is never read as option A.
_RULES = (
    re.compile(r"^\(?([A-J])\)?[.:]?$"),                            # "B", "(B)", "B."
    re.compile(r"^(?:\(([A-J])\)|([A-J])[.:)])"),                    # "(B) dog", "B. dog", "B) dog"
    re.compile(r"(?i:answer(?: is)?|option|choice)\s*[:\-]?\s*\(?([A-J])(?![A-Za-z])"),  # "The answer is B."
)
_PARENTHESISED = re.compile(r"\(([A-J])\)")


def _letter_by_rules(text: str) -> str | None:
    for rule in _RULES:
        m = rule.search(text)
        if m:
            return next(g for g in m.groups() if g)
    found = set(_PARENTHESISED.findall(text))
    return found.pop() if len(found) == 1 else None


def extract_choice(text: str, options: list[str]) -> int | None:
    """Index of the chosen option, or None when the answer can't be read.

    A letter outside the options counts as unreadable. When no letter is
    found, an answer equal to exactly one option's text (after VQA
    normalisation) selects that option.
    """
    text = text.strip()
    letter = _letter_by_rules(text)
    if letter is not None:
        index = LETTERS.index(letter)
        return index if index < len(options) else None
    said = normalize_answer(text)
    matches = [i for i, opt in enumerate(options) if said and normalize_answer(opt) == said]
    return matches[0] if len(matches) == 1 else None


SQA_OPTIONS = ("A", "B", "C", "D", "E")  # eval_science_qa.py's default --options (a list, not a string)
_SQA_ANSWER_IS = re.compile(r"The answer is ([A-Z]).")


def llava_sqa_choice(text: str, num_choices: int) -> int | None:
    """LLaVA-1.5's ScienceQA reading (llava/eval/eval_science_qa.py), exactly; None = wrong.

    Accepted: the text is exactly a letter A-E; or it is at least 3 characters, starts with
    such a letter followed by ". " ("B. dog"); or "The answer is X" followed by any character
    occurs exactly once. Nothing is stripped or case-folded, so "B." "(B)" " B" and "b" fail.
    A letter beyond the problem's choices is wrong.
    """
    if text in SQA_OPTIONS:
        letter = text
    elif len(text) >= 3 and text[0] in SQA_OPTIONS and text[1:3] == ". ":
        letter = text[0]
    else:
        found = _SQA_ANSWER_IS.findall(text)
        letter = found[0] if len(found) == 1 else None
    if letter is None or letter not in SQA_OPTIONS[:num_choices]:
        return None
    return SQA_OPTIONS.index(letter)
