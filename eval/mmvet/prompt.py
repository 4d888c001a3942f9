"""The grading message sent to the judge: instructions, worked examples, the item."""

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

FOLLOW_UP = ("That reply could not be read as a score. Answer with nothing but the number: "
             "one of 0.0, 0.1, 0.2, ..., 1.0.")


def _cell(text: str) -> str:
    """Keep a value on one table row: newlines become spaces, pipes are escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def grading_message(question: str, ground_truth: str, prediction: str) -> str:
    """The single user message for one item; the Correctness cell of its row is left blank."""
    rows = "".join(f"{_cell(q)} | {_cell(g)} | {_cell(p)} | {c}\n" for q, g, p, c in EXAMPLES)
    item = f"{_cell(question)} | {_cell(ground_truth)} | {_cell(prediction)} |"
    return INSTRUCTIONS + "\n" + HEADER + rows + item


def parse_score(reply: str | None) -> float | None:
    """The score in [0, 1] a reply states (e.g. "0.7", "1.0."), or None if it states none."""
    if not reply or not reply.strip():
        return None
    token = reply.strip().split()[0].rstrip(".,;:")
    try:
        value = float(token)
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None  # also rejects nan
