#!/bin/bash
# Weight storage A/B (docs/benchmarks.md "Half-precision storage"): `clipcl
# bench --dtype f32|f16|bf16` on one checkpoint, the three alternating in
# every round (so load from elsewhere hits all three alike), then per tower,
# batch and dtype the best and the median of the rounds' medians, and the
# device memory line of the first round.
#
#   bench/run_dtype_bench.sh [--build DIR] [--rounds N] [--batch 1,32] MODEL
#
# MODEL: a checkpoint folder (bench/make_random_clip.py writes full-size
# random ones). No CLIPCL_* variable is needed or set.
set -euo pipefail
BUILD=build
ROUNDS=5
BATCH=1
while [ $# -gt 1 ]; do
    case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    *) echo "run_dtype_bench.sh: unexpected argument $1" >&2; exit 2 ;;
    esac
done
[ $# -eq 1 ] || { echo "usage: bench/run_dtype_bench.sh [--build DIR] [--rounds N] [--batch 1,32] MODEL" >&2; exit 2; }
MODEL=$1
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
echo "# $(uptime)"
for r in $(seq "$ROUNDS"); do
    for dt in f32 f16 bf16; do
        echo "# round $r $dt, load $(cut -d' ' -f1 /proc/loadavg)"
        "$BUILD/tools/clipcl" bench --model "$MODEL" --batch "$BATCH" --dtype "$dt" --no-ops \
            --runs 10 --min-time 3 | grep -E "batch [0-9]+:|device weights" | sed "s/^/$dt /" | tee -a "$LOG"
    done
done
python3 - "$LOG" <<'PY'
import re, statistics, sys
rates, mem = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r"(\S+) (image|text) batch (\d+): ([\d.]+) ", line)
    if m:
        dt, tw, b, v = m.group(1), m.group(2), int(m.group(3)), float(m.group(4))
        rates.setdefault((tw, b), {}).setdefault(dt, []).append(v)
        last = (tw, b)
    elif "device weights" in line:
        mem.setdefault((last, line.split()[0]), line.split(":", 1)[1].strip())
print("\n| tower | batch | dtype | best items/s | median items/s | median / f32 | device weights |")
print("| --- | ---: | --- | ---: | ---: | ---: | --- |")
for (tw, b), d in sorted(rates.items()):
    base = statistics.median(d["f32"])
    for dt in ("f32", "f16", "bf16"):
        v = d.get(dt, [])
        if v:
            print("| %s | %d | %s | %.2f | %.2f | %.2fx | %s |" % (
                tw, b, dt, max(v), statistics.median(v), statistics.median(v) / base,
                mem.get(((tw, b), dt), "")))
PY
