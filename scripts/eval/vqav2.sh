#!/usr/bin/env bash
# VQAv2: answer, then the EvalAI submission (LLaVA's converter processing) and, when annotations exist,
# the accuracy the official VQA evaluation gives that submission (overall, per answer / question type).
# Real files (LLaVA-1.5's eval layout): DATA=playground/data/eval/vqav2 SPLIT=llava_vqav2_mscoco_test-dev2015
#   $DATA/$SPLIT.jsonl                       LLaVA's question file (also the question set scored)
#   $DATA/test2015/                          COCO test2015 images (used when present, else $DATA/images)
#   $DATA/llava_vqav2_mscoco_test2015.jsonl  when present, the submission is padded to all its question
#                                            ids with '' answers, as LLaVA's converter does (count printed)
#   ANNOTATIONS                              v2_mscoco_val2014_annotations.json for a val split; test-dev has none
# Defaults: the embedded synthetic set (DATA=playground/data/synthetic/vqav2, SPLIT=llava_vqav2_test,
#   annotations.json). Settings: see common.sh, plus DATA, SPLIT, QUESTION_FILE, IMAGE_FOLDER, ANNOTATIONS
#   (used when the file exists), TEST2015, MAX_NEW_TOKENS (128).
# Extra arguments go to python -m eval.vqav2 (e.g. --lenient to add the project's reading beside it).
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../env.sh"
source "$here/common.sh"

DATA="${DATA:-playground/data/synthetic/vqav2}"
SPLIT="${SPLIT:-llava_vqav2_test}"
QUESTION_FILE="${QUESTION_FILE:-$DATA/$SPLIT.jsonl}"
if [[ -z "${IMAGE_FOLDER:-}" ]]; then
    IMAGE_FOLDER="$DATA/images"
    [[ -d "$DATA/test2015" ]] && IMAGE_FOLDER="$DATA/test2015"
fi
ANNOTATIONS="${ANNOTATIONS-$DATA/annotations.json}"
TEST2015="${TEST2015:-$DATA/llava_vqav2_mscoco_test2015.jsonl}"
OUT="$RESULTS/vqav2/$CKPT"
need "$QUESTION_FILE" "VQAv2 question file"

answer "$QUESTION_FILE" "$IMAGE_FOLDER" "$OUT/answers.jsonl" --max_new_tokens "${MAX_NEW_TOKENS:-128}"
extra=()
if [[ -n "$ANNOTATIONS" && -f "$ANNOTATIONS" ]]; then
    extra+=(--annotations "$ANNOTATIONS")
fi
if [[ -f "$TEST2015" ]]; then
    extra+=(--test2015-questions "$TEST2015")
fi
python -m eval.vqav2 --answers "$OUT/answers.jsonl" --questions "$QUESTION_FILE" "${extra[@]}" \
    --submission "$OUT/submission.json" "$@"
echo "EvalAI upload: $OUT/submission.json"
