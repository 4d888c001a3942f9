"""LLaVA training (``python -m llava.train.train``).

Importing the package keeps one known, harmless bitsandbytes line out of every training log (see
library_logs.py); it runs here because the line is printed while transformers' Trainer is imported.
"""
from .library_logs import quiet_known_library_lines

quiet_known_library_lines()
