#!/usr/bin/env bash
# Stage-2 visual instruction tuning of LLaVA-1.5 with an adapter method (METHOD=teamlora|lora|moelora|hydralora),
# or full fine-tuning of the language model (METHOD=none).
#
# Without MODEL_PATH: the embedded default (tiny LLaVA, synthetic data, CPU; see scripts/embedded_default.sh).
# With MODEL_PATH: the LLaVA-1.5-7B recipe under DeepSpeed. Settings (env var = default):
#   MODEL_PATH          language model, e.g. lmsys/vicuna-7b-v1.5
#   VISION_TOWER        openai/clip-vit-large-patch14-336
#   PRETRAIN_PROJECTOR  ./checkpoints/llava-v1.5-7b-pretrain/mm_projector.safetensors (or LLaVA's mm_projector.bin)
#   DATA_PATH           ./playground/data/llava_v1_5_mix665k.json
#   IMAGE_FOLDER        ./playground/data
#   OUTPUT_DIR          ./checkpoints/llava-v1.5-7b-$METHOD
#   DEEPSPEED           scripts/zero3.json  (zero2.json, zero3_offload.json)
#   NUM_GPUS / HOSTFILE / LAUNCHER   see scripts/lib/launch.sh
#   ADAPTER_R (32; LoRA: 128), NUM_EXPERTS (4), ADAPTER_ALPHA (unset: TeamLoraConfig's 2*r), LR (2e-4; full: 2e-5),
#   PROJECTOR_LR (2e-5),
#   BATCH_PER_GPU (16), GRAD_ACCUM (1), EPOCHS (1), SAVE_STEPS (500), MAX_LEN (2048)
# Extra arguments are passed to llava.train.train (any transformers TrainingArguments flag too).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/embedded_or_recipe.sh"  # DATA_PATH & co. without MODEL_PATH: a named stop
source "$(dirname "${BASH_SOURCE[0]}")/../env.sh"
METHOD="${METHOD:?set METHOD}"

if [[ -z "${MODEL_PATH:-}" ]]; then
    exec bash scripts/embedded_default.sh "$@"
fi

source scripts/lib/launch.sh
if [[ "$METHOD" == none ]]; then
    method_args=(--peft none --learning_rate "${LR:-2e-5}")
    default_out=./checkpoints/llava-v1.5-7b
else
    if [[ "$METHOD" == lora ]]; then default_r=128; else default_r=32; fi
    r="${ADAPTER_R:-$default_r}"
    method_args=(--peft "$METHOD" --adapter_r "$r" --num_experts "${NUM_EXPERTS:-4}" --adapter_dropout 0.05
                 --learning_rate "${LR:-2e-4}" --mm_projector_lr "${PROJECTOR_LR:-2e-5}")
    [[ -n "${ADAPTER_ALPHA:-}" ]] && method_args+=(--adapter_alpha "$ADAPTER_ALPHA")
    default_out=./checkpoints/llava-v1.5-7b-$METHOD
fi
set -x
"${LAUNCH[@]}" \
    --deepspeed "${DEEPSPEED:-scripts/zero3.json}" \
    --model_name_or_path "$MODEL_PATH" \
    --vision_tower "${VISION_TOWER:-openai/clip-vit-large-patch14-336}" \
    --pretrain_mm_mlp_adapter "${PRETRAIN_PROJECTOR:-./checkpoints/llava-v1.5-7b-pretrain/mm_projector.safetensors}" \
    --mm_projector_type mlp2x_gelu --mm_vision_select_layer -2 \
    --data_path "${DATA_PATH:-./playground/data/llava_v1_5_mix665k.json}" \
    --image_folder "${IMAGE_FOLDER:-./playground/data}" \
    --conv_template vicuna_v1 --image_aspect_ratio pad --group_by_modality_length True \
    "${method_args[@]}" \
    --bf16 True --tf32 True \
    --output_dir "${OUTPUT_DIR:-$default_out}" \
    --num_train_epochs "${EPOCHS:-1}" \
    --per_device_train_batch_size "${BATCH_PER_GPU:-16}" \
    --gradient_accumulation_steps "${GRAD_ACCUM:-1}" \
    --save_strategy steps --save_steps "${SAVE_STEPS:-500}" --save_total_limit 2 \
    --weight_decay 0. --warmup_ratio 0.03 --lr_scheduler_type cosine \
    --logging_steps 1 --model_max_length "${MAX_LEN:-2048}" \
    --activation_checkpointing True --dataloader_num_workers 4 --remove_unused_columns False \
    --report_to "${REPORT_TO:-none}" \
    "$@"
