#!/usr/bin/env bash
# Builds the fusedmoe._C extension (into python/fusedmoe, next to the package sources) and runs the
# Python tests: the CPU reference through numpy everywhere, torch + CUDA tests where they exist.
#   scripts/install_python_deps.sh   first, once (pinned nanobind, numpy, pytest)
#   scripts/test_python.sh [pytest args]
# FUSEDMOE_PY_BUILD_DIR (default build-py) is the CMake build of python/CMakeLists.txt, which builds
# the library beneath it; JOBS (default 1) the parallel compile jobs.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=$(scripts/python_env.sh)
BUILD=${FUSEDMOE_PY_BUILD_DIR:-build-py}
mkdir -p "$BUILD"
cmake -S python -B "$BUILD" -DPython_EXECUTABLE="$PY" > "$BUILD/configure.log" 2>&1 ||
  { cat "$BUILD/configure.log"; exit 1; }
cmake --build "$BUILD" -j "${JOBS:-1}" --target fusedmoe_python_ext
exec "$PY" -m pytest tests/python -q -p no:cacheprovider "$@"
