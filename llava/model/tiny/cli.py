"""Build the embedded default's tiny LLaVA from the synthetic data: a byte-level BPE tokenizer trained on
its training turns, then a seeded random model saved like a llava-hf checkpoint.

    python -m llava.model.tiny --data playground/data/synthetic --out playground/data/tiny-llava
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

from .model import DEFAULT_VOCAB, TinySizes, build_tiny_llava, has_model
from .texts import dataset_texts


def main(argv: Optional[Sequence[str]] = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m llava.model.tiny", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="playground/data/synthetic",
                        help="synthetic dataset directory (pretrain.json and train.json train the tokenizer)")
    parser.add_argument("--out", default="playground/data/tiny-llava", help="output directory")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument("--image-size", type=int, default=TinySizes.image_size, help="image side in pixels")
    parser.add_argument("--patch-size", type=int, default=TinySizes.patch_size,
                        help="vision patch side; (image-size / patch-size)^2 image tokens per image")
    parser.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB, help="BPE vocabulary size")
    parser.add_argument("--text-hidden", type=int, default=TinySizes.text_hidden, help="language model width")
    parser.add_argument("--text-layers", type=int, default=TinySizes.text_layers, help="language model layers")
    parser.add_argument("--vision-hidden", type=int, default=TinySizes.vision_hidden, help="vision tower width")
    parser.add_argument("--vision-layers", type=int, default=TinySizes.vision_layers, help="vision tower layers")
    parser.add_argument("--max-length", type=int, default=TinySizes.max_length, help="longest sequence (positions, tokenizer limit)")
    parser.add_argument("--overwrite", action="store_true", help="rebuild even if --out holds a model")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if has_model(out) and not args.overwrite:
        print(f"{out} already holds a model; pass --overwrite to rebuild")
        return out
    build_tiny_llava(
        out,
        dataset_texts(args.data),
        seed=args.seed,
        image_size=args.image_size,
        patch_size=args.patch_size,
        vision_hidden=args.vision_hidden,
        vision_layers=args.vision_layers,
        text_hidden=args.text_hidden,
        text_layers=args.text_layers,
        vocab_size=args.vocab_size,
        max_length=args.max_length,
    )
    print(f"tiny LLaVA saved to {out}")
    return out
