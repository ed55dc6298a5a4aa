"""`clipcl devices --policy` and `--settings`: every policy field is printed
with its value and where it came from; an environment variable shows as the
source of the fields it sets (and of no other); malformed values are ignored
as the lowerings always ignored them; --json carries the same; and every
CLIPCL_* variable the program knows is documented in docs/opencl-backend.md."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_util  # noqa: E402
from cli_util import CliCase, run  # noqa: E402

FIELDS = ["style", "row_variant", "row_wg", "gemm_impl", "gemm_variant", "gemm_tile", "gemm_rt", "gemm_kc",
          "gemm_pack_b", "gemm_pack_a", "attention", "attention_grad",
          "conv_scratch", "conv_rows", "conv_variant", "optim_vpi", "fusion", "gemm_small_m",
          "gemm_order"]
STYLE_FIELDS = ["style", "row_variant", "gemm_variant", "attention", "attention_grad",
                "optim_vpi", "conv_variant"]
POLICY_VARS = ["CLIPCL_FORCE_VARIANT", "CLIPCL_GEMM", "CLIPCL_GEMM_TILE", "CLIPCL_GEMM_RT", "CLIPCL_GEMM_KC",
               "CLIPCL_GEMM_PACK", "CLIPCL_GEMM_PACK_A", "CLIPCL_ATTENTION",
               "CLIPCL_ATTENTION_GRAD", "CLIPCL_CONV_SCRATCH", "CLIPCL_CONV_ROWS", "CLIPCL_CONV",
               "CLIPCL_FUSION", "CLIPCL_GEMM_SMALL_M", "CLIPCL_GEMM_ORDER"]
DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "opencl-backend.md")


class Policy(CliCase):
    def setUp(self):
        # an empty cache: no tuned values, so every field is a default
        self.tmp = tempfile.TemporaryDirectory()
        self.env = {"CLIPCL_CACHE_DIR": self.tmp.name}
        for v in POLICY_VARS:
            os.environ.pop(v, None)

    def tearDown(self):
        self.tmp.cleanup()

    def policy_text(self, **env):
        e = dict(self.env)
        e.update(env)
        rc, out, err = run("devices", "--policy", env=e)
        self.assert_ok(rc, out, err)
        self.assertIn("policy of ", out)
        rows = {}
        for line in out.split("policy of ", 1)[1].splitlines()[2:]:
            parts = line.split(None, 2)
            if len(parts) == 3 and parts[0] in FIELDS:
                rows[parts[0]] = (parts[1], parts[2])
        self.assertEqual(sorted(rows), sorted(FIELDS), out)
        return rows

    def policy_json(self, **env):
        e = dict(self.env)
        e.update(env)
        rc, out, err = run("devices", "--policy", "--json", env=e)
        self.assert_ok(rc, out, err)
        doc = json.loads(out)
        with_policy = [d for d in doc["devices"] if "policy" in d]
        self.assertGreaterEqual(len(with_policy), 1)
        return with_policy[0]

    def test_defaults_name_their_table_row(self):
        rows = self.policy_text()
        for f, (value, source) in rows.items():
            self.assertTrue(source.startswith("default ("), "%s: %s" % (f, source))
        self.assertIn(rows["style"][0], ("cpu", "gpu"))
        # every style-dependent field follows the style
        self.assertEqual(rows["row_variant"][0], rows["style"][0])
        self.assertEqual(rows["fusion"][0], "on")

    def test_env_override_shows_as_such(self):
        rows = self.policy_text(CLIPCL_ATTENTION="rows", CLIPCL_GEMM_TILE="8x16x2", CLIPCL_GEMM="own")
        self.assertEqual(rows["attention"], ("rows", "env CLIPCL_ATTENTION"))
        self.assertEqual(rows["gemm_tile"], ("8x16x2", "env CLIPCL_GEMM_TILE"))
        self.assertEqual(rows["gemm_impl"], ("own", "env CLIPCL_GEMM"))
        # the others stay defaults
        self.assertTrue(rows["attention_grad"][1].startswith("default ("))
        self.assertTrue(rows["row_variant"][1].startswith("default ("))

    def test_force_variant_switches_every_style_field(self):
        for style in ("cpu", "gpu"):
            rows = self.policy_text(CLIPCL_FORCE_VARIANT=style)
            for f in STYLE_FIELDS:
                self.assertEqual(rows[f][1], "env CLIPCL_FORCE_VARIANT", f)
            self.assertEqual(rows["row_variant"][0], style)
            self.assertEqual(rows["gemm_variant"][0], style)
            self.assertEqual(rows["attention"][0], "cpu" if style == "cpu" else "rows")
            self.assertEqual(rows["conv_variant"][0], "direct" if style == "cpu" else "local")
            self.assertTrue(rows["gemm_tile"][1].startswith("default ("))
        # a field's own variable wins over the style
        rows = self.policy_text(CLIPCL_FORCE_VARIANT="gpu", CLIPCL_ATTENTION="cpu")
        self.assertEqual(rows["attention"], ("cpu", "env CLIPCL_ATTENTION"))
        rows = self.policy_text(CLIPCL_FORCE_VARIANT="gpu", CLIPCL_CONV="im2col")
        self.assertEqual(rows["conv_variant"], ("im2col", "env CLIPCL_CONV"))

    def test_malformed_values_are_ignored(self):
        rows = self.policy_text(CLIPCL_GEMM_TILE="bogus", CLIPCL_ATTENTION="blk", CLIPCL_FORCE_VARIANT="fast")
        self.assertTrue(rows["gemm_tile"][1].startswith("default ("))
        self.assertTrue(rows["attention"][1].startswith("default ("))
        self.assertTrue(rows["style"][1].startswith("default ("))

    def test_fusion_list(self):
        # 0|1 turn every pattern off/on; a list names patterns ('-': off), and
        # once one is named on, the unnamed ones are off
        for value, shown in (("0", "off"), ("1", "on"), ("-gemm_gelu", "on -gemm_gelu"),
                             ("gemm_bias,-gelu", "off gemm_bias,-gelu")):
            f = self.policy_json(CLIPCL_FUSION=value)["policy"]["fusion"]
            self.assertEqual((f["value"], f["from"]), (shown, "env CLIPCL_FUSION"), value)

    def test_json(self):
        d = self.policy_json(CLIPCL_CONV_SCRATCH="4096")
        p = d["policy"]
        self.assertEqual(sorted(p), sorted(FIELDS))
        self.assertEqual(p["conv_scratch"]["value"], "4096")
        self.assertEqual(p["conv_scratch"]["source"], "env")
        self.assertEqual(p["conv_scratch"]["env"], "CLIPCL_CONV_SCRATCH")
        self.assertEqual(p["gemm_kc"]["source"], "default")
        self.assertNotIn("env", p["gemm_kc"])

    def test_settings_are_documented(self):
        rc, out, err = run("devices", "--settings", "--json")
        self.assert_ok(rc, out, err)
        names = [s["name"] for s in json.loads(out)["settings"]]
        for v in POLICY_VARS + ["CLIPCL_DEVICE", "CLIPCL_CACHE_DIR", "CLIPCL_KERNEL_DIR"]:
            self.assertIn(v, names)
        with open(DOC) as f:
            doc = f.read()
        for n in names:
            self.assertIn("`%s`" % n, doc, "%s is not in docs/opencl-backend.md" % n)


if __name__ == "__main__":
    cli_util.main()
