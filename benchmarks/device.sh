#!/usr/bin/env bash
# Training env-steps/s at batch sizes that fill one GPU (SP and PP5, MLP and GRU) and the paper
# study's training time extrapolated at the authors' 5M env steps per member
# (benchmarks/device_throughput.py says how). Needs JAX for the accelerator: pip install -e ".[cuda]".
#
#   bash benchmarks/device.sh                     # GPU sizes: 2048 envs x 128 steps per member
#   bash benchmarks/device.sh --tiny              # a seconds-long check of the script on CPU
#   bash benchmarks/device.sh --num-envs 4096     # any option of device_throughput.py
#
# Writes its figures to $OUT/device_throughput.json where OUT is set (else to the terminal only).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
args=()
for arg in "$@"; do
  if [[ "$arg" == "--tiny" ]]; then
    args+=(--num-envs 4 --rollout-length 8 --updates 1)
  else
    args+=("$arg")
  fi
done
if [[ -n "${OUT:-}" ]]; then
  args+=(--json "$OUT/device_throughput.json")
fi
exec python "$here/device_throughput.py" "${args[@]}"
