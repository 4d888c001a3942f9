#!/usr/bin/env bash
# MMBench (single round): TSV -> question file + images, answer with the option-letter instruction,
# then accuracy (dev, where the TSV has answers) and the submission sheet.
# Settings: see common.sh, plus DATA (playground/data/eval/mmbench), SPLIT (mmbench_dev_20230712: $DATA/$SPLIT.tsv).
set -euo pipefail
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
python -m eval.mmbench --answers "$OUT/answers.jsonl" --tsv "$TSV" --submission "$OUT/submission.xlsx"
