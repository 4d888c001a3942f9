"""Read a yes/no decision out of a free-text answer (POPE, MME).

`parse_yes_no` is the project's forgiving reading (--lenient); `pope_llava_yes_no` and
`mme_calculation_yes_no` are the official readings the scorers use by default.
"""
import re

_YES = frozenset({"yes", "yeah", "yep"})
_NEGATIONS = frozenset({"no", "not", "none", "nope", "cannot", "nothing"})
_SENTENCE_END = re.compile(r"[.!?\n]")
_WORD = re.compile(r"[a-z']+")


def parse_yes_no(text: str) -> str | None:
    """"yes", "no", or None when the answer commits to neither.

    Only the first sentence counts. Its first word decides when it is a yes/no
    word ("Yes, but not red" -> yes); otherwise any negation ("no", "not",
    "...n't") means no, and a "yes" anywhere means yes.
    """
    first_sentence = _SENTENCE_END.split(text.strip().lower(), maxsplit=1)[0]
    words = _WORD.findall(first_sentence)
    if not words:
        return None
    if words[0] in _YES:
        return "yes"
    if words[0] in _NEGATIONS:
        return "no"
    if any(w in _NEGATIONS or w.endswith("n't") for w in words):
        return "no"
    if any(w in _YES for w in words):
        return "yes"
    return None


def pope_llava_yes_no(text: str) -> str:
    """LLaVA-1.5's POPE reading (llava/eval/eval_pope.py), exactly.

    Keep the text before the first '.', delete commas, split on single spaces; the words
    'No', 'no' or 'not' (case as written) make it "no", anything else is "yes", an empty
    answer included. So "No!" and "NO" read as yes, and "Yes, but not red." as no.
    """
    if "." in text:
        text = text.split(".")[0]
    words = text.replace(",", "").split(" ")
    return "no" if ("No" in words or "not" in words or "no" in words) else "yes"


def mme_calculation_yes_no(text: str) -> str | None:
    """The MME eval tool's reading (eval_tool/calculation.py, parse_pred_ans).

    Lower-cased; exactly "yes"/"no", else "yes" anywhere in the first 4 characters -> yes,
    else "no" there -> no, else None ("other", always wrong). No stripping: "The answer is
    yes" is other, "Not sure" and "none" are no.
    """
    text = text.lower()
    if text in ("yes", "no"):
        return text
    head = text[:4]
    if "yes" in head:
        return "yes"
    if "no" in head:
        return "no"
    return None
