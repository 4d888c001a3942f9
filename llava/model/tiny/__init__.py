"""The tiny offline LLaVA of the embedded default and the tests: no hub access, seconds to build.

    model.py      its config and builder (random seeded weights, saved like a llava-hf checkpoint)
    tokenizer.py  the byte-level BPE tokenizer trainer, with Llama/Vicuna's behaviour
    texts.py      what the tokenizer trains on (the synthetic data's turns, the template pieces)
    cli.py        ``python -m llava.model.tiny``

The real-model path (llava.model.builder, .checkpoint, .convert) does not import this package.
"""
from .model import TinySizes, build_tiny_llava, has_model, tiny_llava_config
from .texts import dataset_texts
from .tokenizer import train_tokenizer

__all__ = ["TinySizes", "build_tiny_llava", "dataset_texts", "has_model", "tiny_llava_config", "train_tokenizer"]
