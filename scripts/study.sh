#!/usr/bin/env bash
# The multi-task method study: adapters of matched size trained from the same tiny stage-1 base, SEEDS seeds
# each, scored per task, with expert usage per task and layer on the held-out questions; ends with the report
# in docs/results.md. Two settings:
#   interference (default)  python -m llava.data.synthetic.interference: four tasks that answer the same colour question
#       on the same images under conflicting conventions (a one-word cue), rank r=1 per expert, projector
#       frozen (only adapters train, so sizes match exactly). First the VALIDATION: per-task oracle LoRAs
#       (k x rank r, each trained and scored on its own task for STUDY_STEPS steps at batch BATCH/4: the
#       examples and updates that task gets inside the shared runs' batches) against one shared LoRA of rank
#       k*r; only if the oracle wins beyond the seed noise
#       (python -m bench.study.validate) are the other methods trained: MoELoRA, MoELoRA with alpha x k
#       (TeamLoRA "authors"' output scale), HydraLoRA, TeamLoRA "paper" and "authors".
#   plain  the embedded default's six tasks (the earlier study): LoRA k*r, MoELoRA, HydraLoRA, TeamLoRA "paper",
#       r=16, projector trained; report section "study-plain".
#   data + stage 1   shared with the embedded default (scripts/embedded_default.sh; skipped when present)
#   instruction base (interference: BASE_STEPS > 0) the stage-1 base fully fine-tuned on the embedded default's
#                    instruction data, so every run starts from a model that already answers in the chat format
#                    and names colours -> $STUDY_DIR/base/
#   per run          stage 2 + held-out eval (+ expert usage when routed) -> $STUDY_DIR/<method>/seed<S>[/<task>]/
#   report           python -m bench.study.report -> $RESULTS (between its section markers) + PNGs
# Finished runs are skipped, so an interrupted study resumes where it stopped. Runs go PARALLEL at a time with
# 2/PARALLEL threads each (two side by side on one thread each make 1.55x the throughput of one on two).
# Settings (env var = default): SETTING (interference | plain), METHODS (every method of the setting),
#   SEEDS (0,1,2), STUDY_STEPS (interference 200, plain 240), BATCH (32), ORACLE_STEPS (STUDY_STEPS),
#   ORACLE_BATCH (BATCH/4), RANK (interference 1, plain 16),
#   BASE_STEPS (interference 150, plain 0),
#   PARALLEL (2), STUDY_DIR (checkpoints/study-interference | checkpoints/study), STUDY_DATA
#   (playground/data/interference), INTERFERENCE_TRAIN (1600 images x 4 rules), INTERFERENCE_TEST (150 per task),
#   FORCE_COMPARE (0; 1 = compare the methods even when the validation shows no interference),
#   RESULTS (docs/results.md), plus the embedded default's DATA_DIR, STAGE1_DIR, NUM_TRAIN, NUM_TEST, STAGE1_STEPS.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

SETTING="${SETTING:-interference}"
DATA_DIR="${DATA_DIR:-playground/data/synthetic}"
case "$SETTING" in
    interference)
        default_methods="$(python -m bench.study.methods list | paste -sd, -)"
        RANK="${RANK:-1}"; STUDY_STEPS="${STUDY_STEPS:-200}"; STUDY_DIR="${STUDY_DIR:-checkpoints/study-interference}"
        BASE_STEPS="${BASE_STEPS:-150}"
        STUDY_DATA="${STUDY_DATA:-playground/data/interference}"; section=study
        setting_flags=(--freeze_mm_mlp_adapter True) ;;
    plain)
        default_methods="lora_kr,moelora,hydralora,teamlora_paper"
        RANK="${RANK:-16}"; STUDY_STEPS="${STUDY_STEPS:-240}"; STUDY_DIR="${STUDY_DIR:-checkpoints/study}"
        BASE_STEPS="${BASE_STEPS:-0}"
        STUDY_DATA="$DATA_DIR"; section=study-plain
        setting_flags=() ;;
    *) echo "error: SETTING=$SETTING is not one of: interference, plain" >&2; exit 2 ;;
esac
METHODS="${METHODS:-$default_methods}"
SEEDS="${SEEDS:-0,1,2}"
BATCH="${BATCH:-32}"
ORACLE_STEPS="${ORACLE_STEPS:-$STUDY_STEPS}"
ORACLE_BATCH="${ORACLE_BATCH:-$(( BATCH / 4 ))}"
PARALLEL="${PARALLEL:-2}"
RESULTS="${RESULTS:-docs/results.md}"
FORCE_COMPARE="${FORCE_COMPARE:-0}"
export DATA_DIR STAGE1_DIR="${STAGE1_DIR:-checkpoints/tiny-stage1}"
start=$SECONDS
IFS=, read -r -a methods <<< "$METHODS"
IFS=, read -r -a seeds <<< "$SEEDS"
for method in "${methods[@]}"; do python -m bench.study.methods args "$method" > /dev/null; done  # names checked first
per_task=()
for method in "${methods[@]}"; do
    [[ "$(python -m bench.study.methods per-task "$method")" == yes ]] && per_task+=("$method")
done
if (( ${#per_task[@]} )) && [[ "$SETTING" != interference ]]; then
    echo "error: ${per_task[*]} trains one adapter per task: only with SETTING=interference" >&2; exit 2
fi

echo "=== study ($SETTING): data and the shared stage-1 base ==="
STAGES=data,stage1 SEED=0 bash scripts/embedded_default.sh
if [[ "$SETTING" == interference ]]; then
    python -m llava.data.synthetic.interference --out "$STUDY_DATA" --num-train "${INTERFERENCE_TRAIN:-1600}" \
        --num-test "${INTERFERENCE_TEST:-150}"
    tasks=($(python -c "from llava.data.synthetic.interference import RULES; print(*RULES)"))
fi
study_base="$STAGE1_DIR"
if (( BASE_STEPS > 0 )); then  # one instruction-tuned base shared by every run: the answer format is learnt once
    study_base="$STUDY_DIR/base"
    echo "=== study: instruction base: full fine-tune of $STAGE1_DIR on $DATA_DIR/train.json, $BASE_STEPS steps -> $study_base ==="
    mkdir -p "$study_base"
    METHOD=none OUTPUT_DIR="$study_base" SEED=0 STAGES=stage2 STAGE2_STEPS="$BASE_STEPS" OMP_NUM_THREADS=2 \
        bash scripts/embedded_default.sh --disable_tqdm True --logging_steps 25 > "$STUDY_DIR/base.log" 2>&1 \
        || { echo "FAILED: the instruction base (see $STUDY_DIR/base.log)"; tail -20 "$STUDY_DIR/base.log"; exit 1; }
fi

threads=$(( 2 / PARALLEL > 0 ? 2 / PARALLEL : 1 ))
run_one() {  # method seed [task] -> one stage-2 run, its eval and (routed methods) its expert usage
    local method="$1" seed="$2" task="${3:-}" peft dir data steps batch
    dir="$STUDY_DIR/$method/seed$seed${task:+/$task}"
    data="$STUDY_DATA${task:+/tasks/$task}"
    steps="$STUDY_STEPS" batch="$BATCH"
    [[ -n "$task" ]] && steps="$ORACLE_STEPS" batch="$ORACLE_BATCH"
    mkdir -p "$dir"
    read -r -a flags <<< "$(python -m bench.study.methods args "$method" --rank "$RANK")"
    peft="${flags[1]}"  # flags start with "--peft NAME"
    if [[ -f "$dir/eval/accuracy.txt" && ( "$peft" == lora || -f "$dir/eval/usage.json" ) ]]; then
        return 0  # finished earlier
    fi
    {
        METHOD="$peft" DATA_DIR="$data" STAGE1_DIR="$study_base" OUTPUT_DIR="$dir" SEED="$seed" STAGES=stage2,eval \
            STAGE2_STEPS="$steps" BATCH="$batch" \
            OMP_NUM_THREADS="$threads" bash scripts/embedded_default.sh "${flags[@]}" "${setting_flags[@]}" \
            --disable_tqdm True --logging_steps 10
        if [[ "$peft" != lora && ! -f "$dir/eval/usage.json" ]]; then  # LoRA has no router to read
            OMP_NUM_THREADS="$threads" python -m bench.study.usage --model-path "$dir" \
                --question-file "$data/test/questions.jsonl" --image-folder "$data/images" \
                --out "$dir/eval/usage.json"
        fi
    } > "$dir/study.log" 2>&1
}

declare -A running=()
n=0
finish_one() {  # a failed run stops the study and names its log
    local pid
    wait -n -p pid || { echo "FAILED: ${running[$pid]} (see ${running[$pid]}/study.log)"; tail -20 "${running[$pid]}/study.log"; exit 1; }
    unset "running[$pid]"
}
run_all() {  # method names -> every (method, seed[, task]) run, PARALLEL at a time
    local jobs=() job method seed task
    for seed in "${seeds[@]}"; do
        for method in "$@"; do
            if [[ " ${per_task[*]} " == *" $method "* ]]; then
                for task in "${tasks[@]}"; do jobs+=("$method $seed $task"); done
            else
                jobs+=("$method $seed")
            fi
        done
    done
    for job in "${jobs[@]}"; do
        n=$((n + 1))
        echo "[$n] $job ($(( SECONDS - start )) s)"
        run_one $job &
        running[$!]="$STUDY_DIR/$(tr ' ' / <<< "$job" | sed 's#/#/seed#')"
        while (( ${#running[@]} >= PARALLEL )); do finish_one; done
    done
    while (( ${#running[@]} > 0 )); do finish_one; done
}
report() {
    echo "=== study: report -> $RESULTS ==="
    local command="bash scripts/study.sh"
    [[ "$SETTING" != interference ]] && command="SETTING=$SETTING $command"
    python -m bench.study.report --runs "$STUDY_DIR" --out "$RESULTS" --images "$(dirname "$RESULTS")/images/$section" \
        --section "$section" --rank "$RANK" --command "$command" --steps "$STUDY_STEPS" --batch "$BATCH" \
        --oracle-steps "$ORACLE_STEPS" --oracle-batch "$ORACLE_BATCH" \
        --parallel "$PARALLEL" --wall-s $(( SECONDS - start ))
}

echo "=== study: ${#methods[@]} methods x ${#seeds[@]} seeds, $STUDY_STEPS steps at batch $BATCH" \
     "(oracle $ORACLE_STEPS steps at batch $ORACLE_BATCH per task)," \
     "$PARALLEL at a time with $threads thread(s) each -> $STUDY_DIR ==="
rest=("${methods[@]}")
if [[ " ${methods[*]} " == *" oracle "* && " ${methods[*]} " == *" lora_kr "* ]]; then
    echo "=== study: validation: per-task oracle vs one shared LoRA ==="
    run_all lora_kr oracle  # the long run first: the short per-task runs share the other slot
    rest=($(printf '%s\n' "${methods[@]}" | grep -vx -e oracle -e lora_kr || true))
    status=0
    python -m bench.study.validate --runs "$STUDY_DIR" || status=$?
    if (( status == 3 )) && [[ "$FORCE_COMPARE" != 1 ]]; then
        echo "=== study: the setting shows no interference beyond the seed noise: the methods are not compared" \
             "(FORCE_COMPARE=1 compares them anyway) ==="
        rest=()
    elif (( status != 0 && status != 3 )); then
        exit "$status"
    fi
fi
(( ${#rest[@]} )) && run_all "${rest[@]}"
report
echo "=== study finished in $(( SECONDS - start )) s ==="
