#!/usr/bin/env bash
# ScienceQA-IMG: convert LLaVA's test file to a question file, answer with the option-letter instruction, score.
# Settings: see common.sh, plus DATA (playground/data/eval/scienceqa), SRC ($DATA/llava_test_CQM-A.json),
#   IMAGE_FOLDER ($DATA/images/test), PROBLEMS ($DATA/problems.json), PID_SPLITS ($DATA/pid_splits.json).
set -euo pipefail
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

python -m llava.eval.convert_questions sqa --src "$SRC" --out "$OUT/questions.jsonl"
answer "$OUT/questions.jsonl" "$IMAGE_FOLDER" "$OUT/answers.jsonl" --max_new_tokens "${MAX_NEW_TOKENS:-128}" \
    --answer-prompt-suffix "Answer with the option's letter from the given choices directly."
python -m eval.scienceqa --answers "$OUT/answers.jsonl" --problems "$PROBLEMS" --pid-splits "$PID_SPLITS" \
    --split test --subset img --allow-missing
