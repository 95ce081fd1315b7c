#!/usr/bin/env bash
# Sets everything up, builds fusedmoe (Release, Ninja) and runs one verified MoE layer:
#   fusedmoe run --model qwen3-30b-a3b --tokens 4 --format bf16
# on the GPU when one can run it (bf16 expert GEMMs exist for sm_90a), otherwise on the CPU
# reference, which the tool says (and why).
# Extra arguments go to `fusedmoe run` (e.g. --device cpu, --model deepseek-v3 --tp 8).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_deps.sh

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build --target fusedmoe_cli -j"${FUSEDMOE_BUILD_JOBS:-$(nproc)}"

exec build/tools/fusedmoe run --model qwen3-30b-a3b --tokens 4 --format bf16 "$@"
