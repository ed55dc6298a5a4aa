#!/bin/bash
# Time per training step, one rank against two ranks of one core each, at
# the same global batch (docs/distributed.md, "Measured overheads").
#
#   bench/run_dist_steps.sh [BUILD_DIR] [STEPS]
#
# Needs a build with MPI (meson option mpi) and mpirun. Run on a quiet
# machine (1-minute load below 0.5): it prints uptime and the CPU model with
# the table. Model: a 2-layer width-128 ViT and text tower (image 32 px,
# patch 8, context 16), global batch 32 on synth data; PoCL with one compute
# unit per rank. The first two steps (kernel builds) are left out; min and
# median of elapsed_s in log.jsonl over the rest.
set -euo pipefail
BUILD=${1:-build}
STEPS=${2:-14}
CLIPCL=$(realpath "$BUILD/tools/clipcl")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat > "$TMP/model.json" <<'JSON'
{"embed_dim": 64, "quick_gelu": true,
 "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 128, "layers": 2, "head_width": 64},
 "text_cfg": {"context_length": 16, "vocab_size": 630, "width": 128, "heads": 2, "layers": 2}}
JSON
export POCL_CPU_MAX_CU_NUM=1 CLIPCL_PROGRESS=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
common=(train --data synth:512:3 --model-config "$TMP/model.json" --steps "$STEPS" --warmup 2
        --log-every 0 --workers 1 --lr 1e-3)
echo "# $(date -u +%FT%TZ)  $(uptime)"
echo "# CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
summary() {
    /usr/bin/python3 - "$1" <<'PY'
import json, statistics, sys
t = [json.loads(l)["elapsed_s"] for l in open(sys.argv[1])][2:]
print("%.1f ms | %.1f ms | %s" % (1e3 * min(t), 1e3 * statistics.median(t),
      " ".join("%.3f" % json.loads(l)["loss"] for l in list(open(sys.argv[1]))[-1:])))
PY
}
echo "| run | min per step | median per step | last loss |"
echo "|---|---|---|---|"
taskset -c 0 "$CLIPCL" "${common[@]}" --batch 16 --accum 2 --out "$TMP/one-accum" 2>/dev/null
echo "| 1 rank, batch 16 x accum 2, one core | $(summary "$TMP/one-accum/log.jsonl") |"
taskset -c 0 "$CLIPCL" "${common[@]}" --batch 32 --out "$TMP/one" 2>/dev/null
echo "| 1 rank, batch 32, one core | $(summary "$TMP/one/log.jsonl") |"
mpirun --oversubscribe --bind-to core -np 2 "$CLIPCL" "${common[@]}" --batch 16 --out "$TMP/two" 2>"$TMP/two.err"
echo "| 2 ranks x batch 16, one core each, global loss | $(summary "$TMP/two/log.jsonl") |"
mpirun --oversubscribe --bind-to core -np 2 "$CLIPCL" "${common[@]}" --batch 16 --local-loss --out "$TMP/two-local" 2>/dev/null
echo "| 2 ranks x batch 16, one core each, --local-loss | $(summary "$TMP/two-local/log.jsonl") |"
grep -m1 "global batch" "$TMP/two.err" || true
