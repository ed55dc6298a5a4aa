"""Helpers for the tests that run the built `clipcl` binary (stdlib only).

Each test script takes the path of clipcl as its first argument; meson passes
the built executable (tests/tools/meson.build)."""
import os
import struct
import subprocess
import sys
import unittest
import zlib

CLIPCL = None


def run(*args, stdin=None, env=None):
    """Runs clipcl with args; returns (returncode, stdout str, stderr str)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([CLIPCL] + [str(a) for a in args], input=stdin, capture_output=True,
                       env=e, timeout=120)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


class CliCase(unittest.TestCase):
    def assert_ok(self, rc, out, err):
        self.assertEqual(rc, 0, "clipcl failed: " + err)

    def assert_one_line_error(self, rc, err, *names):
        """Non-zero exit and one message line (a usage error may add its
        "(see `clipcl X --help`)" pointer) that names each of `names`."""
        self.assertNotEqual(rc, 0, "expected a failure")
        self.assertIn(rc, (1, 2), "exit status should be 1 (runtime) or 2 (usage)")
        lines = [l for l in err.splitlines() if l.strip() and not l.startswith("(see `clipcl")]
        self.assertEqual(len(lines), 1, "expected one error line, got: %r" % err)
        self.assertTrue(lines[0].startswith("clipcl"), lines[0])
        for n in names:
            self.assertIn(str(n), lines[0])
        return lines[0]


def main():
    global CLIPCL
    if len(sys.argv) < 2:
        sys.exit("usage: %s PATH-TO-CLIPCL [unittest args]" % sys.argv[0])
    CLIPCL = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)


# ---- .npy (format 1.x/2.x, little-endian float32 or uint8, C order) ----

def read_npy(path):
    """Returns (dtype descr, shape tuple, flat list of values)."""
    with open(path, "rb") as f:
        b = f.read()
    if b[:6] != b"\x93NUMPY":
        raise ValueError("%s: not a .npy file" % path)
    major = b[6]
    if major == 1:
        hlen, off = struct.unpack("<H", b[8:10])[0], 10
    else:
        hlen, off = struct.unpack("<I", b[8:12])[0], 12
    header = eval(b[off:off + hlen].decode("latin1"), {"__builtins__": {}}, {"False": False, "True": True})
    data = b[off + hlen:]
    descr, shape = header["descr"], tuple(header["shape"])
    if header["fortran_order"]:
        raise ValueError("%s: Fortran order" % path)
    n = 1
    for d in shape:
        n *= d
    if descr == "<f4":
        if len(data) != 4 * n:
            raise ValueError("%s: %d data bytes for %d floats" % (path, len(data), n))
        vals = list(struct.unpack("<%df" % n, data))
    elif descr == "|u1":
        if len(data) != n:
            raise ValueError("%s: %d data bytes for %d bytes" % (path, len(data), n))
        vals = list(data)
    else:
        raise ValueError("%s: dtype %s not handled" % (path, descr))
    return descr, shape, vals


# ---- PNG writer (8-bit, colour types 0 grey, 2 RGB, 6 RGBA) ----

def write_png(path, w, h, channels, pixels):
    """pixels: flat list of h*w*channels bytes, row-major interleaved."""
    ctype = {1: 0, 3: 2, 4: 6}[channels]
    raw = bytearray()
    for y in range(h):
        raw.append(0)  # filter: none
        raw.extend(pixels[y * w * channels:(y + 1) * w * channels])

    def chunk(tag, body):
        c = struct.pack(">I", len(body)) + tag + body
        return c + struct.pack(">I", zlib.crc32(tag + body) & 0xffffffff)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def normalise_hwc(rgb, size):
    """uint8 S x S x 3 (flat) -> CLIP-normalised 3 x S x S (flat), in double."""
    out = [0.0] * (3 * size * size)
    for c in range(3):
        for i in range(size * size):
            out[c * size * size + i] = (rgb[i * 3 + c] / 255.0 - CLIP_MEAN[c]) / CLIP_STD[c]
    return out


def unnormalise_chw(vals, size):
    """CLIP-normalised 3 x S x S -> values on the 0..255 scale, S x S x 3 (flat)."""
    out = [0.0] * (3 * size * size)
    for c in range(3):
        for i in range(size * size):
            out[i * 3 + c] = (vals[c * size * size + i] * CLIP_STD[c] + CLIP_MEAN[c]) * 255.0
    return out
