"""``python -m llava.model.tiny``: build the tiny LLaVA (see cli.py)."""
from llava.entry import run_entry

from .cli import main

run_entry(main, ValueError, FileNotFoundError)  # bad sizes; no dataset yet: named in the message
