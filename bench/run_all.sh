#!/usr/bin/env bash
# All of clipcl's benchmarks against their baselines, one after the other, in
# one command: (1) GEMM vs numpy/OpenBLAS, (2) CLIP towers vs PyTorch,
# (3) one training step vs PyTorch. See docs/benchmarks.md.
#
#   bench/run_all.sh [--build DIR] [--only matmul,clip,train] [--no-vit-train]
#                    [--clip-repeat N] [--blas DIR] [--results DIR] [--dry-run]
#                    [--matmul-args "..."] [--clip-args "..."] [--train-args "..."]
#
# Run from the repository root with a built build dir (default build/:
# tools/clipcl, bench/bench_matmul, bench/bench_train). The parts run in
# sequence, never two at once; `uptime` is printed before each. Everything is
# teed into bench/results/<date>.log and the three ratio tables are written
# to bench/results/<date>-summary.md (and printed at the end).
#
#   --only LIST        run only these parts (default matmul,clip,train)
#   --no-vit-train     train only the small models (ViT-B/32 training is the
#                      longest item: ~3-5 min on a quiet 2-core machine, ~4 GiB)
#   --clip-repeat N    repeats of the tower bench (default 2; median reported)
#   --blas DIR         a folder with OpenBLAS's libblas.so.3, put first on
#                      LD_LIBRARY_PATH of every part (when the system BLAS is
#                      not OpenBLAS and libopenblas0-pthread cannot be installed)
#   --X-args "..."     extra options appended to that part's runner (they win
#                      over the defaults here), e.g. --matmul-args "--min-time 0.1"
#   --quiet-wait S     before each part wait up to S seconds (default 240) for
#                      the 1-minute load to fall below 0.5: a part's own two
#                      threads keep it above 1 for a minute after it ends, so
#                      without the wait the next part starts on a busy machine;
#                      0 starts each part at once
#   --dry-run          check the BLAS, print the commands, run and write nothing
set -u -o pipefail

PY=/usr/bin/python3
BUILD=build
ONLY=matmul,clip,train
VIT_TRAIN=1
CLIP_REPEAT=2
BLAS_DIR=
RESULTS=bench/results
DRY=0
QUIET_WAIT=240
MATMUL_ARGS='' CLIP_ARGS='' TRAIN_ARGS=''

die() { echo "run_all.sh: $*" >&2; exit 2; }
need_arg() { [ $# -ge 2 ] || die "$1 needs a value"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --build) need_arg "$@"; BUILD=$2; shift ;;
        --only) need_arg "$@"; ONLY=$2; shift ;;
        --no-vit-train) VIT_TRAIN=0 ;;
        --clip-repeat) need_arg "$@"; CLIP_REPEAT=$2; shift ;;
        --blas) need_arg "$@"; BLAS_DIR=$2; shift ;;
        --results) need_arg "$@"; RESULTS=$2; shift ;;
        --matmul-args) need_arg "$@"; MATMUL_ARGS=$2; shift ;;
        --clip-args) need_arg "$@"; CLIP_ARGS=$2; shift ;;
        --train-args) need_arg "$@"; TRAIN_ARGS=$2; shift ;;
        --quiet-wait) need_arg "$@"; QUIET_WAIT=$2; shift ;;
        --dry-run) DRY=1 ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done
case "$QUIET_WAIT" in ''|*[!0-9]*) die "--quiet-wait: '$QUIET_WAIT' is not a number of seconds" ;; esac
if [ ! -f bench/run_matmul_bench.py ] || [ ! -f meson.build ]; then
    die "run me from the repository root (bench/run_all.sh)"
fi
[ -x "$PY" ] || die "$PY is missing: the benches need Debian's python with numpy and torch"
case "$CLIP_REPEAT" in ''|*[!0-9]*|0) die "--clip-repeat '$CLIP_REPEAT': expected a count >= 1" ;; esac
for p in ${ONLY//,/ }; do
    case "$p" in matmul|clip|train) ;; *) die "--only: unknown part '$p' (matmul, clip, train)" ;; esac
done
want() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
if [ -n "$BLAS_DIR" ]; then
    [ -e "$BLAS_DIR/libblas.so.3" ] || die "--blas $BLAS_DIR: no libblas.so.3 there"
    BLAS_DIR=$(cd "$BLAS_DIR" && pwd) || die "--blas $BLAS_DIR: cannot enter it"
    export LD_LIBRARY_PATH="$BLAS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export PYTHONUNBUFFERED=1

TRAIN_MODELS=small,small-rn
[ "$VIT_TRAIN" = 1 ] && TRAIN_MODELS=small,small-rn,vit-b-32
# shellcheck disable=SC2206,SC2054  # --X-args are split into words on purpose; commas are values
CMD_MATMUL=("$PY" bench/run_matmul_bench.py --bench "$BUILD/bench/bench_matmul" --impl both
            --min-time 1 --runs 5 --batches 1,32 $MATMUL_ARGS)
# shellcheck disable=SC2206,SC2054
CMD_CLIP=("$PY" bench/run_clip_bench.py --clipcl "$BUILD/tools/clipcl" --models vit-b-32,rn50
          --batch 1,32 --tower image,text --repeat "$CLIP_REPEAT" --min-time 3 $CLIP_ARGS)
# shellcheck disable=SC2206,SC2054
CMD_TRAIN=("$PY" bench/run_train_bench.py --bench "$BUILD/bench/bench_train" --models "$TRAIN_MODELS"
           --batch 32 --steps 3 --warmup 1 --repeat 1 $TRAIN_ARGS)

STAMP=$(date +%Y-%m-%d-%H%M)
[ -e "$RESULTS/$STAMP.log" ] && STAMP=$(date +%Y-%m-%d-%H%M%S)  # a second run in the same minute
LOG="$RESULTS/$STAMP.log"
SUMMARY="$RESULTS/$STAMP-summary.md"
WORK=$(mktemp -d /tmp/clipcl-run-all.XXXXXX) || die "mktemp failed"
trap 'rm -rf "$WORK"' EXIT

banner() { printf '\n%s\n%s\n%s\n' "================================================================" "$*" \
    "================================================================"; }

# The BLAS that numpy and torch use, each in its own process (torch maps
# libraries of its own). A mapped libopenblas proves nothing: Debian's
# liblapack.so.3 pulls it in even when libblas.so.3 (where the GEMMs go) is
# the netlib reference one. So the verdict is libblas/libcblas's real path,
# and a 512^3 GEMM's speed is printed next to it (reference BLAS: ~1 GFLOP/s).
blas_check() {
    local code='
import os, sys, time
def libs():
    out = set()
    for line in open("/proc/self/maps"):
        f = line.split()
        n = os.path.basename(f[-1]).lower() if len(f) >= 6 else ""
        if "blas" in n or "mkl" in n or "blis" in n:
            out.add((n, os.path.realpath(f[-1])))
    return out
def gflops(mm, a):
    mm(a, a)
    t = time.perf_counter(); mm(a, a); dt = time.perf_counter() - t
    return 2 * 512 ** 3 / dt * 1e-9
if sys.argv[1] == "numpy":
    import numpy as np
    who, rate = "numpy " + np.__version__, gflops(np.matmul, np.ones((512, 512), np.float32))
else:
    import torch
    who, rate = "torch " + torch.__version__, gflops(torch.matmul, torch.ones(512, 512))
found = libs()
gemm = [p for n, p in found if n.startswith(("libblas.so", "libcblas.so"))]
ok = bool(gemm) and all("openblas" in p.lower() for p in gemm)
print("%s %s: libblas -> %s; 512^3 sgemm %.1f GFLOP/s; all mapped: %s" % (
    "OK " if ok else "BAD", who, ", ".join(sorted(set(gemm))) or "none mapped", rate,
    ", ".join(sorted(p for n, p in found))))
'
    local who line ok=1
    BLAS_NOTES=()
    for who in numpy torch; do
        line=$("$PY" -c "$code" "$who" 2>&1 | tail -n 1)
        case "$line" in "OK "*|"BAD "*) ;; *) line="BAD $who: cannot be imported by $PY ($line)" ;; esac
        echo "BLAS  $line"
        BLAS_NOTES+=("${line%%; all mapped*}")
        case "$line" in "OK "*) ;; *) ok=0 ;; esac
    done
    if [ "$ok" = 0 ]; then
        banner "WARNING: numpy or torch is NOT using OpenBLAS (the BAD line above).
Its GEMMs then run ~40-100x slower than OpenBLAS: the baselines are unfair
and every ratio below is meaningless. Fix: apt-get install
libopenblas0-pthread (the alternatives system then points libblas.so.3 at
it), or pass --blas DIR, a folder with OpenBLAS's libblas.so.3 (apt-get
download libopenblas0-pthread; dpkg-deb -x ...; DIR = .../openblas-pthread)."
        BLAS_NOTES+=("**WARNING: numpy or torch is not on OpenBLAS: the baselines are not fair.**")
    fi
}

load_line() {
    local l1 n
    uptime
    l1=$(cut -d' ' -f1 /proc/loadavg); n=$(nproc)
    if awk -v l="$l1" -v n="$n" 'BEGIN { exit !(l > 0.25 * n) }'; then
        echo "NOTE: 1-minute load $l1 on $n cores: the machine is not quiet, the numbers will be low and noisy"
    fi
}

# The first block of table lines whose header matches $2, then the runner's
# own (unindented) notes matching $3, from the part's output $1.
table_of() {
    awk -v head="$2" -v note="$3" '
        /^\|/ { if (state == 0 && $0 ~ head) state = 1; if (state == 1) { print; next } }
        state == 1 { state = 2 }
        note != "" && $0 ~ note { notes = notes "- " $0 "\n" }
        END { if (notes != "") printf "\n%s", notes }' "$1"
}

# Waits (up to QUIET_WAIT s) for the 1-minute load to fall below 0.5.
wait_quiet() {
    local t0=$SECONDS l1
    while :; do
        l1=$(cut -d' ' -f1 /proc/loadavg)
        awk -v l="$l1" 'BEGIN { exit !(l < 0.5) }' && return 0
        if [ $((SECONDS - t0)) -ge "$QUIET_WAIT" ]; then
            echo "waited ${QUIET_WAIT} s for a 1-minute load below 0.5; it is $l1: starting anyway"
            return 0
        fi
        sleep 10
    done
}

declare -A RC=() SECS=() LOADS=() SKIP=()
run_part() {
    local name=$1 title=$2; shift 2
    banner "Part $name: $title"
    wait_quiet
    LOADS[$name]=$(cut -d' ' -f1-3 /proc/loadavg)
    load_line
    echo "\$ $*"
    local t0=$SECONDS
    "$@" 2>&1 | tee "$WORK/$name.out"
    RC[$name]=${PIPESTATUS[0]}
    SECS[$name]=$((SECONDS - t0))
    echo "-- part $name: exit ${RC[$name]}, ${SECS[$name]} s"
}

check_exe() {
    [ -x "$1" ] && return 0
    echo "run_all.sh: $1 is missing: build it first (ninja -C $BUILD)" >&2
    return 1
}

summary_part() {
    local name=$1 title=$2 head=$3 note=$4
    want "$name" || return 0
    printf '## %s\n\n' "$title"
    if [ -z "${RC[$name]+x}" ]; then
        printf 'not run (%s)\n\n' "${SKIP[$name]:-skipped}"
        return 0
    fi
    printf 'load before: %s; %d s; exit %s\n\n' "${LOADS[$name]}" "${SECS[$name]}" "${RC[$name]}"
    table_of "$WORK/$name.out" "$head" "$note"
    [ "${RC[$name]}" = 0 ] || printf -- '- **FAILED (exit %s)**: see %s\n' "${RC[$name]}" "$LOG"
    echo
}

main() {
    echo "clipcl benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), in $(pwd)"
    echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?');" \
         "$(GIT_OPTIONAL_LOCKS=0 git status --porcelain --untracked-files=no 2>/dev/null | wc -l) modified tracked files"
    echo "CPU: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1), $(nproc) cores;" \
         "MemAvailable $(awk '/MemAvailable/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "OpenCL: $(clinfo -l 2>/dev/null | tr -s ' \n' ' ' || echo 'clinfo missing')"
    echo "parts: $ONLY; train models: $TRAIN_MODELS; log: $LOG"
    blas_check
    if [ "$DRY" = 1 ]; then
        want matmul && echo "\$ ${CMD_MATMUL[*]}"
        want clip && echo "\$ ${CMD_CLIP[*]}"
        want train && echo "\$ ${CMD_TRAIN[*]}"
        echo "(dry run: nothing run, nothing written)"
        return 0
    fi
    if want matmul; then
        if check_exe "$BUILD/bench/bench_matmul"; then run_part matmul "GEMM, clipcl vs numpy/OpenBLAS" "${CMD_MATMUL[@]}"
        else SKIP[matmul]="$BUILD/bench/bench_matmul not built"; fi
    fi
    if want clip; then
        if check_exe "$BUILD/tools/clipcl"; then run_part clip "CLIP towers, clipcl vs PyTorch" "${CMD_CLIP[@]}"
        else SKIP[clip]="$BUILD/tools/clipcl not built"; fi
    fi
    if want train; then
        if check_exe "$BUILD/bench/bench_train"; then run_part train "training step, clipcl vs PyTorch" "${CMD_TRAIN[@]}"
        else SKIP[train]="$BUILD/bench/bench_train not built"; fi
    fi
    {
        echo "# clipcl benchmarks, $STAMP"
        echo
        echo "$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1), $(nproc) cores;" \
             "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); full log: $LOG"
        echo
        for line in "${BLAS_NOTES[@]}"; do echo "- BLAS $line"; done
        echo
        summary_part matmul "1. GEMM, GFLOP/s (wall, median call) and clipcl / numpy-OpenBLAS" \
            '^[|] shape' '^# WARNING'
        summary_part clip "2. CLIP towers, items/s (median of repeats) and clipcl / PyTorch" \
            '^[|] model [|] tower' '^WARNING'
        summary_part train "3. Training step (forward, backward, AdamW), samples/s and clipcl / PyTorch" \
            '^[|] model [|] batch' '^(WARNING|PyTorch .*BLAS|.* batch [0-9]+, clipcl: )'
    } > "$WORK/summary.md"
    cp "$WORK/summary.md" "$SUMMARY"
    banner "Summary (also in $SUMMARY)"
    cat "$SUMMARY"
    local rc=0 p
    for p in "${!RC[@]}"; do [ "${RC[$p]}" = 0 ] || rc=1; done
    [ "${#SKIP[@]}" = 0 ] || rc=1
    return $rc
}

if [ "$DRY" = 1 ]; then
    main
    exit $?
fi
mkdir -p "$RESULTS" || die "cannot create $RESULTS"
main 2>&1 | tee "$LOG"
exit "${PIPESTATUS[0]}"
