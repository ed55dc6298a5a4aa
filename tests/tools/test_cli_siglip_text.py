"""SigLIP text from strings (goldens of tests/reference/
make_siglip_text_goldens.py: a tiny transformers SiglipModel saved with the
self-trained SentencePiece tokenizer as SiglipTokenizer writes it): `clipcl
tokenize --model` gives SiglipTokenizer's ids (padding to the context,
truncation keeping </s>), and `clipcl embed-text` on the texts gives
transformers' float64 features, on the reference backend and the OpenCL
device."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_util  # noqa: E402
from cli_util import CliCase, run  # noqa: E402
from test_cli_clip import close_to_ref, opencl_available, rows  # noqa: E402

DATA = os.environ.get("CLIPCL_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
D = os.path.join(DATA, "siglip_text")


class SiglipText(CliCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def texts(self):
        with open(os.path.join(D, "texts.txt"), encoding="utf-8") as f:
            return f.read().split("\n")[:-1]

    def test_tokenize_gives_siglip_tokenizer_ids(self):
        rc, out, err = run("tokenize", "--model", os.path.join(D, "model"), "--",
                           *self.texts())
        self.assert_ok(rc, out, err)
        got = [[int(x) for x in line.split()] for line in out.splitlines()]
        with open(os.path.join(D, "ids.txt")) as f:
            ref = [[int(x) for x in line.split()] for line in f.read().splitlines()]
        self.assertEqual(got, ref)

    def test_embed_text_from_strings(self):
        out = os.path.join(self.tmp.name, "t.npy")
        for dev in ["ref"] + (["default"] if opencl_available() else []):
            with self.subTest(device=dev):
                extra = ("--device", dev) if dev != "default" else ()
                rc, so, err = run("embed-text", "--model", os.path.join(D, "model"), "--texts",
                                  os.path.join(D, "texts.txt"), "--out", out, *extra)
                self.assert_ok(rc, so, err)
                close_to_ref(self, rows(out), rows(os.path.join(D, "text_features.npy")),
                             "SigLIP text features from strings")


if __name__ == "__main__":
    cli_util.main()
