#!/usr/bin/env bash
# GPU benchmark at LLaVA-1.5-7B shapes (python -m bench.gpu): adapter variants x attention x activation
# checkpointing, a QLoRA TeamLoRA step and a 2-step ZeRO-2 deepspeed-launcher run.
#   bash bench/gpu.sh                      # needs a CUDA device; JSON to bench/results/gpu-<date>.json
#   bash bench/gpu.sh --dry-run            # CPU, tiny shapes, seconds (plus the ZeRO-2 run unless --skip-zero)
#   bash bench/gpu.sh --help               # every flag; all arguments are passed to python -m bench.gpu
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"  # the project's environment; cds to the repo root

dry_run=0
json_out=""
prev=""
for arg in "$@"; do
    case "$arg" in
        -h|--help) exec python -m bench.gpu --help ;;
        --dry-run) dry_run=1 ;;
        --json-out=*) json_out="${arg#--json-out=}" ;;
    esac
    [[ "$prev" == --json-out ]] && json_out="$arg"
    prev="$arg"
done

if [[ "$dry_run" == 0 ]] && ! python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "bench/gpu.sh: no CUDA device is visible (torch.cuda.is_available() is False)." >&2
    echo "  This benchmark measures 7B-shaped training steps on a GPU. Run it on a CUDA machine, or pass" >&2
    echo "  --dry-run to exercise the same code path on CPU with tiny shapes." >&2
    exit 2
fi

extra=()
if [[ -z "$json_out" ]]; then
    mkdir -p bench/results
    json_out="bench/results/gpu-$(date +%Y-%m-%dT%H%M%S).json"
    extra=(--json-out "$json_out")
fi
python -m bench.gpu "${extra[@]}" "$@"
echo
echo "JSON written to $json_out"
echo "Paste the tables above into docs/results.md (GPU section), with the date and the device line."
