"""Conversation templates render LLaVA-1.5's exact prompt strings."""
import dataclasses

import pytest

from llava.data.conversation import (
    ASSISTANT,
    USER,
    VICUNA_SYSTEM,
    canonical_role,
    generation_prompt,
    get_template,
    render,
    render_segments,
)

TWO_EXCHANGES = [
    (USER, "<image>\nWhat colour is it?"),
    (ASSISTANT, "Red."),
    (USER, "And the shape?"),
    (ASSISTANT, "A circle."),
]


def test_vicuna_v1_renders_llava15_string():
    text = render(get_template("vicuna_v1"), TWO_EXCHANGES)
    assert text == (
        "A chat between a curious user and an artificial intelligence assistant. The assistant gives "
        "helpful, detailed, and polite answers to the user's questions. USER: <image>\nWhat colour is it? "
        "ASSISTANT: Red.</s>USER: And the shape? ASSISTANT: A circle.</s>"
    )


def test_vicuna_v1_segments_mark_only_replies():
    segments = render_segments(get_template("vicuna_v1"), TWO_EXCHANGES)
    assert [s.is_reply for s in segments] == [False, True, False, True]
    assert [s.text for s in segments if s.is_reply] == [" Red.</s>", " A circle.</s>"]
    assert segments[2].text == "USER: And the shape? ASSISTANT:"


def test_generation_prompt_ends_with_assistant_label_and_prefixes_training_text():
    template = get_template("vicuna_v1")
    prompt = generation_prompt(template, TWO_EXCHANGES[:1])
    assert prompt == VICUNA_SYSTEM + " USER: <image>\nWhat colour is it? ASSISTANT:"
    assert render(template, TWO_EXCHANGES[:2]).startswith(prompt)
    follow_up = generation_prompt(template, TWO_EXCHANGES[:3])
    assert follow_up.endswith("Red.</s>USER: And the shape? ASSISTANT:")


def test_plain_is_image_then_caption_then_llavas_separator():
    # LLaVA-1.5's conv_llava_plain: the question is dropped, the caption ends with sep "\n" (no EOS)
    template = get_template("plain")
    turns = [(USER, "Describe the image briefly.\n<image>"), (ASSISTANT, "A red circle.")]
    assert render(template, turns) == "<image>A red circle.\n"
    assert generation_prompt(template, turns[:1]) == "<image>"
    # the embedded default's own choice, by name
    assert render(get_template("plain_eos"), turns) == "<image>A red circle.</s>"


def test_v1_alias_and_unknown_template():
    assert get_template("v1") is get_template("vicuna_v1")
    with pytest.raises(ValueError, match="unknown conversation template 'llama_3'"):
        get_template("llama_3")


def test_template_is_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_template("vicuna_v1").system = "changed"


@pytest.mark.parametrize(
    "turns, add_generation_prompt, message",
    [
        ([], False, "at least one turn"),
        ([(ASSISTANT, "hi")], False, "turn 0 is 'assistant'"),
        ([(USER, "a"), (USER, "b")], False, "turn 1 is 'user'"),
        ([(USER, "a")], False, "must end with an assistant reply"),
        ([(USER, "a"), (ASSISTANT, "b")], True, "must end with a user turn"),
    ],
)
def test_bad_turn_order_is_rejected(turns, add_generation_prompt, message):
    with pytest.raises(ValueError, match=message):
        render_segments(get_template("vicuna_v1"), turns, add_generation_prompt=add_generation_prompt)


def test_plain_takes_one_exchange_only():
    with pytest.raises(ValueError, match="one user turn and one reply"):
        render(get_template("plain"), TWO_EXCHANGES)


def test_role_aliases():
    assert [canonical_role(r) for r in ("human", "gpt", "User", "assistant ")] == [USER, ASSISTANT, USER, ASSISTANT]
    assert canonical_role("system") is None and canonical_role("robot") is None
