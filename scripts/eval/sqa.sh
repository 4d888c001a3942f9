#!/usr/bin/env bash
# ScienceQA-IMG, scored as LLaVA-1.5's eval_science_qa reads answers (its accepted formats only).
# Real files (LLaVA-1.5's eval layout under DATA=playground/data/eval/scienceqa):
#   llava_test_CQM-A.json     LLaVA's test file (converted to $OUT/questions.jsonl)
#   images/test/              ScienceQA test images
#   problems.json pid_splits.json   from ScienceQA's data/scienceqa
# Settings: see common.sh, plus DATA, SRC, IMAGE_FOLDER, PROBLEMS, PID_SPLITS, MAX_NEW_TOKENS (128).
# Extra arguments go to python -m eval.scienceqa (e.g. --lenient to add the project's reading beside it).
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../env.sh"
source "$here/common.sh"

DATA="${DATA:-playground/data/eval/scienceqa}"
SRC="${SRC:-$DATA/llava_test_CQM-A.json}"
IMAGE_FOLDER="${IMAGE_FOLDER:-$DATA/images/test}"
PROBLEMS="${PROBLEMS:-$DATA/problems.json}"
PID_SPLITS="${PID_SPLITS:-$DATA/pid_splits.json}"
OUT="$RESULTS/scienceqa/$CKPT"
need "$SRC" "LLaVA's ScienceQA test file"
need "$PROBLEMS" "ScienceQA problems.json"
need "$PID_SPLITS" "ScienceQA pid_splits.json"

python -m llava.eval.convert_questions sqa --src "$SRC" --out "$OUT/questions.jsonl"
answer "$OUT/questions.jsonl" "$IMAGE_FOLDER" "$OUT/answers.jsonl" --max_new_tokens "${MAX_NEW_TOKENS:-128}" \
    --answer-prompt-suffix "Answer with the option's letter from the given choices directly."
python -m eval.scienceqa --answers "$OUT/answers.jsonl" --problems "$PROBLEMS" --pid-splits "$PID_SPLITS" \
    --split test --subset img "$@"
