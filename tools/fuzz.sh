#!/usr/bin/env bash
# Runs the libFuzzer harnesses of tests/fuzz (docs/fuzzing.md).
#   tools/fuzz.sh [SECONDS]   builds build-fuzz/ if needed (clang), fuzzes every
#                             harness for SECONDS (default 60) from its seed corpus
#                             with its dictionary, then prints per harness the
#                             executions, coverage (cov/ft) and findings
#   tools/fuzz.sh --replay    runs every committed regression input and seed once
#                             (no fuzzing); fails on any crash, leak or timeout
# Environment: FUZZ_HARNESSES="fuzz_tar fuzz_csv" picks harnesses; FUZZ_BUILD
# (build-fuzz) and FUZZ_OUT (fuzz-out) name the folders; FUZZ_JOBS=N runs N
# libFuzzer workers per harness (default 1); FUZZ_ARGS adds libFuzzer flags.
# Findings (crash-*, leak-*, timeout-*, oom-* reproducers) are saved under
# FUZZ_OUT/findings/HARNESS/, logs under FUZZ_OUT/logs/, the grown corpus under
# FUZZ_OUT/corpus/HARNESS/ (the committed seeds stay as they are). Exits non-zero
# on any finding; the last line is "N passed, N failed" (one test per harness).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mode=fuzz
seconds=60
case "${1:-}" in
  --replay) mode=replay ;;
  "") ;;
  *[!0-9]*) echo "usage: tools/fuzz.sh [SECONDS] | --replay" >&2; exit 2 ;;
  *) seconds=$1 ;;
esac
build=${FUZZ_BUILD:-build-fuzz}
out=${FUZZ_OUT:-fuzz-out}
all="fuzz_safetensors fuzz_config_json fuzz_npy fuzz_image fuzz_tokenizer_text
     fuzz_tokenizer_files fuzz_tar fuzz_csv fuzz_checkpoint fuzz_program_cache
     fuzz_emb_folder fuzz_spm"
harnesses=${FUZZ_HARNESSES:-$all}

# Largest input libFuzzer may make, per harness: a few times the seeds.
max_len() {
  case $1 in
    fuzz_tokenizer_text|fuzz_program_cache) echo 1024 ;;
    fuzz_npy|fuzz_csv|fuzz_emb_folder|fuzz_spm) echo 4096 ;;
    fuzz_config_json) echo 8192 ;;
    fuzz_safetensors) echo 16384 ;;
    fuzz_image|fuzz_tar) echo 32768 ;;
    fuzz_tokenizer_files) echo 65536 ;;
    fuzz_checkpoint) echo 1048576 ;;
  esac
}

if ! command -v clang >/dev/null; then
  echo "tools/fuzz.sh needs clang and libclang-rt-14-dev (tools/install-deps.sh)" >&2
  echo "0 passed, 1 failed"; exit 1
fi
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ meson setup "$build" -Dfuzz=true --buildtype=debugoptimized >/dev/null ||
    { echo "meson setup of $build failed" >&2; echo "0 passed, 1 failed"; exit 1; }
fi
ninja -C "$build" >/dev/null || { echo "building $build failed" >&2; echo "0 passed, 1 failed"; exit 1; }

# Leaks and undefined behaviour are findings.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:detect_odr_violation=0:allocator_may_return_null=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"

mkdir -p "$out/logs"
passed=0; failed=0
printf '%-22s %10s %8s %6s %7s %6s  %s\n' harness execs exec/s cov ft corpus findings
for h in $harnesses; do
  bin="$build/tests/fuzz/$h"
  fmt=${h#fuzz_}
  seeds="tests/fuzz/corpus/$h"
  regress="tests/fuzz/regressions/$h"
  found="$out/findings/$h"
  log="$out/logs/$h.log"
  mkdir -p "$found"
  if [ ! -x "$bin" ]; then
    echo "$h: no binary $bin"; failed=$((failed + 1)); continue
  fi
  if [ $mode = replay ]; then
    # -runs=0 executes every input of the folders once, without mutating.
    "$bin" -runs=0 -timeout=25 -rss_limit_mb=2560 "$regress" "$seeds" >"$log" 2>&1
    rc=$?
    n=$(grep -c '' <(find "$regress" "$seeds" -type f ! -name '.*'))
    if [ $rc = 0 ]; then
      printf '%-22s replayed %d input(s): ok\n' "$h" "$n"; passed=$((passed + 1))
    else
      printf '%-22s replay FAILED (exit %d), see %s\n' "$h" "$rc" "$log"; tail -n 30 "$log"
      failed=$((failed + 1))
    fi
    continue
  fi
  work="$out/corpus/$h"
  mkdir -p "$work"
  dict=(); [ -f "tests/fuzz/dict/$fmt.dict" ] && dict=(-dict="tests/fuzz/dict/$fmt.dict")
  jobs=(); [ "${FUZZ_JOBS:-1}" -gt 1 ] && jobs=(-fork="$FUZZ_JOBS" -ignore_crashes=0)
  before=$(find "$found" -type f | wc -l)
  # shellcheck disable=SC2086
  "$bin" "$work" "$seeds" "${dict[@]}" "${jobs[@]}" -max_total_time="$seconds" \
    -max_len="$(max_len "$h")" -timeout=10 -rss_limit_mb=2560 -print_final_stats=1 \
    -artifact_prefix="$found/" ${FUZZ_ARGS:-} >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
  corp=$(grep -o 'corp: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
  after=$(find "$found" -type f | wc -l)
  new=$((after - before))
  status=ok
  if [ $rc != 0 ] || [ $new != 0 ]; then
    status="FAILED (exit $rc): $(grep -m1 -E '^fuzz: |ERROR: |runtime error|SUMMARY' "$log" | cut -c1-150)"
    failed=$((failed + 1))
  else
    passed=$((passed + 1))
  fi
  printf '%-22s %10s %8s %6s %7s %6s  %s %s\n' "$h" "${execs:-?}" "${speed:-?}" "${cov:-?}" \
    "${ft:-?}" "${corp:-?}" "$new" "$status"
  if [ "$status" != ok ]; then
    ls -t "$found" | head -n 5 | sed "s|^|    reproducer: $found/|"
    grep -E -A12 '^fuzz: |ERROR: |runtime error' "$log" | head -n 25 | sed 's/^/    /'
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
