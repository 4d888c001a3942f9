"""The project's own grading prompt (used without MM-Vet's evaluator) and the score parsing.

Scores graded with this prompt are not comparable with published MM-Vet numbers; see
protocol.py for how MM-Vet's own prompt is read from the user's copy of its evaluator.
"""

INSTRUCTIONS = (
    "You grade answers to questions about images. For the last row of the table below, "
    "compare the Prediction with the Ground truth and rate how correct it is with one number "
    "from 0.0 to 1.0 in steps of 0.1 (0.0, 0.1, 0.2, ..., 1.0), where 1.0 is fully correct "
    "and 0.0 is wrong.\n"
    "- When the ground truth joins parts with <AND>, every part is required: a prediction "
    "that gets only some of them earns the matching share of the credit.\n"
    "- When the ground truth joins alternatives with <OR>, any single one of them is a fully "
    "correct answer.\n"
    "- Numbers count as equal when they have the same value, however they are written.\n"
    "- For longer, open-ended answers, judge whether the prediction conveys what the ground "
    "truth says; lower the score for missing, wrong or contradicting content, not for wording.\n"
    "Reply with the number only.\n"
)

HEADER = "Question | Ground truth | Prediction | Correctness\n--- | --- | --- | ---\n"

# (question, ground truth, prediction, correctness): one row per grading situation.
EXAMPLES = (
    ("What color is the umbrella?", "yellow", "yellow", "1.0"),
    ("What color is the umbrella?", "yellow", "The umbrella is green.", "0.0"),
    ("How many candles are on the cake?", "6", "I can count six candles on the cake.", "1.0"),
    ("What is the total amount on the receipt?", "$23.80", "The total is 28.30 dollars.", "0.0"),
    ("Which two instruments are the people playing?", "guitar <AND> violin",
     "One person plays a guitar and the other a cello.", "0.5"),
    ("Which two instruments are the people playing?", "guitar <AND> violin",
     "A violin and a guitar.", "1.0"),
    ("What kind of bird is on the branch?", "sparrow <OR> house sparrow",
     "It looks like a house sparrow.", "1.0"),
    ("Solve for y: 3y - 4 = 8.", "4", "y = 3", "0.0"),
    ("Why is the road closed?",
     "Workers are repairing the road surface, so cars have to take a detour.",
     "It is closed for construction work on the road.", "0.8"),
    ("Describe the scene in the picture.",
     "A child in a red coat is flying a kite on a beach while a dog runs next to her.",
     "A child is on a beach.", "0.3"),
)

# Appended to the item row when a reply could not be read (the request is sent afresh).
PROJECT_RETRY_SUFFIX = "\nReply with the correctness score only, one number from 0.0 to 1.0: "


def _example_row(question: str, ground_truth: str, prediction: str, correctness: str) -> str:
    truth = ground_truth.replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")
    return " | ".join([question, truth, prediction, correctness]) + "\n"


# Ends with a newline; the item row follows after one more (as MM-Vet lays its prompt out).
PROJECT_PROMPT = INSTRUCTIONS + "\n" + HEADER + "".join(_example_row(*e) for e in EXAMPLES)


def parse_score(reply: str | None) -> float | None:
    """The score MM-Vet's evaluator reads: the text before the first space as a float in [0, 1].

    Anything else ("0.7.", "Score: 1", a leading space, no content) is unreadable and asks again.
    NaN, which the evaluator would store and carry into its means, is unreadable here.
    """
    if reply is None:
        return None
    try:
        value = float(reply.split(" ")[0].strip())
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None
