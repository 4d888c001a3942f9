# Sourced by the training scripts before they fall back to the embedded default (no MODEL_PATH).
# The 7B recipe's data and model settings mean nothing to the embedded default, which trains a tiny model
# on its own synthetic data: stop and name them rather than ignore them. (OUTPUT_DIR is honoured: it is
# where the embedded default writes its model.)
if [[ -z "${MODEL_PATH:-}" ]]; then
    _needs_model=()
    for _var in DATA_PATH IMAGE_FOLDER VISION_TOWER PRETRAIN_PROJECTOR DEEPSPEED HOSTFILE; do
        [[ -n "${!_var:-}" ]] && _needs_model+=("$_var")
    done
    if (( ${#_needs_model[@]} )); then
        echo "error: ${_needs_model[*]} set without MODEL_PATH: they belong to the LLaVA-1.5 recipe, which needs" \
             "MODEL_PATH (e.g. MODEL_PATH=lmsys/vicuna-7b-v1.5). Without MODEL_PATH this script runs the embedded" \
             "default (tiny model, synthetic data; settings in scripts/embedded_default.sh): unset them or set MODEL_PATH." >&2
        exit 2
    fi
    unset _needs_model _var
fi
