"""Answer a question file with a LLaVA checkpoint (LLaVA's ``model_vqa``, batched and resumable).

    python -m llava.eval.model_vqa --model-path checkpoints/tiny-teamlora \\
        --question-file playground/data/synthetic/test/questions.jsonl \\
        --image-folder playground/data/synthetic/images --answers-file answers.jsonl

Question file: JSONL ``{"question_id", "text", "image"?, "category"?}``. Answers: one JSON line
per question ``{"question_id", "prompt", "text", "answer_id", "model_id", "metadata"}``,
appended and flushed batch by batch; rerunning the same command skips answered questions.
``--temperature`` defaults to 0 (greedy), as every LLaVA-1.5 eval script passes.
The conversation template and image aspect ratio default to what the checkpoint was trained with
(its llava_run.json; an original LLaVA-1.5 checkpoint's config); a flag that disagrees wins, with a warning.
An original LLaVA-1.5 checkpoint (folder or hub name) is converted on load (llava.model.original).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import replace
from typing import Optional, Sequence

import torch

from eval.jsonl import JsonlAppender
from llava.data.conversation import SHORT_ANSWER_PROMPT, get_template
from llava.data.dataset import ASPECT_RATIOS
from llava.model.checkpoint import load_pretrained_model, pick_device_dtype
from llava.model.input_format import input_format_for

from .answers_file import AnswersFileError, answer_id, answered_ids
from .generate import Sampling, generate_batches
from .questions import Question, QuestionFileError, check_images, get_chunk, read_questions, with_suffix

logger = logging.getLogger("llava.eval.model_vqa")


def model_id_of(model_path: str) -> str:
    """Basename of the model path; ``run/checkpoint-500`` -> ``run_checkpoint-500`` (as LLaVA names it)."""
    parts = os.path.normpath(model_path).split(os.sep)
    if len(parts) > 1 and parts[-1].startswith("checkpoint-"):
        return f"{parts[-2]}_{parts[-1]}"
    return parts[-1]


def answer_record(question: Question, prompt: str, text: str, model_id: str) -> dict:
    metadata = {} if question.category is None else {"category": question.category}
    return {
        "question_id": question.question_id,
        "prompt": prompt,
        "text": text,
        "answer_id": answer_id(model_id, question.question_id, prompt, text),
        "model_id": model_id,
        "metadata": metadata,
    }


def pending_questions(args: argparse.Namespace) -> list[Question]:
    """This chunk's questions that the answers file does not hold yet, suffix applied, images checked."""
    questions = get_chunk(read_questions(args.question_file), args.num_chunks, args.chunk_idx)
    done = answered_ids(args.answers_file)
    pending = [q for q in questions if q.key not in done]
    if done:
        logger.warning("%s already answers %d of this chunk's %d questions; generating the other %d",
                       args.answers_file, len(questions) - len(pending), len(questions), len(pending))
    check_images(pending, args.image_folder)
    suffix = SHORT_ANSWER_PROMPT if args.single_pred_prompt else args.answer_prompt_suffix
    return [replace(q, text=with_suffix(q.text, suffix)) for q in pending]


def run(args: argparse.Namespace) -> int:
    """Generate the missing answers; returns how many were written."""
    if args.conv_mode is not None:
        get_template(args.conv_mode)  # an unknown name fails now, not after loading the model
    sampling = Sampling(args.max_new_tokens, args.temperature, args.top_p, args.num_beams)  # bad flags fail here
    questions = pending_questions(args)
    if not questions:
        logger.warning("nothing to do: every question of this chunk is answered in %s", args.answers_file)
        return 0
    device, dtype = pick_device_dtype(args.device, args.torch_dtype)
    model, processor = load_pretrained_model(args.model_path, args.model_base, torch_dtype=dtype,
                                             attn_implementation=args.attn_implementation)
    # After loading: a hub checkpoint's config is in the cache by now (no second network request).
    fmt = input_format_for(args.model_path, model.config, args.conv_mode, args.image_aspect_ratio)
    template = get_template(fmt.conv_template)
    model.to(device)
    torch.manual_seed(args.seed)  # only sampling (temperature > 0) draws random numbers
    model_id = model_id_of(args.model_path)
    written = 0
    batches = generate_batches(
        model, processor, questions, template=template, image_folder=args.image_folder,
        batch_size=args.batch_size, sampling=sampling, image_aspect_ratio=fmt.image_aspect_ratio,
    )
    with JsonlAppender(args.answers_file) as writer:  # each batch durable before the next
        for batch in batches:
            writer.append(answer_record(q, q.text, text, model_id) for q, text in batch)
            written += len(batch)
    return written


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m llava.eval.model_vqa", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-path", required=True,
                   help="checkpoint dir (adapters, projector-only, full), llava-hf dir or hub name, or an "
                   "original LLaVA-1.5 checkpoint (converted on load)")
    p.add_argument("--model-base", default=None, help="base model, overriding the one the checkpoint records")
    p.add_argument("--question-file", required=True, help="questions JSONL")
    p.add_argument("--image-folder", default="", help="folder the questions' 'image' paths are relative to")
    p.add_argument("--answers-file", required=True, help="answers JSONL (appended to; resumed)")
    p.add_argument("--conv-mode", default=None,
                   help="conversation template (default: the one the checkpoint was trained with; vicuna_v1 "
                   "when it records none)")
    p.add_argument("--num-chunks", type=int, default=1, help="split the questions into this many parts")
    p.add_argument("--chunk-idx", type=int, default=0, help="which part this process answers")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default, as LLaVA's eval scripts)")
    p.add_argument("--top_p", type=float, default=None)
    p.add_argument("--num_beams", type=int, default=1)
    p.add_argument("--max_new_tokens", type=int, default=128)
    p.add_argument("--single-pred-prompt", action="store_true",
                   help=f"append {SHORT_ANSWER_PROMPT!r} to questions that do not end with it")
    p.add_argument("--answer-prompt-suffix", default=None,
                   help="append this line to questions that do not end with it (e.g. ScienceQA's letter prompt)")
    p.add_argument("--image-aspect-ratio", default=None, choices=ASPECT_RATIOS,
                   help="pad = pad images to a square first (default: what the checkpoint was trained with; "
                   "pad when it records none)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--torch-dtype", default="auto", choices=("auto", "float32", "float16", "bfloat16"))
    p.add_argument("--attn-implementation", default=None, help="sdpa | eager | flash_attention_2 (default: best)")
    p.add_argument("--seed", type=int, default=0, help="for sampling")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.INFO)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.single_pred_prompt and args.answer_prompt_suffix:
        parser.error("--single-pred-prompt and --answer-prompt-suffix exclude each other")
    if args.num_chunks < 1 or not 0 <= args.chunk_idx < args.num_chunks:
        parser.error(f"need --num-chunks >= 1 and 0 <= --chunk-idx < --num-chunks; "
                     f"got {args.num_chunks} and {args.chunk_idx}")
    if args.batch_size < 1:
        parser.error("--batch-size must be >= 1")
    try:
        written = run(args)
    except (QuestionFileError, AnswersFileError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    logger.info("wrote %d answers to %s", written, args.answers_file)
    return written


if __name__ == "__main__":
    from llava.entry import run_entry

    run_entry(main, OSError)  # OSError: a --model-path that does not load
