"""`clipcl tune`: --list shows the device's search space; --quick on tiny
shapes (a few seconds on PoCL) writes a cache entry that the next process
uses (`clipcl devices --policy` names it); the first use of a device the
database does not know runs a quick tune and says so once on stderr; usage
errors are one line. No timing assertions."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_util  # noqa: E402
from cli_util import CliCase, run  # noqa: E402

GEMM_VARS = ["CLIPCL_GEMM", "CLIPCL_GEMM_TILE", "CLIPCL_GEMM_DB", "CLIPCL_FORCE_VARIANT"]


def policy_rows(out):
    rows = {}
    for line in out.split("policy of ", 1)[1].splitlines()[2:]:
        parts = line.split(None, 2)
        if len(parts) == 3:
            rows[parts[0]] = (parts[1], parts[2])
    return rows


class Tune(CliCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.env = {"CLIPCL_CACHE_DIR": self.tmp.name, "CLIPCL_SELFCHECK": "0"}
        for v in GEMM_VARS:
            os.environ.pop(v, None)

    def tearDown(self):
        self.tmp.cleanup()

    def test_list_space(self):
        rc, out, err = run("tune", "--list", "--json", env=self.env)
        self.assert_ok(rc, out, err)
        d = json.loads(out)
        self.assertIn(d["class"], ["cpu-avx512", "cpu-avx2", "cpu-128bit", "gpu-nvidia", "gpu-amd",
                                   "gpu-intel", "gpu", "unknown"])
        self.assertGreater(len(d["tiles"]), 0)
        for t in d["tiles"]:
            tm, vw, nv = map(int, t.split("x"))
            self.assertLessEqual(tm * nv, d["registers"], t)
        if d["class"] == "cpu-avx2":
            self.assertIn("4x8x3", d["tiles"])
            self.assertTrue(all(t.split("x")[1] == "8" for t in d["tiles"]))
        if d["class"] == "cpu-avx512":
            self.assertIn("6x16x4", d["tiles"])
        rc, out, err = run("tune", "--list", "--space", "wide", env=self.env)
        self.assert_ok(rc, out, err)
        self.assertIn("registers", out)

    def test_quick_tune_is_used_by_the_next_process(self):
        rc, out, err = run("tune", "--quick", "--shapes", "64x96x48,33x40x20", "--json", env=self.env)
        self.assert_ok(rc, out, err)
        d = json.loads(out)
        self.assertEqual(d["source"], "clipcl tune --quick")
        self.assertGreaterEqual(len(d["candidates"]), 1)
        self.assertEqual(d["impl"], "own")
        self.assertTrue(d["stored"] and os.path.exists(d["stored"]), d)
        with open(d["stored"]) as f:
            text = f.read()
        self.assertIn("tile %s\n" % d["tile"], text)
        self.assertIn("\nload ", text)
        self.assertIn("source clipcl tune --quick\n", text)
        # the next process: the tile comes from the cache, named as such
        rc, out, err = run("devices", "--policy", env=self.env)
        self.assert_ok(rc, out, err)
        rows = policy_rows(out)
        self.assertEqual(rows["gemm_tile"][0], d["tile"])
        self.assertTrue(rows["gemm_tile"][1].startswith("tuned (clipcl tune --quick, load "), rows["gemm_tile"])
        # text output and --no-store leave the cache as it is
        before = os.path.getmtime(d["stored"])
        rc, out, err = run("tune", "--tiles", "4x8x3", "--shapes", "33x40x20", "--rounds", "1", "--no-store",
                           env=self.env)
        self.assert_ok(rc, out, err)
        self.assertIn("pick: own, tile 4x8x3", out)
        self.assertNotIn("stored in", out)
        self.assertEqual(os.path.getmtime(d["stored"]), before)

    def test_first_use_without_database_entry_says_so_once(self):
        db = os.path.join(self.tmp.name, "empty-db.txt")
        with open(db, "w") as f:
            f.write("# no entries\n")
        env = dict(self.env, CLIPCL_GEMM_DB=db)
        rc, out, err = run("selftest", env=env)
        self.assert_ok(rc, out, err)
        lines = [l for l in err.splitlines() if "quick tune" in l]
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("clipcl: warning: no GEMM defaults for "), lines[0])
        rc, out, err = run("selftest", env=env)
        self.assert_ok(rc, out, err)
        self.assertNotIn("quick tune", err)
        rc, out, err = run("devices", "--policy", env=env)
        self.assert_ok(rc, out, err)
        self.assertTrue(policy_rows(out)["gemm_tile"][1].startswith("tuned (quick tune at first use"))

    def test_database_entry_shows_in_policy(self):
        rc, out, err = run("devices", "--policy", env=self.env)
        self.assert_ok(rc, out, err)
        src = policy_rows(out)["gemm_tile"][1]
        self.assertTrue(src.startswith("default ("), src)

    def test_malformed_database_is_one_line(self):
        db = os.path.join(self.tmp.name, "bad-db.txt")
        with open(db, "w") as f:
            f.write("class | cpu-avx2 | * | 4x8x3 | own | perhaps | x\n")
        rc, out, err = run("selftest", env=dict(self.env, CLIPCL_GEMM_DB=db))
        self.assertEqual(rc, 1, err)
        self.assertIn(db + ":1: status measured or guess", err)

    def test_usage_errors(self):
        for args, name in ((["--shapes", "64x96"], "MxNxK"), (["--tiles", "4x12x3"], "TMxVWxNV"),
                           (["--space", "huge"], "device or wide"), (["--rounds", "0"], "--rounds"),
                           (["--fast"], "--fast")):
            rc, out, err = run("tune", *args, env=self.env)
            self.assertEqual(rc, 2, args)
            self.assert_one_line_error(rc, err, name)


if __name__ == "__main__":
    cli_util.main()
