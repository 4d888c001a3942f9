"""The task table and what each task's scenes mean."""
import random

import pytest

from llava.data.synthetic.scenes import caption
from llava.data.synthetic.tasks import TASKS, sample_example


def test_task_table_is_immutable_with_known_chance():
    assert {name: spec.chance for name, spec in TASKS.items()} == pytest.approx(
        {"colour": 0.25, "count": 1 / 3, "position": 0.5, "shape": 1 / 3, "digit": 0.1, "bigger": 0.5}
    )
    with pytest.raises(TypeError):
        TASKS["colour"] = None


def test_scene_semantics_match_answers():
    rng = random.Random(0)
    for _ in range(200):
        pos = sample_example("position", rng)
        shape = pos.scene.shapes[0]
        centre = {"left": shape.cx, "right": 1 - shape.cx, "top": shape.cy, "bottom": 1 - shape.cy}[pos.answer]
        assert centre < 0.35
        big = sample_example("bigger", rng)
        left, right = big.scene.shapes
        assert (left.size > right.size) == (big.answer == "left")
        assert abs(left.size - right.size) > 0.1
        count = sample_example("count", rng)
        assert len(count.scene.shapes) == int(count.answer)
        assert caption(count.scene).startswith(("one shape", "two shapes", "three shapes"))
