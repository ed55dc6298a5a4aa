"""Identical reruns: the same `clipcl embed-image` / `embed-text` command on
the same device and build gives the same bytes, 20 runs each (on the
OpenCL device; skipped without one). The ViT model's images and texts and
the ResNet model's images (BatchNorm, convolutions, attention pooling), with
the last batch padded (--batch 2 over 3 rows).

Each run is a new process: a fresh context, plan, arena and shared scratch,
so bytes a kernel reads but nothing wrote, a reduction whose order follows
the thread timing or a choice measured per process would show here."""
import hashlib
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_util  # noqa: E402
from cli_util import CliCase, run  # noqa: E402

DATA = os.environ.get("CLIPCL_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
RUNS = 20


class Reruns(CliCase):
    @classmethod
    def setUpClass(cls):
        rc, out, _ = run("devices")
        if rc != 0 or not out.strip():
            raise cli_util.unittest.SkipTest("no OpenCL device")
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def reruns(self, cmd, model, flag, src):
        out = os.path.join(self.tmp.name, "out.npy")
        digests = {}
        first = None
        for i in range(RUNS):
            rc, so, err = run(cmd, "--model", os.path.join(DATA, model, "openai"), "--out", out, flag,
                              os.path.join(DATA, model, src), "--batch", "2")
            self.assert_ok(rc, so, err)
            with open(out, "rb") as f:
                b = f.read()
            if first is None:
                first = b
            digests.setdefault(hashlib.sha256(b).hexdigest(), []).append(i)
            if b != first:
                n = min(len(b), len(first))
                at = next((j for j in range(n) if b[j] != first[j]), n)
                self.fail("%s %s: run %d differs from run 0 at byte %d of %d (%d distinct outputs in %d runs)"
                          % (cmd, model, i, at, len(b), len(digests), i + 1))
        self.assertEqual(len(digests), 1)
        self.assertGreater(len(first), 128)

    def test_text_vit(self):
        self.reruns("embed-text", "clip_small_vit", "--ids", "ids.npy")

    def test_image_vit(self):
        self.reruns("embed-image", "clip_small_vit", "--pixels", "pixels.npy")

    def test_image_rn(self):
        self.reruns("embed-image", "clip_small_rn", "--pixels", "pixels.npy")

    def test_tile_keeps_bits(self):
        """The own GEMM's tile is measured per device (a fresh or read-only
        cache measures again, and timing decides): no tile may change a
        bit. K blocks of 32 (CLIPCL_GEMM_KC) make the small models' GEMMs
        blocked, and 48-wide panels leave a partial panel of their 64
        columns, the two places where the order once depended on the tile."""
        out = os.path.join(self.tmp.name, "tile.npy")
        for cmd, model, flag, src in [("embed-text", "clip_small_vit", "--ids", "ids.npy"),
                                      ("embed-image", "clip_small_rn", "--pixels", "pixels.npy")]:
            seen = {}
            for tile in ["6x16x4", "6x16x3", "8x16x2", "4x16x4"]:
                rc, so, err = run(cmd, "--model", os.path.join(DATA, model, "openai"), "--out", out, flag,
                                  os.path.join(DATA, model, src),
                                  env={"CLIPCL_GEMM": "own", "CLIPCL_GEMM_KC": "32", "CLIPCL_GEMM_TILE": tile})
                self.assert_ok(rc, so, err)
                with open(out, "rb") as f:
                    seen[tile] = hashlib.sha256(f.read()).hexdigest()
            self.assertEqual(len(set(seen.values())), 1, "%s %s: outputs per tile %s" % (cmd, model, seen))


if __name__ == "__main__":
    cli_util.main()
