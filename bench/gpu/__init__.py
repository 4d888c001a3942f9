"""GPU benchmark at LLaVA-1.5-7B shapes (`python -m bench.gpu`, or `bash bench/gpu.sh`): adapter variants x
attention x activation checkpointing, a QLoRA (4-bit) TeamLoRA step, and a 2-step ZeRO-2 run through the
deepspeed launcher. What it measures and how: docs/benchmarks.md ("GPU benchmark").

One module per concern:
    settings     the grid's axes, the run settings, the --dry-run / --quick / full presets
    environment  library versions, device name, which attention and QLoRA parts can run here
    model        the 7B-shaped and the dry run's configs, the random-weight base, inputs, checkpointing
    memory       synchronised timed steps with their peak memory; the out-of-memory batch back-off
    adapters     one variant's adapters and AdamW, swapped in and out of the shared base
    matrix       the training-step grid (attention x checkpointing x variant)
    qlora        the 4-bit TeamLoRA step
    zero2        the ZeRO-2 deepspeed-launcher run
    results      the JSON result: placeholders, failures, the file rewritten after every part
    tables       the printed markdown tables
    cli          flags, the time budget, and the run from start to end (python -m bench.gpu)
"""
