#!/usr/bin/env bash
# A/B timing of two `fusedmoe bench` option sets on the GPU machine, one process per (shape,
# variant) like bench_moe.py, the order of A and B alternating from shape to shape so that GPU
# clock drift does not favour one side. Rows go to $OUT/ab.log, prefixed with the variant.
#
#   bash scripts/device_ab.sh "--token-gather auto" "--token-gather copy" \
#        "qwen3-30b-a3b deepseek-v3@tp8" 1,8,64
#
# AB_ENV_A / AB_ENV_B: optional "NAME=value ..." environment for each variant's process.
# AB_PATCH_B: optional patch (`git diff` output) for variant B only: the sources are copied with it
# applied and the CLI built there (scripts/device_build_variant.sh), so two versions of a kernel
# run alternately on one machine (timings from separate calls land on different machines):
#
#   git diff > .deps/idea.patch && git checkout .   # carry .deps/idea.patch
#   AB_PATCH_B=.deps/idea.patch bash scripts/device_ab.sh "" "" "deepseek-v3" 16384
#
# AB_CLI_B: a CLI already built for variant B (device_build_variant.sh, e.g. in the background
# beside the main build); it takes precedence over AB_PATCH_B.
# Needs the build in build-device (scripts/device_check.sh makes it).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
BUILD=build-device
if [ $# -lt 4 ]; then
  echo "usage: $0 \"<bench args A>\" \"<bench args B>\" \"<shapes>\" <tokens>" >&2
  exit 2
fi
variant_a=$1
variant_b=$2
shapes=$3
tokens=$4
LOG="$OUT/ab.log"
cli_a="$BUILD/tools/fusedmoe"
cli_b="$cli_a"

if [ -n "${AB_CLI_B:-}" ]; then
  cli_b=$AB_CLI_B
elif [ -n "${AB_PATCH_B:-}" ]; then
  cli_b=$(bash scripts/device_build_variant.sh "$AB_PATCH_B" ab_b) || exit 1
fi

run_variant() {
  local label=$1 shape=$2 args=$3 environment=$4
  local cli=$cli_a
  [ "$label" = B ] && cli=$cli_b
  # shellcheck disable=SC2086  # args and environment are lists
  env $environment "$cli" bench --model "$shape" --tokens "$tokens" $args 2>&1 |
    awk -v label="$label" '$0 ~ /^[a-z0-9.@-]+ +[0-9]+ / {print label "  " $0} /error|rror/ {print label "  " $0}'
}

run_log=$(mktemp)
{
  echo "== A: $variant_a ${AB_ENV_A:-}"
  echo "== B: $variant_b ${AB_ENV_B:-}${AB_PATCH_B:+ (sources patched with $AB_PATCH_B)}${AB_CLI_B:+ (CLI $AB_CLI_B)}"
  printf '%-3s %-18s %6s %7s %4s %10s %10s %7s %7s %6s %4s  %s\n' "" shape M hit sets "time us" \
    "floor us" "%floor" "TF/s" "TB/s" by status
  flip=0
  for shape in $shapes; do
    if [ "$flip" = 0 ]; then
      run_variant "A" "$shape" "$variant_a" "${AB_ENV_A:-}"
      run_variant "B" "$shape" "$variant_b" "${AB_ENV_B:-}"
    else
      run_variant "B" "$shape" "$variant_b" "${AB_ENV_B:-}"
      run_variant "A" "$shape" "$variant_a" "${AB_ENV_A:-}"
    fi
    flip=$((1 - flip))
  done
} 2>&1 | tee -a "$LOG" "$run_log"
# B against A per row (shape, M), the figure the A/B is for.
awk '($1 == "A" || $1 == "B") && $3 ~ /^[0-9]+$/ && $6 ~ /^[0-9.]+$/ { time[$1, $2 " " $3] = $6; keys[$2 " " $3] = 1 }
     END { for (key in keys) if ((("A", key) in time) && (("B", key) in time))
             printf "    %-26s A %10.1f  B %10.1f us  B vs A %+6.1f %%\n", key, time["A", key], time["B", key],
                    (time["B", key] / time["A", key] - 1) * 100 }' "$run_log" | sort | tee -a "$LOG"
rm -f "$run_log"
