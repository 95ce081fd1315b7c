#!/usr/bin/env bash
# A session's GPU work in one device call, within a time limit (the device tool allows 600 s a
# call and about 30 minutes a session, and a machine's start costs minutes):
#   1. binaries: .deps/prebuilt.tar.xz (scripts/prebuild_device.sh) where its source digest
#      matches this tree's (scripts/source_digest.sh) and the binaries start here; otherwise
#      the CLI and the GPU tests are built here (CUTLASS headers in .deps/cutlass, carried), with
#      the CLIs of SESSION_VARIANTS="name=patch ..." beside them (their tests are not built);
#   2. the GPU test suite: fusedmoe_gpu_tests in gtest shards side by side (skipped with
#      SESSION_TESTS=0);
#   3. the queue file's lines (default experiments/device_queue.txt), in order, while time is left:
#        ab | <bench args A> | <bench args B> | <shapes> | <tokens>   scripts/device_ab.sh
#        ab:<variant> | ...            the same, B on the prebuilt variant's CLI (or its tests:
#                                      "tests:<variant> | <gtest filter>")
#        peer | <bench_moe.py args>    scripts/device_bench.sh: fusedmoe and the Triton peer (.peers)
#        sweep | <entries>             scripts/device_sweep.sh
#        durations | <label> | <fusedmoe bench args>   every kernel of one eager call, with its
#                                      duration (ncu): durations_<label>.txt, where the time goes
#        ncu | <label> | <fusedmoe bench args> | <kernel regex>   one launch of the first matching
#                                      kernel profiled: ncu_<label>.txt (speed of light, memory,
#                                      warp states) and ncu_<label>_hotspots.txt (top stall SASS)
#      '#' starts a comment. A line is skipped, and says so, when less than its estimate is left.
#      QUEUE_FROM=n starts at the n-th line (1-based, comments not counted), for a second call.
#
#   LIMIT=540 bash scripts/device_session.sh [queue]        # carry .deps/prebuilt.tar.xz, .peers
#
# Logs in $OUT: session.log (what ran, what was skipped, the test summary), gpu_tests_<shard>.log,
# ab.log, bench_moe.log / perf_table.md, sweep.log, and report.md (scripts/session_report.py: all of
# it in one short file).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
LIMIT=${LIMIT:-540}
QUEUE=${1:-experiments/device_queue.txt}
SHARDS=${SESSION_SHARDS:-8}
BUILD=build-device
LOG="$OUT/session.log"
export OUT
left() { echo $((LIMIT - SECONDS)); }
# At most $1 seconds, and never past the limit: a kernel that hangs costs one step, not the call.
budget() { local l; l=$(left); echo $(($1 < l ? $1 : l)); }
say() { echo "[$(printf '%4d' "$SECONDS") s] $*" | tee -a "$LOG"; }

say "device: $(nvidia-smi --query-gpu=name,driver_version,clocks.mem --format=csv,noheader 2>&1 | head -1);" \
  "$(ldd --version 2>&1 | head -1)"

# 1. Binaries.
cli=$BUILD/tools/fusedmoe
tests=$BUILD/tests/fusedmoe_gpu_tests
prebuilt=""
rm -rf build-prebuilt-unpacked && mkdir -p build-prebuilt-unpacked
if [ -f .deps/prebuilt.tar.xz ]; then
  tar -xJf .deps/prebuilt.tar.xz -C build-prebuilt-unpacked
  want=$(cat build-prebuilt-unpacked/SOURCE_DIGEST)
  have=$(bash scripts/source_digest.sh)
  if [ "$want" != "$have" ]; then
    say "prebuilt: built from other sources (commit $(cat build-prebuilt-unpacked/COMMIT)): building here"
  elif ! build-prebuilt-unpacked/main/fusedmoe version >> "$LOG" 2>&1; then
    say "prebuilt: does not start here (needs $(cat build-prebuilt-unpacked/GLIBC)): building here"
  else
    mkdir -p "$BUILD/tools" "$BUILD/tests"
    cp build-prebuilt-unpacked/main/fusedmoe "$cli"
    cp build-prebuilt-unpacked/main/fusedmoe_gpu_tests "$tests"
    prebuilt=yes
    say "prebuilt: commit $(cat build-prebuilt-unpacked/COMMIT), variants:" \
      "$(ls build-prebuilt-unpacked | grep -vE '^(main|COMMIT|GLIBC|SOURCE_DIGEST)$' | tr '\n' ' ')"
  fi
fi
if [ -z "$prebuilt" ]; then
  rm -rf build-prebuilt-unpacked && mkdir -p build-prebuilt-unpacked  # nothing of another tree's
  # The variants' CLIs (not their tests) build beside main: SESSION_VARIANTS="name=patch ...".
  for spec in ${SESSION_VARIANTS:-}; do
    (
      name=${spec%%=*}
      if variant=$(bash scripts/device_build_variant.sh "${spec#*=}" "$name" 2>> "$OUT/variants.log"); then
        mkdir -p "build-prebuilt-unpacked/$name" && cp "$variant" "build-prebuilt-unpacked/$name/fusedmoe"
      fi
    ) &
  done
  {
    cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUSEDMOE_BUILD_BENCH=OFF &&
      timeout "$(left)" cmake --build "$BUILD" -j16 --target fusedmoe_cli fusedmoe_gpu_tests
  } > "$OUT/build.log" 2>&1
  wait
  if [ ! -x "$cli" ] || [ ! -x "$tests" ]; then
    say "build: FAILED (build.log)"
    exit 1
  fi
  say "build: ok; variants built here: $(ls build-prebuilt-unpacked 2>/dev/null | tr '\n' ' ')"
fi
variant_cli() { echo "build-prebuilt-unpacked/$1/fusedmoe"; }

# 2. The GPU tests, in shards side by side.
run_tests() {
  local binary=$1 filter=$2 label=$3
  local shard pids=()
  for ((shard = 0; shard < SHARDS; ++shard)); do
    GTEST_TOTAL_SHARDS=$SHARDS GTEST_SHARD_INDEX=$shard timeout "$(budget 240)" "$binary" --gtest_brief=1 \
      --gtest_filter="$filter" > "$OUT/${label}_$shard.log" 2>&1 &
    pids+=($!)
  done
  local failed_shards=0
  for pid in "${pids[@]}"; do wait "$pid" || failed_shards=$((failed_shards + 1)); done
  local passed skipped failed
  passed=$(cat "$OUT/${label}"_*.log | grep -oE '\[  PASSED  \] [0-9]+' | awk '{s += $4} END {print s + 0}')
  skipped=$(cat "$OUT/${label}"_*.log | grep -oE '\[  SKIPPED \] [0-9]+' | awk '{s += $4} END {print s + 0}')
  failed=$(cat "$OUT/${label}"_*.log | grep -cE '^\[  FAILED  \] [A-Za-z]')
  say "$label ($filter): $passed passed, $skipped skipped, $failed failed;" \
    "$failed_shards of $SHARDS shards exited non-zero"
  grep -hE '^\[  FAILED  \] [A-Za-z]' "$OUT/${label}"_*.log | sort -u | head -20 | tee -a "$LOG"
}
if [ "${SESSION_TESTS:-1}" = 1 ]; then
  run_tests "$tests" '*' gpu_tests
fi

# 3. The queue.
trim() { sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' <<<"$1"; }
# Seconds a line needs at least: about 20 per bench process and token count (two variants per
# shape), the peer's budget, or a minute.
estimate() {
  case $1 in
    ab*) echo $((20 * $2)) ;;
    peer) echo "${BENCH_BUDGET:-300}" ;;
    ncu | durations) echo 90 ;;
    *) echo 60 ;;
  esac
}
number=0
# The queue comes on fd 3, so that nothing a line runs can read it from stdin.
while IFS= read -r line <&3 || [ -n "$line" ]; do
  line=${line%%#*}
  [ -n "$(trim "$line")" ] || continue
  number=$((number + 1))
  [ "$number" -ge "${QUEUE_FROM:-1}" ] || continue
  IFS='|' read -ra fields <<<"$line"
  kind=$(trim "${fields[0]}")
  shapes=$(trim "${fields[3]:-}")
  count=$(wc -w <<<"$shapes")
  token_counts=$(tr ',' ' ' <<<"${fields[4]:-1}" | wc -w)
  need=$(estimate "$kind" $((2 * (count > 0 ? count : 1) * (token_counts > 0 ? token_counts : 1))))
  if [ "$(left)" -lt "$need" ]; then
    say "skipped line $number (about $need s needed, $(left) s left): $line"
    continue
  fi
  say "run line $number: $line"
  case $kind in
    ab | ab:*)
      cli_b=""  # B on main's CLI, or on the variant's
      if [ "$kind" != ab ]; then
        cli_b=$(variant_cli "${kind#ab:}")
        [ -x "$cli_b" ] || { say "  no prebuilt variant '${kind#ab:}'"; continue; }
      fi
      AB_CLI_B=$cli_b timeout "$(budget $((2 * need)))" bash scripts/device_ab.sh "$(trim "${fields[1]}")" \
        "$(trim "${fields[2]}")" "$shapes" "$(trim "${fields[4]}")" 2>&1 | grep "B vs A" | tee -a "$LOG" ;;
    tests:*)
      variant=${kind#tests:}
      binary=build-prebuilt-unpacked/$variant/fusedmoe_gpu_tests
      if [ -x "$binary" ]; then
        run_tests "$binary" "$(trim "${fields[1]}")" "tests_$variant"
      else
        say "  no test binary for variant '$variant' (prebuilt ones only)"
      fi ;;
    peer)
      # shellcheck disable=SC2046  # the line's arguments are a word list
      BENCH_BUDGET=${BENCH_BUDGET:-300} timeout "$(left)" bash scripts/device_bench.sh \
        $(trim "${fields[1]:-}") > /dev/null 2>&1
      tail -3 "$OUT/bench_moe.log" | tee -a "$LOG" ;;
    sweep)
      timeout "$(left)" bash scripts/device_sweep.sh "$(trim "${fields[1]}")" > /dev/null 2>&1 ;;
    durations)
      label=$(trim "${fields[1]}")
      # shellcheck disable=SC2046  # the bench arguments are a word list
      timeout "$(budget 150)" ncu --cache-control none --clock-control none --launch-count 20 \
        --kernel-name regex:'device_kernel|gather|streaming|permute|dispatch|combine|activation|fill_group|topk|expert|scale' \
        --metrics gpu__time_duration.sum "$cli" bench $(trim "${fields[2]}") --iterations 1 --warmup 0 --rotate 1 2>&1 |
        grep -E '^  [a-zA-Z_].*\(|gpu__time_duration|==ERROR==' > "$OUT/durations_$label.txt"
      say "  $(grep -c gpu__time_duration "$OUT/durations_$label.txt") kernels timed (durations_$label.txt)" ;;
    ncu)
      label=$(trim "${fields[1]}")
      report=/tmp/ncu_$label
      # shellcheck disable=SC2046  # the bench arguments are a word list
      timeout "$(budget 180)" ncu --kernel-name "regex:$(trim "${fields[3]}")" --launch-count 1 \
        --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats \
        --section SchedulerStats --section Occupancy --section SourceCounters -f -o "$report" \
        "$cli" bench $(trim "${fields[2]}") --iterations 1 --warmup 0 --rotate 1 > "$OUT/ncu_$label.log" 2>&1
      ncu -i "$report.ncu-rep" --page details > "$OUT/ncu_$label.txt" 2>&1
      ncu -i "$report.ncu-rep" --page source --print-source sass --csv > "$report.csv" 2>/dev/null &&
        python3 scripts/ncu_hotspots.py "$report.csv" --top 25 > "$OUT/ncu_${label}_hotspots.txt" 2>&1
      grep -E "Duration|Compute \(SM\) Throughput|Memory Throughput" "$OUT/ncu_$label.txt" | head -3 | tee -a "$LOG" ;;
    *) say "  unknown line kind '$kind'" ;;
  esac
done 3< "$QUEUE"
say "done, $(left) s of $LIMIT left"
python3 scripts/session_report.py "$OUT" > /dev/null 2>&1 || true  # $OUT/report.md
