#!/usr/bin/env bash
# Bulk embedding end to end (docs/bulk-embedding.md): makes an N-image
# synthetic webdataset with `clipcl synth --wds`, embeds it with
# `clipcl embed-image --data SHARDS --out DIR` uninterrupted, then again with
# a SIGKILL once about half the rows are committed followed by --resume,
# checks that every output file of the two runs is byte-identical and that
# the metadata lists each image exactly once, and reports images/s against
# `clipcl bench` (the pure device throughput) at the same batch.
#
#   bench/run_bulk_embed.sh [--build DIR] [--model M] [--n N] [--size S]
#                           [--batch B] [--shard-size R] [--synth-shard K]
#                           [--workers W] [--device D] [--work DIR]
#                           [--hook] [--keep]
#
#   --model M        checkpoint (default: a random full-size ViT-B/32 made by
#                    bench/make_random_clip.py under WORK/models, kept there
#                    for the next run)
#   --n N            images (default 20000); --size S their side (default 224)
#   --batch B        device batch (default 64); --shard-size R rows per
#                    output shard (default 2000); --synth-shard K samples per
#                    input .tar (default 1000)
#   --workers W      decoding threads (default: clipcl's, the core count)
#   --work DIR       scratch folder (default /tmp/clipcl-bulk-bench); the
#                    synthetic set is reused when it is already there
#   --hook           interrupt with CLIPCL_BULK_KILL_AT_SHARD (the process
#                    kills itself with SIGKILL at the middle shard, between
#                    writing its files and listing it) instead of an
#                    external kill -9 after polling the manifest: for sizes
#                    so small that a run ends before a poll could see it
#   --keep           keep the embedding folders (the set is always kept)
#
# The full benchmark (20,000 images of 224 px, ViT-B/32) takes a while and
# must run on a quiet machine; a smoke check of the script itself:
#   bench/run_bulk_embed.sh --model tests/data/clip_small_vit/openai --n 300 \
#       --size 32 --shard-size 50 --synth-shard 64 --hook
set -u -o pipefail

PY=/usr/bin/python3
BUILD=build
MODEL=
N=20000
SIZE=224
BATCH=64
SHARD=2000
SYNTH_SHARD=1000
WORKERS=
DEVICE=
WORK=/tmp/clipcl-bulk-bench
HOOK=0
KEEP=0

die() { echo "run_bulk_embed.sh: $*" >&2; exit 2; }
need_arg() { [ $# -ge 2 ] || die "$1 needs a value"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --build) need_arg "$@"; BUILD=$2; shift ;;
        --model) need_arg "$@"; MODEL=$2; shift ;;
        --n) need_arg "$@"; N=$2; shift ;;
        --size) need_arg "$@"; SIZE=$2; shift ;;
        --batch) need_arg "$@"; BATCH=$2; shift ;;
        --shard-size) need_arg "$@"; SHARD=$2; shift ;;
        --synth-shard) need_arg "$@"; SYNTH_SHARD=$2; shift ;;
        --workers) need_arg "$@"; WORKERS=$2; shift ;;
        --device) need_arg "$@"; DEVICE=$2; shift ;;
        --work) need_arg "$@"; WORK=$2; shift ;;
        --hook) HOOK=1 ;;
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d;s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

CLIPCL=$BUILD/tools/clipcl
[ -x "$CLIPCL" ] || die "$CLIPCL not found: build first (meson setup $BUILD && ninja -C $BUILD)"
mkdir -p "$WORK" || die "cannot create $WORK"
if [ -z "$MODEL" ]; then
    MODEL=$WORK/models/vit-b-32
    if [ ! -f "$MODEL/model.safetensors" ]; then
        $PY bench/make_random_clip.py "$WORK/models" --model vit-b-32 || die "make_random_clip.py failed"
    fi
fi
DEV=()
[ -n "$DEVICE" ] && DEV=(--device "$DEVICE")
WRK=()
[ -n "$WORKERS" ] && WRK=(--workers "$WORKERS")
export CLIPCL_PROGRESS=0

echo "== $(date -u '+%F %T') UTC; $(uptime)"
echo "model $MODEL, $N images of ${SIZE}px, batch $BATCH, shard size $SHARD"

# 1. the synthetic webdataset (kept between runs: same seed, same bytes)
SET=$WORK/set-n$N-s$SIZE-k$SYNTH_SHARD
if [ ! -f "$SET/.done" ]; then
    rm -rf "$SET"
    t0=$(date +%s.%N)
    "$CLIPCL" synth --out "$SET" --n "$N" --size "$SIZE" --wds --shard-size "$SYNTH_SHARD" \
        || die "synth failed"
    touch "$SET/.done"
    echo "synth: $(echo "$(date +%s.%N) - $t0" | bc) s"
fi
SHARDS=$SET/shards

# 2. pure device throughput at the same batch
BENCH=$("$CLIPCL" bench --model "$MODEL" --batch "$BATCH" --tower image --no-ops "${DEV[@]}" 2>&1) \
    || { echo "$BENCH"; die "clipcl bench failed"; }
echo "$BENCH" | grep -E '^(device|image batch)'
BENCH_IPS=$(echo "$BENCH" | sed -n 's/^image batch [0-9]*: \([0-9.]*\) images\/s.*/\1/p')

embed() { # OUT [extra args...]; exec: in the background, $! is clipcl itself
    local out=$1; shift
    exec "$CLIPCL" embed-image --model "$MODEL" --data "$SHARDS" --out "$out" --batch "$BATCH" \
        --shard-size "$SHARD" "${DEV[@]}" "${WRK[@]}" "$@"
}
rate() { # the "(... inputs this run, X img/s)" of a run's last line
    sed -n 's/.* inputs* this run, \([0-9.]*\) img\/s.*/\1/p' "$1" | tail -1
}

# 3. uninterrupted
FULL=$WORK/full
rm -rf "$FULL"
t0=$(date +%s.%N)
(embed "$FULL") 2> "$WORK/full.log" || { cat "$WORK/full.log"; die "uninterrupted run failed"; }
WALL=$(echo "$(date +%s.%N) - $t0" | bc)
FULL_IPS=$(rate "$WORK/full.log")
tail -1 "$WORK/full.log"

# 4. interrupted at about half, then resumed
PART=$WORK/resumed
rm -rf "$PART"
HALF_ROWS=$(( N / 2 ))
if [ "$HOOK" = 1 ]; then
    K=$(( HALF_ROWS / SHARD ))
    (CLIPCL_BULK_KILL_AT_SHARD=$K embed "$PART") 2> "$WORK/killed.log"
    rc=$?
    echo "killed by the hook at shard $K (exit status $rc)"
else
    embed "$PART" 2> "$WORK/killed.log" &
    pid=$!
    $PY - "$PART/manifest.json" "$HALF_ROWS" "$pid" <<'EOF'
import json, os, signal, sys, time
path, half, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
while True:
    try:
        with open(path) as f:
            rows = json.load(f)["rows"]
    except (OSError, ValueError, KeyError):
        rows = 0
    if rows >= half:
        os.kill(pid, signal.SIGKILL)
        print("SIGKILL sent with %d rows committed" % rows)
        break
    try:
        os.kill(pid, 0)
    except OSError:
        print("the run ended before %d rows: nothing interrupted (try --hook)" % half)
        break
    time.sleep(0.05)
EOF
    wait "$pid"
    rc=$?
    echo "interrupted run exit status $rc (137 = SIGKILL)"
fi
[ "$rc" = 137 ] || die "the run was not killed (exit status $rc); nothing was resumed"
ROWS_AT_KILL=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["rows"])' "$PART/manifest.json")
t0=$(date +%s.%N)
(embed "$PART" --resume) 2> "$WORK/resume.log" || { cat "$WORK/resume.log"; die "--resume failed"; }
RESUME_WALL=$(echo "$(date +%s.%N) - $t0" | bc)
grep -E 'resuming|rows in' "$WORK/resume.log"

# 5. the two folders are the same bytes; every image once
SAME=yes
for f in "$FULL"/*; do
    cmp -s "$f" "$PART/$(basename "$f")" || { SAME=no; echo "differs: $(basename "$f")"; }
done
[ "$(ls "$FULL" | wc -l)" = "$(ls "$PART" | wc -l)" ] || { SAME=no; echo "file lists differ"; }
KEYS=$($PY - "$PART" "$N" <<'EOF'
import csv, glob, json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
keys = []
for s in json.load(open(os.path.join(d, "manifest.json")))["shards"]:
    with open(os.path.join(d, s["metadata"]), newline="") as f:
        keys += [r[0] for r in list(csv.reader(f))[1:]]
want = ["%07d" % i for i in range(n)]
missing, doubled = len(set(want) - set(keys)), len(keys) - len(set(keys))
print("%d rows, %d missing, %d doubled" % (len(keys), missing, doubled))
sys.exit(0 if keys == want else 1)
EOF
)
KEYS_OK=$?

echo
echo "## bulk embedding, $N synthetic ${SIZE}px images, batch $BATCH ($(date -u +%F))"
echo
echo "| measure | value |"
echo "|---|---|"
echo "| clipcl bench, image tower, batch $BATCH | $BENCH_IPS images/s |"
echo "| embed-image --data, uninterrupted (steady, after model load) | $FULL_IPS images/s |"
echo "| same, wall clock including model load and shard writes | $(echo "scale=1; $N / $WALL" | bc) images/s ($WALL s) |"
echo "| bulk / bench | $(echo "scale=3; $FULL_IPS / $BENCH_IPS" | bc) |"
echo "| interrupted at | $ROWS_AT_KILL rows committed |"
echo "| resume | $RESUME_WALL s, $(rate "$WORK/resume.log") images/s |"
echo "| resumed shards byte-identical to uninterrupted | $SAME |"
echo "| keys | $KEYS |"
[ "$KEEP" = 1 ] || rm -rf "$FULL" "$PART"
[ "$SAME" = yes ] && [ "$KEYS_OK" = 0 ] || exit 1
