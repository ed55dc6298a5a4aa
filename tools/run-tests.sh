#!/usr/bin/env bash
# The project's test command (README and .ci/run use it): builds the suite
# twice — a release build and an AddressSanitizer+UBSan build — runs it on the
# default OpenCL device (PoCL on a machine without a GPU) and prints one
# closing line "N passed, N failed" over both runs.
#   tools/run-tests.sh            both builds
#   CLIPCL_TEST_BUILDS=release tools/run-tests.sh    only one of them
#   CLIPCL_TEST_BUILDS="release asan fuzz" tools/run-tests.sh
#   python: the Python package (python/, docs/python.md) pip-installed into a
#       virtualenv (--system-site-packages: Debian's numpy, meson-python,
#       pytest, PIL; --no-build-isolation: no network) against the release
#       build (built first if need be), then its pytest suite; each pytest
#       test counts. CLIPCL_PYTHON picks the interpreter (default
#       /usr/bin/python3, whose dist-packages hold those packages).
#       adds the fuzz build (clang, tools/fuzz.sh): the regression inputs
#       replayed, then every harness fuzzed briefly; each harness counts as a
#       test in both, and any finding fails it (.ci/run does this). The brief
#       run is CLIPCL_FUZZ_RUNS inputs (default 5000) from a fixed seed, at
#       most CLIPCL_FUZZ_SECONDS (default 60) each: the same inputs on every
#       machine, so a test run here predicts CI's; finding new bugs is the
#       job of long campaigns (docs/fuzzing.md), not of the gate.
#   CLIPCL_TEST_BUILDS="... install"
#       adds the install check (.ci/run does this): a release build set up
#       with a prefix inside it (build-test-install/prefix), `meson install`
#       into it, then tests/install/check_install.py --installed: a program
#       built with `pkg-config --cflags --libs clipcl` against the installed
#       files gives the installed `clipcl embed-text`'s embeddings, and the
#       shared library exports only clipcl_*. Counts as one test.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
builds=${CLIPCL_TEST_BUILDS:-"release asan python"}
jobs=${CLIPCL_JOBS:-$(nproc)}

# PoCL's own kernel cache is shared by both builds so that the sanitizer run
# does not recompile every kernel; it lives inside the build tree.
export POCL_CACHE_DIR="$root/build-cache/pocl"
mkdir -p "$POCL_CACHE_DIR"

# Leaks inside the OpenCL driver stack (PoCL, LLVM, the ICD loader, CLBlast)
# are not ours to fix; every other leak fails the sanitizer run.
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:detect_odr_violation=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

passed=0; failed=0; skipped=0
count() {  # reads meson's testlog.json
  python3 - "$1" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result", "")
    if r == "OK": p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
}

# LeakSanitizer sometimes crashes in its own tracer while it stops the
# driver's worker threads at exit ("LeakSanitizer has encountered a fatal
# error", after every assertion of the test has passed; seen on a loaded
# machine). That is the tool failing, not a finding: such a test is run once
# more, alone, and its second result counts. Any other failure counts as is.
lsan_crashed() {  # names of the tests in testlog.json that failed that way
  python3 - "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    out = (r.get("stdout") or "") + (r.get("stderr") or "")
    if r.get("result") != "OK" and "LeakSanitizer has encountered a fatal error" in out:
        print(r["name"].split(" / ")[-1])
PY
}

# The Python suite (python/tests) against the release build: N passed, N
# failed from pytest's JUnit report (a failed install counts as one failure).
python_suite() {
  local rel="build-test-release" dir="build-test-python"
  rm -f "$dir/junit.xml"  # a failed build or install leaves none to count
  if [ ! -f "$rel/build.ninja" ]; then
    meson setup "$rel" --buildtype=release || return 1
  fi
  ninja -C "$rel" -j "$jobs" || return 1
  mkdir -p "$dir"
  if [ ! -x "$dir/venv/bin/python" ]; then
    "${CLIPCL_PYTHON:-/usr/bin/python3}" -m venv --system-site-packages "$dir/venv" || return 1
  fi
  PKG_CONFIG_PATH="$root/$rel/meson-uninstalled" "$dir/venv/bin/pip" install --quiet \
    --no-build-isolation --no-index --force-reinstall --no-deps ./python || return 1
  # from outside the source tree, so `import clipcl` is the installed package
  (cd "$dir" && CLIPCL_EXE="$root/$rel/tools/clipcl" CLIPCL_TEST_DATA="$root/tests/data" \
     CLIPCL_CACHE_DIR="$root/$dir/cache" CLIPCL_SELFCHECK=0 \
     venv/bin/python -m pytest -q -p no:cacheprovider --junitxml=junit.xml "$root/python/tests")
  [ -f "$dir/junit.xml" ]
}

python_counts() {  # passed failed skipped from pytest's JUnit XML
  python3 - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
suites = [r] if r.tag == "testsuite" else list(r)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
s = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - s, f, s)
PY
}

for b in $builds; do
  if [ "$b" = python ]; then
    python_suite || true  # counted from its report below
    if [ -f build-test-python/junit.xml ]; then
      read -r p f s < <(python_counts build-test-python/junit.xml)
    else
      echo "python: the package did not build or install" >&2
      p=0; f=1; s=0
    fi
    echo "[python] $p passed, $f failed, $s skipped"
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    continue
  fi
  if [ "$b" = fuzz ]; then
    flog=$(mktemp)
    for arg in --replay "${CLIPCL_FUZZ_SECONDS:-60}"; do
      FUZZ_BUILD=build-test-fuzz FUZZ_OUT=build-test-fuzz/fuzz-out \
        FUZZ_ARGS="-seed=1 -runs=${CLIPCL_FUZZ_RUNS:-5000}" bash tools/fuzz.sh "$arg" |
        tee "$flog"
      read -r p f < <(tail -n1 "$flog" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p')
      [ -n "${p:-}" ] || { p=0; f=1; }
      echo "[fuzz $arg] $p passed, $f failed"
      passed=$((passed + p)); failed=$((failed + f))
    done
    rm -f "$flog"
    continue
  fi
  dir="build-test-$b"
  case $b in
    release) opts=(--buildtype=release) ;;
    install) opts=(--buildtype=release --prefix="$root/$dir/prefix") ;;
    asan)    opts=(--buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false
                   -Dc_args=-fno-sanitize-recover=all) ;;
    *) echo "unknown build $b" >&2; exit 2 ;;
  esac
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "${opts[@]}" || { failed=$((failed + 1)); continue; }
  fi
  if ! ninja -C "$dir" -j "$jobs"; then
    echo "build $b failed" >&2; failed=$((failed + 1)); continue
  fi
  if [ "$b" = install ]; then
    rm -rf "$dir/prefix"
    if meson install -C "$dir" --no-rebuild --quiet &&
       python3 tests/install/check_install.py --build "$dir" --installed; then
      echo "[install] 1 passed, 0 failed"; passed=$((passed + 1))
    else
      echo "[install] 0 passed, 1 failed"; failed=$((failed + 1))
    fi
    continue
  fi
  rm -f "$dir/meson-logs/testlog.json"
  meson test -C "$dir" --print-errorlogs --num-processes "$jobs" --timeout-multiplier 3
  if [ -f "$dir/meson-logs/testlog.json" ]; then
    read -r p f s < <(count "$dir/meson-logs/testlog.json")
    for t in $(lsan_crashed "$dir/meson-logs/testlog.json"); do
      echo "[$b] $t: LeakSanitizer crashed in its own tracer; running it once more"
      cp "$dir/meson-logs/testlog.json" "$dir/meson-logs/testlog-first.json"
      if meson test -C "$dir" --no-rebuild --print-errorlogs --timeout-multiplier 3 "$t"; then
        p=$((p + 1)); f=$((f - 1))
      fi
      mv "$dir/meson-logs/testlog-first.json" "$dir/meson-logs/testlog.json"
    done
    echo "[$b] $p passed, $f failed, $s skipped"
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  else
    failed=$((failed + 1))
  fi
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
