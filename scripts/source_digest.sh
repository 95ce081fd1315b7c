#!/usr/bin/env bash
# A digest of the sources the C++/CUDA binaries are built from (the library, tools, tests and the
# build files), printed on one line: scripts/prebuild_device.sh records it and
# scripts/device_session.sh compares it, so prebuilt binaries are never run against other sources.
# Needs no git (the GPU machine's copy of the checkout may have none).
set -euo pipefail
cd "$(dirname "$0")/.."
find CMakeLists.txt cmake include src tools tests -type f \
  \( -name '*.cpp' -o -name '*.cu' -o -name '*.h' -o -name '*.cuh' -o -name '*.cmake' -o -name '*.in' -o -name 'CMakeLists.txt' \) \
  -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
