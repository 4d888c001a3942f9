#!/usr/bin/env bash
# TextVQA (val): answer LLaVA's OCR-token question file, then VQA accuracy.
# Settings: see common.sh, plus DATA (playground/data/eval/textvqa), QUESTION_FILE
#   ($DATA/llava_textvqa_val_v051_ocr.jsonl), IMAGE_FOLDER ($DATA/train_images), ANNOTATIONS ($DATA/TextVQA_0.5.1_val.json).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../env.sh"
source "$here/common.sh"

DATA="${DATA:-playground/data/eval/textvqa}"
QUESTION_FILE="${QUESTION_FILE:-$DATA/llava_textvqa_val_v051_ocr.jsonl}"
IMAGE_FOLDER="${IMAGE_FOLDER:-$DATA/train_images}"
ANNOTATIONS="${ANNOTATIONS:-$DATA/TextVQA_0.5.1_val.json}"
OUT="$RESULTS/textvqa/$CKPT"
need "$ANNOTATIONS" "TextVQA annotations"

answer "$QUESTION_FILE" "$IMAGE_FOLDER" "$OUT/answers.jsonl" --max_new_tokens "${MAX_NEW_TOKENS:-128}"
python -m eval.textvqa --answers "$OUT/answers.jsonl" --annotations "$ANNOTATIONS"
