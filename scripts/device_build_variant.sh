#!/usr/bin/env bash
# Builds the fusedmoe CLI from a patched copy of the sources, for timing two versions of a kernel
# alternately on one machine (scripts/device_ab.sh, AB_CLI_B): timings from separate device calls
# land on different machines and cannot settle a few-percent question.
#
#   bash scripts/device_build_variant.sh .deps/idea.patch idea   # prints the CLI's path
#
# The copy goes to build-variants/<name>/tree, the build to build-variants/<name>/build (Release,
# CLI only, against the checkout's .deps). Several variants may build at once, in the background,
# beside the main build. The log is $OUT/variant_<name>.log.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
if [ $# -ne 2 ]; then
  echo "usage: $0 <patch> <name>" >&2
  exit 2
fi
patch=$(realpath "$1")
name=$2
tree=build-variants/$name/tree
build=build-variants/$name/build
log="$OUT/variant_$name.log"
rm -rf "$tree" && mkdir -p "$tree"
# The sources without build outputs or the (large) dependencies: CMake is pointed at .deps.
tar --exclude='./build*' --exclude=./.git --exclude=./.deps -cf - . | tar -xf - -C "$tree"
# The ceiling keeps git from finding a repository above the copy: inside one, git apply would skip
# the paths outside the current folder, i.e. the whole patch, and still succeed.
if ! (cd "$tree" && GIT_CEILING_DIRECTORIES="$(dirname "$PWD")" git apply "$patch") > "$log" 2>&1; then
  echo "device_build_variant: $1 does not apply to this tree (see $log)" >&2
  exit 1
fi
if ! { cmake -S "$tree" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUSEDMOE_DEPS_DIR="$PWD/.deps" \
         -DFUSEDMOE_BUILD_TESTS=OFF -DFUSEDMOE_BUILD_BENCH=OFF &&
       cmake --build "$build" -j"$(nproc)" --target fusedmoe_cli; } >> "$log" 2>&1; then
  echo "device_build_variant: building $name failed (see $log)" >&2
  exit 1
fi
echo "$build/tools/fusedmoe"
