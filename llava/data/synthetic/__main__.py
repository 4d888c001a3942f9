"""``python -m llava.data.synthetic``: generate the embedded default's dataset (see generate.py)."""
from .cli import run_generator
from .generate import main

run_generator(main)
