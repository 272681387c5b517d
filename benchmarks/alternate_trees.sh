#!/usr/bin/env bash
# Before/after of a change, measured alternately in one run: benchmarks/train_throughput.py --one
# on each source tree in turn (tree A, tree B, ..., then the next configuration), REPEATS times,
# so that a slow minute of a shared machine falls on every tree alike. One JSON line per run,
# prefixed with the repeat and the tree's label.
#
#   git worktree add /tmp/before <rev>        # a tree per side (any loi checkout's root)
#   TREES="before=/tmp/before after=." REPEATS=2 bash benchmarks/alternate_trees.sh \
#       "prisoners_dilemma/medium pp5 gru 65536" "prisoners_dilemma/medium sp mlp 65536"
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${TREES:?set TREES to LABEL=PATH pairs, e.g. TREES=\"before=/tmp/before after=.\"}"
REPEATS="${REPEATS:-2}"
[[ $# -gt 0 ]] || { echo "give one or more \"SCENARIO REGIME NETWORK STEPS\" configurations" >&2; exit 2; }
for tree in $TREES; do
  [[ -d "${tree#*=}/src/loi" ]] || { echo "not a loi checkout: ${tree#*=}" >&2; exit 2; }
done
for ((rep = 1; rep <= REPEATS; rep++)); do
  for config in "$@"; do
    read -r scenario regime network steps <<<"$config"
    for tree in $TREES; do
      label="${tree%%=*}"; root="$(cd "${tree#*=}" && pwd)"
      out=$(PYTHONPATH="$root/src" python "$here/train_throughput.py" --one "$scenario" "$regime" 1 \
            --steps "$steps" --generations 1 --network "$network" 2>/dev/null | tail -1)
      echo "$rep $label $out"
    done
  done
done
