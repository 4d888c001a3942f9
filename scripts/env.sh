# Sourced by the entry scripts: activate the project's environment, installing it on first use.
# Keeps an already-active virtualenv/conda env (cluster users) and never reinstalls a working one.
_repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "${LLAVA_TEAMLORA_ENV_READY:-}" == "$_repo_root" ]]; then
    cd "$_repo_root"
    return 0  # an outer script already checked the environment
fi
if [[ -z "${VIRTUAL_ENV:-}" && -z "${CONDA_PREFIX:-}" && -x "$_repo_root/.venv/bin/python" ]]; then
    # shellcheck disable=SC1091
    source "$_repo_root/.venv/bin/activate"
fi
if ! python -c "import teamlora, llava, transformers" >/dev/null 2>&1; then
    bash "$_repo_root/scripts/install.sh"
    if [[ -z "${VIRTUAL_ENV:-}" && -z "${CONDA_PREFIX:-}" ]]; then
        # shellcheck disable=SC1091
        source "$_repo_root/.venv/bin/activate"
    fi
fi
export LLAVA_TEAMLORA_ENV_READY="$_repo_root"
export TOKENIZERS_PARALLELISM="${TOKENIZERS_PARALLELISM:-false}"
cd "$_repo_root"
