"""Task definitions of the synthetic dataset: answer sets, chance levels, phrasings, samplers.

``TASKS`` holds the scored question types (one short-word answer each, known chance);
``CAPTION`` is the open-ended description task (no fixed answer set, no chance level).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping, Optional

from .scenes import COLOURS, DIGIT_INKS, NUMBER_WORDS, SHAPES, Digit, Scene, caption, caption_keywords
from .scenes import centred_shape_scene, random_background, random_shape

CAPTION = "caption"


@dataclass(frozen=True)
class TaskSpec:
    name: str
    answers: tuple[str, ...]  # the closed answer set
    chance: float  # accuracy of a uniform guess among the options the question offers
    capabilities: tuple[str, ...]  # MM-Vet tags: rec, ocr, know, gen, spat, math
    questions: tuple[str, ...]  # phrasings (position chooses per axis, see _position)


@dataclass(frozen=True)
class Example:
    """One image question: the scene to draw, the question and its reference answers."""

    task: str
    scene: Scene
    question: str
    answer: str  # canonical short answer (or the caption)
    variants: tuple[str, ...]  # other answers a person might give ("two" for "2")
    keywords: Optional[tuple[str, ...]] = None  # caption only: words a description must contain


_POSITION_QUESTIONS = MappingProxyType(
    {
        "horizontal": (
            "Is the shape on the left or the right?",
            "Which side is the shape on, left or right?",
            "Is the object on the left or on the right of the image?",
        ),
        "vertical": (
            "Is the shape at the top or the bottom?",
            "Is the object in the top or the bottom half of the image?",
            "Where is the shape, top or bottom?",
        ),
    }
)

TASKS: Mapping[str, TaskSpec] = MappingProxyType(
    {
        "colour": TaskSpec(
            "colour", tuple(COLOURS), 1 / 4, ("rec",),
            ("What colour is the shape?", "What color is the object?",
             "Which colour is the shape in the image?", "What is the colour of the shape?"),
        ),
        "count": TaskSpec(
            "count", ("1", "2", "3"), 1 / 3, ("math", "rec"),
            ("How many shapes are there?", "How many objects are in the image?",
             "What is the number of shapes in the picture?", "Count the shapes in the image."),
        ),
        "position": TaskSpec(
            "position", ("left", "right", "top", "bottom"), 1 / 2, ("spat",),
            _POSITION_QUESTIONS["horizontal"] + _POSITION_QUESTIONS["vertical"],
        ),
        "shape": TaskSpec(
            "shape", SHAPES, 1 / 3, ("rec",),
            ("What shape is this?", "What is the shape in the image?",
             "Which shape is shown?", "Is it a circle, a square or a triangle?"),
        ),
        "digit": TaskSpec(
            "digit", tuple(str(d) for d in range(10)), 1 / 10, ("ocr",),
            ("What digit is written in the image?", "Which number is shown?",
             "Read the digit in the image.", "What number do you see?"),
        ),
        "bigger": TaskSpec(
            "bigger", ("left", "right"), 1 / 2, ("spat", "rec"),
            ("Which shape is bigger, the left or the right one?", "Which object is larger: left or right?",
             "Is the bigger shape on the left or on the right?"),
        ),
    }
)

CAPTION_QUESTIONS = (
    "Describe the image.",
    "What is in the picture?",
    "Give a short description of the image.",
    "Describe the scene briefly.",
)
CAPTION_CAPABILITIES = ("gen", "rec")


def _colour(rng: random.Random) -> Example:
    scene = centred_shape_scene(rng)
    colour = scene.shapes[0].colour
    return Example("colour", scene, rng.choice(TASKS["colour"].questions), colour, (colour.capitalize(),))


def _shape(rng: random.Random) -> Example:
    scene = centred_shape_scene(rng)
    kind = scene.shapes[0].kind
    return Example("shape", scene, rng.choice(TASKS["shape"].questions), kind, (f"a {kind}",))


def _position(rng: random.Random) -> Example:
    axis = rng.choice(("horizontal", "vertical"))
    side = rng.choice(("left", "right") if axis == "horizontal" else ("top", "bottom"))
    near = rng.uniform(0.2, 0.3)  # distance of the centre from the chosen edge
    along = rng.uniform(0.35, 0.65)
    offset = near if side in ("left", "top") else 1 - near
    cx, cy = (offset, along) if axis == "horizontal" else (along, offset)
    place = f"on the {side}" if axis == "horizontal" else f"at the {side}"
    scene = Scene((random_shape(rng, cx, cy, rng.uniform(0.22, 0.32)),), background=random_background(rng),
                  places=(place,))
    question = rng.choice(_POSITION_QUESTIONS[axis])
    return Example("position", scene, question, side, (f"on the {side}" if axis == "horizontal" else f"at the {side}",))


def _count(rng: random.Random) -> Example:
    n = rng.randint(1, 3)
    # One shape per vertical strip keeps them apart and orders the caption left to right.
    strips = sorted(rng.sample(range(3), n))
    shapes = tuple(
        random_shape(rng, (s + 0.5) / 3 + rng.uniform(-0.04, 0.04), rng.uniform(0.25, 0.75), rng.uniform(0.18, 0.26))
        for s in strips
    )
    scene = Scene(shapes, background=random_background(rng))
    return Example("count", scene, rng.choice(TASKS["count"].questions), str(n), (NUMBER_WORDS[n],))


def _digit(rng: random.Random) -> Example:
    value = rng.randint(0, 9)
    digit = Digit(value, rng.choice(list(DIGIT_INKS)), 0.5 + rng.uniform(-0.08, 0.08), 0.5 + rng.uniform(-0.06, 0.06))
    scene = Scene(digit=digit, background=random_background(rng))
    return Example("digit", scene, rng.choice(TASKS["digit"].questions), str(value), (NUMBER_WORDS[value],))


def _bigger(rng: random.Random) -> Example:
    big, small = rng.uniform(0.34, 0.42), rng.uniform(0.16, 0.22)
    answer = rng.choice(("left", "right"))
    left_size, right_size = (big, small) if answer == "left" else (small, big)
    shapes = (
        random_shape(rng, 0.27, 0.5 + rng.uniform(-0.1, 0.1), left_size),
        random_shape(rng, 0.73, 0.5 + rng.uniform(-0.1, 0.1), right_size),
    )
    sizes = ("big", "small") if answer == "left" else ("small", "big")
    scene = Scene(shapes, background=random_background(rng), places=("on the left", "on the right"), sizes=sizes)
    return Example("bigger", scene, rng.choice(TASKS["bigger"].questions), answer, (f"the {answer} one",))


_SAMPLERS: Mapping[str, Callable[[random.Random], Example]] = MappingProxyType(
    {"colour": _colour, "count": _count, "position": _position, "shape": _shape, "digit": _digit, "bigger": _bigger}
)


def sample_example(task: str, rng: random.Random) -> Example:
    """Draw one example of ``task`` (a key of TASKS, or CAPTION for a description of any scene)."""
    if task == CAPTION:
        scene = _SAMPLERS[rng.choice(list(_SAMPLERS))](rng).scene
        text = caption(scene)
        return Example(CAPTION, scene, rng.choice(CAPTION_QUESTIONS), text, (), caption_keywords(scene))
    if task not in _SAMPLERS:
        raise KeyError(f"unknown task {task!r}; expected one of {sorted(_SAMPLERS)} or {CAPTION!r}")
    return _SAMPLERS[task](rng)


def capabilities(task: str) -> tuple[str, ...]:
    """MM-Vet capability tags of a task."""
    return CAPTION_CAPABILITIES if task == CAPTION else TASKS[task].capabilities


_COLOUR_MIXES = (
    ("red", "yellow", "orange"),
    ("blue", "yellow", "green"),
    ("red", "blue", "purple"),
    ("red", "white", "pink"),
    ("black", "white", "grey"),
)


def sample_text_only(rng: random.Random) -> tuple[str, str]:
    """A question that needs no image (LLaVA's mix holds text-only chat too): (question, answer)."""
    if rng.random() < 0.5:
        first, second, mixed = rng.choice(_COLOUR_MIXES)
        if rng.random() < 0.5:
            first, second = second, first
        return f"What colour do you get by mixing {first} and {second}?", mixed
    a, b = rng.randint(0, 9), rng.randint(0, 9)
    if rng.random() < 0.5:
        return f"What is {a} plus {b}?", str(a + b)
    a, b = max(a, b), min(a, b)
    return f"What is {a} minus {b}?", str(a - b)
