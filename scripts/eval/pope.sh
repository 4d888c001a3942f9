#!/usr/bin/env bash
# POPE: answer the yes/no questions, then accuracy/precision/recall/F1 per split (adversarial, popular, random).
# Settings: see common.sh, plus DATA (playground/data/eval/pope), QUESTION_FILE ($DATA/llava_pope_test.jsonl),
#   IMAGE_FOLDER ($DATA/val2014), LABEL_DIR ($DATA/coco: coco_pope_<split>.json label files).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../env.sh"
source "$here/common.sh"

DATA="${DATA:-playground/data/eval/pope}"
QUESTION_FILE="${QUESTION_FILE:-$DATA/llava_pope_test.jsonl}"
IMAGE_FOLDER="${IMAGE_FOLDER:-$DATA/val2014}"
LABEL_DIR="${LABEL_DIR:-$DATA/coco}"
OUT="$RESULTS/pope/$CKPT"
need "$LABEL_DIR" "POPE label files"
shopt -s nullglob
labels=("$LABEL_DIR"/coco_pope_*.json)
if (( ${#labels[@]} == 0 )); then
    echo "error: no coco_pope_*.json label files in $LABEL_DIR" >&2
    exit 2
fi

answer "$QUESTION_FILE" "$IMAGE_FOLDER" "$OUT/answers.jsonl" --max_new_tokens "${MAX_NEW_TOKENS:-128}"
python -m eval.pope --answers "$OUT/answers.jsonl" --labels "${labels[@]}"
