#!/usr/bin/env bash
# Forced-kernel sweep on the GPU machine: one `fusedmoe bench` process per entry, rows labelled
# with the entry's options, into $OUT/sweep.log. Entries are ';'-separated "shape tokens [options]":
#
#   bash scripts/device_sweep.sh "qwen3-30b-a3b 256 --expert-kernel grouped-tile --tactic 0;
#                                 qwen3-30b-a3b 256 --expert-kernel weight-streaming --tactic 2"
#
# The thresholds of ExpertKernel::kAuto and grouped_tile_for_rows come from such sweeps
# (docs/PERF.md). Needs the build in build-device (scripts/device_check.sh makes it).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
BUILD=build-device
if [ $# -ne 1 ]; then
  echo "usage: $0 \"shape tokens [options]; ...\"" >&2
  exit 2
fi
IFS=';' read -ra entries <<<"$1"
for entry in "${entries[@]}"; do
  # shellcheck disable=SC2086  # an entry is a word list
  set -- $entry
  [ $# -ge 2 ] || continue
  shape=$1 tokens=$2
  shift 2
  label=${*:-auto}
  "$BUILD/tools/fusedmoe" bench --model "$shape" --tokens "$tokens" "$@" 2>&1 |
    awk -v label="$label" '$0 ~ /^[a-z0-9.@-]+ +[0-9]+ / {print $0 "   [" label "]"} /rror/ {print "   [" label "] " $0}'
done 2>&1 | tee -a "$OUT/sweep.log"
