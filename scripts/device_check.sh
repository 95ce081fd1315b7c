#!/usr/bin/env bash
# Builds and checks fusedmoe on the GPU machine in one go, teeing every step into $OUT:
#   build.log        device, toolchain, configure + build (Release, -j16)
#   ctest_gpu.log    ctest -L gpu (the kernels against the CPU reference), then compute-sanitizer
#                    memcheck on the small GPU cases
#   ctest_cpu.log    ctest -L cpu
#   bench.log        fusedmoe_bench_routing with and without programmatic dependent launch, and
#                    ncu kernel durations of the decode shapes
#   bench_torch.log  bench/torch_routing.py (the torch peer) in the same run
#   bench_*.csv      the benchmark numbers
#   python.log       (step "python") pytest tests/python with torch on the GPU, HF fidelity included
#   experts_ncu.log  (step "expertsncu") kernel durations of one eager moe_routed per bench shape
# It only builds: the CUTLASS headers come with the checkout in .deps (carry it); nothing is
# downloaded. DEVICE_CHECK_STEPS (default "build gpu bench ncu torch cpu sanitizer") picks steps;
# the most important come first, so a run cut off by its time limit loses only the tail.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
STEPS=${DEVICE_CHECK_STEPS:-"build gpu python bench ncu torch cpu sanitizer"}
BUILD=build-device
summary=()
want() { [[ " $STEPS " == *" $1 "* ]]; }
note() { summary+=("$1"); }

if want build; then
  {
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv
    nvcc --version | tail -2
    cmake --version | head -1
    cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUSEDMOE_BUILD_PYTHON=ON \
      -DPython_EXECUTABLE="$(command -v python3)"
    time cmake --build "$BUILD" -j16
  } 2>&1 | tee "$OUT/build.log"
  if [ "${PIPESTATUS[0]}" -ne 0 ]; then
    note "build: FAILED (see build.log)"
    printf '%s\n' "${summary[@]}"
    exit 1
  fi
  note "build: ok"
fi

if want gpu; then
  ctest --test-dir "$BUILD" -L gpu --output-on-failure -j8 --timeout 300 2>&1 | tee "$OUT/ctest_gpu.log"
  note "gpu tests: $(grep -E 'tests passed|tests failed' "$OUT/ctest_gpu.log" | tail -1)"
fi

if want python; then
  PYTHONUNBUFFERED=1 python3 -m pytest tests/python -q -rs -s 2>&1 | tee "$OUT/python.log"
  note "python: $(grep -E '[0-9]+ (passed|failed)' "$OUT/python.log" | tail -1)"
fi

if want expertsncu; then
  # One eager moe_routed (the bench's first call) per shape: which kernels run and how long each
  # takes, to tell the expert GEMMs from the stages around them.
  # EXPERTS_NCU_SHAPES: ';'-separated "model M [fusedmoe bench options]" entries.
  shapes=${EXPERTS_NCU_SHAPES:-"deepseek-v3 16384;deepseek-v3 1024;qwen3-30b-a3b 1;deepseek-v3@tp8 8;mixtral-8x7b 1024"}
  IFS=';' read -ra entries <<<"$shapes"
  for shape in "${entries[@]}"; do
    set -- $shape
    model=$1 tokens=$2
    shift 2
    echo "== ncu $model M=$tokens $*"
    timeout 150 ncu --cache-control none --clock-control none --launch-count 12 \
      --kernel-name regex:'device_kernel|streaming|permute|dispatch|combine|activation|fill_group|topk|expert|scale' \
      --metrics gpu__time_duration.sum "$BUILD/tools/fusedmoe" bench --model "$model" --tokens "$tokens" \
      --iterations 1 --warmup 0 --rotate 1 "$@" 2>&1 | grep -E '^  [a-zA-Z_].*\(|gpu__time_duration|==ERROR=='
  done 2>&1 | tee "$OUT/experts_ncu.log"
  note "experts ncu: $(grep -c gpu__time_duration "$OUT/experts_ncu.log") kernels"
fi

if want bench; then
  {
    "$BUILD/bench/fusedmoe_bench_routing" --csv "$OUT/bench_pdl_on.csv"
    FUSEDMOE_DISABLE_PDL=1 "$BUILD/bench/fusedmoe_bench_routing" --csv "$OUT/bench_pdl_off.csv"
  } 2>&1 | tee "$OUT/bench.log"
  note "bench: $(grep -c ' us ' "$OUT/bench.log") rows"
fi

if want ncu; then
  # Kernel durations of one eager route -> dispatch -> combine (the bench's warm-up), caches and
  # clocks as found, for the decode shapes where launch gaps and kernel time must be told apart.
  for shape in "deepseek-v3 1" "deepseek-v3 64" "qwen3-30b-a3b 64"; do
    set -- $shape
    echo "== ncu $1 M=$2"
    timeout 120 ncu --cache-control none --clock-control none --launch-count 5 \
      --kernel-name regex:'topk_routing|dispatch_maps|expert_tile|expert_offsets|permute_rows|combine_kernel' \
      --metrics gpu__time_duration.sum "$BUILD/bench/fusedmoe_bench_routing" --model "$1" \
      --tokens "$2" --replays 3 --no-ceiling 2>&1 | grep -E '\)x\(|gpu__time_duration|==PROF==|==ERROR==|rror'
  done 2>&1 | tee -a "$OUT/bench.log"
  note "ncu: $(grep -c gpu__time_duration "$OUT/bench.log") kernels"
fi

if want torch; then
  PYTHONUNBUFFERED=1 python3 bench/torch_routing.py --csv "$OUT/bench_torch.csv" 2>&1 | tee "$OUT/bench_torch.log"
  note "torch bench: $(grep -c '(torch)' "$OUT/bench_torch.log") rows"
fi

if want cpu; then
  ctest --test-dir "$BUILD" -L cpu --output-on-failure -j8 --timeout 300 2>&1 | tee "$OUT/ctest_cpu.log"
  note "cpu tests: $(grep -E 'tests passed|tests failed' "$OUT/ctest_cpu.log" | tail -1)"
fi

if want sanitizer; then
  filter='*M3*:*Special*fp32*:*Pipeline*:*per_tensor*:*ue8m0*:*tail*:*k32*:*Strided*:*qwen3_30b_a3b_tp1_E32_M7_*:*MaskedLayout*:*deepseek_v3_tp8_E32_M1_*'
  {
    echo "== compute-sanitizer memcheck ($filter)"
    timeout 100 compute-sanitizer --tool memcheck --error-exitcode 9 \
      "$BUILD/tests/fusedmoe_gpu_tests" --gtest_filter="$filter" --gtest_brief=1
    echo "memcheck exit: $?"
    echo "== compute-sanitizer racecheck (dispatch maps, streaming expert kernels: shared memory)"
    timeout 90 compute-sanitizer --tool racecheck --error-exitcode 9 \
      "$BUILD/tests/fusedmoe_gpu_tests" --gtest_filter='*maps_dsv3_M256*:*maps_dsv3_M1000_i32*:*deepseek_v3_tp8_E32_M1_weight_streaming:*qwen3_30b_a3b_tp1_E32_M257_weight_streaming' --gtest_brief=1
    echo "racecheck exit: $?"
  } 2>&1 | tee -a "$OUT/ctest_gpu.log"
  note "sanitizer: $(grep -E '^(memcheck|racecheck) exit' "$OUT/ctest_gpu.log" | tr '\n' ' ')"
fi

echo "==== device_check summary"
printf '%s\n' "${summary[@]}"
