"""Chat with a LLaVA checkpoint about one image, streaming the replies as they are generated.

    python -m llava.eval.chat --model-path checkpoints/tiny-teamlora --image-file cat.png

The image is attached to the first turn; the whole conversation is sent again each turn,
so the model sees the history. An empty line, "exit", or end of input (Ctrl-D) ends it.
The template and image aspect ratio default to the checkpoint's training record (see model_vqa).
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional, Sequence, TextIO

from transformers import TextStreamer

from llava.data.conversation import ASSISTANT, USER, Turn, get_template
from llava.data.dataset import ASPECT_RATIOS, image_pixels, load_rgb_image
from llava.data.errors import BadSampleError
from llava.model.checkpoint import load_pretrained_model, pick_device_dtype
from llava.model.input_format import input_format_for
from llava.model.config import num_image_tokens

from .generate import Sampling, decode, generate_tokens
from .inputs import left_pad, pad_token_id, prompt_ids

EXIT_WORDS = ("", "exit", "quit")


class WriterStreamer(TextStreamer):
    """TextStreamer that writes to a given text stream instead of print(), without the reply's
    leading space (the template puts one between ``ASSISTANT:`` and the reply)."""

    def __init__(self, tokenizer, out: TextIO):
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.out = out
        self.started = False

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if not self.started:
            text = text.lstrip()
            self.started = bool(text)
        self.out.write(text + ("\n" if stream_end else ""))
        self.out.flush()


def read_turn(stream: TextIO, out: TextIO) -> Optional[str]:
    """The next user message, or None at end of input or an exit word."""
    out.write(f"{USER.upper()}: ")
    out.flush()
    line = stream.readline()
    if not line:  # EOF
        out.write("\n")
        return None
    text = line.strip()
    return None if text.lower() in EXIT_WORDS else text


def chat(model, processor, *, template, pixel_values, sampling: Sampling, stream: TextIO, out: TextIO) -> list[Turn]:
    """Run the chat loop; returns the conversation's turns."""
    tokenizer = processor.tokenizer
    image_tokens = num_image_tokens(model.config)
    limit = model.config.text_config.max_position_embeddings
    turns: list[Turn] = []
    while (text := read_turn(stream, out)) is not None:
        candidate = turns + [(USER, text)]
        ids = prompt_ids(candidate, template, tokenizer, has_image=pixel_values is not None,
                         num_image_tokens=image_tokens, image_token=processor.image_token, name="chat")
        if len(ids) + sampling.max_new_tokens > limit and turns:
            # The history no longer fits the context: start over from this question (image kept).
            out.write(f"[context of {limit} tokens full: history cleared]\n")
            candidate = [(USER, text)]
            ids = prompt_ids(candidate, template, tokenizer, has_image=pixel_values is not None,
                             num_image_tokens=image_tokens, image_token=processor.image_token, name="chat")
        out.write(f"{ASSISTANT.upper()}: ")
        out.flush()
        input_ids, attention_mask = left_pad([ids], pad_token_id(tokenizer))
        streamer = WriterStreamer(tokenizer, out)
        new_tokens = generate_tokens(model, tokenizer, input_ids, attention_mask, pixel_values, sampling, streamer)
        turns = candidate + [(ASSISTANT, decode(tokenizer, new_tokens)[0])]
    return turns


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m llava.eval.chat", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-path", required=True)
    p.add_argument("--model-base", default=None)
    p.add_argument("--image-file", default=None, help="image to talk about (omit for a text-only chat)")
    p.add_argument("--conv-mode", default=None, help="default: the template the checkpoint was trained with")
    p.add_argument("--temperature", type=float, default=0.2, help="llava.serve.cli's default in LLaVA; 0 = greedy")
    p.add_argument("--top_p", type=float, default=None)
    p.add_argument("--max-new-tokens", type=int, default=512)
    p.add_argument("--image-aspect-ratio", default=None, choices=ASPECT_RATIOS,
                   help="default: what the checkpoint was trained with")
    p.add_argument("--device", default="auto")
    p.add_argument("--torch-dtype", default="auto", choices=("auto", "float32", "float16", "bfloat16"))
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.INFO)  # to stderr
    if args.conv_mode is not None:
        get_template(args.conv_mode)  # an unknown name fails now, not after loading the model
    sampling = Sampling(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p)
    try:
        image = None if args.image_file is None else load_rgb_image(args.image_file, args.image_file)
    except BadSampleError as e:
        print(f"error: {e.detail}", file=sys.stderr)
        return 2
    device, dtype = pick_device_dtype(args.device, args.torch_dtype)
    model, processor = load_pretrained_model(args.model_path, args.model_base, torch_dtype=dtype)
    model.to(device)
    fmt = input_format_for(args.model_path, model.config, args.conv_mode, args.image_aspect_ratio)
    template = get_template(fmt.conv_template)
    pixel_values = None
    if image is not None:
        pixel_values = image_pixels(image, processor.image_processor, fmt.image_aspect_ratio).unsqueeze(0)  # [1,3,H,W]
    chat(model, processor, template=template, pixel_values=pixel_values, sampling=sampling,
         stream=sys.stdin, out=sys.stdout)
    return 0


if __name__ == "__main__":
    from llava.entry import run_entry

    sys.exit(run_entry(main, OSError))  # OSError: a --model-path that does not load
