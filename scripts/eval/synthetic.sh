#!/usr/bin/env bash
# The held-out synthetic tasks: answer test/questions.jsonl, then accuracy per task type with chance beside it.
# Settings: see common.sh, plus DATA (playground/data/synthetic), MAX_NEW_TOKENS (16: answers are one word).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../env.sh"
source "$here/common.sh"

DATA="${DATA:-playground/data/synthetic}"
OUT="$RESULTS/synthetic/$CKPT"
need "$DATA/test/answers.jsonl" "synthetic ground truth; make it with python -m llava.data.synthetic"

answer "$DATA/test/questions.jsonl" "$DATA/images" "$OUT/answers.jsonl" --max_new_tokens "${MAX_NEW_TOKENS:-16}"
python -m llava.eval.task_accuracy --answers "$OUT/answers.jsonl" --gt "$DATA/test/answers.jsonl" \
    --tasks-info "$DATA/dataset_info.json" | tee "$OUT/accuracy.txt"
