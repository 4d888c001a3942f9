#!/usr/bin/env bash
# Stage 2 of LLaVA-1.5 with full fine-tuning of the language model (and projector); vision tower frozen.
# Same settings as scripts/lib/finetune_adapter.sh (MODEL_PATH, VISION_TOWER, PRETRAIN_PROJECTOR, DATA_PATH,
# IMAGE_FOLDER, OUTPUT_DIR, DEEPSPEED, NUM_GPUS/HOSTFILE/LAUNCHER, LR=2e-5, BATCH_PER_GPU=16, ...).
# Without MODEL_PATH this runs the embedded default with full stage-2 tuning.
METHOD=none exec bash "$(dirname "$0")/lib/finetune_adapter.sh" "$@"
