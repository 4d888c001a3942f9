"""The synthetic data: small, deterministic multi-task visual sets that stand in for LLaVA's data offline.

    scenes.py        shapes and digits: sampling, Pillow rendering, captions
    tasks.py         the question types (answer sets, chance levels, phrasings, samplers)
    files.py         where the files live; image/JSON writers; LLaVA's record format; reuse of a finished set
    benchmarks.py    held-out questions in MM-Vet's and VQAv2's on-disk layouts
    generate.py      the embedded default (``python -m llava.data.synthetic``)
    interference.py  the method study's conflicting-convention set (``python -m llava.data.synthetic.interference``)
    cli.py           the flags both generators share

The real-data pipeline (dataset, preprocess, templates, sampler, collator) does not import this package.
"""
from .generate import generate_dataset

__all__ = ["generate_dataset"]
