#!/usr/bin/env bash
# Builds, here and without a GPU, the binaries a GPU-machine call runs, so that the call spends its
# minutes on tests and timings instead of the ~200 s build: tools/fusedmoe and
# tests/fusedmoe_gpu_tests (Release), plus one CLI per patched variant for A/B timing. Packed into
# .deps/prebuilt.tar.xz, which scripts/device_session.sh unpacks (carry it).
#
#   bash scripts/prebuild_device.sh                        # HEAD only
#   bash scripts/prebuild_device.sh skip=.deps/skip.patch  # and a variant named "skip"
#
# The sources are HEAD as committed (a clone in build-prebuilt/src, so edits in progress do not
# leak in); the archive records the commit and a digest of the sources the binaries are built from
# (scripts/source_digest.sh), and device_session.sh uses them only where the digest matches.
# Everything but the CUDA runtime links dynamically: built here (Debian 12, g++ 12) they need
# glibc 2.34 and GLIBCXX 3.4.29 (Ubuntu 22.04 has both), where a static libstdc++ and libgcc
# would need glibc 2.36 (arc4random, _dl_find_object); cuBLAS comes from the GPU machine's CUDA 13
# toolkit. A variant is an incremental rebuild of the same clone with its patch applied (about a
# minute per changed kernel TU on two cores), reverted afterwards, so the next build recompiles
# what it touched: name variants whose patches touch widely included headers last. The first run
# builds everything (about 10 minutes on two cores); later runs rebuild what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/build-prebuilt
commit=$(git rev-parse HEAD)
bash scripts/install_deps.sh > /dev/null

if [ ! -d "$work/src/.git" ]; then
  git clone -q "$root" "$work/src"
fi
git -C "$work/src" fetch -q "$root" HEAD
git -C "$work/src" checkout -q -f "$commit"
git -C "$work/src" clean -q -fdx

cmake -S "$work/src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUSEDMOE_DEPS_DIR="$root/.deps" \
  -DFUSEDMOE_BUILD_BENCH=OFF -DFUSEDMOE_BUILD_PYTHON=OFF > "$work/configure.log"
build() { cmake --build "$work/build" --target "$@"; }

pack=$work/pack
rm -rf "$pack" && mkdir -p "$pack/main"
build fusedmoe_cli fusedmoe_gpu_tests
cp "$work/build/tools/fusedmoe" "$work/build/tests/fusedmoe_gpu_tests" "$pack/main/"

for spec in "$@"; do
  name=${spec%%=*}
  patch=$(realpath "${spec#*=}")
  if [ "$name" = "$spec" ] || [ "$name" = main ]; then
    echo "prebuild_device: '$spec': expected name=patch, name not 'main'" >&2
    exit 2
  fi
  git -C "$work/src" apply "$patch"
  mkdir -p "$pack/$name"
  if build fusedmoe_cli fusedmoe_gpu_tests; then
    cp "$work/build/tools/fusedmoe" "$work/build/tests/fusedmoe_gpu_tests" "$pack/$name/"
  fi
  git -C "$work/src" apply -R "$patch"
  [ -x "$pack/$name/fusedmoe" ] || { echo "prebuild_device: variant $name did not build" >&2; exit 1; }
done

echo "$commit" > "$pack/COMMIT"
(cd "$work/src" && bash scripts/source_digest.sh) > "$pack/SOURCE_DIGEST"
# The newest glibc and libstdc++ symbol versions the binaries need, for the GPU machine's log.
for library in GLIBC GLIBCXX; do
  objdump -T "$pack"/*/fusedmoe* | grep -oE "${library}_[0-9.]+" | sort -uV | tail -1
done | tr '\n' ' ' > "$pack/GLIBC"
tar -cJf "$root/.deps/prebuilt.tar.xz" -C "$pack" .
echo "prebuild_device: .deps/prebuilt.tar.xz ($(du -h "$root/.deps/prebuilt.tar.xz" | cut -f1)): commit $commit," \
  "variants: main${*:+ ${*%%=*}}, needs $(cat "$pack/GLIBC")"
