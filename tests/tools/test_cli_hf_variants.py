"""Hugging Face CLIPModel checkpoints whose config.json departs from
OpenAI's defaults (goldens of tests/reference/make_hf_variant_goldens.py,
float64 features from transformers): hidden_act gelu_new /
gelu_pytorch_tanh (the tanh GELU), intermediate_size other than 4 x
hidden_size, and eos_token_id, which decides the pooled text row
(transformers: the first position holding it; argmax(ids) for the legacy
value 2). clipcl gives transformers' features through embed-image --pixels
and embed-text --ids on the reference backend and the OpenCL device."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_util  # noqa: E402,F401
from cli_util import CliCase, run  # noqa: E402
from test_cli_clip import close_to_ref, opencl_available, rows  # noqa: E402

DATA = os.environ.get("CLIPCL_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
VARIANTS = ["eos_id", "eos_legacy", "gelu_new", "mlp_width"]


class HfVariants(CliCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.devices = ["ref"] + (["default"] if opencl_available() else [])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def embed(self, kind, model, flag, src, device):
        out = os.path.join(self.tmp.name, "out.npy")
        dev = ("--device", device) if device != "default" else ()
        rc, so, err = run(kind, "--model", model, "--out", out, flag, src, *dev)
        self.assert_ok(rc, so, err)
        return rows(out)

    def test_features_equal_transformers(self):
        for name in VARIANTS:
            d = os.path.join(DATA, "hf_variants", name)
            for dev in self.devices:
                with self.subTest(variant=name, device=dev):
                    got = self.embed("embed-image", d, "--pixels", os.path.join(d, "pixels.npy"), dev)
                    close_to_ref(self, got, rows(os.path.join(d, "image_features.npy")),
                                 name + " image features")
                    got = self.embed("embed-text", d, "--ids", os.path.join(d, "ids.npy"), dev)
                    close_to_ref(self, got, rows(os.path.join(d, "text_features.npy")),
                                 name + " text features")

    def test_tanh_gelu_is_not_the_exact_gelu(self):
        # The two GELUs differ by ~1e-4 relative here, inside close_to_ref's
        # tolerance: on the reference backend the tanh one must be far closer.
        d = os.path.join(DATA, "hf_variants", "gelu_new")
        got = self.embed("embed-image", d, "--pixels", os.path.join(d, "pixels.npy"), "ref")
        ref = rows(os.path.join(d, "image_features.npy"))
        maxref = max(abs(x) for r in ref for x in r)
        err = max(abs(a - b) for g, r in zip(got, ref) for a, b in zip(g, r))
        self.assertLessEqual(err, 2e-6 * maxref)


if __name__ == "__main__":
    cli_util.main()
