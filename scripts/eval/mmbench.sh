#!/usr/bin/env bash
# MMBench as LLaVA-1.5 runs it: answer every row of the TSV (its circular copies included) with the
# option-letter instruction, then score with CircularEval and MMBench's answer reading (dev TSV, which
# has answers) and write the .xlsx the MMBench server takes (LLaVA's convert_mmbench_for_submission layout).
# Files: $DATA/$SPLIT.tsv, the TSV from MMBench: mmbench_dev_20230712.tsv (or mmbench_test_20230712.tsv,
#   which has no answers: only the .xlsx is written).
# Settings: see common.sh, plus DATA (playground/data/eval/mmbench), SPLIT (mmbench_dev_20230712),
#   TSV ($DATA/$SPLIT.tsv). Extra arguments go to eval.mmbench (e.g. --lenient, --allow-missing).
# Output: $RESULTS/mmbench/$SPLIT/$CKPT/answers.jsonl and $CKPT.xlsx (upload this one).
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 0
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../env.sh"
source "$here/common.sh"

DATA="${DATA:-playground/data/eval/mmbench}"
SPLIT="${SPLIT:-mmbench_dev_20230712}"
TSV="${TSV:-$DATA/$SPLIT.tsv}"
OUT="$RESULTS/mmbench/$SPLIT/$CKPT"
need "$TSV" "MMBench TSV"

python -m llava.eval.convert_questions mmbench --tsv "$TSV" --out "$OUT/questions.jsonl" --image-folder "$OUT/images"
answer "$OUT/questions.jsonl" "$OUT/images" "$OUT/answers.jsonl" --max_new_tokens "${MAX_NEW_TOKENS:-128}" \
    --answer-prompt-suffix "Answer with the option's letter from the given choices directly."
python -m eval.mmbench --answers "$OUT/answers.jsonl" --tsv "$TSV" --submission "$OUT/$CKPT.xlsx" "$@"
