#!/usr/bin/env bash
# Install the project and its dependencies.
#   - Inside an active virtualenv/conda env: installs there.
#   - Otherwise: creates ./.venv and installs there.
# torch is installed FIRST so that no later package pulls a different build:
#   - with an NVIDIA GPU (nvidia-smi works): the default CUDA wheel from PyPI, then bitsandbytes and flash-attn;
#   - without one: the CPU wheel torch==2.13.0.
# Override with TORCH_SPEC="torch==X.Y.Z" and EXTRAS="train,dev".
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${VIRTUAL_ENV:-}" && -z "${CONDA_PREFIX:-}" ]]; then
    [[ -x .venv/bin/python ]] || python3 -m venv .venv
    # shellcheck disable=SC1091
    source .venv/bin/activate
fi
python -m pip install -q --upgrade pip

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    has_gpu=1
else
    has_gpu=0
fi
torch_spec="${TORCH_SPEC:-$([[ $has_gpu == 1 ]] && echo torch || echo torch==2.13.0)}"
extras="${EXTRAS:-train,dev}"

if ! python -c "import torch" 2>/dev/null; then
    echo "[install] $torch_spec"
    python -m pip install -q "$torch_spec"
fi
echo "[install] project with extras [$extras]"
python -m pip install -q -e ".[$extras]"
if [[ $has_gpu == 1 && -z "${EXTRAS:-}" ]]; then
    # GPU extras: bitsandbytes (QLoRA) and flash-attn, which compiles against the installed torch
    # (hence --no-build-isolation). Without flash-attn the trainer uses SDPA, so a failed build only warns.
    python -m pip install -q "bitsandbytes>=0.43"
    python -m pip install -q --no-build-isolation "flash-attn>=2.6" \
        || echo "[install] flash-attn did not build here; training will use SDPA attention" >&2
fi
python -c "import torch, transformers, peft; print(f'[install] torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}')"
