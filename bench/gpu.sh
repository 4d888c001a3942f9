#!/usr/bin/env bash
# GPU benchmark at LLaVA-1.5-7B shapes: python -m bench.gpu in the project's environment. Every argument is
# passed on; python -m bench.gpu --help lists the flags and docs/benchmarks.md ("GPU benchmark") says what
# each part measures.
#   bash bench/gpu.sh --quick      # core table + QLoRA, for a short GPU loan; JSON to bench/results/gpu-<date>.json
#   bash bench/gpu.sh              # everything (needs a CUDA device)
#   bash bench/gpu.sh --dry-run    # CPU, tiny shapes, seconds (plus the ZeRO-2 run unless --skip-zero)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"  # the project's environment; cds to the repo root
# a GPU run needs few CPU threads (the data is made on the device); keep a caller's setting
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-4}"
exec python -m bench.gpu "$@"
