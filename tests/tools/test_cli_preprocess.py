"""`clipcl preprocess`: pixels against the goldens (tests/data, made with PIL
and torchvision by tests/reference/make_preprocess_goldens.py), against images
written here whose expected tensor follows by hand, and every error path (no
output file may be left behind, an existing one must stay untouched)."""
import glob
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_util  # noqa: E402
from cli_util import CliCase, normalise_hwc, read_npy, run, unnormalise_chw, write_png  # noqa: E402

DATA = os.environ.get("CLIPCL_TEST_DATA") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
# Float32 output against double arithmetic: a rounding apart, far below one
# grey level (1/255/0.27 = 0.0146 after normalisation).
TOL = 1e-5


def golden_inputs(size):
    """(input path, golden path) for every committed image with a golden at size."""
    out = []
    for p in sorted(glob.glob(os.path.join(DATA, "preprocess_*_in.*"))):
        g = re.sub(r"_in\.[a-z]+$", "_S%d.npy" % size, p)
        if os.path.isfile(g):
            out.append((p, g))
    return out


def max_abs(a, b):
    return max(abs(x - y) for x, y in zip(a, b))


class Preprocess(CliCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def leftovers(self, out):
        return sorted(glob.glob(glob.escape(out) + "*"))

    def preprocess(self, size, paths):
        out = os.path.join(self.d, "out.npy")
        rc, so, err = run("preprocess", "--size", size, "--out", out, *paths)
        self.assert_ok(rc, so, err)
        self.assertEqual(err, "", "nothing on stderr when it is not a terminal")
        self.assertEqual(self.leftovers(out), [out], "no temporary left beside the output")
        descr, shape, vals = read_npy(out)
        self.assertEqual(descr, "<f4")
        self.assertEqual(shape, (len(paths), 3, size, size))
        return vals

    def check_golden_batch(self, size, pairs):
        vals = self.preprocess(size, [p for p, _ in pairs])
        per = 3 * size * size
        for i, (p, g) in enumerate(pairs):
            got = vals[i * per:(i + 1) * per]
            gd, gshape, gv = read_npy(g)
            self.assertEqual((gd, gshape), ("|u1", (size, size, 3)), g)
            name = os.path.basename(p)
            if p.endswith((".jpg", ".jpeg")):
                # stb_image is not libjpeg: the bar is 1/255 for 99% of values.
                u = unnormalise_chw(got, size)
                close = sum(1 for a, b in zip(u, gv) if abs(a - b) <= 1.0 + 1e-3)
                self.assertGreaterEqual(close / len(gv), 0.99, name)
            else:
                self.assertLessEqual(max_abs(got, normalise_hwc(gv, size)), TOL, name)

    def test_goldens_s64_one_batch(self):
        pairs = golden_inputs(64)
        self.assertGreaterEqual(len(pairs), 8, "expected the committed images in " + DATA)
        self.check_golden_batch(64, pairs)

    def test_goldens_s224(self):
        pairs = golden_inputs(224)
        if not pairs:
            self.skipTest("no S224 goldens")
        self.check_golden_batch(224, pairs)

    def test_normalised_golden(self):
        src = os.path.join(DATA, "preprocess_rgb_200x150_in.png")
        norm = os.path.join(DATA, "preprocess_rgb_200x150_S64_norm.npy")
        if not (os.path.isfile(src) and os.path.isfile(norm)):
            self.skipTest("no normalised golden")
        # Twice in one batch: the second copy must not depend on the first.
        vals = self.preprocess(64, [src, src])
        _, shape, want = read_npy(norm)
        self.assertEqual(shape, (3, 64, 64))
        per = 3 * 64 * 64
        self.assertLessEqual(max_abs(vals[:per], want), TOL)
        self.assertEqual(vals[:per], vals[per:])

    def model_with_preprocess_cfg(self, name, preprocess_cfg):
        """The small ViT golden model with its preprocess_cfg replaced."""
        import json
        import shutil
        src = os.path.join(DATA, "clip_small_vit", "openai")
        d = os.path.join(self.d, name)
        os.mkdir(d)
        shutil.copy(os.path.join(src, "model.safetensors"), d)
        with open(os.path.join(src, "open_clip_config.json")) as f:
            cfg = json.load(f)
        cfg["preprocess_cfg"] = preprocess_cfg
        with open(os.path.join(d, "open_clip_config.json"), "w") as f:
            json.dump(cfg, f)
        return d

    def test_model_preprocess_cfg(self):
        """--model: the model's resolution and its open_clip preprocess_cfg,
        against open_clip's own tensor (tests/data/prepcfg)."""
        d = self.model_with_preprocess_cfg("model", {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                                            "interpolation": "bilinear"})
        img = os.path.join(DATA, "decode", "jpeg_baseline_420.jpg")
        out = os.path.join(self.d, "m.npy")
        rc, so, err = run("preprocess", "--model", d, "--out", out, img)
        self.assert_ok(rc, so, err)
        _, shape, vals = read_npy(out)
        self.assertEqual(shape, (1, 3, 32, 32))
        _, _, want = read_npy(os.path.join(DATA, "prepcfg", "jpeg_baseline_420_ocn_stats.npy"))
        self.assertLessEqual(max_abs(vals, want), 1e-6)
        # --size must agree with the model
        rc, so, err = run("preprocess", "--model", d, "--size", "64", "--out", out, img)
        self.assertEqual(rc, 2)
        self.assertIn("model takes 32 px", err)
        # a value open_clip does not take: refused by name, no output written
        d2 = self.model_with_preprocess_cfg("bad", {"resize_mode": "crop"})
        rc, so, err = run("preprocess", "--model", d2, "--out", out + "x", img)
        self.assertEqual(rc, 1)
        self.assertIn("preprocess_cfg.resize_mode 'crop'", err)
        self.assertFalse(os.path.exists(out + "x"))

    def test_written_pngs(self):
        """Short side already S: the resize is the identity (PIL returns a copy),
        so the tensor is the centre crop, offset int(round((long - S) / 2)) as
        torchvision computes it (Python rounds 1.5 and 2.5 to 2), normalised."""
        S = 12
        cases = []

        def px(w, h, ch, seed):
            return [(x * 37 + y * 11 + c * 101 + seed) % 256 for y in range(h) for x in range(w) for c in range(ch)]

        def crop_rgb(pix, w, h, ch):
            x0, y0 = int(round((w - S) / 2.0)), int(round((h - S) / 2.0))
            out = []
            for y in range(y0, y0 + S):
                for x in range(x0, x0 + S):
                    p = pix[(y * w + x) * ch:(y * w + x + 1) * ch]
                    out += p[:3] if ch >= 3 else [p[0]] * 3  # convert("RGB"): grey replicated, alpha dropped
            return out

        for name, w, h, ch in [("rgb", S, S, 3), ("wide", S + 3, S, 3), ("tall", S, S + 5, 3),
                               ("grey", S + 1, S, 1), ("rgba", S, S, 4)]:
            pix = px(w, h, ch, len(cases) * 7)
            path = os.path.join(self.d, name + ".png")
            write_png(path, w, h, ch, pix)
            cases.append((path, crop_rgb(pix, w, h, ch)))
        vals = self.preprocess(S, [p for p, _ in cases])
        per = 3 * S * S
        for i, (p, rgb) in enumerate(cases):
            self.assertLessEqual(max_abs(vals[i * per:(i + 1) * per], normalise_hwc(rgb, S)), TOL, p)

    def test_errors_leave_no_file(self):
        good = os.path.join(self.d, "good.png")
        write_png(good, 4, 4, 3, list(range(48)))
        text = os.path.join(self.d, "notes.txt")
        with open(text, "w") as f:
            f.write("this is not an image\n")
        trunc = os.path.join(self.d, "trunc.png")
        with open(good, "rb") as f:
            b = f.read()
        with open(trunc, "wb") as f:
            f.write(b[:len(b) - 20])
        missing = os.path.join(self.d, "missing.png")
        out = os.path.join(self.d, "out.npy")
        cases = [
            (("--size", 8, "--out", out, good, missing), (missing,)),
            (("--size", 8, "--out", out, good, text), (text,)),
            (("--size", 8, "--out", out, trunc), (trunc,)),
            (("--size", 8, "--out", out, self.d), (self.d,)),
            (("--size", 8, "--out", out), ("no images",)),
            (("--size", 8, good), ("--out",)),
            (("--size", 8, "--out", "", good), ("--out",)),
            (("--out", out, good), ("--size",)),
            (("--size", 0, "--out", out, good), ("--size", "0")),
            (("--size", -3, "--out", out, good), ("-3",)),
            (("--size", "abc", "--out", out, good), ("abc",)),
            (("--size", "64.5", "--out", out, good), ("64.5",)),
            (("--size", 4097, "--out", out, good), ("4097",)),
            (("--out", out, good, "--size"), ("--size",)),
            (("--size", 8, "--out", out, "--bogus", good), ("--bogus",)),
            (("--size", 8, "--out", os.path.join(self.d, "no", "such", "dir.npy"), good), ("dir.npy",)),
        ]
        for args, names in cases:
            with self.subTest(args=args):
                rc, so, err = run("preprocess", *args)
                self.assert_one_line_error(rc, err, *names)
                self.assertEqual(so, "")
                self.assertEqual(sorted(os.listdir(self.d)), ["good.png", "notes.txt", "trunc.png"])

        # An existing output survives a failed run byte for byte.
        with open(out, "wb") as f:
            f.write(b"previous")
        rc, so, err = run("preprocess", "--size", 8, "--out", out, good, text)
        self.assert_one_line_error(rc, err, text)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"previous")
        self.assertEqual(self.leftovers(out), [out])

        # --out naming a directory is refused before any work.
        rc, so, err = run("preprocess", "--size", 8, "--out", self.d, good)
        self.assert_one_line_error(rc, err, self.d)


if __name__ == "__main__":
    cli_util.main()
