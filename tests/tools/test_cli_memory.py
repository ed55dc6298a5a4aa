"""The device-memory check before a plan's allocations, through `clipcl
embed-image` on the small ViT with CLIPCL_DEVICE_MEM_LIMIT lowering what the
device offers:

- a tiny limit: exit 1, one error line naming what the plan needs and both
  device numbers (global memory, per buffer), and no output file;
- a limit between batch 1 and batch 5: the line names the batch that fits,
  and embed-image with that --batch (refined once scratch is known) succeeds
  under the same limit."""
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_util  # noqa: E402
from cli_util import CliCase, run  # noqa: E402

DATA = os.environ.get("CLIPCL_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
MODEL = os.path.join(DATA, "clip_small_vit", "openai")
IMAGES = [os.path.join(DATA, f) for f in
          ("preprocess_rgb_200x150_in.png", "preprocess_jpeg_96x80_in.jpg",
           "preprocess_palette_80x120_in.png", "preprocess_rgba_90x70_in.png",
           "preprocess_grey_37x53_in.png")]
NEEDS = re.compile(r"needs (\d+) bytes \(params (\d+), inputs (\d+), activations (\d+), scratch (\d+);")


class MemoryLimit(CliCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.out = os.path.join(self.tmp.name, "e.npy")
        rc, out, err = run("devices", "--json")
        if rc != 0 or '"selected": null' in out:
            self.skipTest("no OpenCL device: " + err)

    def tearDown(self):
        self.tmp.cleanup()

    def embed(self, limit, batch):
        return run("embed-image", "--model", MODEL, "--out", self.out, "--batch", batch, *IMAGES,
                   env={"CLIPCL_DEVICE_MEM_LIMIT": str(limit)})

    def test_tiny_limit(self):
        rc, out, err = self.embed(4096, 5)
        line = self.assert_one_line_error(rc, err, "device memory", "4096 bytes of global memory",
                                          "at most 4096 bytes per buffer", "CLIPCL_DEVICE_MEM_LIMIT")
        self.assertEqual(rc, 1)
        self.assertRegex(line, NEEDS)
        self.assertIn("parameters alone", line)
        self.assertFalse(os.path.exists(self.out), "no output file after the error")

    def test_limit_names_the_batch_that_fits(self):
        # the plan's sizes at batch 5, from the message under a tiny limit
        rc, out, err = self.embed(4096, 5)
        m = NEEDS.search(err)
        self.assertIsNotNone(m, err)
        params, inputs, act = int(m.group(2)), int(m.group(3)), int(m.group(4))
        # room for everything but scratch at batch 5: the plan passes the
        # first check and fails before its scratch, with every number known
        limit = params + inputs + act
        rc, out, err = self.embed(limit, 5)
        line = self.assert_one_line_error(rc, err, "device memory", "%d bytes of global memory" % limit)
        # the first check runs before lowering, when scratch is not known yet:
        # its batch is an upper bound, which the check before the scratch
        # allocations refines; following the suggestions ends in a run that fits
        batch = 5
        for _ in range(3):
            fit = re.search(r"a smaller --batch would fit: at most (\d+)", line)
            self.assertIsNotNone(fit, line)
            n = int(fit.group(1))
            self.assertGreaterEqual(n, 1)
            self.assertLess(n, batch)
            self.assertFalse(os.path.exists(self.out))
            batch = n
            rc, out, err = self.embed(limit, batch)
            if rc == 0:
                break
            line = self.assert_one_line_error(rc, err, "device memory", "%d bytes of global memory" % limit)
        self.assert_ok(rc, out, err)
        self.assertTrue(os.path.exists(self.out))

if __name__ == "__main__":
    cli_util.main()
