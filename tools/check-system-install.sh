#!/usr/bin/env bash
# What a user does on a fresh Debian 12 machine to use clipcl as a library,
# literally (docs/library.md, docs/python.md), run by .ci/run as root:
#   1. meson setup build-system && meson install -C build-system  (to /usr/local)
#      then a program built with `pkg-config --cflags --libs clipcl` against
#      the installed files gives the installed `clipcl embed-text`'s bits
#      (tests/install/check_install.py --installed);
#   2. pip install ./python into a virtualenv, then `python -c "import clipcl"`
#      embeds an image from a folder outside the source tree and gets the
#      bits the installed `clipcl embed-image` writes.
# Each step is one test; the last line is "N passed, N failed".
# Writes to /usr/local: meant for CI's throwaway machine (refuses otherwise
# unless CLIPCL_SYSTEM_INSTALL=1).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
if [ "${CI:-}" != true ] && [ "${CLIPCL_SYSTEM_INSTALL:-0}" != 1 ]; then
  echo "tools/check-system-install.sh installs into /usr/local: run it on a throwaway machine" \
       "with CI=true or CLIPCL_SYSTEM_INSTALL=1" >&2
  echo "0 passed, 1 failed"; exit 2
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
build=build-system
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0; failed=0

# 1. meson install to the default prefix, then the pkg-config consumer.
if { [ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release >/dev/null; } &&
   ninja -C "$build" >/dev/null &&
   $SUDO meson install -C "$build" --no-rebuild --quiet &&
   $SUDO ldconfig &&
   pkg-config --exists clipcl &&
   python3 tests/install/check_install.py --build "$build" --installed; then
  echo "[system install] meson install to $(meson introspect "$build" --buildoptions |
        python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])'):" \
       "pkg-config consumer ok"
  passed=$((passed + 1))
else
  echo "[system install] meson install + pkg-config consumer FAILED" >&2
  failed=$((failed + 1))
fi

# 2. pip install ./python against the installed library, used from elsewhere.
model="$root/tests/data/clip_small_vit/openai"
image="$root/tests/data/preprocess_rgb_200x150_in.png"
if /usr/bin/python3 -m venv --system-site-packages "$work/venv" &&
   "$work/venv/bin/pip" install --quiet --no-build-isolation --no-index --no-deps ./python &&
   clipcl embed-image --model "$model" --device cpu --out "$work/cli.npy" "$image" &&
   (cd "$work" && venv/bin/python - "$model" "$image" "$work/cli.npy" <<'PY'
import sys
import numpy as np
import clipcl
model, image, cli = sys.argv[1:]
m = clipcl.load(model, device="cpu")
x = m.encode_image([image], normalize=False)
ref = np.load(cli)
assert x.dtype == np.float32 and x.shape == ref.shape, (x.dtype, x.shape, ref.shape)
assert np.array_equal(x, ref), "python and the installed CLI differ"
print("python: clipcl %s from %s embeds %s -> %s, equal to the CLI" %
      (clipcl.__version__, clipcl.__file__, image.rsplit("/", 1)[-1], x.shape))
PY
   ); then
  passed=$((passed + 1))
else
  echo "[system install] pip install ./python + import clipcl FAILED" >&2
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
