#!/usr/bin/env bash
# MM-Vet as LLaVA-1.5 runs it: answer llava-mm-vet.jsonl, convert to MM-Vet results ({"v1_<n>": answer},
# as LLaVA's convert_mmvet_for_eval), then grade with MM-Vet's protocol: a GPT-4 judge at $OPENAI_BASE_URL /
# $OPENAI_API_KEY, prompted with the prompt read from MM-Vet's own mm-vet_evaluator.py.
# Files: $DATA/llava-mm-vet.jsonl (LLaVA's eval files), $DATA/images/ and $DATA/mm-vet.json (MM-Vet's mm-vet.zip).
# Settings: see common.sh, plus DATA (playground/data/synthetic/mm-vet; real: playground/data/eval/mm-vet),
#   MMVET_EVALUATOR (path to mm-vet_evaluator.py from a checkout of MM-Vet's repository; without it the
#   project's own prompt is used and the score is NOT comparable with published MM-Vet numbers),
#   JUDGE_MODEL (gpt-4-0613), MAX_NEW_TOKENS (128). No endpoint at all: the offline rule judge (not comparable).
#   Extra arguments go to eval.mmvet.grade (e.g. --num-runs 5).
# Output: $RESULTS/mm-vet/$CKPT/{answers.jsonl,results.json,grades/}.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 0
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../env.sh"
source "$here/common.sh"

DATA="${DATA:-playground/data/synthetic/mm-vet}"
OUT="$RESULTS/mm-vet/$CKPT"
need "$DATA/mm-vet.json" "MM-Vet ground truth"
if [[ -n "${MMVET_EVALUATOR:-}" ]]; then
    need "$MMVET_EVALUATOR" "MM-Vet's mm-vet_evaluator.py (MMVET_EVALUATOR)"
fi

answer "$DATA/llava-mm-vet.jsonl" "$DATA/images" "$OUT/answers.jsonl" --max_new_tokens "${MAX_NEW_TOKENS:-128}"
python -m eval.mmvet.convert --answers "$OUT/answers.jsonl" --out "$OUT/results.json"
python -m eval.mmvet.grade --gt "$DATA/mm-vet.json" --results "$OUT/results.json" --out-dir "$OUT/grades" \
    --judge-model "${JUDGE_MODEL:-gpt-4-0613}" "$@"
