#!/usr/bin/env bash
# Installs every Debian package clipcl needs to build, test and benchmark.
# Debian 12 (bookworm). Run as root (or through sudo). Non-interactive.
set -euo pipefail

packages=(
  build-essential pkg-config meson ninja-build python3   # toolchain
  ocl-icd-opencl-dev opencl-c-headers clinfo             # OpenCL ICD loader + headers
  pocl-opencl-icd                                        # an OpenCL CPU device, always present
  libclblast-dev                                         # GEMM on GPUs
  libstb-dev                                             # image decoding (stb_image: PNG, BMP, GIF, TGA, PSD, PNM)
  libjpeg62-turbo-dev                                    # JPEG as Pillow decodes it (libjpeg-turbo)
  libwebp-dev                                            # WebP (libwebp + libwebpdemux, as Pillow)
  libtiff-dev                                            # TIFF, first page (libtiff, as Pillow)
  libjson-c-dev                                          # safetensors headers, configs, --json
  libxxhash-dev                                          # program-cache keys and checksums
  libpcre2-dev                                           # tokenizer pre-split (Unicode classes)
  libsentencepiece-dev                                   # SigLIP's SentencePiece tokenizer (C++ library, wrapped by io/spm_model.cc)
  zlib1g-dev                                             # OpenAI's .txt.gz BPE vocabulary
  liblinear-dev                                          # logistic regression for the linear probe
  libcmocka-dev                                          # unit-test framework
  libplplot-dev plplot-driver-cairo                      # `clipcl plot`: training curves as PNG
  libopenmpi-dev openmpi-bin                             # data-parallel `clipcl train` under mpirun/srun (optional: meson -Dmpi=auto)
  graphviz                                               # renders the graph DOT dumps
  groff-base                                             # checks that the generated man page renders (tests/install)
  clang libclang-rt-14-dev                               # kernels compiled for amdgcn/nvptx64/spir64 (test kernel_targets); libFuzzer (tools/fuzz.sh)
  python3-dev python3-venv python3-mesonpy               # the Python package (python/): its extension, venv, build backend
  python3-numpy python3-pytest python3-pil               # ... its API, its test suite, PIL images as input
)
# Only needed for benchmarks against numpy/PyTorch and for regenerating goldens;
# CI does not need them. Set CLIPCL_WITH_PYTORCH=1 to add them.
if [ "${CLIPCL_WITH_PYTORCH:-0}" = 1 ]; then
  # libopenblas0-pthread: numpy and torch otherwise fall back to the reference BLAS (~1 GFLOP/s)
  packages+=(python3-numpy python3-torch python3-torchvision python3-pil libopenblas0-pthread)
fi

# --list: print the packages and stop (.ci/run installs them itself).
if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${packages[@]}"
