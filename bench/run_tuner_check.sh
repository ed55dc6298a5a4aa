#!/bin/bash
# Proves the GEMM tuner on this machine:
#   1. an exhaustive sweep of the wide GEMM space (`clipcl tune --space wide
#      --no-store`: vector widths 4, 8, 16, a quarter to 1.5x the register
#      estimate) on the ViT-B/32 batch-32 shapes;
#   2. `clipcl tune` (the device's own space) into a fresh cache, and whether
#      its pick is within 10 % of the sweep's best, by the sweep's own times;
#   3. the same with a busy loop on one core running beside it (within 15 %).
# Every step prints the 1-minute load average. Run it on a quiet machine:
# the sweep takes long (every tile is a kernel build and 3 rounds of 3
# shapes), which is why it lives here and not in the tests.
#
# usage: bench/run_tuner_check.sh [--build DIR] [--device D] [--smoke]
#   --smoke   tiny shapes and four tiles: checks the script, proves nothing
set -euo pipefail

build=build
device=
smoke=0
while [ $# -gt 0 ]; do
    case "$1" in
    --build) build=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --smoke) smoke=1; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_tuner_check.sh: unknown option \"$1\"" >&2; exit 2 ;;
    esac
done
clipcl=$build/tools/clipcl
[ -x "$clipcl" ] || { echo "run_tuner_check.sh: $clipcl not found (build first: ninja -C $build)" >&2; exit 1; }

shapes=1600x3072x768,1600x768x3072,1600x2304x768
sweep_args=(--space wide --rounds 3)
tune_args=()
if [ "$smoke" = 1 ]; then
    shapes=64x96x48,33x40x20
    sweep_args=(--tiles 4x8x3,6x8x2,6x16x4,8x16x2 --rounds 2)
    tune_args=(--tiles 4x8x3,6x16x4 --rounds 2)
fi
dev=()
[ -n "$device" ] && dev=(--device "$device")

work=$(mktemp -d)
busy=
cleanup() {
    [ -n "$busy" ] && kill "$busy" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

load() { cut -d' ' -f1 /proc/loadavg; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs"
echo "flags:   $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|fma)$' | tr '\n' ' ')"
"$clipcl" tune "${dev[@]}" --list | sed -n '1,4p'

echo "== 1. exhaustive sweep (${sweep_args[*]}, shapes $shapes), load $(load)"
CLIPCL_CACHE_DIR=$work/sweep-cache "$clipcl" tune "${dev[@]}" "${sweep_args[@]}" --shapes "$shapes" \
    --no-clblast --no-store --json >"$work/sweep.json"

# one tune into a fresh cache, judged against the sweep
check() { # NAME LIMIT
    local name=$1 limit=$2
    CLIPCL_CACHE_DIR=$work/$name-cache "$clipcl" tune "${dev[@]}" "${tune_args[@]}" --shapes "$shapes" \
        --no-clblast --json >"$work/$name.json"
    /usr/bin/env python3 - "$work/sweep.json" "$work/$name.json" "$limit" "$name" <<'EOF'
import json, sys
sweep, pick, limit, name = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), float(sys.argv[3]), sys.argv[4]
times = {c["tile"]: c["total_ms"] for c in sweep["candidates"]}
best = min(times, key=times.get)
tile = pick["tile"]
print("sweep: %d tiles, best %s %.2f ms (load %.2f -> %.2f)" % (len(times), best, times[best],
      sweep["load_before"], sweep["load_after"]))
print("%s: picked %s in %.1f s (load %.2f -> %.2f)" % (name, tile, pick["seconds"], pick["load_before"],
      pick["load_after"]))
if tile not in times:
    print("%s: FAIL - %s is not in the sweep" % (name, tile))
    sys.exit(1)
ratio = times[tile] / times[best]
ok = ratio <= 1 + limit
print("%s: %s - the pick takes %.3fx the best's time in the sweep (limit %.2fx)" %
      (name, "PASS" if ok else "FAIL", ratio, 1 + limit))
sys.exit(0 if ok else 1)
EOF
}

status=0
echo "== 2. clipcl tune on a quiet machine, load $(load)"
check quiet 0.10 || status=1

echo "== 3. clipcl tune beside a busy loop on one core, load $(load)"
if command -v taskset >/dev/null; then
    taskset -c 0 bash -c 'while :; do :; done' &
else
    bash -c 'while :; do :; done' &
fi
busy=$!
sleep 2
check busy 0.15 || status=1
kill "$busy" 2>/dev/null || true
busy=
echo "done, load $(load)"
exit $status
