#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a working clipcl:
# installs the packages, builds into build/, lists the OpenCL devices, runs
# the self-test (graph -> plan -> kernels on the selected device, checked
# against the reference backend), renders its graph with dot, then trains a
# small CLIP from scratch on the procedural shapes dataset and evaluates it
# zero-shot (a shorter run of tools/train-demo.sh; see docs/training.md).
#   QUICK_STEPS=N   training steps (default 600; the full demo uses 2400)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh </dev/null
if [ ! -f build/build.ninja ]; then meson setup build --buildtype=release; fi
ninja -C build
build/tools/clipcl devices
build/tools/clipcl selftest --dot build/selftest-mlp.dot
dot -Tsvg build/selftest-mlp.dot -o build/selftest-mlp.svg
echo "graph drawing: build/selftest-mlp.svg"
STEPS=${QUICK_STEPS:-600} N_TRAIN=${N_TRAIN:-4000} N_HELDOUT=${N_HELDOUT:-400} N_PROBE=${N_PROBE:-800} \
    CLIPCL=build/tools/clipcl bash tools/train-demo.sh build/quickstart-demo
