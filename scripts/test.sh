#!/usr/bin/env bash
# Sets everything up, builds everything (Release, Ninja) and runs the C++ test suites:
#   label cpu: CPU reference, validation, the tool's helpers (run everywhere)
#   label gpu: kernels against the CPU reference (each test skips, saying why, without an sm_90 GPU)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_deps.sh

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"${FUSEDMOE_BUILD_JOBS:-$(nproc)}"

ctest --test-dir build --output-on-failure -L 'cpu|gpu'
