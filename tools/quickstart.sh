#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a working clipcl:
# installs the packages, builds into build/, lists the OpenCL devices and runs
# the end-to-end self-test (graph -> plan -> kernels on the selected device,
# checked against the reference backend), then renders its graph with dot.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh </dev/null
if [ ! -f build/build.ninja ]; then meson setup build --buildtype=release; fi
ninja -C build
build/tools/clipcl devices
build/tools/clipcl selftest --dot build/selftest-mlp.dot
dot -Tsvg build/selftest-mlp.dot -o build/selftest-mlp.svg
echo "graph drawing: build/selftest-mlp.svg"
