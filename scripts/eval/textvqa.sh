#!/usr/bin/env bash
# TextVQA (val), scored as LLaVA-1.5's eval_textvqa scores it (EvalAI answer processing, soft accuracy).
# Real files (LLaVA-1.5's eval layout under DATA=playground/data/eval/textvqa):
#   llava_textvqa_val_v051_ocr.jsonl  LLaVA's question file (question_id = image id, repeated; the repeats
#                                     are renamed <id>#k in $OUT/questions.jsonl, which model_vqa needs)
#   train_images/                     TextVQA train_val images
#   TextVQA_0.5.1_val.json            annotations (answers matched by image id + question, as LLaVA does)
# Settings: see common.sh, plus DATA, QUESTION_FILE, IMAGE_FOLDER, ANNOTATIONS, MAX_NEW_TOKENS (128).
# Extra arguments go to python -m eval.textvqa (e.g. --lenient to add the project's reading beside it).
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../env.sh"
source "$here/common.sh"

DATA="${DATA:-playground/data/eval/textvqa}"
QUESTION_FILE="${QUESTION_FILE:-$DATA/llava_textvqa_val_v051_ocr.jsonl}"
IMAGE_FOLDER="${IMAGE_FOLDER:-$DATA/train_images}"
ANNOTATIONS="${ANNOTATIONS:-$DATA/TextVQA_0.5.1_val.json}"
OUT="$RESULTS/textvqa/$CKPT"
need "$QUESTION_FILE" "LLaVA's TextVQA question file"
need "$ANNOTATIONS" "TextVQA annotations"

python -m llava.eval.convert_questions unique-ids --src "$QUESTION_FILE" --out "$OUT/questions.jsonl"
answer "$OUT/questions.jsonl" "$IMAGE_FOLDER" "$OUT/answers.jsonl" --max_new_tokens "${MAX_NEW_TOKENS:-128}"
python -m eval.textvqa --answers "$OUT/answers.jsonl" --annotations "$ANNOTATIONS" "$@"
