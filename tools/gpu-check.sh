#!/usr/bin/env bash
# One script for a machine with a GPU: build, the test suite on the GPU's
# OpenCL device, the device policy, a quick GEMM tune, the tower benchmarks,
# and a summary. Made for a bare, offline GPU machine (no package manager
# reaches the network there), so it works in two halves:
#
#   tools/gpu-check.sh --prepare     on a Debian 12 machine with the package
#                                    mirror: downloads the .deb files of every
#                                    library the build needs into .gpudeps/
#                                    (git-ignored), to be carried along
#   tools/gpu-check.sh [--out DIR] [--quick]
#                                    on the GPU machine, from the repository
#                                    root: unpacks .gpudeps/ into a private
#                                    prefix, registers the vendor's OpenCL
#                                    library as an ICD when none is registered,
#                                    builds into build-gpu/, runs the suite
#                                    with CLIPCL_DEVICE=gpu, prints
#                                    `clipcl devices --policy`, tunes and
#                                    benchmarks; everything is logged to DIR
#                                    (default $OUT or gpu-check-out/) and the
#                                    last lines are the summary.
#
# --quick skips the tower benchmarks (suite + policy + GEMM only).
# Put what it printed into docs/benchmarks.md with the device's name.
set -u -o pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

packages=(
  ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers clinfo
  libclblast1 libclblast-dev libstb0 libstb-dev libjson-c5 libjson-c-dev
  libxxhash0 libxxhash-dev libpcre2-8-0 libpcre2-dev zlib1g-dev
  liblinear4 liblinear-dev libblas3 libcmocka0 libcmocka-dev
  libplplot17 libplplot-dev libcsirocsa0 libqhull-r8.0 libshp2 libltdl7 libqsastime0
)

if [ "${1:-}" = "--prepare" ]; then
  mkdir -p .gpudeps
  grep -qx '/.gpudeps/' .git/info/exclude 2>/dev/null || echo '/.gpudeps/' >> .git/info/exclude
  (cd .gpudeps && apt-get download "${packages[@]}") || { echo "gpu-check: apt-get download failed" >&2; exit 1; }
  du -sh .gpudeps
  echo "now carry .gpudeps (and run tools/gpu-check.sh there)"
  exit 0
fi

QUICK=0
OUTDIR=${OUT:-$root/gpu-check-out}
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUTDIR=$2; shift ;;
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$OUTDIR"
log="$OUTDIR/gpu-check.log"
: > "$log"
say() { echo "$*" | tee -a "$log"; }
step() { say; say "== $* ($(date -u +%H:%M:%S))"; }

# Libraries from .gpudeps/ go into a private prefix, never over /.
if [ -d .gpudeps ]; then
  prefix=/tmp/clipcl-gpudeps
  mkdir -p "$prefix"
  for f in .gpudeps/*.deb; do dpkg -x "$f" "$prefix"; done
  export PKG_CONFIG_PATH="$prefix/usr/lib/x86_64-linux-gnu/pkgconfig:$prefix/usr/share/pkgconfig:${PKG_CONFIG_PATH:-}"
  export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
  export PATH="$prefix/usr/bin:$PATH"
  export CPATH="$prefix/usr/include:$prefix/usr/include/stb:${CPATH:-}"
  export LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu:${LIBRARY_PATH:-}"
  # pkg-config files name /usr as their prefix: point them at ours.
  export PKG_CONFIG_SYSROOT_DIR="$prefix"
fi

# The NVIDIA driver ships its OpenCL library without always registering it.
if [ -z "${OCL_ICD_VENDORS:-}" ] && ! ls /etc/OpenCL/vendors/*.icd >/dev/null 2>&1; then
  lib=$(ls /usr/local/nvidia/lib64/libnvidia-opencl.so* /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so* 2>/dev/null | head -1)
  if [ -n "$lib" ]; then
    mkdir -p /tmp/clipcl-icd && echo "$lib" > /tmp/clipcl-icd/nvidia.icd
    export OCL_ICD_VENDORS=/tmp/clipcl-icd
  fi
fi

step "machine"
{ nvidia-smi -L 2>&1 || true; nproc; uptime; } | tee -a "$log"
clinfo -l 2>&1 | tee -a "$log"

step "build"
if [ ! -f build-gpu/build.ninja ]; then
  meson setup build-gpu --buildtype=release 2>&1 | tail -20 | tee -a "$log" || true
fi
if ! ninja -C build-gpu 2>&1 | tail -30 | tee -a "$log"; then :; fi
clipcl=build-gpu/tools/clipcl
[ -x "$clipcl" ] || { say "gpu-check: build failed"; say "summary: build failed"; exit 1; }

export CLIPCL_DEVICE=${CLIPCL_DEVICE:-gpu}
export CLIPCL_CACHE_DIR="$root/build-gpu/cache"
step "device and policy ($CLIPCL_DEVICE)"
"$clipcl" devices 2>&1 | tee -a "$log"
"$clipcl" devices --policy 2>&1 | tee -a "$log"

step "test suite on $CLIPCL_DEVICE"
meson test -C build-gpu --num-processes 4 --timeout-multiplier 3 --print-errorlogs > "$OUTDIR/tests.log" 2>&1
grep -E "^(Ok|Fail|Skipped|Timeout):" "$OUTDIR/tests.log" | tee -a "$log"
grep -E " (FAIL|TIMEOUT) " "$OUTDIR/tests.log" | tee -a "$log"

step "GEMM: own kernel vs CLBlast (first-use tune)"
"$clipcl" tune --quick --clblast 2>&1 | tee -a "$log"
if [ -x build-gpu/bench/bench_matmul ]; then
  build-gpu/bench/bench_matmul 2>&1 | tail -20 | tee -a "$log"
fi

if [ "$QUICK" = 0 ] && command -v python3 >/dev/null && python3 -c 'import numpy' 2>/dev/null; then
  step "towers (random full-size weights)"
  python3 bench/make_random_clip.py /tmp/clipcl-models --model all 2>&1 | tail -2 | tee -a "$log"
  for m in vit-b-32 rn50; do
    for f in 1 0; do
      say "-- $m, CLIPCL_FUSION=$f"
      CLIPCL_FUSION=$f "$clipcl" bench --model /tmp/clipcl-models/$m --batch 1,32 --top 0 2>&1 | tee -a "$log"
    done
  done
fi

step "summary"
say "device: $(clinfo -l 2>/dev/null | grep -i device | head -1)"
say "tests: $(grep -E '^(Ok|Fail):' "$OUTDIR/tests.log" | tr -s ' ' | tr '\n' ' ')"
grep -E "images/s|texts/s" "$log" | tail -16
