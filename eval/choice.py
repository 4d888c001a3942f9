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
