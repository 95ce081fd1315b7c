#!/usr/bin/env bash
# A/B timing of two `fusedmoe bench` option sets on the GPU machine, one process per (shape,
# variant) like bench_moe.py, the order of A and B alternating from shape to shape so that GPU
# clock drift does not favour one side. Rows go to $OUT/ab.log, prefixed with the variant.
#
#   bash scripts/device_ab.sh "--token-gather auto" "--token-gather copy" \
#        "qwen3-30b-a3b deepseek-v3@tp8" 1,8,64
#
# AB_ENV_A / AB_ENV_B: optional "NAME=value ..." environment for each variant's process.
# AB_PATCH_B: optional patch (`git diff` output) for variant B only: the sources are copied to
# build-device-b/tree with it applied and the CLI built there, so two versions of a kernel run
# alternately on one machine (timings from separate calls land on different machines):
#
#   git diff > .deps/idea.patch && git checkout .   # carry .deps/idea.patch
#   AB_PATCH_B=.deps/idea.patch bash scripts/device_ab.sh "" "" "deepseek-v3" 16384
#
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

if [ -n "${AB_PATCH_B:-}" ]; then
  patch_b=$(realpath "$AB_PATCH_B")
  tree_b=build-device-b/tree
  rm -rf "$tree_b" && mkdir -p "$tree_b"
  # The sources without build outputs or the (large) dependencies: CMake is pointed at .deps.
  tar --exclude='./build*' --exclude=./.git --exclude=./.deps -cf - . | tar -xf - -C "$tree_b"
  # The ceiling keeps git from finding a repository above the copy: inside one, git apply would
  # skip the paths outside the current folder, i.e. the whole patch, and still succeed.
  if ! (cd "$tree_b" && GIT_CEILING_DIRECTORIES="$(dirname "$PWD")" git apply "$patch_b"); then
    echo "device_ab: $AB_PATCH_B does not apply to this tree" >&2
    exit 1
  fi
  if ! { cmake -S "$tree_b" -B build-device-b/build -G Ninja -DCMAKE_BUILD_TYPE=Release \
           -DFUSEDMOE_DEPS_DIR="$PWD/.deps" -DFUSEDMOE_BUILD_TESTS=OFF -DFUSEDMOE_BUILD_BENCH=OFF &&
         cmake --build build-device-b/build -j"$(nproc)" --target fusedmoe_cli; } > "$OUT/ab_build_b.log" 2>&1; then
    echo "device_ab: building variant B failed (see ab_build_b.log)" >&2
    exit 1
  fi
  cli_b=build-device-b/build/tools/fusedmoe
fi

run_variant() {
  local label=$1 shape=$2 args=$3 environment=$4
  local cli=$cli_a
  [ "$label" = B ] && cli=$cli_b
  # shellcheck disable=SC2086  # args and environment are lists
  env $environment "$cli" bench --model "$shape" --tokens "$tokens" $args 2>&1 |
    awk -v label="$label" '$0 ~ /^[a-z0-9.@-]+ +[0-9]+ / {print label "  " $0} /error|rror/ {print label "  " $0}'
}

{
  echo "== A: $variant_a ${AB_ENV_A:-}"
  echo "== B: $variant_b ${AB_ENV_B:-}${AB_PATCH_B:+ (sources patched with $AB_PATCH_B)}"
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
} 2>&1 | tee -a "$LOG"
