#!/usr/bin/env bash
# POPE, scored as LLaVA-1.5's eval_pope does: accuracy / precision / recall / F1 / yes-ratio per split.
# Real files (LLaVA-1.5's eval layout under DATA=playground/data/eval/pope):
#   llava_pope_test.jsonl     LLaVA's question file (offset question ids, "category" = split)
#   val2014/                  COCO val2014 images
#   coco/coco_pope_adversarial.json coco/coco_pope_popular.json coco/coco_pope_random.json
#                             POPE's label files, each numbered from 0; paired with the questions of
#                             their category by position, as LLaVA pairs them
# Settings: see common.sh, plus DATA, QUESTION_FILE, IMAGE_FOLDER, LABEL_DIR ($DATA/coco), MAX_NEW_TOKENS (128).
# Extra arguments go to python -m eval.pope (e.g. --lenient to add the project's reading beside it).
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
fi
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
python -m eval.pope --answers "$OUT/answers.jsonl" --questions "$QUESTION_FILE" --labels "${labels[@]}" "$@"
