# Sourced by the training scripts: build the launcher command line in LAUNCH (an array).
#   HOSTFILE=path   multi-node through the deepspeed launcher ("host slots=N" lines)
#   NUM_GPUS=N      processes on this node (default: all visible GPUs; 1 without a GPU)
#   LAUNCHER=torchrun to use torchrun instead (NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT as usual)
if [[ -z "${NUM_GPUS:-}" ]]; then
    NUM_GPUS=$(python -c "import torch; print(max(torch.cuda.device_count(), 1))")
fi
MASTER_PORT="${MASTER_PORT:-29500}"
if [[ "${LAUNCHER:-deepspeed}" == torchrun ]]; then
    LAUNCH=(torchrun --nproc_per_node "$NUM_GPUS" --nnodes "${NNODES:-1}" --node_rank "${NODE_RANK:-0}"
            --master_addr "${MASTER_ADDR:-127.0.0.1}" --master_port "$MASTER_PORT" -m llava.train.train)
elif [[ -n "${HOSTFILE:-}" ]]; then
    LAUNCH=(deepspeed --hostfile "$HOSTFILE" --master_port "$MASTER_PORT" --module llava.train.train)
else
    LAUNCH=(deepspeed --num_gpus "$NUM_GPUS" --master_port "$MASTER_PORT" --module llava.train.train)
fi
