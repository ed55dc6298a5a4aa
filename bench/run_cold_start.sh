#!/usr/bin/env bash
# Cold start and peak memory of one image embed, in one run (docs/benchmarks.md,
# "Cold start and memory"):
#   1. clipcl cold: empty caches (a fresh HOME / XDG_CACHE_HOME, so an empty
#      clipcl cache: program binaries, self-check, tuning; and an empty
#      POCL_CACHE_DIR), as a new user's first `clipcl embed-image`;
#   2. clipcl warm: the same command again on the caches the first one filled;
#   3. PyTorch: bench/clip_torch_bench.py embedding one image (batch 1) of the
#      same safetensors (import, load, one forward pass).
# Each under /usr/bin/time -v: wall seconds and maximum resident set size.
# Then the cold run's breakdown (CLIPCL_TIMINGS=1: process start, checkpoint
# load, device open and self-check, each kernel program build, plan build,
# upload, runs). No other CLIPCL_* variable is set: the default path.
#
#   bench/run_cold_start.sh [--build DIR] [--model DIR] [--image FILE] [--no-torch]
#
# Defaults: build/, $CLIPCL_BENCH_DIR/vit-b-32 (default ~/.cache/clipcl/bench-models, bench/make_random_clip.py writes it),
# tests/data/preprocess_rgb_200x150_in.png.
set -u -o pipefail

BUILD=build
MODEL=${CLIPCL_BENCH_DIR:-$HOME/.cache/clipcl/bench-models}/vit-b-32
IMAGE=tests/data/preprocess_rgb_200x150_in.png
TORCH=1
PY=/usr/bin/python3
die() { echo "run_cold_start.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --build) [ $# -ge 2 ] || die "--build needs a value"; BUILD=$2; shift ;;
        --model) [ $# -ge 2 ] || die "--model needs a value"; MODEL=$2; shift ;;
        --image) [ $# -ge 2 ] || die "--image needs a value"; IMAGE=$2; shift ;;
        --no-torch) TORCH=0 ;;
        -h|--help) sed -n 2,19p "$0"; exit 0 ;;
        *) die "unknown option \"$1\"" ;;
    esac
    shift
done
CLIPCL=$BUILD/tools/clipcl
[ -x "$CLIPCL" ] || die "$CLIPCL not found: build first (meson setup build && ninja -C build)"
[ -d "$MODEL" ] || [ -f "$MODEL" ] || die "model $MODEL not found"
[ -f "$IMAGE" ] || die "image $IMAGE not found"
[ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time)"

TMP=$(mktemp -d /tmp/clipcl-cold.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/home" "$TMP/pocl"
# every CLIPCL_* variable of the caller is dropped: the default path
CLEAN_ENV=(env)
for v in $(env | sed -n 's/^\(CLIPCL_[A-Z0-9_]*\)=.*/\1/p'); do CLEAN_ENV+=(-u "$v"); done
CLEAN_ENV+=(HOME="$TMP/home" XDG_CACHE_HOME="$TMP/home/.cache" POCL_CACHE_DIR="$TMP/pocl")

# run NAME CMD...: /usr/bin/time -v into $TMP/NAME.time, stderr into $TMP/NAME.err
run() {
    local name=$1; shift
    /usr/bin/time -v -o "$TMP/$name.time" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    local rc=$?
    if [ $rc -ne 0 ]; then
        echo "run_cold_start.sh: $name failed (exit $rc):" >&2
        tail -5 "$TMP/$name.err" >&2
        exit 1
    fi
}
wall() { # h:mm:ss or m:ss.ss -> seconds
    sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1" |
        awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }'
}
cpu() { # user + system seconds: what a quiet machine's wall time would be for a one-thread run
    awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$1"
}
rss() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1" | awk '{ printf "%.0f", $1 / 1024 }'; }

echo "$(uptime)"
echo "cpu: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(nproc) cpus"
run cold "${CLEAN_ENV[@]}" CLIPCL_TIMINGS=1 "$CLIPCL" embed-image --device cpu --model "$MODEL" \
    --out "$TMP/cold.npy" "$IMAGE"
run warm "${CLEAN_ENV[@]}" CLIPCL_TIMINGS=1 "$CLIPCL" embed-image --device cpu --model "$MODEL" \
    --out "$TMP/warm.npy" "$IMAGE"
cmp -s "$TMP/cold.npy" "$TMP/warm.npy" || echo "note: the cold and warm features differ" >&2
if [ $TORCH = 1 ]; then
    run torch env OMP_NUM_THREADS=2 "$PY" bench/clip_torch_bench.py --model "$MODEL" --batch 1 \
        --tower image --min-time 0 --min-iters 1
fi

echo
echo "| run | wall s | cpu s (user+sys) | max RSS MB |"
echo "|---|---:|---:|---:|"
for r in cold warm torch; do
    [ -f "$TMP/$r.time" ] || continue
    case $r in
        cold) label="clipcl embed-image, cold (empty caches)" ;;
        warm) label="clipcl embed-image, warm" ;;
        torch) label="PyTorch, same embed (import, load, 1 image)" ;;
    esac
    echo "| $label | $(wall "$TMP/$r.time") | $(cpu "$TMP/$r.time") | $(rss "$TMP/$r.time") |"
done
echo
echo "cold run breakdown (wall s, CLIPCL_TIMINGS=1):"
sed -n '/^clipcl timings/,$p' "$TMP/cold.err" | tail -n +2
echo
echo "warm run breakdown:"
sed -n '/^clipcl timings/,$p' "$TMP/warm.err" | tail -n +2
