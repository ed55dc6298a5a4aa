"""`clipcl search` on small embedding folders made here in the agreed layout
(img_emb_NNNN.npy + metadata_NNNN.csv + manifest.json; docs/search.md), with
the tiny golden ViT (tests/data/clip_small_vit) on the reference backend.

- The fixture index: the five test images embedded by `clipcl embed-image
  --normalize` (one of them stored in a webdataset tar), an exact copy of one
  of them (a tie), and seeded random unit rows, in shards of 8 rows (the last
  one short).
- The top K of `search --json` equal a brute-force ranking computed here in
  Python (double sums over the rows read back from the .npy files, sorted by
  score then row) for the query that `clipcl embed-image --normalize` /
  `embed-text --normalize` gives - another path than the search's own.
- `--image` with an image of the index finds itself first with score 1; its
  exact copy comes next (the lower row first).
- A text index (text_emb_NNNN.npy) answers `--text` queries.
- `--html`: a page with one result block per hit, every image inlined as a
  PNG data URI (the tar member's too), captions escaped, tags balanced; an
  unreadable image gets a note and one warning line.
- Errors: one line, exit 1 or 2, nothing on stdout, no page written."""
import base64
import gzip
import html.parser
import io
import json
import math
import os
import random
import re
import shutil
import struct
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_util  # noqa: E402
import test_cli_clip as tcc  # noqa: E402  (model helpers; its tests do not run here)
from cli_util import CliCase, read_npy, run  # noqa: E402

DATA = os.environ.get("CLIPCL_TEST_DATA") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
MODEL = os.path.join(DATA, "clip_small_vit", "openai")
IMAGES = [os.path.join(DATA, n) for n in tcc.IMAGES]
SHARD = 8
N_RANDOM = 28
CAPTION = "<b>\"Tom\" & 'Jerry'</b>, friends\nsecond line"
ESCAPED = "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;, friends"
TEXTS = ["hello", "a cat", "a photo of a dog.", "cat cat dog", "photo"]


def write_npy_f32(path, rows):
    tcc.write_npy_f32(path, (len(rows), len(rows[0])), [x for r in rows for x in r])


def write_meta(path, recs):
    """RFC 4180 as Python's csv module would: every field quoted here."""
    def q(s):
        return '"' + s.replace('"', '""') + '"'
    with open(path, "w", newline="") as f:
        f.write("key,path,member,caption\r\n")
        for r in recs:
            f.write(",".join(q(x) for x in r) + "\r\n")


def write_index(d, rows, recs, prefix="img_emb", meta_prefix="metadata", manifest=None):
    os.makedirs(d, exist_ok=True)
    for s in range(0, len(rows), SHARD):
        n = s // SHARD
        write_npy_f32(os.path.join(d, "%s_%04d.npy" % (prefix, n)), rows[s:s + SHARD])
        write_meta(os.path.join(d, "%s_%04d.csv" % (meta_prefix, n)), recs[s:s + SHARD])
    if manifest is not None:
        with open(os.path.join(d, "manifest.json"), "w") as f:
            json.dump(manifest, f)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def unit(v):
    n = math.sqrt(sum(x * x for x in v))
    return [f32(x / n) for x in v]


def index_rows(d, prefix="img_emb"):
    names = sorted(n for n in os.listdir(d) if n.startswith(prefix + "_"))
    out = []
    for n in names:
        out += tcc.rows(os.path.join(d, n))
    return out


def brute_force(rows, q):
    scored = [(sum(a * b for a, b in zip(r, q)), i) for i, r in enumerate(rows)]
    scored.sort(key=lambda t: (-t[0], t[1]))
    return scored


def make_text_model(d):
    """The tiny ViT with its token embedding widened to a small BPE vocabulary,
    as test_cli_clip.TinyTokenizer makes it: same image tower, so the same
    image features, and texts that tokenize."""
    items, raw, meta = tcc.read_st(os.path.join(MODEL, "model.safetensors"))
    info = dict(items)["token_embedding.weight"]
    rows_, width = info["shape"]
    rb = len(raw["token_embedding.weight"]) // rows_
    old = raw["token_embedding.weight"]
    raw["token_embedding.weight"] = old + b"".join(
        old[((i * 37) % rows_) * rb:((i * 37) % rows_ + 1) * rb] for i in range(rows_, tcc.TINY_VOCAB))
    info["shape"] = [tcc.TINY_VOCAB, width]
    os.mkdir(d)
    tcc.write_st(os.path.join(d, "model.safetensors"), items, raw, meta)
    with open(os.path.join(MODEL, "open_clip_config.json")) as f:
        cfg = json.load(f)
    cfg["model_cfg"]["text_cfg"]["vocab_size"] = tcc.TINY_VOCAB
    with open(os.path.join(d, "open_clip_config.json"), "w") as f:
        json.dump(cfg, f)
    with gzip.open(os.path.join(d, "bpe_simple_vocab_16e6.txt.gz"), "wt") as f:
        f.write("#version: tiny\n" + "\n".join(tcc.MERGES) + "\n")


class Balance(html.parser.HTMLParser):
    """Checks that every non-void element is closed in order."""
    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("</%s> closes %s" % (tag, self.stack[-1:] or "nothing"))
        else:
            self.stack.pop()


class Search(CliCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        cls.d = d
        # the image features, by another command
        feats = os.path.join(d, "feats.npy")
        rc, _, err = run("embed-image", "--model", MODEL, "--normalize", "--device", "ref",
                         "--out", feats, *IMAGES)
        assert rc == 0, err
        img_rows = tcc.rows(feats)
        cls.dim = len(img_rows[0])
        # image 2 lives in a webdataset shard, as member 000002.png
        cls.tar = os.path.join(d, "shards", "ws-0000.tar")
        os.mkdir(os.path.dirname(cls.tar))
        with tarfile.open(cls.tar, "w", format=tarfile.USTAR_FORMAT) as t:
            t.add(IMAGES[2], arcname="000002.png")
            info = tarfile.TarInfo("000002.txt")
            info.size = 4
            t.addfile(info, fileobj=io.BytesIO(b"cap\n"))
        rng = random.Random(5)
        rows, recs = [], []
        for i in range(N_RANDOM):
            rows.append(unit([rng.gauss(0, 1) for _ in range(cls.dim)]))
            path = IMAGES[i % len(IMAGES)] if i != 9 else os.path.join(d, "missing.png")
            recs.append(("rand%02d" % i, path, "", "random row %d" % i))
        # the images among them, one per shard and more, and a copy of image 0
        cls.img_row = {}
        for k, at in enumerate((3, 8, 15, 21, 30)):
            rows.insert(at, img_rows[k])
            member = "000002.png" if k == 2 else ""
            path = cls.tar if k == 2 else IMAGES[k]
            recs.insert(at, ("img%d" % k, path, member, CAPTION if k == 1 else "image %d" % k))
            cls.img_row[k] = at
        rows.insert(33, img_rows[0])
        recs.insert(33, ("img0-copy", IMAGES[0], "", "image 0 again"))
        cls.rows = rows
        cls.n = len(rows)  # 34: shards of 8, 8, 8, 8, 2
        cls.index = os.path.join(d, "index")
        write_index(cls.index, rows, recs,
                    manifest={"kind": "image", "model": MODEL, "embed_dim": cls.dim,
                              "normalized": True, "shard_size": SHARD, "rows": cls.n,
                              "shards": [], "failed": 0})
        cls.text_model = os.path.join(d, "textmodel")
        make_text_model(cls.text_model)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def search(self, *args):
        rc, out, err = run("search", "--index", self.index, "--device", "ref", "--json", *args)
        self.assert_ok(rc, out, err)
        return json.loads(out)

    def embed(self, kind, model, *inputs):
        out = os.path.join(self.d, "q.npy")
        rc, _, err = run(kind, "--model", model, "--normalize", "--device", "ref", "--out", out,
                         "--", *inputs)
        self.assert_ok(rc, "", err)
        return tcc.rows(out)

    def assert_ranking(self, got, rows, q, k):
        want = brute_force(rows, q)
        res = got["results"]
        self.assertEqual(len(res), k)
        for i, r in enumerate(res):
            self.assertEqual(r["rank"], i + 1)
            self.assertAlmostEqual(r["score"], want[i][0], delta=1e-5)
            # rows must agree unless two different rows score within float noise
            near = [j for s, j in want if abs(s - want[i][0]) < 1e-5]
            if len(near) == 1 or all(rows[j] == rows[near[0]] for j in near):
                self.assertEqual(r["row"], want[i][1], "rank %d" % (i + 1))
            else:
                self.assertIn(r["row"], near)

    def test_image_query_finds_itself(self):
        for k in range(len(IMAGES)):
            with self.subTest(image=k):
                got = self.search("--image", IMAGES[k], "--top", "3")
                top = got["results"][0]
                self.assertEqual(top["row"], self.img_row[k])
                self.assertEqual(top["key"], "img%d" % k)
                self.assertAlmostEqual(top["score"], 1.0, delta=1e-5)
        # the exact copy of image 0 (row 33) ties with row 3 and comes after it
        got = self.search("--image", IMAGES[0], "--top", "2")
        self.assertEqual([r["row"] for r in got["results"]], [3, 33])
        self.assertEqual(got["results"][0]["score"], got["results"][1]["score"])
        # the tar member's metadata comes through
        got = self.search("--image", IMAGES[2], "--top", "1")
        self.assertEqual(got["results"][0]["path"], self.tar)
        self.assertEqual(got["results"][0]["member"], "000002.png")

    def test_top_k_equals_brute_force(self):
        self.assertEqual(index_rows(self.index), self.rows)
        for img in (IMAGES[1], IMAGES[4]):
            q = self.embed("embed-image", MODEL, img)[0]
            for k in (1, 7, 9, self.n):
                with self.subTest(image=img, k=k):
                    got = self.search("--image", img, "--top", str(k))
                    self.assertEqual(got["rows"], self.n)
                    self.assert_ranking(got, self.rows, q, k)
                    # one thread or many: the same bits
                    one = self.search("--image", img, "--top", str(k), "--threads", "1")
                    self.assertEqual(one["results"], got["results"])

    def test_text_query(self):
        for text in ("a cat", "a photo of a dog."):
            with self.subTest(text=text):
                q = self.embed("embed-text", self.text_model, text)[0]
                got = self.search("--text", text, "--model", self.text_model, "--top", "10")
                self.assertEqual(got["query"], {"text": text})
                self.assert_ranking(got, self.rows, q, 10)

    def test_text_index(self):
        d = os.path.join(self.d, "textindex")
        trows = self.embed("embed-text", self.text_model, *TEXTS)
        recs = [("t%d" % i, "", "", t) for i, t in enumerate(TEXTS)]
        write_index(d, trows, recs, prefix="text_emb", meta_prefix="text_metadata",
                    manifest={"kind": "text", "model": self.text_model, "embed_dim": self.dim})
        rc, out, err = run("search", "--index", d, "--device", "ref", "--json", "--text", "a cat",
                           "--top", "5")
        self.assert_ok(rc, out, err)
        got = json.loads(out)
        self.assertEqual(got["kind"], "text")
        self.assertEqual(got["results"][0]["caption"], "a cat")
        self.assertAlmostEqual(got["results"][0]["score"], 1.0, delta=1e-5)
        self.assert_ranking(got, trows, trows[1], 5)
        # an image query against the text rows: the same model's image tower
        q = self.embed("embed-image", self.text_model, IMAGES[0])[0]
        rc, out, err = run("search", "--index", d, "--device", "ref", "--json", "--image",
                           IMAGES[0], "--top", "5")
        self.assert_ok(rc, out, err)
        self.assert_ranking(json.loads(out), trows, q, 5)

    def test_table(self):
        rc, out, err = run("search", "--index", self.index, "--device", "ref", "--image",
                           IMAGES[1], "--top", "4")
        self.assert_ok(rc, out, err)
        lines = out.splitlines()
        self.assertEqual(len(lines), 2 + 4)
        self.assertTrue(lines[1].startswith("rank  score"), lines[1])
        got = self.search("--image", IMAGES[1], "--top", "4")["results"]
        for line, r in zip(lines[2:], got):
            f = line.split()
            self.assertEqual(f[0], str(r["rank"]))
            self.assertAlmostEqual(float(f[1]), r["score"], delta=1e-6)
            self.assertEqual(f[2], r["key"])
        # the caption's newline does not break its line
        self.assertIn("friends second line", lines[2])
        rc, out, err = run("search", "--index", self.index, "--device", "ref", "--image",
                           IMAGES[2], "--top", "1")
        self.assert_ok(rc, out, err)
        self.assertIn(self.tar + ":000002.png", out)

    def test_html(self):
        page = os.path.join(self.d, "page.html")
        k = self.n
        rc, out, err = run("search", "--index", self.index, "--device", "ref", "--image",
                           IMAGES[1], "--top", str(k), "--html", page)
        self.assert_ok(rc, out, err)
        # one warning, for the row whose image is missing
        warnings = [l for l in err.splitlines() if l.strip()]
        self.assertEqual(len(warnings), 1, err)
        self.assertIn("missing.png", warnings[0])
        with open(page, encoding="utf-8") as f:
            text = f.read()
        self.assertTrue(text.startswith("<!DOCTYPE html>"))
        self.assertEqual(text.count('<figure class="hit">'), k)
        self.assertEqual(text.count('class="missing"'), 1)
        uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]*)"', text)
        self.assertEqual(len(uris), k - 1 + 1)  # every readable hit, and the query
        sizes = set()
        for u in uris:
            png = base64.b64decode(u)
            self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
            sizes.add(struct.unpack(">II", png[16:24]))
        # all below the 320 px thumbnail bound: kept at their sizes, the tar
        # member's (96 x 80) included
        self.assertEqual(sizes, {(200, 150), (96, 80), (80, 120), (90, 70), (37, 53)})
        self.assertIn(ESCAPED, text)
        self.assertNotIn("<b>", text)
        self.assertNotIn("\"Tom\"", text)
        for i in range(1, k + 1):
            self.assertIn('<span class="rank">#%d</span>' % i, text)
        p = Balance()
        p.feed(text)
        p.close()
        self.assertEqual(p.errors, [])
        self.assertEqual(p.stack, [])
        self.assertNotIn("http", text)  # self-contained
        # the table still goes to stdout
        self.assertEqual(len(out.splitlines()), 2 + k)

    def test_html_relative_paths(self):
        """Relative metadata paths: under --root, else under the folder of the
        set the manifest records as "data", else not found (a note)."""
        d = os.path.join(self.d, "rel")
        name = os.path.basename(IMAGES[0])
        man = {"kind": "image", "model": MODEL, "embed_dim": self.dim}
        write_index(d, self.rows[3:4], [("k", name, "", "c")], manifest=man)
        page = os.path.join(self.d, "rel.html")

        def images(*extra):
            rc, out, err = run("search", "--index", d, "--device", "ref", "--text", "x",
                               "--model", self.text_model, "--html", page, *extra)
            self.assert_ok(rc, out, err)
            with open(page) as f:
                text = f.read()
            return text.count("data:image/png"), text.count('class="missing"'), err

        self.assertEqual(images("--root", DATA)[:2], (1, 0))
        got, missing, err = images()
        self.assertEqual((got, missing), (0, 1))
        self.assertIn(name, err)
        man["data"] = os.path.join(DATA, "set.csv")  # a CSV: paths under its folder
        write_index(d, self.rows[3:4], [("k", name, "", "c")], manifest=man)
        self.assertEqual(images()[:2], (1, 0))
        man["data"] = DATA  # a folder
        write_index(d, self.rows[3:4], [("k", name, "", "c")], manifest=man)
        self.assertEqual(images()[:2], (1, 0))

    def test_errors(self):
        d = self.d
        empty = os.path.join(d, "empty")
        os.makedirs(empty, exist_ok=True)
        small = os.path.join(d, "small")  # 7-wide rows: not this model's width
        write_index(small, [unit([1, 2, 3, 4, 5, 6, i]) for i in range(3)],
                    [("k%d" % i, "", "", "") for i in range(3)],
                    manifest={"kind": "image", "model": MODEL, "embed_dim": 7})
        bare = os.path.join(d, "bare")  # no manifest: no model recorded
        write_index(bare, self.rows[:2], [("a", "", "", ""), ("b", "", "", "")])
        page = os.path.join(d, "err.html")
        nowhere = os.path.join(d, "nowhere")
        q = ("--image", IMAGES[0])
        cases = [
            ((nowhere,) + q, 1, [nowhere, "No such file"]),
            ((empty,) + q, 1, [empty, "no img_emb_NNNN.npy"]),
            ((small,) + q, 1, ["embeds to %d dimensions" % self.dim, "has 7"]),
            ((bare,) + q, 1, ["records no model", "--model"]),
            ((self.index,) + q + ("--top", "0"), 2, ["--top", "from 1"]),
            ((self.index,) + q + ("--top", "35"), 2, ["--top 35", "only 34 rows"]),
            ((self.index,) + q + ("--top", "x"), 2, ["--top \"x\""]),
            ((self.index,), 2, ["--text TEXT or --image IMAGE"]),
            ((self.index, "--text", "a") + q, 2, ["not both"]),
            ((self.index, "--kind", "audio") + q, 2, ["--kind \"audio\""]),
            ((self.index, "--image", nowhere), 1, [nowhere]),
            ((self.index, "--indx", "x"), 2, ["did you mean --index?"]),
            ((self.index, "--html", os.path.join(nowhere, "p.html")) + q, 1, ["--html", nowhere]),
            ((self.index, "--html", d) + q, 1, ["--html", "directory"]),
            ((self.index, "--model", nowhere) + q, 1, [nowhere]),
        ]
        for args, code, words in cases:
            with self.subTest(args=args):
                rc, out, err = run("search", "--device", "ref", "--index", *args)
                self.assertEqual(rc, code, err)
                self.assert_one_line_error(rc, err, *words)
                self.assertEqual(out, "")
        rc, out, err = run("search", "--device", "ref", *q)
        self.assertEqual(rc, 2)
        self.assert_one_line_error(rc, err, "--index DIR is required")
        # a failed search writes no page and leaves an existing one alone
        with open(page, "w") as f:
            f.write("old")
        rc, out, err = run("search", "--device", "ref", "--index", small, "--html", page, *q)
        self.assertEqual(rc, 1)
        with open(page) as f:
            self.assertEqual(f.read(), "old")
        self.assertEqual(sorted(n for n in os.listdir(d) if n.startswith("err")), ["err.html"])


if __name__ == "__main__":
    cli_util.main()
