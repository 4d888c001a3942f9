"""Mean expert weight per task type and adapted layer, measured on held-out questions.

    python -m bench.study.usage --model-path RUN_DIR --question-file test/questions.jsonl \
        --image-folder images --out RUN_DIR/eval/usage.json

Each adapted layer's router is read by a forward pre-hook on the layer's own input, masked by the
attention mask, so left padding never counts. The prompts are built exactly as model_vqa builds them
(system prompt, image tokens, question); the numbers are means over every real prompt token.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import torch
from tqdm import tqdm

from llava.data.conversation import get_template
from llava.eval.generate import prepare_batch
from llava.eval.questions import Question, read_questions
from llava.model.checkpoint import load_pretrained_model
from llava.model.config import num_image_tokens
from llava.model.input_format import input_format_for
from teamlora import adapted_layers, set_stats_tracking


class _Accumulator:
    """Per layer: masked sums of phi and omega, (k,) float64, and the token count."""

    def __init__(self) -> None:
        self.mask: Optional[torch.Tensor] = None  # (B, L) of the current batch
        self.phi: Dict[str, torch.Tensor] = {}
        self.omega: Dict[str, torch.Tensor] = {}
        self.tokens: Dict[str, int] = defaultdict(int)

    def hook(self, name: str):
        def pre_hook(layer, args):
            phi, omega = layer.route(args[0])  # (B, L, k) float32 each
            if phi is None:
                return
            keep = self.mask.to(torch.bool)  # (B, L)
            self.phi[name] = self.phi.get(name, 0) + phi[keep].double().sum(0)
            self.omega[name] = self.omega.get(name, 0) + omega[keep].double().sum(0)
            self.tokens[name] += int(keep.sum())
        return pre_hook

    def means(self) -> Dict[str, dict]:
        return {name: {"phi": (self.phi[name] / self.tokens[name]).tolist(),
                       "omega": (self.omega[name] / self.tokens[name]).tolist(),
                       "tokens": self.tokens[name]} for name in self.phi}


@torch.no_grad()
def expert_usage(model, processor, questions: Iterable[Question], *, template, image_folder: str,
                 image_aspect_ratio: str = "pad", batch_size: int = 32, progress: bool = True) -> Dict[str, Dict[str, dict]]:
    """{task: {layer name: {"phi": [k], "omega": [k], "tokens": n}}}; {} for a model without routed layers."""
    layers = [(name, layer) for name, layer in adapted_layers(model) if layer.router is not None]
    if not layers:
        return {}
    by_task: Dict[str, List[Question]] = defaultdict(list)
    for q in questions:
        by_task[q.category or "uncategorised"].append(q)
    image_tokens = num_image_tokens(model.config)
    set_stats_tracking(model, False)  # the training-time counters are not ours to move
    result = {}
    try:
        for task in sorted(by_task):
            acc = _Accumulator()
            handles = [layer.register_forward_pre_hook(acc.hook(name)) for name, layer in layers]
            try:
                items = by_task[task]
                for start in tqdm(range(0, len(items), batch_size), desc=f"usage {task}", disable=not progress):
                    input_ids, attention_mask, pixels = prepare_batch(
                        items[start:start + batch_size], processor, template=template, image_folder=image_folder,
                        image_tokens=image_tokens, image_aspect_ratio=image_aspect_ratio)
                    acc.mask = attention_mask
                    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
                    if pixels is not None:
                        inputs["pixel_values"] = pixels.to(model.dtype)
                    model(**inputs)
            finally:
                for h in handles:
                    h.remove()
            result[task] = acc.means()
    finally:
        set_stats_tracking(model, True)
    return result


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.study.usage", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-path", required=True, help="a run directory or checkpoint written by llava.train")
    p.add_argument("--question-file", required=True, help="questions.jsonl with a 'category' per question")
    p.add_argument("--image-folder", required=True)
    p.add_argument("--conv-mode", default=None,
                   help="prompt template; default: the one the checkpoint records (as model_vqa)")
    p.add_argument("--image-aspect-ratio", default=None,
                   help="square/pad; default: what the checkpoint records (as model_vqa)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--out", required=True, help="JSON file to write")
    return p


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = build_parser().parse_args(argv)
    model, processor = load_pretrained_model(args.model_path)
    fmt = input_format_for(args.model_path, model.config, args.conv_mode, args.image_aspect_ratio)
    usage = expert_usage(model, processor, read_questions(args.question_file), template=get_template(fmt.conv_template),
                         image_folder=args.image_folder, image_aspect_ratio=fmt.image_aspect_ratio,
                         batch_size=args.batch_size)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"model_path": str(args.model_path), "tasks": usage}, indent=1) + "\n")
    print(f"expert usage of {len(usage)} task(s) -> {args.out}")
    return usage


if __name__ == "__main__":
    main()
