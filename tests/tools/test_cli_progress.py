"""The progress bar on a real terminal: clipcl runs with stderr on a
pseudo-terminal (stdlib pty), where the bar must appear, end with its final
count and a newline, keep warnings on lines of their own and redraw at most
about ten times a second; with CLIPCL_PROGRESS=0, or off a terminal (every
other CLI test checks an empty stderr), nothing is drawn."""
import gzip
import os
import re
import select
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_util  # noqa: E402
from cli_util import CliCase, write_png  # noqa: E402


def run_on_tty(args, env=None):
    """Runs clipcl with stderr on a pty; returns (rc, stdout, tty text, seconds)."""
    e = dict(os.environ)
    e.pop("CLIPCL_PROGRESS", None)
    e["COLUMNS"] = "100"
    if env:
        e.update(env)
    master, slave = os.openpty()
    t0 = time.monotonic()
    p = subprocess.Popen([cli_util.CLIPCL] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=slave, env=e)
    os.close(slave)
    tty = b""
    out_chunks = []
    # Drain both streams while it runs: a full pty buffer would block the child.
    fds = [master, p.stdout.fileno()]
    while fds:
        ready, _, _ = select.select(fds, [], [], 60)
        if not ready:
            p.kill()
            raise AssertionError("clipcl hung")
        for fd in ready:
            try:
                b = os.read(fd, 65536)
            except OSError:  # EIO: the pty's other end is closed
                b = b""
            if not b:
                fds.remove(fd)
            elif fd == master:
                tty += b
            else:
                out_chunks.append(b)
    rc = p.wait()
    p.stdout.close()
    os.close(master)
    return rc, b"".join(out_chunks).decode(), tty.decode("utf-8", "replace"), time.monotonic() - t0


class ProgressOnTty(CliCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.img = os.path.join(cls.tmp.name, "img.png")
        w, h = 160, 120
        write_png(cls.img, w, h, 3, [(x * 3 + y * 5 + c * 70) % 256 for y in range(h) for x in range(w) for c in range(3)])
        cls.vocab = os.path.join(cls.tmp.name, "bpe_simple_vocab_16e6.txt.gz")
        with gzip.open(cls.vocab, "wt") as f:
            f.write("#version: tiny\nh e\n")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_preprocess_draws_bar(self):
        n = 400  # long enough (about a second here) for several redraws
        out = os.path.join(self.tmp.name, "o.npy")
        rc, so, tty, secs = run_on_tty(["preprocess", "--size", 224, "--out", out] + [self.img] * n)
        self.assertEqual(rc, 0, tty)
        self.assertTrue(os.path.isfile(out))
        self.assertTrue(tty.endswith("\n"), repr(tty[-80:]))
        draws = [s for s in re.split(r"[\r\n]", tty) if s.strip()]
        self.assertGreaterEqual(len(draws), 1)
        final = draws[-1]
        self.assertRegex(final, r"^preprocess  %d/%d \[#+\] 100%%  [0-9.]+ img/s  done in \d+:\d\d\s*$" % (n, n))
        self.assertLessEqual(len(final.rstrip()), 99, "fits COLUMNS=100 without wrapping")
        # ~10 redraws a second, plus the final one and slack for scheduling.
        self.assertLessEqual(len(draws), 10 * secs + 3, "%d draws in %.2f s" % (len(draws), secs))
        if secs > 0.5:
            self.assertGreaterEqual(len(draws), 2, "a bar that only shows at the end is no progress bar")
        # Counts only go up.
        counts = [int(m.group(1)) for m in (re.match(r"preprocess  (\d+)/", d) for d in draws) if m]
        self.assertEqual(counts, sorted(counts))

    def test_disabled_by_env(self):
        out = os.path.join(self.tmp.name, "o2.npy")
        rc, so, tty, _ = run_on_tty(["preprocess", "--size", 32, "--out", out, self.img, self.img],
                                    env={"CLIPCL_PROGRESS": "0"})
        self.assertEqual(rc, 0, tty)
        self.assertEqual(tty, "")

    def test_tokenize_warning_not_mixed_into_bar(self):
        long_text = "he " * 100
        rc, so, tty, _ = run_on_tty(["tokenize", "--vocab", self.vocab, "short", long_text, "x"])
        self.assertEqual(rc, 0, tty)
        self.assertEqual(len(so.splitlines()), 3, "ids stay on stdout")
        segments = [s.strip() for s in re.split(r"[\r\n]", tty) if s.strip()]
        warnings = [s for s in segments if "warning" in s]
        self.assertEqual(len(warnings), 1, tty)
        self.assertTrue(warnings[0].startswith("clipcl tokenize: warning: text 2 "), warnings[0])
        self.assertRegex(segments[-1], r"^tokenize  3/3 \[")

    def test_error_leaves_no_bar_behind(self):
        bad = os.path.join(self.tmp.name, "bad.png")
        with open(bad, "w") as f:
            f.write("nope")
        out = os.path.join(self.tmp.name, "o3.npy")
        rc, so, tty, _ = run_on_tty(["preprocess", "--size", 224, "--out", out] + [self.img] * 20 + [bad])
        self.assertEqual(rc, 1)
        lines = [s.strip() for s in re.split(r"[\r\n]", tty) if s.strip()]
        self.assertTrue(lines and lines[-1].startswith("clipcl: ") and bad in lines[-1], tty)
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    if not hasattr(os, "openpty"):
        unittest.main = lambda **k: sys.exit(77)  # meson: skipped
    cli_util.main()
