"""What `meson install` puts in a prefix, used as a program outside the
project would use it.

Two ways to get the installed files:
  check_install.py --build BUILD --destdir ...
      installs BUILD into a temporary DESTDIR (`meson install --destdir`;
      pkg-config then reads it through PKG_CONFIG_SYSROOT_DIR), as the meson
      suite does: nothing outside the temporary folder is written;
  check_install.py --build BUILD --installed ...
      BUILD was already installed into its --prefix (`meson install -C
      BUILD`, as tools/run-tests.sh's "install" build does).

Then, against the installed files only:
- the command, libclipcl.so.MAJOR (its soname) and libclipcl.a, clipcl.h,
  clipcl.pc and the man page are where meson says, and `clipcl --version` and
  `pkg-config --modversion clipcl` give the project version;
- the man page renders with groff without a warning (skipped without groff);
- `nm -D --defined-only` of the shared library lists exactly the functions
  clipcl.h declares, all clipcl_*;
- tests/install/consumer.c compiled with `pkg-config --cflags --libs clipcl`
  (and once statically against libclipcl.a with `pkg-config --static`) runs
  with LD_LIBRARY_PATH into the prefix and prints, bit for bit, the
  embeddings the installed `clipcl embed-text --normalize` writes for the same
  texts, on a small model with a tokenizer (test_cli_clip's widened golden
  model), on the reference backend."""
import argparse
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import test_cli_clip  # noqa: E402  (the widened golden model with a tokenizer)
from cli_util import read_npy  # noqa: E402

TEXTS = ["hello", "a photo of a cat", "a dog.", ""]
ARGS = None


def sh(cmd, env=None, check=True):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError("%s exited with %d:\n%s%s" % (" ".join(map(str, cmd)), p.returncode,
                                                          p.stdout, p.stderr))
    return p


def header_functions(path):
    """The function names clipcl.h declares (comments stripped)."""
    with open(path) as f:
        text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    text = re.sub(r"^\s*#.*$", "", text, flags=re.M)
    return set(re.findall(r"\b(clipcl_\w+)\s*\(", text))


class Installed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="clipcl-install-")
        tmp = cls.tmp.name
        build = ARGS.build
        installed = sh([ARGS.meson, "introspect", build, "--installed"]).stdout
        where = {os.path.basename(k): v for k, v in json.loads(installed).items()}
        cls.sysroot = ""
        if ARGS.destdir:
            cls.sysroot = os.path.join(tmp, "destdir")
            sh([ARGS.meson, "install", "-C", build, "--no-rebuild", "--quiet",
                "--destdir", cls.sysroot])

        def at(name):
            return cls.sysroot + where[name] if cls.sysroot else where[name]
        major = ARGS.version.split(".")[0]
        cls.paths = {
            "command": at("clipcl"),
            "shared": at("libclipcl.so.%s" % ARGS.version),
            "soname": at("libclipcl.so.%s" % major),
            "dev_link": at("libclipcl.so"),
            "static": at("libclipcl.a"),
            "header": at("clipcl.h"),
            "pc": at("clipcl.pc"),
            "man": at("clipcl.1"),
        }
        cls.libdir = os.path.dirname(cls.paths["shared"])
        cls.env = dict(os.environ)
        cls.env.pop("PKG_CONFIG_PATH", None)
        # only the installed clipcl.pc: not one from an earlier system install
        cls.env["PKG_CONFIG_LIBDIR"] = os.path.dirname(cls.paths["pc"])
        if cls.sysroot:
            cls.env["PKG_CONFIG_SYSROOT_DIR"] = cls.sysroot
        cls.run_env = dict(cls.env, LD_LIBRARY_PATH=cls.libdir)
        cls.model = None

    @classmethod
    def tearDownClass(cls):
        if cls.model:
            test_cli_clip.TinyTokenizer.tearDownClass()
        cls.tmp.cleanup()

    def pkg_config(self, *args):
        return shlex.split(sh(["pkg-config", *args, "clipcl"], env=self.env).stdout)

    def tiny_model(self):
        if not Installed.model:
            test_cli_clip.TinyTokenizer.setUpClass()
            Installed.model = test_cli_clip.TinyTokenizer.model
        return Installed.model

    def compile_consumer(self, static):
        out = os.path.join(self.tmp.name, "consumer-static" if static else "consumer")
        flags = ["-std=c11", "-Wall", "-Wextra", "-Werror"]
        if ARGS.sanitize and ARGS.sanitize != "none":
            flags.append("-fsanitize=" + ARGS.sanitize)
        src = os.path.join(HERE, "consumer.c")
        if static:
            libs = [self.paths["static"] if a == "-lclipcl" else a
                    for a in self.pkg_config("--static", "--libs")]
        else:
            libs = self.pkg_config("--libs")
        sh(shlex.split(ARGS.cc) + flags + self.pkg_config("--cflags") + [src, "-o", out] + libs,
           env=self.env)
        return out

    def cli_embeddings(self):
        out = os.path.join(self.tmp.name, "texts.npy")
        sh([self.paths["command"], "embed-text", "--model", self.tiny_model(), "--device", "ref",
            "--normalize", "--out", out, "--", *TEXTS], env=self.run_env)
        descr, shape, vals = read_npy(out)
        self.assertEqual(descr, "<f4")
        return shape, vals

    def consumer_embeddings(self, exe):
        p = sh([exe, self.tiny_model(), "ref", *TEXTS], env=self.run_env)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0], "clipcl " + ARGS.version)
        d = int(lines[1].split()[1])
        rows = [[float(x) for x in l.split()] for l in lines[2:]]
        self.assertEqual(len(rows), len(TEXTS))
        for r in rows:
            self.assertEqual(len(r), d)
        # %.9g round-trips a float32: compare the float32 bits
        return d, struct.pack("<%df" % (len(rows) * d), *[x for r in rows for x in r])

    # ---- the tests ----

    def test_files_installed(self):
        for what, p in self.paths.items():
            self.assertTrue(os.path.isfile(p), "%s not installed at %s" % (what, p))
        self.assertTrue(os.path.islink(self.paths["soname"]))
        self.assertEqual(os.path.realpath(self.paths["soname"]),
                         os.path.realpath(self.paths["shared"]))
        self.assertTrue(os.access(self.paths["command"], os.X_OK))
        if self.sysroot:  # nothing outside the temporary DESTDIR
            for p in self.paths.values():
                self.assertTrue(p.startswith(self.sysroot + "/"), p)
        with open(self.paths["man"]) as f:
            man = f.read()
        for want in ['.TH CLIPCL 1 "" "clipcl %s"' % ARGS.version, "\n.SS embed-text\n",
                     "\n.SH ENVIRONMENT\n"]:
            self.assertTrue(want in man, "the man page lacks %r" % want)

    def test_man_page_renders_without_warnings(self):
        if not shutil.which("groff"):
            self.skipTest("groff not installed (Debian package groff-base)")
        p = sh(["groff", "-man", "-Tutf8", "-ww", "-z", self.paths["man"]])
        self.assertEqual(p.stderr, "", "groff warns about the man page")
        p = sh(["groff", "-man", "-Tutf8", self.paths["man"]],
               env=dict(self.env, GROFF_NO_SGR="1"))
        for want in ("clipcl - an OpenCL runtime", "embed-text --model MODEL", "CLIPCL_DEVICE"):
            self.assertIn(want, re.sub(r".\x08", "", p.stdout).replace("\u2010", "-"))

    def test_versions(self):
        p = sh([self.paths["command"], "--version"], env=self.run_env)
        self.assertEqual(p.stdout, "clipcl %s\n" % ARGS.version)
        self.assertEqual(self.pkg_config("--modversion"), [ARGS.version])
        p = sh(["readelf", "-d", self.paths["shared"]])
        sonames = re.findall(r"Library soname: \[(.*?)\]", p.stdout)
        self.assertEqual(sonames, ["libclipcl.so.%s" % ARGS.version.split(".")[0]])

    def test_only_the_public_api_exported(self):
        p = sh(["nm", "-D", "--defined-only", self.paths["shared"]])
        names = {l.split()[-1].split("@")[0] for l in p.stdout.splitlines() if l.strip()}
        declared = header_functions(self.paths["header"])
        self.assertIn("clipcl_load", declared)
        self.assertIn("clipcl_version", declared)
        self.assertEqual(sorted(n for n in names if not n.startswith("clipcl_")), [],
                         "symbols exported beyond clipcl_*")
        self.assertEqual(names, declared, "exported symbols differ from clipcl.h's functions")
        p = sh(["nm", "--defined-only", self.paths["static"]])
        self.assertRegex(p.stdout, r"\bT clipcl_load\b")

    def test_consumer_shared_equals_cli(self):
        exe = self.compile_consumer(static=False)
        # the installed library is the one loaded
        p = sh(["ldd", exe], env=self.run_env)
        found = re.findall(r"libclipcl\S* => (\S+)", p.stdout)
        self.assertEqual([os.path.realpath(f) for f in found],
                         [os.path.realpath(self.paths["shared"])], p.stdout)
        d, got = self.consumer_embeddings(exe)
        shape, want = self.cli_embeddings()
        self.assertEqual(shape, (len(TEXTS), d))
        self.assertEqual(got, struct.pack("<%df" % len(want), *want))
        # not a degenerate result: distinct texts give distinct rows
        rows = [got[i * d * 4:(i + 1) * d * 4] for i in range(len(TEXTS))]
        self.assertEqual(len(set(rows)), len(TEXTS))

    def test_consumer_static_equals_cli(self):
        exe = self.compile_consumer(static=True)
        p = sh(["ldd", exe], env=self.run_env, check=False)
        self.assertNotIn("libclipcl", p.stdout)
        d, got = self.consumer_embeddings(exe)
        shape, want = self.cli_embeddings()
        self.assertEqual(shape, (len(TEXTS), d))
        self.assertEqual(got, struct.pack("<%df" % len(want), *want))


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--destdir", action="store_true")
    mode.add_argument("--installed", action="store_true")
    ap.add_argument("--meson", default=shutil.which("meson") or "meson")
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    ap.add_argument("--sanitize", default="none")
    ap.add_argument("--version", help="the project version (default: meson's for BUILD)")
    ARGS, rest = ap.parse_known_args()
    if not ARGS.version:
        info = subprocess.run([ARGS.meson, "introspect", ARGS.build, "--projectinfo"],
                              capture_output=True, text=True, check=True).stdout
        ARGS.version = json.loads(info)["version"]
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
