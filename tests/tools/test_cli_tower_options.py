"""open_clip's tower options through the `clipcl` command: embed-image
--pixels and embed-text --ids on the goldens of
tests/reference/make_tower_option_goldens.py (tiny open_clip models with
ViT-M-16-alt's layer scale, the CLIPA image tower, non-integer mlp_ratio,
tanh GELU and CoCa's attentional pooler) give open_clip's features
(cosine >= 0.99999 per row, max |err| <= 1e-4 max |ref|) on the reference
backend and the OpenCL device (skipped without a platform); a config that
contradicts the weights, and an option clipcl does not implement, are one
error line naming the option."""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_util  # noqa: E402
from cli_util import CliCase, run  # noqa: E402
from test_cli_clip import close_to_ref, opencl_available, rows  # noqa: E402

DATA = os.environ.get("CLIPCL_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
MODELS = ["clip_opt_ls", "clip_opt_clipa", "clip_opt_avg_tanh", "clip_opt_attnpool",
          "clip_opt_attnpool_packed"]


class TowerOptions(CliCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.devices = ["ref"] + (["default"] if opencl_available() else [])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def embed(self, kind, model, flag, src, device=None):
        out = self.path("out.npy")
        dev = ("--device", device) if device and device != "default" else ()
        rc, so, err = run(kind, "--model", model, "--out", out, flag, src, *dev)
        self.assert_ok(rc, so, err)
        return rows(out)

    def test_goldens(self):
        for name in MODELS:
            d = os.path.join(DATA, name)
            for dev in self.devices:
                with self.subTest(model=name, device=dev):
                    got = self.embed("embed-image", os.path.join(d, "openai"), "--pixels",
                                     os.path.join(d, "pixels.npy"), dev)
                    close_to_ref(self, got, rows(os.path.join(d, "image_features.npy")),
                                 name + " image features")
                    got = self.embed("embed-text", os.path.join(d, "openai"), "--ids",
                                     os.path.join(d, "ids.npy"), dev)
                    close_to_ref(self, got, rows(os.path.join(d, "text_features.npy")),
                                 name + " text features")

    def model_with_config(self, src, edit):
        """A copy of golden model src whose open_clip_config.json is edited."""
        d = self.path(src + "_edited")
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(os.path.join(DATA, src, "openai"), d)
        p = os.path.join(d, "open_clip_config.json")
        with open(p) as f:
            cfg = json.load(f)
        edit(cfg["model_cfg"])
        with open(p, "w") as f:
            json.dump(cfg, f)
        return d

    def test_config_without_layer_scale(self):
        # ViT-M-16-alt's weights, a config without ls_init_value: an error,
        # never features computed without the gains.
        d = self.model_with_config("clip_opt_ls", lambda c: c["vision_cfg"].pop("ls_init_value"))
        rc, so, err = run("embed-image", "--model", d, "--out", self.path("x.npy"), "--pixels",
                          os.path.join(DATA, "clip_opt_ls", "pixels.npy"), "--device", "ref")
        self.assert_one_line_error(rc, err, "ls_init_value", "ls_1.gamma")
        self.assertFalse(os.path.exists(self.path("x.npy")))

    def test_unsupported_option_named(self):
        d = self.model_with_config("clip_opt_ls",
                                   lambda c: c["vision_cfg"].update(pool_type="none"))
        rc, so, err = run("embed-image", "--model", d, "--out", self.path("x.npy"), "--pixels",
                          os.path.join(DATA, "clip_opt_ls", "pixels.npy"), "--device", "ref")
        self.assert_one_line_error(rc, err, 'pool_type "none"', "does not implement")


if __name__ == "__main__":
    cli_util.main()
