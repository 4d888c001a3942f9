#!/usr/bin/env bash
# GQA (testdev balanced): answer, then exact-match accuracy per question type.
# Settings: see common.sh, plus DATA (playground/data/eval/gqa), QUESTION_FILE ($DATA/llava_gqa_testdev_balanced.jsonl),
#   IMAGE_FOLDER ($DATA/data/images), QUESTIONS ($DATA/data/testdev_balanced_questions.json).
set -euo pipefail
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
python -m eval.gqa --answers "$OUT/answers.jsonl" --questions "$QUESTIONS"
