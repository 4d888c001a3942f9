#!/usr/bin/env bash
# MM-Vet: answer llava-mm-vet.jsonl, convert to MM-Vet results, grade (GPT-4 judge at $OPENAI_BASE_URL,
# or the offline rule judge when no endpoint is configured).
# Settings: see common.sh, plus DATA (playground/data/synthetic/mm-vet; real: playground/data/eval/mm-vet),
#   JUDGE_MODEL (gpt-4-0613), MAX_NEW_TOKENS (128). Extra arguments go to eval.mmvet.grade.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../env.sh"
source "$here/common.sh"

DATA="${DATA:-playground/data/synthetic/mm-vet}"
OUT="$RESULTS/mm-vet/$CKPT"
need "$DATA/mm-vet.json" "MM-Vet ground truth"

answer "$DATA/llava-mm-vet.jsonl" "$DATA/images" "$OUT/answers.jsonl" --max_new_tokens "${MAX_NEW_TOKENS:-128}"
python -m eval.mmvet.convert --answers "$OUT/answers.jsonl" --out "$OUT/results.json"
python -m eval.mmvet.grade --gt "$DATA/mm-vet.json" --results "$OUT/results.json" --out-dir "$OUT/grades" \
    --judge-model "${JUDGE_MODEL:-gpt-4-0613}" "$@"
