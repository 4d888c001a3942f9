"""python -m bench.gpu: see bench/gpu/cli.py and docs/benchmarks.md."""
from .cli import main

main()
