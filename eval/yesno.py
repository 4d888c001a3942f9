"""Read a yes/no decision out of a free-text answer (POPE, MME)."""
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
