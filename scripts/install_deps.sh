#!/usr/bin/env bash
# Installs every pinned dependency the build needs. Nothing is downloaded at configure time.
#   .deps/cutlass/{include,tools/util/include}  CUTLASS/CuTe headers from PyPI nvidia-cutlass
#   GoogleTest                                   Debian/Ubuntu libgtest-dev (when not present)
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

CUTLASS_VERSION=4.2.0.0
DEPS=.deps

mkdir -p "$DEPS"
if [ ! -f "$DEPS/cutlass/VERSION" ] || [ "$(cat "$DEPS/cutlass/VERSION")" != "$CUTLASS_VERSION" ]; then
  echo "[deps] nvidia-cutlass==$CUTLASS_VERSION (headers only)"
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    "nvidia-cutlass==$CUTLASS_VERSION" -d "$tmp"
  rm -rf "$DEPS/cutlass" && mkdir -p "$DEPS/cutlass/tools/util"
  python3 - "$tmp" "$DEPS/cutlass" <<'PY'
import glob, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(f"{tmp}/nvidia_cutlass-*.whl")[0]
prefixes = {"cutlass_library/source/include/": "include/",
            "cutlass_library/source/tools/util/include/": "tools/util/include/"}
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        for prefix, target in prefixes.items():
            if name.startswith(prefix) and not name.endswith("/"):
                path = f"{dest}/{target}{name[len(prefix):]}"
                import os
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with archive.open(name) as src, open(path, "wb") as out:
                    out.write(src.read())
PY
  echo "$CUTLASS_VERSION" > "$DEPS/cutlass/VERSION"
  rm -rf "$tmp"
fi
test -f "$DEPS/cutlass/include/cutlass/cutlass.h"

# System packages from Debian/Ubuntu, installed only when missing.
missing=()
[ -f /usr/include/gtest/gtest.h ] || missing+=(libgtest-dev)
command -v ninja >/dev/null || missing+=(ninja-build)
if [ ${#missing[@]} -gt 0 ]; then
  echo "[deps] ${missing[*]} (Debian/Ubuntu)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}"
fi

need_cmd() { command -v "$1" >/dev/null || { echo "[deps] missing: $1 ($2)" >&2; exit 1; }; }
need_cmd cmake "CMake >= 3.25"
need_cmd ninja "Ninja"
need_cmd nvcc "CUDA toolkit 13 (nvcc)"
echo "[deps] ok: CUTLASS $(cat "$DEPS/cutlass/VERSION"), GoogleTest, $(nvcc --version | tail -1)"
