#!/usr/bin/env bash
# GQA (testdev balanced), scored as LLaVA-1.5 does: its converter (trailing '.' off, lower-case), then
# exact match over the balanced questions as GQA's eval.py, with its per-type breakdowns.
# Real files (LLaVA-1.5's eval layout under DATA=playground/data/eval/gqa):
#   llava_gqa_testdev_balanced.jsonl        LLaVA's question file
#   data/images/                            GQA images
#   data/testdev_balanced_questions.json    GQA's questions with their answers
# Settings: see common.sh, plus DATA, QUESTION_FILE, IMAGE_FOLDER, QUESTIONS, MAX_NEW_TOKENS (128).
# Extra arguments go to python -m eval.gqa (e.g. --lenient to add the project's reading beside it).
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../env.sh"
source "$here/common.sh"

DATA="${DATA:-playground/data/eval/gqa}"
QUESTION_FILE="${QUESTION_FILE:-$DATA/llava_gqa_testdev_balanced.jsonl}"
IMAGE_FOLDER="${IMAGE_FOLDER:-$DATA/data/images}"
QUESTIONS="${QUESTIONS:-$DATA/data/testdev_balanced_questions.json}"
OUT="$RESULTS/gqa/$CKPT"
need "$QUESTIONS" "GQA testdev questions"

answer "$QUESTION_FILE" "$IMAGE_FOLDER" "$OUT/answers.jsonl" --max_new_tokens "${MAX_NEW_TOKENS:-128}"
python -m eval.gqa --answers "$OUT/answers.jsonl" --questions "$QUESTIONS" "$@"
