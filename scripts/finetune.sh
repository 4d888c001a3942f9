#!/usr/bin/env bash
# Stage 2 of LLaVA-1.5 with full fine-tuning of the language model (and projector); vision tower frozen.
# Same settings as scripts/lib/finetune_adapter.sh (MODEL_PATH, VISION_TOWER, PRETRAIN_PROJECTOR, DATA_PATH,
# IMAGE_FOLDER, OUTPUT_DIR, DEEPSPEED, NUM_GPUS/HOSTFILE/LAUNCHER, LR=2e-5, BATCH_PER_GPU=16, ...).
# Without MODEL_PATH this runs the embedded default with full stage-2 tuning (METHOD=none).
set -euo pipefail
source "$(dirname "$0")/env.sh"
if [[ -z "${MODEL_PATH:-}" ]]; then
    METHOD=none exec bash scripts/embedded_default.sh "$@"
fi
source scripts/lib/launch.sh
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
    --peft none --bf16 True --tf32 True \
    --output_dir "${OUTPUT_DIR:-./checkpoints/llava-v1.5-7b}" \
    --num_train_epochs "${EPOCHS:-1}" --per_device_train_batch_size "${BATCH_PER_GPU:-16}" \
    --gradient_accumulation_steps "${GRAD_ACCUM:-1}" \
    --save_strategy steps --save_steps "${SAVE_STEPS:-500}" --save_total_limit 1 \
    --learning_rate "${LR:-2e-5}" --weight_decay 0. --warmup_ratio 0.03 --lr_scheduler_type cosine \
    --logging_steps 1 --model_max_length "${MAX_LEN:-2048}" \
    --gradient_checkpointing True --dataloader_num_workers 4 --remove_unused_columns False \
    --report_to "${REPORT_TO:-none}" \
    "$@"
