# Sourced by the eval scripts (after scripts/env.sh): shared settings and `answer`, which runs
# llava.eval.model_vqa over a question file, one chunk per GPU as LLaVA's scripts do.
# Settings (env var = default):
#   MODEL_PATH (checkpoints/tiny-teamlora)  MODEL_BASE (none: the base the checkpoint records)
#   CKPT (basename of MODEL_PATH: names the output folder)
#   CONV_MODE, IMAGE_ASPECT_RATIO (unset: what the checkpoint was trained with, from its llava_run.json;
#       vicuna_v1 / pad for a checkpoint that records none; a value that disagrees wins, with a warning)
#   BATCH_SIZE (8)  TEMPERATURE (0)  RESULTS (playground/results: outputs go to $RESULTS/<bench>/$CKPT)
#   GPUS (unset: one process on the best device; "0,1,2,3": one process per GPU, each answering its chunk)
MODEL_PATH="${MODEL_PATH:-checkpoints/tiny-teamlora}"
MODEL_BASE="${MODEL_BASE:-}"
CKPT="${CKPT:-$(basename "$MODEL_PATH")}"
CONV_MODE="${CONV_MODE:-}"
IMAGE_ASPECT_RATIO="${IMAGE_ASPECT_RATIO:-}"
BATCH_SIZE="${BATCH_SIZE:-8}"
TEMPERATURE="${TEMPERATURE:-0}"
RESULTS="${RESULTS:-playground/results}"
GPUS="${GPUS:-}"

# need PATH WHAT: stop with one message when an input is missing.
need() {
    if [[ ! -e "$1" ]]; then
        echo "error: $1 not found ($2)" >&2
        exit 2
    fi
}

# answer QUESTION_FILE IMAGE_FOLDER ANSWERS_FILE [more model_vqa flags...]
# Chunk files ($ANSWERS_FILE's folder/chunks/N_i.jsonl) resume on rerun; the merged answers file
# is rebuilt from them in question order every time.
answer() {
    local questions="$1" images="$2" answers="$3"
    shift 3
    if [[ "$MODEL_PATH" == checkpoints/tiny-teamlora ]]; then  # the default: say how to make it
        need "$MODEL_PATH" "the embedded default model; make it with bash scripts/finetune_teamlora.sh"
    fi
    need "$questions" "question file"
    local args=(--model-path "$MODEL_PATH" --question-file "$questions" --image-folder "$images"
                --batch-size "$BATCH_SIZE" --temperature "$TEMPERATURE")
    if [[ -n "$CONV_MODE" ]]; then
        args+=(--conv-mode "$CONV_MODE")
    fi
    if [[ -n "$IMAGE_ASPECT_RATIO" ]]; then
        args+=(--image-aspect-ratio "$IMAGE_ASPECT_RATIO")
    fi
    if [[ -n "$MODEL_BASE" ]]; then
        args+=(--model-base "$MODEL_BASE")
    fi
    local gpu_list=("")
    if [[ -n "$GPUS" ]]; then
        IFS=',' read -ra gpu_list <<< "$GPUS"
    fi
    local chunks=${#gpu_list[@]} dir
    dir="$(dirname "$answers")/chunks"
    mkdir -p "$dir"
    local pids=() idx
    for idx in "${!gpu_list[@]}"; do
        if [[ -n "${gpu_list[$idx]}" ]]; then
            CUDA_VISIBLE_DEVICES="${gpu_list[$idx]}" python -m llava.eval.model_vqa "${args[@]}" \
                --num-chunks "$chunks" --chunk-idx "$idx" --answers-file "$dir/${chunks}_${idx}.jsonl" "$@" &
        else
            python -m llava.eval.model_vqa "${args[@]}" \
                --num-chunks "$chunks" --chunk-idx "$idx" --answers-file "$dir/${chunks}_${idx}.jsonl" "$@" &
        fi
        pids+=($!)
    done
    local failed=0 pid
    for pid in "${pids[@]}"; do
        wait "$pid" || failed=1
    done
    if (( failed )); then
        echo "error: answering failed; rerun the same command to resume" >&2
        exit 1
    fi
    : > "$answers"
    for idx in "${!gpu_list[@]}"; do
        cat "$dir/${chunks}_${idx}.jsonl" >> "$answers"
    done
    echo "answers: $answers"
}
