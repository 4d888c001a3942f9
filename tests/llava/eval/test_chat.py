"""The interactive chat (llava.eval.chat): history kept, replies streamed, clean exit."""
import io
import subprocess
import sys

import pytest

from llava.data.conversation import ASSISTANT, USER, get_template
from llava.eval.chat import chat, main
from llava.eval.generate import Sampling, decode, generate_tokens
from llava.eval.inputs import left_pad, load_pixels, prompt_ids
from llava.model.config import num_image_tokens

VICUNA = get_template("vicuna_v1")
QUESTIONS = ["What colour is the shape?", "And what shape is it?"]


def expected_replies(model, processor, pixels, max_new_tokens):
    """Greedy replies computed turn by turn without the chat: the first turn holds the image."""
    turns, replies = [], []
    for question in QUESTIONS:
        turns.append((USER, question))
        ids = prompt_ids(turns, VICUNA, processor.tokenizer, has_image=True,
                         num_image_tokens=num_image_tokens(model.config), image_token="<image>", name="t")
        input_ids, mask = left_pad([ids], processor.tokenizer.pad_token_id)
        new = generate_tokens(model, processor.tokenizer, input_ids, mask, pixels,
                              Sampling(max_new_tokens=max_new_tokens))
        replies.append(decode(processor.tokenizer, new)[0])
        turns.append((ASSISTANT, replies[-1]))
    return replies


def test_chat_keeps_history_and_streams_replies(setup, loaded):
    model, processor = loaded
    pixels = load_pixels(f"{setup['images']}/test_000000.png", processor.image_processor, "pad", "t")[None]
    out = io.StringIO()
    turns = chat(model, processor, template=VICUNA, pixel_values=pixels, sampling=Sampling(max_new_tokens=6),
                 stream=io.StringIO("\n".join(QUESTIONS) + "\n"), out=out)
    replies = expected_replies(model, processor, pixels, 6)
    assert all(replies)  # the random model says something, so the comparison means something
    assert turns == [(USER, QUESTIONS[0]), (ASSISTANT, replies[0]), (USER, QUESTIONS[1]), (ASSISTANT, replies[1])]
    lines = out.getvalue().splitlines()
    assert [line.split("ASSISTANT: ", 1)[1].strip() for line in lines[:2]] == replies
    assert lines[-1].strip() == "USER:"  # the prompt that met end of input


@pytest.mark.parametrize("ending", ["exit\nnot read\n", "\nnot read\n"])
def test_chat_stops_at_exit_or_empty_line(loaded, ending):
    model, processor = loaded
    turns = chat(model, processor, template=VICUNA, pixel_values=None, sampling=Sampling(max_new_tokens=2),
                 stream=io.StringIO("Hello\n" + ending), out=io.StringIO())
    assert [role for role, _ in turns] == [USER, ASSISTANT]


def test_chat_command_streams_two_replies_then_exits_on_eof(setup, loaded):
    model, processor = loaded
    image = f"{setup['images']}/test_000000.png"
    result = subprocess.run(
        [sys.executable, "-m", "llava.eval.chat", "--model-path", str(setup["model_dir"]), "--image-file", image,
         "--temperature", "0", "--max-new-tokens", "6"],
        input="\n".join(QUESTIONS) + "\n", capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    pixels = load_pixels(image, processor.image_processor, "pad", "t")[None]
    replies = expected_replies(model, processor, pixels, 6)
    shown = [part.split("\n", 1)[0].strip() for part in result.stdout.split("ASSISTANT: ")[1:]]
    assert shown == replies
    assert result.stdout.count("USER: ") == 3


def test_chat_command_missing_image_is_one_error(tmp_path, setup, capsys):
    code = main(["--model-path", str(setup["model_dir"]), "--image-file", str(tmp_path / "none.png")])
    assert code == 2
    assert "image file not found" in capsys.readouterr().err
