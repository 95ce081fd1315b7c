#!/usr/bin/env bash
# The BF16 MoE benchmark of issue 5 on the GPU machine: `fusedmoe bench` (routed entry) and the
# Triton peer in the same run, merged into one table. Everything is teed into $OUT:
#   bench_moe.log      the whole console output (build step, both benchmarks, the table)
#   perf_table.md      shape | M | fusedmoe µs | % floor | TF/s | peer µs | peer % floor | ratio
#   bench_moe_raw.csv  every column of both sides, merged by (shape, M)
#
#   bash scripts/device_bench.sh            # M = 1,8,64,256,1024,4096,16384, budget 480 s
#   bash scripts/device_bench.sh --quick    # M = 1,64,1024,16384, budget 240 s
# Extra arguments go to bench/bench_moe.py (e.g. --shapes deepseek-v3@tp8 --fusedmoe-args
# "--rotate 1"). BENCH_BUDGET overrides the time budget (seconds, both sides together).
#
# Needs: the build in build-device (scripts/device_check.sh makes it; built here if missing:
# CUTLASS headers in .deps, carried), and the peer in the ignored folder .peers/
# (`mkdir -p .peers && cp ../shared/peers/triton_moe.py .peers/`, carried as `.peers`).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
BUILD=build-device
LOG="$OUT/bench_moe.log"
summary=()
note() { summary+=("$1"); }

quick=0
args=()
for arg in "$@"; do
  if [ "$arg" = "--quick" ]; then quick=1; else args+=("$arg"); fi
done
budget=${BENCH_BUDGET:-$([ "$quick" = 1 ] && echo 240 || echo 480)}
mode=$([ "$quick" = 1 ] && echo "--quick" || echo "")

{
  echo "== device"
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,power.draw \
    --format=csv 2>&1
  python3 -c 'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__)' 2>&1
} | tee "$LOG"

if [ ! -x "$BUILD/tools/fusedmoe" ]; then
  {
    echo "== build ($BUILD/tools/fusedmoe missing)"
    cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release &&
      cmake --build "$BUILD" --target fusedmoe_cli -j16
  } 2>&1 | tee -a "$LOG"
  if [ "${PIPESTATUS[0]}" -ne 0 ]; then note "build: FAILED (see bench_moe.log)"; else note "build: ok"; fi
else
  note "build: reused $BUILD"
fi

if [ ! -f .peers/triton_moe.py ]; then
  note "peer: .peers/triton_moe.py missing (cp ../shared/peers/triton_moe.py .peers/; carry .peers)"
fi

if [ -x "$BUILD/tools/fusedmoe" ]; then
  echo "== bench_moe.py $mode (budget ${budget} s)" | tee -a "$LOG"
  PYTHONUNBUFFERED=1 python3 bench/bench_moe.py $mode --budget "$budget" --out "$OUT" \
    --fusedmoe "$BUILD/tools/fusedmoe" "${args[@]+"${args[@]}"}" 2>&1 | tee -a "$LOG"
  status=${PIPESTATUS[0]}
  rows=$(grep -cE '^\| [^ ]+ \| [0-9]+ \|' "$OUT/perf_table.md" 2>/dev/null)
  both=$(grep -cE '^\| [^ ]+ \| [0-9]+ \|.*x \| [^|]* \|$' "$OUT/perf_table.md" 2>/dev/null)
  note "bench_moe: exit $status, ${rows:-0} rows, ${both:-0} with both sides measured (perf_table.md)"
else
  note "bench_moe: not run (no fusedmoe binary)"
fi

{
  echo "==== device_bench summary"
  printf '%s\n' "${summary[@]}"
} | tee -a "$LOG"
