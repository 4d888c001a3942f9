#!/usr/bin/env bash
# MME: answer LLaVA's MME question file, then acc / acc+ per subtask and perception / cognition totals.
# Settings: see common.sh, plus DATA (playground/data/eval/MME), QUESTION_FILE ($DATA/llava_mme.jsonl),
#   IMAGE_FOLDER ($DATA/MME_Benchmark_release_version), GT_DIR ($DATA/eval_tool/Your_Results: <subtask>.txt files).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../env.sh"
source "$here/common.sh"

DATA="${DATA:-playground/data/eval/MME}"
QUESTION_FILE="${QUESTION_FILE:-$DATA/llava_mme.jsonl}"
IMAGE_FOLDER="${IMAGE_FOLDER:-$DATA/MME_Benchmark_release_version}"
GT_DIR="${GT_DIR:-$DATA/eval_tool/Your_Results}"
OUT="$RESULTS/mme/$CKPT"
need "$GT_DIR" "MME ground-truth folder"

answer "$QUESTION_FILE" "$IMAGE_FOLDER" "$OUT/answers.jsonl" --max_new_tokens "${MAX_NEW_TOKENS:-128}"
python -m eval.mme --answers "$OUT/answers.jsonl" --gt-dir "$GT_DIR"
