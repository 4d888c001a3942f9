#!/usr/bin/env bash
# VQAv2: answer the question file, then VQA accuracy (when annotations exist) and the submission json.
# Settings: see common.sh, plus DATA (playground/data/synthetic/vqav2), QUESTION_FILE ($DATA/llava_vqav2_test.jsonl;
#   real: llava_vqav2_mscoco_test-dev2015.jsonl), IMAGE_FOLDER ($DATA/images; real: test2015),
#   QUESTIONS ($DATA/questions.json), ANNOTATIONS ($DATA/annotations.json; set to "" for test-dev),
#   MAX_NEW_TOKENS (128).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../env.sh"
source "$here/common.sh"

DATA="${DATA:-playground/data/synthetic/vqav2}"
QUESTION_FILE="${QUESTION_FILE:-$DATA/llava_vqav2_test.jsonl}"
IMAGE_FOLDER="${IMAGE_FOLDER:-$DATA/images}"
QUESTIONS="${QUESTIONS:-$DATA/questions.json}"
ANNOTATIONS="${ANNOTATIONS-$DATA/annotations.json}"
OUT="$RESULTS/vqav2/$CKPT"
need "$QUESTIONS" "VQAv2 questions json"

answer "$QUESTION_FILE" "$IMAGE_FOLDER" "$OUT/answers.jsonl" --max_new_tokens "${MAX_NEW_TOKENS:-128}"
annotations=()
if [[ -n "$ANNOTATIONS" ]]; then
    annotations=(--annotations "$ANNOTATIONS")
fi
python -m eval.vqav2 --answers "$OUT/answers.jsonl" --questions "$QUESTIONS" "${annotations[@]}" \
    --submission "$OUT/submission.json"
