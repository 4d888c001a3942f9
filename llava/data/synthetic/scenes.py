"""Scenes of coloured shapes and digits: sampling, Pillow rendering and captions.

Coordinates are fractions of the image side, so one scene renders at any size.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Optional

from PIL import Image, ImageDraw, ImageFont

COLOURS = {"red": (220, 40, 40), "green": (30, 170, 60), "blue": (40, 80, 220), "yellow": (235, 200, 30)}
SHAPES = ("circle", "square", "triangle")
# Yellow on a light background is hard to read at 64 px, so digits use dark inks only.
DIGIT_INKS = {"black": (20, 20, 20), "red": COLOURS["red"], "green": COLOURS["green"], "blue": COLOURS["blue"]}
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True)
class Shape:
    kind: str  # one of SHAPES
    colour: str  # one of COLOURS
    cx: float  # centre, fraction of the image width
    cy: float
    size: float  # side / diameter, fraction of the image side


@dataclass(frozen=True)
class Digit:
    value: int  # 0-9
    ink: str  # one of DIGIT_INKS
    cx: float
    cy: float


@dataclass(frozen=True)
class Scene:
    """What is drawn, plus the words a caption uses for where things are."""

    shapes: tuple[Shape, ...] = ()
    digit: Optional[Digit] = None
    background: int = 250  # grey level
    places: tuple[str, ...] = ()  # one per shape: "in the middle", "on the left", ...
    sizes: tuple[str, ...] = ()  # one per shape when sizes matter: "big" / "small"


def random_shape(rng: random.Random, cx: float, cy: float, size: float) -> Shape:
    return Shape(rng.choice(SHAPES), rng.choice(list(COLOURS)), cx, cy, size)


def random_background(rng: random.Random) -> int:
    return rng.randint(232, 255)


def centred_shape_scene(rng: random.Random) -> Scene:
    """One shape near the middle: what the colour and shape questions (and the interference set) ask about."""
    cx, cy = 0.5 + rng.uniform(-0.1, 0.1), 0.5 + rng.uniform(-0.1, 0.1)
    shape = random_shape(rng, cx, cy, rng.uniform(0.3, 0.45))
    return Scene((shape,), background=random_background(rng), places=("in the middle",))


def render_scene(scene: Scene, image_size: int, font: ImageFont.ImageFont) -> Image.Image:
    """Draw the scene as an RGB image of side ``image_size``; ``font`` draws the digit."""
    grey = scene.background
    image = Image.new("RGB", (image_size, image_size), (grey, grey, grey))
    draw = ImageDraw.Draw(image)
    for shape in scene.shapes:
        _draw_shape(draw, shape, image_size)
    if scene.digit is not None:
        d = scene.digit
        draw.text(
            (d.cx * image_size, d.cy * image_size),
            str(d.value),
            fill=DIGIT_INKS[d.ink],
            font=font,
            anchor="mm",  # (x, y) is the middle of the glyph
        )
    return image


def _draw_shape(draw: ImageDraw.ImageDraw, shape: Shape, image_size: int) -> None:
    half = shape.size * image_size / 2
    x, y = shape.cx * image_size, shape.cy * image_size
    fill = COLOURS[shape.colour]
    if shape.kind == "circle":
        draw.ellipse((x - half, y - half, x + half, y + half), fill=fill)
    elif shape.kind == "square":
        draw.rectangle((x - half, y - half, x + half, y + half), fill=fill)
    elif shape.kind == "triangle":
        draw.polygon([(x, y - half), (x - half, y + half), (x + half, y + half)], fill=fill)
    else:
        raise ValueError(f"unknown shape kind {shape.kind!r}; expected one of {SHAPES}")


def caption(scene: Scene) -> str:
    """A full description of the scene, e.g. 'a big red circle on the left and a small blue square on the right'."""
    if scene.digit is not None:
        return f"the digit {scene.digit.value} written in {scene.digit.ink}"
    phrases = []
    for i, shape in enumerate(scene.shapes):
        size = f"{scene.sizes[i]} " if scene.sizes else ""
        place = f" {scene.places[i]}" if scene.places else ""
        phrases.append(f"a {size}{shape.colour} {shape.kind}{place}")
    if len(phrases) == 1 and scene.places:
        return phrases[0]
    # Scenes without places are counting scenes: the caption states the number.
    listed = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    noun = "shape" if len(phrases) == 1 else "shapes"
    return f"{NUMBER_WORDS[len(phrases)]} {noun}: {listed}"


def caption_keywords(scene: Scene) -> tuple[str, ...]:
    """The words a correct description must contain (MM-Vet style '<AND>' ground truth)."""
    if scene.digit is not None:
        return (str(scene.digit.value),)
    words: list[str] = []
    for shape in scene.shapes:
        for word in (shape.colour, shape.kind):
            if word not in words:
                words.append(word)
    return tuple(words)
