"""Rendering: digits legible and distinct at 64 px, shapes drawn in their colour."""
import random

from PIL import Image

from llava.data.synthetic.files import ImageWriter
from llava.data.synthetic.scenes import render_scene
from llava.data.synthetic.tasks import sample_example


def test_digits_render_distinctly_and_shapes_use_their_colour(tmp_path):
    writer = ImageWriter(tmp_path, 64)
    rng = random.Random(3)
    examples = {}
    while len(examples) < 10:
        ex = sample_example("digit", rng)
        examples.setdefault(ex.answer, ex)
    pixels = set()
    for digit, ex in examples.items():
        image = render_scene(ex.scene, 64, writer.font)
        ink = image.convert("L").point(lambda p: 255 if p < 180 else 0).histogram()[255]
        assert ink > 60, f"digit {digit} has only {ink} ink pixels at 64 px"
        pixels.add(image.tobytes())
    assert len(pixels) == 10
    colour = sample_example("colour", rng)
    image = Image.open(tmp_path / writer.write("c.png", colour)).convert("RGB")
    assert image.size == (64, 64)
    r, g, b = image.getpixel((round(colour.scene.shapes[0].cx * 64), round(colour.scene.shapes[0].cy * 64 + 4)))
    expected = {"red": r > 150 > g, "green": g > 120 > r, "blue": b > 150 > r, "yellow": r > 150 and g > 150 > b}
    assert expected[colour.answer]
