#!/usr/bin/env bash
# MME, scored as the MME eval tool's calculation.py scores it (acc / acc+ per subtask, perception and
# cognition totals); also writes the eval tool's result files so its own calculation.py runs on them.
# Real files (LLaVA-1.5's eval layout under DATA=playground/data/eval/MME):
#   llava_mme.jsonl                 LLaVA's question file (both questions of an image share an id; the
#                                   repeat is renamed <id>#1 in $OUT/questions.jsonl, which model_vqa needs)
#   MME_Benchmark_release_version/  MME images
#   eval_tool/Your_Results/         the eval tool's <subtask>.txt ground truth (when absent, the ground
#                                   truth is read from MME_Benchmark_release_version, as LLaVA's converter does)
# Output: $OUT/eval_tool_results/<subtask>.txt; the official check is
#   cd $DATA/eval_tool && python calculation.py --results_dir <absolute path of that folder>
# Settings: see common.sh, plus DATA, QUESTION_FILE, IMAGE_FOLDER, GT_DIR, MAX_NEW_TOKENS (128).
# Extra arguments go to python -m eval.mme (e.g. --lenient to add the project's reading beside it).
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../env.sh"
source "$here/common.sh"

DATA="${DATA:-playground/data/eval/MME}"
QUESTION_FILE="${QUESTION_FILE:-$DATA/llava_mme.jsonl}"
IMAGE_FOLDER="${IMAGE_FOLDER:-$DATA/MME_Benchmark_release_version}"
if [[ -z "${GT_DIR:-}" ]]; then
    GT_DIR="$DATA/eval_tool/Your_Results"
    [[ -d "$GT_DIR" ]] || GT_DIR="$IMAGE_FOLDER"
fi
OUT="$RESULTS/mme/$CKPT"
need "$QUESTION_FILE" "LLaVA's MME question file"
need "$GT_DIR" "MME ground truth (eval_tool/Your_Results or MME_Benchmark_release_version)"

python -m llava.eval.convert_questions unique-ids --src "$QUESTION_FILE" --out "$OUT/questions.jsonl"
answer "$OUT/questions.jsonl" "$IMAGE_FOLDER" "$OUT/answers.jsonl" --max_new_tokens "${MAX_NEW_TOKENS:-128}"
python -m eval.mme --answers "$OUT/answers.jsonl" --gt-dir "$GT_DIR" --results-dir "$OUT/eval_tool_results" "$@"
