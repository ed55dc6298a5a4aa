"""Usage errors found in a walk-through of the CLI: each is one line, with the
right exit status, before any work and with no output file left behind.

- embed-image/embed-text --out a directory, or in a folder that does not
  exist: refused up front (with a model that does not exist either, so the
  error must come before the model is opened).
- --texts / --templates a directory: said to be a directory.
- `info MODEL` is `info --model MODEL`.
- near-miss options and commands get a "did you mean" hint; far ones none.
- bench --runs 0 is refused; embed-text --ids with a float file names --ids
  and the int32 N x 77 it expects."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_util  # noqa: E402
from cli_util import CliCase, run  # noqa: E402

DATA = os.environ.get("CLIPCL_TEST_DATA") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
VIT = os.path.join(DATA, "clip_small_vit")
MODEL = os.path.join(VIT, "openai")
IMAGE = os.path.join(DATA, "preprocess_rgb_200x150_in.png")


class Usage(CliCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def listing(self):
        return sorted(os.listdir(self.d))

    def test_out_is_checked_before_any_work(self):
        outdir = os.path.join(self.d, "outdir")
        os.mkdir(outdir)
        missing = os.path.join(self.d, "no", "such", "out.npy")
        nope = os.path.join(self.d, "nope")
        for cmd, inp in (("embed-image", IMAGE), ("embed-text", "a cat")):
            for model in (nope, MODEL):
                with self.subTest(cmd=cmd, model=model):
                    rc, _, err = run(cmd, "--model", model, "--out", outdir, "--device", "ref", inp)
                    self.assertEqual(rc, 1)
                    line = self.assert_one_line_error(rc, err, "--out", outdir, "directory")
                    self.assertNotIn("nope", line)  # the model was never opened
                    self.assertEqual(os.listdir(outdir), [])
                    rc, _, err = run(cmd, "--model", model, "--out", missing, "--device", "ref", inp)
                    self.assertEqual(rc, 1)
                    line = self.assert_one_line_error(rc, err, "--out",
                                                      os.path.join(self.d, "no", "such"))
                    self.assertNotIn("nope", line)
                    self.assertEqual(self.listing(), ["outdir"])

    def test_text_list_that_is_a_directory(self):
        out = os.path.join(self.d, "out.npy")
        rc, _, err = run("embed-text", "--model", MODEL, "--out", out, "--device", "ref",
                         "--texts", self.d)
        self.assertEqual(rc, 1)
        self.assert_one_line_error(rc, err, "--texts", self.d, "is a directory")
        self.assertFalse(os.path.exists(out))
        rc, _, err = run("eval", "--model", MODEL, "--templates", self.d)
        self.assertEqual(rc, 1)
        self.assert_one_line_error(rc, err, "--templates", self.d, "is a directory")
        self.assertEqual(self.listing(), [])

    def test_info_positional_model(self):
        rc, want, err = run("info", "--model", MODEL)
        self.assert_ok(rc, want, err)
        self.assertIn("ViT, resolution 32", want)
        rc, got, err = run("info", MODEL)
        self.assert_ok(rc, got, err)
        self.assertEqual(got, want)
        for args in ((MODEL, MODEL), (MODEL, "--model", MODEL)):
            with self.subTest(args=args):
                rc, out, err = run("info", *args)
                self.assertEqual(rc, 2)
                self.assert_one_line_error(rc, err, "one MODEL only")
                self.assertEqual(out, "")
        rc, out, err = run("info")
        self.assertEqual(rc, 2)
        self.assert_one_line_error(rc, err, "MODEL is required")

    def test_near_miss_options(self):
        cases = [
            (("embed-image", "--modle", MODEL), "--modle", "--model"),
            (("embed-image", "-model", MODEL), "-model", "--model"),
            (("embed-text", "--norm"), "--norm", "--normalize"),
            (("embed-text", "--id", "x.npy"), "--id", "--ids"),
            (("zeroshot", "--lables", "a,b"), "--lables", "--labels"),
            (("info", "--mdoel", MODEL), "--mdoel", "--model"),
            (("eval", "--templtes", "t.txt"), "--templtes", "--templates"),
            (("bench", "--rns", "3"), "--rns", "--runs"),
            (("tokenize", "--text", "t.txt"), "--text", "--texts"),
            (("preprocess", "--szie", "3"), "--szie", "--size"),
            (("selftest", "--dto", "g.dot"), "--dto", "--dot"),
        ]
        for args, bad, hint in cases:
            with self.subTest(args=args):
                rc, out, err = run(*args)
                self.assertEqual(rc, 2)
                line = self.assert_one_line_error(rc, err, bad, "did you mean %s?" % hint)
                self.assertTrue(line.startswith("clipcl %s: " % args[0]), line)
                self.assertEqual(out, "")
        # nothing near: no hint, still one line
        for args in (("embed-image", "--xyzzy"), ("info", "--qq", MODEL)):
            with self.subTest(args=args):
                rc, _, err = run(*args)
                self.assertEqual(rc, 2)
                line = self.assert_one_line_error(rc, err, args[1])
                self.assertNotIn("did you mean", line)
        self.assertEqual(self.listing(), [])

    def test_near_miss_commands(self):
        for name, hint in (("embed", "did you mean embed-image or embed-text?"),
                           ("zero-shot", "did you mean zeroshot?"),
                           ("devics", "did you mean devices?"),
                           ("xyzzy", None)):
            with self.subTest(name=name):
                rc, out, err = run(name)
                self.assertEqual(rc, 2)
                self.assertEqual(out, "")
                first = err.splitlines()[0]
                self.assertTrue(first.startswith('clipcl: unknown command "%s"' % name), first)
                if hint:
                    self.assertIn(hint, first)
                else:
                    self.assertNotIn("did you mean", first)

    def test_bench_runs_zero(self):
        rc, out, err = run("bench", "--model", MODEL, "--runs", "0")
        self.assertEqual(rc, 2)
        self.assert_one_line_error(rc, err, "--runs", "1..")
        self.assertEqual(out, "")

    def test_ids_of_the_wrong_dtype(self):
        out = os.path.join(self.d, "out.npy")
        rc, _, err = run("embed-text", "--model", MODEL, "--out", out, "--device", "ref",
                         "--ids", os.path.join(VIT, "pixels.npy"))
        self.assertEqual(rc, 1)
        self.assert_one_line_error(rc, err, "--ids", "pixels.npy", "int32", "N x 77")
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    cli_util.main()
