#!/usr/bin/env bash
# The embedded default: the whole LLaVA + adapter pipeline on a tiny model and synthetic data, on CPU.
#   data    synthetic multi-task images + LLaVA-format conversations + held-out benchmark files
#   stage1  tiny LLaVA built offline, then trained on captions (see the note below)
#   stage2  visual instruction tuning with METHOD adapters + the projector
#   eval    held-out questions -> accuracy per task type, chance level beside it
# Each stage is skipped when its output is complete; an interrupted stage resumes from its last checkpoint.
# Settings (env var = default): METHOD (teamlora; lora|moelora|hydralora|none), STAGES (data,stage1,stage2,eval),
#   DATA_DIR (playground/data/synthetic), TINY_DIR (playground/data/tiny-llava), STAGE1_DIR (checkpoints/tiny-stage1),
#   OUTPUT_DIR (checkpoints/tiny-$METHOD), NUM_TRAIN (20000), NUM_TEST (200), STAGE1_STEPS (600),
#   STAGE2_STEPS (320), BATCH (32), SEED (0). Extra arguments go to the stage-2 trainer.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

METHOD="${METHOD:-teamlora}"
STAGES="${STAGES:-data,stage1,stage2,eval}"
DATA_DIR="${DATA_DIR:-playground/data/synthetic}"
TINY_DIR="${TINY_DIR:-playground/data/tiny-llava}"
STAGE1_DIR="${STAGE1_DIR:-checkpoints/tiny-stage1}"
OUTPUT_DIR="${OUTPUT_DIR:-checkpoints/tiny-$METHOD}"
BATCH="${BATCH:-32}"
# The tiny model's GEMMs are small: two threads use a 2-core machine fully; more gain little.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
SEED="${SEED:-0}"
has_stage() { [[ ",$STAGES," == *",$1,"* ]]; }
say() { printf '\n=== %s ===\n' "$*"; }
common=(--per_device_train_batch_size "$BATCH" --lr_scheduler_type cosine --warmup_ratio 0.03
        --logging_steps 25 --save_steps 200 --save_total_limit 1 --model_max_length 256
        --report_to none --use_cpu --remove_unused_columns False --seed "$SEED" --disable_tqdm False
        --dataloader_num_workers 1)
start=$SECONDS

if has_stage data; then
    say "data: synthetic multi-task dataset in $DATA_DIR"
    python -m llava.data.synthetic --out "$DATA_DIR" --num-train "${NUM_TRAIN:-20000}" --num-test "${NUM_TEST:-200}" --seed "$SEED"
    # (checked here as well: a rerun need not import transformers to find the model there)
    [[ -f "$TINY_DIR/config.json" ]] || python -m llava.model.tiny --data "$DATA_DIR" --out "$TINY_DIR"
fi

if has_stage stage1; then
    if [[ -f "$STAGE1_DIR/llava_run.json" ]]; then
        say "stage 1: done already ($STAGE1_DIR)"
    else
        say "stage 1: captions -> $STAGE1_DIR"
        echo "note: LLaVA-1.5-7B's stage 1 trains only the projector (scripts/pretrain.sh with MODEL_PATH)."
        echo "      The tiny model's language model is random, so here it is trained as well (tiny-only base training)."
        echo "note: captions end with </s> here (--conv_template plain_eos) so the tiny model learns to stop;"
        echo "      LLaVA's plain template (scripts/pretrain.sh) ends them with its separator \"\\n\"."
        python -m llava.train.train --model_name_or_path "$TINY_DIR" \
            --data_path "$DATA_DIR/pretrain.json" --image_folder "$DATA_DIR/images" --conv_template plain_eos \
            --peft none --output_dir "$STAGE1_DIR" --max_steps "${STAGE1_STEPS:-600}" --learning_rate 5e-4 \
            "${common[@]}"
    fi
fi

if has_stage stage2; then
    if [[ -f "$OUTPUT_DIR/llava_run.json" ]]; then
        say "stage 2: done already ($OUTPUT_DIR)"
    else
        say "stage 2: $METHOD instruction tuning -> $OUTPUT_DIR"
        if [[ "$METHOD" == none ]]; then
            method_args=(--peft none --learning_rate 2.5e-4)
        else
            # TeamLoRA paper setting: k=4 experts; rank 32 per expert is the 7B choice, 16 fits the 256-wide tiny FFN
            # (alpha: TeamLoraConfig's default, 2 * r)
            r="${ADAPTER_R:-16}"; [[ "$METHOD" == lora ]] && r="${ADAPTER_R:-64}"
            method_args=(--peft "$METHOD" --adapter_r "$r" --num_experts 4
                         --learning_rate 1e-3 --mm_projector_lr 2.5e-4)
        fi
        python -m llava.train.train --model_name_or_path "$STAGE1_DIR" \
            --data_path "$DATA_DIR/train.json" --image_folder "$DATA_DIR/images" --conv_template vicuna_v1 \
            --group_by_modality_length True --output_dir "$OUTPUT_DIR" --max_steps "${STAGE2_STEPS:-320}" \
            "${method_args[@]}" "${common[@]}" "$@"
    fi
fi

if has_stage eval; then
    say "eval: held-out synthetic questions"
    mkdir -p "$OUTPUT_DIR/eval"
    python -m llava.eval.model_vqa --model-path "$OUTPUT_DIR" \
        --question-file "$DATA_DIR/test/questions.jsonl" --image-folder "$DATA_DIR/images" \
        --answers-file "$OUTPUT_DIR/eval/answers.jsonl" --conv-mode vicuna_v1 --batch-size 32 --max_new_tokens 8
    python -m llava.eval.task_accuracy --answers "$OUTPUT_DIR/eval/answers.jsonl" \
        --gt "$DATA_DIR/test/answers.jsonl" --tasks-info "$DATA_DIR/dataset_info.json" | tee "$OUTPUT_DIR/eval/accuracy.txt"
fi
if has_stage stage2; then
    say "finished in $((SECONDS - start)) s; model: $OUTPUT_DIR (loss curve: $OUTPUT_DIR/loss_curve.png)"
else
    say "finished in $((SECONDS - start)) s"
fi
