#!/usr/bin/env bash
# Stage-2 LLaVA-1.5 instruction tuning with hydralora adapters in the language model's FFN.
# No settings: runs the embedded default (tiny model, synthetic data, CPU). For LLaVA-1.5-7B set MODEL_PATH
# and friends: see scripts/lib/finetune_adapter.sh. Extra arguments go to llava.train.train.
METHOD=hydralora exec bash "$(dirname "$0")/lib/finetune_adapter.sh" "$@"
