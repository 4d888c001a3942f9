#!/usr/bin/env bash
# The multi-task method study: LoRA (r=k*r), MoELoRA, HydraLoRA and TeamLoRA, each trained from the same
# tiny stage-1 base on the synthetic multi-task data, SEEDS seeds each, then scored per task, with expert
# usage per task and layer measured on the held-out questions. Ends with the report in docs/results.md.
#   data + stage 1   shared with the embedded default (scripts/embedded_default.sh; skipped when present)
#   per run          stage 2 + held-out eval + expert usage  -> $STUDY_DIR/<method>/seed<S>/
#   report           python -m bench.study.report -> docs/results.md (between its study markers) + PNGs
# Finished runs are skipped, so an interrupted study resumes where it stopped. Measured on 2 cores: 41 min with
# the embedded default's data and stage 1 present, about 45 min from scratch (docs/results.md, section 3).
# Settings (env var = default): METHODS (lora_kr,moelora,hydralora,teamlora), SEEDS (0,1,2),
#   STUDY_STEPS (stage-2 steps per run, 240), PARALLEL (runs at a time, 2; each gets 2/PARALLEL threads),
#   STUDY_DIR (checkpoints/study), RESULTS (docs/results.md), plus the embedded default's DATA_DIR,
#   STAGE1_DIR, NUM_TRAIN, NUM_TEST, STAGE1_STEPS.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

METHODS="${METHODS:-$(python -m bench.study.methods list | paste -sd, -)}"
SEEDS="${SEEDS:-0,1,2}"
STUDY_STEPS="${STUDY_STEPS:-240}"
PARALLEL="${PARALLEL:-2}"
STUDY_DIR="${STUDY_DIR:-checkpoints/study}"
RESULTS="${RESULTS:-docs/results.md}"
DATA_DIR="${DATA_DIR:-playground/data/synthetic}"
export DATA_DIR STAGE1_DIR="${STAGE1_DIR:-checkpoints/tiny-stage1}"
start=$SECONDS
IFS=, read -r -a methods <<< "$METHODS"
IFS=, read -r -a seeds <<< "$SEEDS"
for method in "${methods[@]}"; do python -m bench.study.methods args "$method" > /dev/null; done  # names checked first

echo "=== study: data and the shared stage-1 base ==="
STAGES=data,stage1 SEED=0 bash scripts/embedded_default.sh

threads=$(( 2 / PARALLEL > 0 ? 2 / PARALLEL : 1 ))
run_one() {  # method seed -> one stage-2 run, its eval and its expert usage; output in its study.log
    local method="$1" seed="$2" peft dir
    dir="$STUDY_DIR/$method/seed$seed"
    mkdir -p "$dir"
    read -r -a flags <<< "$(python -m bench.study.methods args "$method")"
    peft="${flags[1]}"  # flags start with "--peft NAME"
    {
        METHOD="$peft" OUTPUT_DIR="$dir" SEED="$seed" STAGES=stage2,eval STAGE2_STEPS="$STUDY_STEPS" \
            OMP_NUM_THREADS="$threads" bash scripts/embedded_default.sh "${flags[@]}" --disable_tqdm True --logging_steps 10
        if [[ ! -f "$dir/eval/usage.json" ]]; then
            OMP_NUM_THREADS="$threads" python -m bench.study.usage --model-path "$dir" \
                --question-file "$DATA_DIR/test/questions.jsonl" --image-folder "$DATA_DIR/images" \
                --out "$dir/eval/usage.json"
        fi
    } > "$dir/study.log" 2>&1
}

total=$(( ${#methods[@]} * ${#seeds[@]} ))
echo "=== study: $total runs of $STUDY_STEPS steps, $PARALLEL at a time with $threads thread(s) each -> $STUDY_DIR ==="
# Runs of one seed go side by side with the same seed of the next method, so every method's timing shares
# the machine the same way; a failed run stops the study and names its log.
declare -A running=()
n=0
finish_one() {
    local pid
    wait -n -p pid || { echo "FAILED: ${running[$pid]} (see ${running[$pid]}/study.log)"; tail -20 "${running[$pid]}/study.log"; exit 1; }
    unset "running[$pid]"
}
for seed in "${seeds[@]}"; do
    for method in "${methods[@]}"; do
        n=$((n + 1))
        dir="$STUDY_DIR/$method/seed$seed"
        echo "[$n/$total] $method seed $seed ($(( SECONDS - start )) s)"
        run_one "$method" "$seed" &
        running[$!]="$dir"
        while (( ${#running[@]} >= PARALLEL )); do finish_one; done
    done
done
while (( ${#running[@]} > 0 )); do finish_one; done

echo "=== study: report -> $RESULTS ==="
python -m bench.study.report --runs "$STUDY_DIR" --out "$RESULTS" --images "$(dirname "$RESULTS")/images/study" \
    --command "bash scripts/study.sh" --steps "$STUDY_STEPS" --parallel "$PARALLEL" --wall-s $(( SECONDS - start ))
echo "=== study finished in $(( SECONDS - start )) s ==="
