#!/usr/bin/env bash
# Sets everything up, builds everything (Release, Ninja; the Python extension too) and runs the
# test suites:
#   ctest label cpu: CPU reference, validation, the tool's helpers (run everywhere)
#   ctest label gpu: kernels against the CPU reference (each skips, saying why, without an sm_90 GPU)
#   pytest tests/python: the Python package over numpy (everywhere) and torch/CUDA (where present)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_deps.sh
bash scripts/install_python_deps.sh
PY=$(scripts/python_env.sh)

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUSEDMOE_BUILD_PYTHON=ON \
  -DPython_EXECUTABLE="$PY"
cmake --build build -j"${FUSEDMOE_BUILD_JOBS:-$(nproc)}"

ctest --test-dir build --output-on-failure -L 'cpu|gpu'

# Say once, plainly, whether the gpu label ran or skipped (ctest lists skips without reasons).
skipped=$(ctest --test-dir build -L gpu -N 2>/dev/null | grep -c "Test *#" || true)
reason=$(build/tests/fusedmoe_gpu_tests --gtest_filter='RoutingGpu.StridedLogitsAndRepeatable' 2>&1 |
         grep -m1 "GPU test skipped" || true)
if [ -n "$reason" ]; then
  echo "test.sh: the $skipped GPU tests were skipped on this machine: ${reason#GPU test skipped: }"
else
  echo "test.sh: the $skipped GPU tests ran on this machine's GPU"
fi

"$PY" -m pytest tests/python -q -rs -p no:cacheprovider
