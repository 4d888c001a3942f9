"""Rule-based stand-in judge for when no LLM endpoint is configured.

Not MM-Vet's metric (its open-ended questions need an LLM); it keeps the
pipeline runnable offline and is labelled "offline-rule-based" everywhere.
The ground truth is split on <AND> into required parts, each part on <OR>
into alternatives. A part is satisfied when one of its alternatives, after
VQA normalisation, equals the prediction or appears in it as a whole-word
run. Score = satisfied parts / parts, rounded to the judge's 0.1 grid.
"""
from eval.normalize import normalize_answer

NAME = "offline-rule-based"


def _contains(prediction_words: list[str], phrase_words: list[str]) -> bool:
    n = len(phrase_words)
    return n > 0 and any(prediction_words[i:i + n] == phrase_words
                         for i in range(len(prediction_words) - n + 1))


def rule_based_score(ground_truth: str, prediction: str) -> float:
    said = normalize_answer(prediction).split()
    parts = [p for p in ground_truth.split("<AND>") if p.strip()]
    if not parts or not said:
        return 0.0
    satisfied = sum(
        any(_contains(said, normalize_answer(alt).split()) for alt in part.split("<OR>"))
        for part in parts)
    return round(satisfied / len(parts), 1)
