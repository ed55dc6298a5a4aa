"""No compiler chatter on stderr: with empty kernel caches (PoCL's and
clipcl's program and tuning caches), the first `clipcl embed-text` builds
every kernel from source, and its stderr holds nothing but clipcl's own
lines. PoCL's clang writes "N warnings generated." to the process's stderr
for a kernel with warnings; which kernels warn depends on the CPU (none do
on some machines), so one run also builds a kernel given a warning on
purpose (a #warning line in an override of embedding.cl, CLIPCL_KERNEL_DIR):
it printed "1 warning generated." before. A kernel that fails to build still
gives its build log in the error message."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_util  # noqa: E402
from cli_util import CliCase, run  # noqa: E402

DATA = os.environ.get("CLIPCL_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
MODEL = os.path.join(DATA, "clip_small_vit", "openai")
IDS = os.path.join(DATA, "clip_small_vit", "ids.npy")
KERNELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "kernels")
BROKEN = ("__kernel void clipcl_broken_probe(__global float *y) {\n"
          "    y[0] = clipcl_undeclared_marker;\n}\n")


class QuietBuild(CliCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        rc, out, err = run("devices", "--json")
        if rc != 0 or '"selected": null' in out:
            self.skipTest("no OpenCL device: " + err)

    def tearDown(self):
        self.tmp.cleanup()

    def cold_env(self, name):
        """Empty caches of its own for one run: every kernel compiles."""
        d = os.path.join(self.tmp.name, name)
        os.makedirs(os.path.join(d, "pocl"))
        os.makedirs(os.path.join(d, "clipcl"))
        # CLIPCL_GEMM=own: no first-use GEMM measurement (tens of seconds
        # on a cold PoCL); every kernel the tower runs is still compiled
        return {"POCL_CACHE_DIR": os.path.join(d, "pocl"), "CLIPCL_CACHE_DIR": os.path.join(d, "clipcl"),
                "CLIPCL_GEMM": "own"}

    def quiet(self, err):
        for line in err.splitlines():
            self.assertNotIn("generated", line, "compiler chatter on stderr: %r" % err)
            self.assertNotIn("warning:", line.replace("clipcl: warning:", ""),
                             "compiler chatter on stderr: %r" % err)
            self.assertTrue(line.startswith("clipcl"), "a line on stderr that is not clipcl's: %r" % line)

    def test_cold_build_is_silent(self):
        out = os.path.join(self.tmp.name, "t.npy")
        rc, so, err = run("embed-text", "--model", MODEL, "--ids", IDS, "--out", out,
                          env=self.cold_env("cold"))
        self.assert_ok(rc, so, err)
        self.assertTrue(os.path.exists(out))
        self.quiet(err)

    def test_kernel_with_warnings_is_silent(self):
        kdir = os.path.join(self.tmp.name, "warn")
        os.makedirs(kdir)
        with open(os.path.join(KERNELS, "embedding.cl")) as f:
            src = f.read()
        with open(os.path.join(kdir, "embedding.cl"), "w") as f:
            f.write("#warning clipcl_probe_warning\n" + src)
        env = self.cold_env("warn")
        env["CLIPCL_KERNEL_DIR"] = kdir
        out = os.path.join(self.tmp.name, "w.npy")
        rc, so, err = run("embed-text", "--model", MODEL, "--ids", IDS, "--out", out, env=env)
        self.assert_ok(rc, so, err)
        self.quiet(err)
        self.assertNotIn("clipcl_probe_warning", err)

    def test_failed_build_keeps_the_log(self):
        kdir = os.path.join(self.tmp.name, "kernels")
        os.makedirs(kdir)
        with open(os.path.join(kdir, "embedding.cl"), "w") as f:
            f.write(BROKEN)
        env = self.cold_env("broken")
        env["CLIPCL_KERNEL_DIR"] = kdir
        out = os.path.join(self.tmp.name, "b.npy")
        rc, so, err = run("embed-text", "--model", MODEL, "--ids", IDS, "--out", out, env=env)
        self.assertNotEqual(rc, 0, "a broken kernel must fail the run")
        self.assertIn("embedding.cl failed to build", err)
        self.assertIn("clipcl_undeclared_marker", err)  # the compiler's error, from the build log
        self.assertIn("error", err)
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    cli_util.main()
