#!/usr/bin/env bash
# The project's test suite: the quick tests and the slow ones (multi-process DeepSpeed,
# end-to-end pipeline). `python -m pytest` alone runs only the quick ones.
set -euo pipefail
source "$(dirname "$0")/env.sh"
# Tiny models on a shared machine: two threads under contention can be 100x slower than one.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
python -m pytest -m "slow or not slow" "$@"
