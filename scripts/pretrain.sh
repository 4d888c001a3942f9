#!/usr/bin/env bash
# Stage 1 of LLaVA-1.5: train only the projector on image-caption pairs (LLaVA's 558K LCS subset).
# Writes $OUTPUT_DIR/mm_projector.safetensors, which the stage-2 scripts take as PRETRAIN_PROJECTOR.
# Settings (env var = default): MODEL_PATH (lmsys/vicuna-7b-v1.5), VISION_TOWER (openai/clip-vit-large-patch14-336),
#   DATA_PATH (./playground/data/LLaVA-Pretrain/blip_laion_cc_sbu_558k.json),
#   IMAGE_FOLDER (./playground/data/LLaVA-Pretrain/images), OUTPUT_DIR (./checkpoints/llava-v1.5-7b-pretrain),
#   DEEPSPEED (scripts/zero2.json), NUM_GPUS / HOSTFILE / LAUNCHER (scripts/lib/launch.sh),
#   BATCH_PER_GPU (32), GRAD_ACCUM (1), LR (1e-3). Extra arguments go to llava.train.train.
# Without MODEL_PATH this runs the embedded default's stage 1 instead (scripts/embedded_default.sh).
# Data quirks follow the pre-flight's policy table (data_report.txt in OUTPUT_DIR): LLaVA's defaults.
set -euo pipefail
source "$(dirname "$0")/lib/embedded_or_recipe.sh"  # DATA_PATH & co. without MODEL_PATH: a named stop
source "$(dirname "$0")/env.sh"
if [[ -z "${MODEL_PATH:-}" ]]; then
    STAGES=data,stage1 exec bash scripts/embedded_default.sh "$@"
fi
source scripts/lib/launch.sh
set -x
"${LAUNCH[@]}" \
    --deepspeed "${DEEPSPEED:-scripts/zero2.json}" \
    --model_name_or_path "$MODEL_PATH" \
    --vision_tower "${VISION_TOWER:-openai/clip-vit-large-patch14-336}" \
    --mm_projector_type mlp2x_gelu --mm_vision_select_layer -2 \
    --tune_mm_mlp_adapter True --peft none \
    --data_path "${DATA_PATH:-./playground/data/LLaVA-Pretrain/blip_laion_cc_sbu_558k.json}" \
    --image_folder "${IMAGE_FOLDER:-./playground/data/LLaVA-Pretrain/images}" \
    --conv_template plain --image_aspect_ratio square \
    --bf16 True --tf32 True \
    --output_dir "${OUTPUT_DIR:-./checkpoints/llava-v1.5-7b-pretrain}" \
    --num_train_epochs 1 --per_device_train_batch_size "${BATCH_PER_GPU:-32}" \
    --gradient_accumulation_steps "${GRAD_ACCUM:-1}" \
    --save_strategy steps --save_steps "${SAVE_STEPS:-1000}" --save_total_limit 1 \
    --learning_rate "${LR:-1e-3}" --weight_decay 0. --warmup_ratio 0.03 --lr_scheduler_type cosine \
    --logging_steps 1 --model_max_length 2048 \
    --activation_checkpointing True --dataloader_num_workers 4 --remove_unused_columns False \
    --report_to "${REPORT_TO:-none}" \
    "$@"
