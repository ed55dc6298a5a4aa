"""Bulk embedding: `clipcl embed-image/embed-text --data SET --out DIR` and
`clipcl synth --wds`, on the tiny golden ViT (tests/data/clip_small_vit).

- A folder tree, a CSV, a file list and webdataset shards (a folder, a brace
  pattern, a glob) of the same synth images give shards whose rows,
  concatenated, equal `clipcl embed-image --out x.npy` of the same images in
  the same order bit for bit; metadata lines match the inputs; corrupt files
  are skipped and listed in failed.csv.
- A run killed with SIGKILL (CLIPCL_BULK_KILL_AT_SHARD: after shard K's files
  are written, before the manifest lists it) and resumed gives every file
  byte-identical to an uninterrupted run's.
- --resume with another model, shard size or normalisation is refused; an
  existing non-empty DIR without --resume is refused; bad SETs fail cleanly
  with one line and leave no DIR.
- embed-text --data captions.csv / texts.txt equals embed-text --texts."""
import csv
import fcntl
import glob
import gzip
import io
import json
import os
import re
import shutil
import signal
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_util  # noqa: E402
from cli_util import CliCase, run  # noqa: E402

DATA = os.environ.get("CLIPCL_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
MODEL = os.path.join(DATA, "clip_small_vit", "openai")
MODEL_HF = os.path.join(DATA, "clip_small_vit", "hf")
N = 100


def npy_data(path):
    """(shape, raw little-endian float32 bytes) of a .npy written by clipcl."""
    with open(path, "rb") as f:
        b = f.read()
    assert b[:6] == b"\x93NUMPY", path
    hl = int.from_bytes(b[8:10], "little")
    hdr = eval(b[10:10 + hl].decode("latin1"), {"__builtins__": {}}, {"False": False, "True": True})
    assert hdr["descr"] == "<f4" and not hdr["fortran_order"], hdr
    return tuple(hdr["shape"]), b[10 + hl:]


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def read_json(path):
    with open(path) as f:
        return json.load(f)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def folder_rows(d, kind="img"):
    """Concatenated raw rows of every shard, in manifest order."""
    man = read_json(os.path.join(d, "manifest.json"))
    out = b""
    meta = []
    for s in man["shards"]:
        shape, raw = npy_data(os.path.join(d, s["file"]))
        assert shape[0] == s["rows"], (shape, s)
        out += raw
        m = read_csv(os.path.join(d, s["metadata"]))
        assert m[0] == ["key", "path", "member", "caption"], m[0]
        assert len(m) - 1 == s["rows"]
        meta += m[1:]
        assert s["file"].startswith(kind + "_emb_")
    return man, out, meta


class Bulk(CliCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        t = cls.tmp.name
        rc, out, err = run("devices")
        cls.dev = [] if rc == 0 and out.strip() else ["--device", "ref"]
        rc, _, err = run("synth", "--out", os.path.join(t, "s"), "--n", N, "--size", 32)
        assert rc == 0, err
        rc, _, err = run("synth", "--out", os.path.join(t, "w"), "--n", N, "--size", 32, "--wds",
                         "--shard-size", 30)
        assert rc == 0, err
        cls.pngs = sorted(glob.glob(os.path.join(t, "s", "train", "*.png")))
        cls.titles = {r[0]: r[1] for r in read_csv(os.path.join(t, "s", "train.csv"))[1:]}
        # a folder tree: the 100 images, two in a subfolder, plus three corrupt files
        f = cls.folder = os.path.join(t, "tree")
        shutil.copytree(os.path.join(t, "s", "train"), f)
        os.mkdir(os.path.join(f, "sub"))
        for n in ("0000098.png", "0000099.png"):
            os.rename(os.path.join(f, n), os.path.join(f, "sub", n))
        with open(os.path.join(f, "0000042b.png"), "wb") as o:
            o.write(b"not an image at all")
        with open(cls.pngs[7], "rb") as i, open(os.path.join(f, "0000077b.png"), "wb") as o:
            o.write(i.read()[:60])  # truncated PNG
        open(os.path.join(f, "0000090b.jpg"), "wb").close()  # empty
        with open(os.path.join(f, "notes.md"), "w") as o:
            o.write("not an image: not listed")
        cls.bad = ["0000042b.png", "0000077b.png", "0000090b.jpg"]
        cls.good = sorted(os.path.relpath(p, f) for p in glob.glob(os.path.join(f, "**", "*.png"),
                                                                     recursive=True)
                          if os.path.basename(p) not in cls.bad)
        cls.good = sorted(cls.good, key=lambda s: s.encode())
        # the reference: single-file embed-image of the same images in the same order
        cls.ref = cls.embed_ref([os.path.join(f, g) for g in cls.good], "ref.npy")
        cls.ref_s = cls.embed_ref(cls.pngs, "ref_s.npy")

    @classmethod
    def embed_ref(cls, paths, name):
        out = os.path.join(cls.tmp.name, name)
        rc, _, err = run("embed-image", "--model", MODEL, "--out", out, "--batch", 10, "--normalize",
                         *cls.dev, "--", *paths)
        assert rc == 0, err
        return npy_data(out)[1]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, *p):
        return os.path.join(self.tmp.name, *p)

    def bulk(self, data, out, *extra, env=None, kind="embed-image", model=MODEL):
        return run(kind, "--model", model, "--data", data, "--out", self.path(out), "--batch", 10,
                   "--shard-size", 30, *self.dev, *extra, env=env)

    def test_folder_rows_metadata_failures(self):
        rc, so, err = self.bulk(self.folder, "o_tree", "--workers", 3)
        self.assert_ok(rc, so, err)
        man, rows, meta = folder_rows(self.path("o_tree"))
        self.assertEqual(rows, self.ref)  # bit for bit
        self.assertEqual([s["rows"] for s in man["shards"]], [30, 30, 30, 10])
        self.assertEqual((man["kind"], man["rows"], man["failed"], man["embed_dim"]),
                         ("image", 100, 3, 32))
        self.assertTrue(man["normalized"] and man["complete"])
        self.assertEqual(man["shard_size"], 30)
        self.assertEqual(man["inputs"], 103)
        self.assertEqual([m[1] for m in meta], [os.path.join(self.folder, g) for g in self.good])
        self.assertEqual([m[0] for m in meta], [os.path.splitext(g)[0] for g in self.good])
        self.assertEqual({m[2] for m in meta} | {m[3] for m in meta}, {""})
        failed = read_csv(self.path("o_tree", "failed.csv"))
        self.assertEqual(failed[0], ["path", "member", "error"])
        self.assertEqual([r[0] for r in failed[1:]],
                         [os.path.join(self.folder, b) for b in self.bad])  # in input order
        for r in failed[1:]:
            self.assertIn(r[0], r[2])  # the error names the file
        # shards' input ranges tile the inputs
        ranges = [s["inputs"] for s in man["shards"]]
        self.assertEqual(ranges[0][0], 0)
        self.assertEqual(ranges[-1][1], 103)
        for a, b in zip(ranges, ranges[1:]):
            self.assertEqual(a[1], b[0])

    def test_webp_tiff_and_the_models_preprocessing(self):
        """WebP and TIFF files are images of a folder set, and bulk rows follow
        the model's preprocess_cfg exactly as single-file embed-image does."""
        dec = os.path.join(DATA, "decode")
        names = ["jpeg_cmyk.jpg", "tiff_rgb_lzw.tif", "webp_alpha.webp", "webp_lossy.webp"]
        f = self.path("formats")
        os.mkdir(f)
        for n in names:
            shutil.copy(os.path.join(dec, n), f)
        shutil.copy(os.path.join(dec, "tiff_grey_deflate.tif"), os.path.join(f, "z.tiff"))
        names.append("z.tiff")
        m = self.path("squash_model")
        os.mkdir(m)
        shutil.copy(os.path.join(MODEL, "model.safetensors"), m)
        cfg = read_json(os.path.join(MODEL, "open_clip_config.json"))
        cfg["preprocess_cfg"] = {"resize_mode": "squash", "interpolation": "bilinear"}
        with open(os.path.join(m, "open_clip_config.json"), "w") as o:
            json.dump(cfg, o)
        rc, out, err = self.bulk(f, "fmt_out", "--normalize", model=m)
        self.assert_ok(rc, out, err)
        man, rows, meta = folder_rows(self.path("fmt_out"))
        self.assertEqual([os.path.basename(r[1]) for r in meta], names)
        ref = self.path("fmt_ref.npy")
        rc, _, err = run("embed-image", "--model", m, "--out", ref, "--batch", 10, "--normalize",
                         *self.dev, "--", *[os.path.join(f, n) for n in names])
        self.assertEqual(rc, 0, err)
        self.assertEqual(rows, npy_data(ref)[1])
        # the default transform gives other features: the config was used
        rc, _, err = run("embed-image", "--model", MODEL, "--out", ref, "--batch", 10,
                         "--normalize", *self.dev, "--", *[os.path.join(f, n) for n in names])
        self.assertEqual(rc, 0, err)
        self.assertNotEqual(rows, npy_data(ref)[1])

    def test_csv_and_list(self):
        rc, so, err = self.bulk(self.path("s", "train.csv"), "o_csv")
        self.assert_ok(rc, so, err)
        man, rows, meta = folder_rows(self.path("o_csv"))
        self.assertEqual(rows, self.ref_s)
        self.assertEqual([m[1] for m in meta], [self.path("s", "train/%07d.png" % i) for i in range(N)])
        self.assertEqual([m[0] for m in meta], ["train/%07d" % i for i in range(N)])
        self.assertEqual([m[3] for m in meta], [self.titles["train/%07d.png" % i] for i in range(N)])
        self.assertEqual(man["failed"], 0)
        lst = self.path("s", "list.txt")
        with open(lst, "w") as f:
            f.write("".join("train/%07d.png\n" % i for i in range(N)))
        rc, so, err = self.bulk(lst, "o_list", "--workers", 1)
        self.assert_ok(rc, so, err)
        self.assertEqual(folder_rows(self.path("o_list"))[1], self.ref_s)

    def test_webdataset(self):
        shards = self.path("w", "shards")
        variants = [shards, os.path.join(shards, "shard-{000000..000003}.tar"),
                    os.path.join(shards, "*.tar")]
        for i, data in enumerate(variants):
            with self.subTest(data=data):
                rc, so, err = self.bulk(data, "o_wds%d" % i)
                self.assert_ok(rc, so, err)
                man, rows, meta = folder_rows(self.path("o_wds%d" % i))
                self.assertEqual(rows, self.ref_s)
                self.assertEqual([m[0] for m in meta], ["%07d" % k for k in range(N)])
                self.assertEqual([m[2] for m in meta], ["%07d.png" % k for k in range(N)])
                self.assertEqual([m[1] for m in meta],
                                 [os.path.join(shards, "shard-%06d.tar" % (k // 30)) for k in range(N)])
                self.assertEqual([m[3] for m in meta], [self.titles["train/%07d.png" % k] for k in range(N)])
        # a corrupt member is listed with its shard and member name
        bad_tar = self.path("bad.tar")
        with tarfile.open(bad_tar, "w", format=tarfile.USTAR_FORMAT) as tf:
            for k, data in ((0, read_bytes(self.pngs[0])), (1, b"garbage"),
                            (2, read_bytes(self.pngs[2]))):
                for name, payload in (("%d.png" % k, data), ("%d.txt" % k, b"caption %d" % k)):
                    ti = tarfile.TarInfo(name)
                    ti.size = len(payload)
                    tf.addfile(ti, io.BytesIO(payload))
        rc, so, err = self.bulk(bad_tar, "o_badtar")
        self.assert_ok(rc, so, err)
        man, rows, meta = folder_rows(self.path("o_badtar"))
        self.assertEqual(rows, self.ref_s[:128] + self.ref_s[256:384])
        self.assertEqual([m[3] for m in meta], ["caption 0", "caption 2"])
        failed = read_csv(self.path("o_badtar", "failed.csv"))
        self.assertEqual(failed[1][:2], [bad_tar, "1.png"])

    def files_of(self, d):
        return {n: read_bytes(os.path.join(d, n)) for n in sorted(os.listdir(d))}

    def test_kill_and_resume(self):
        rc, so, err = self.bulk(self.folder, "o_full")
        self.assert_ok(rc, so, err)
        full = self.files_of(self.path("o_full"))
        for k in (0, 2):
            with self.subTest(kill_at_shard=k):
                out = "o_kill%d" % k
                rc, so, err = self.bulk(self.folder, out, env={"CLIPCL_BULK_KILL_AT_SHARD": str(k)})
                self.assertEqual(rc, -signal.SIGKILL, err)
                man = read_json(self.path(out, "manifest.json"))
                self.assertEqual(len(man["shards"]), k)  # shard k written, not committed
                self.assertFalse(man["complete"])
                rc, so, err = self.bulk(self.folder, out)  # no --resume: refused
                self.assert_one_line_error(rc, err, "--resume", self.path(out))
                # a temporary a kill mid-write would leave is cleared away
                with open(self.path(out, "img_emb_%04d.npy.tmp.Ab12Cd" % k), "wb") as f:
                    f.write(b"\x93NUMPY half")
                rc, so, err = self.bulk(self.folder, out, "--resume")
                self.assert_ok(rc, so, err)
                self.assertIn("resuming at input", err)
                self.assertEqual(self.files_of(self.path(out)), full)
                # a finished folder resumes to nothing
                rc, so, err = self.bulk(self.folder, out, "--resume")
                self.assert_ok(rc, so, err)
                self.assertIn("nothing to do", err)
                self.assertEqual(self.files_of(self.path(out)), full)
                rc, so, err = self.bulk(self.folder, out, "--resume", "--no-normalize")
                self.assert_one_line_error(rc, err, "--resume", "--no-normalize")

    def test_resume_mismatch_refused(self):
        out = "o_mis"
        rc, so, err = self.bulk(self.folder, out, env={"CLIPCL_BULK_KILL_AT_SHARD": "1"})
        self.assertEqual(rc, -signal.SIGKILL, err)
        before = self.files_of(self.path(out))
        cases = [(("--shard-size", 20), "--shard-size"), (("--no-normalize",), "--no-normalize")]
        for extra, word in cases:
            with self.subTest(extra=extra):
                rc, so, err = run("embed-image", "--model", MODEL, "--data", self.folder, "--out",
                                  self.path(out), "--batch", 10, "--shard-size", 30, *self.dev,
                                  "--resume", *extra)
                self.assert_one_line_error(rc, err, "--resume", word)
        rc, so, err = self.bulk(self.folder, out, "--resume", model=MODEL_HF)
        self.assert_one_line_error(rc, err, "--resume", "--model", MODEL_HF)
        rc, so, err = self.bulk(self.path("s", "train"), out, "--resume")
        self.assert_one_line_error(rc, err, "--resume", "--data")
        rc, so, err = self.bulk(self.folder, out, "--resume", kind="embed-text")
        self.assert_one_line_error(rc, err, "--resume", "image embeddings")
        # a folder another run holds (its lock) is refused, not shared
        fd = os.open(self.path(out), os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            rc, so, err = self.bulk(self.folder, out, "--resume")
            self.assert_one_line_error(rc, err, "another clipcl run")
        finally:
            os.close(fd)
        self.assertEqual(self.files_of(self.path(out)), before)  # untouched
        os.makedirs(self.path("o_foreign"))
        open(self.path("o_foreign", "x"), "w").close()
        rc, so, err = self.bulk(self.folder, "o_foreign", "--resume")
        self.assert_one_line_error(rc, err, "manifest.json")

    def test_bad_sets(self):
        os.makedirs(self.path("empty_dir"), exist_ok=True)
        nocol = self.path("nocol.csv")
        with open(nocol, "w") as f:
            f.write("image,title\na.png,x\n")
        weird = self.path("x.json")
        with open(weird, "w") as f:
            f.write("{}")
        cases = [(self.path("missing"), ["missing"]),
                 (self.path("missing.csv"), ["missing.csv"]),
                 (self.path("missing.tar"), ["missing.tar"]),
                 (self.path("nope-*.tar"), ["nope-*.tar"]),
                 (self.path("empty_dir"), ["empty_dir", "no images"]),
                 (nocol, ["filepath", "--csv-img-key"]),
                 (weird, ["x.json"])]
        for i, (data, words) in enumerate(cases):
            with self.subTest(data=data):
                rc, so, err = self.bulk(data, "o_bad%d" % i)
                self.assert_one_line_error(rc, err, *words)
                self.assertFalse(os.path.exists(self.path("o_bad%d" % i)))
        rc, so, err = run("embed-image", "--model", MODEL, "--data", self.folder, "--out",
                          self.path("o_x"), "--shard-size", 0)
        self.assert_one_line_error(rc, err, "--shard-size")
        rc, so, err = run("embed-image", "--model", MODEL, "--data", self.folder, "--out",
                          self.path("o_x"), "extra.png")
        self.assert_one_line_error(rc, err, "extra.png")
        # the single-file form is unchanged: --out FILE IMAGE...
        rc, so, err = run("embed-image", "--model", MODEL, "--out", self.path("one.npy"), *self.dev,
                          self.pngs[0])
        self.assert_ok(rc, so, err)

    def test_progress_bar(self):
        from test_cli_progress import run_on_tty
        args = ["embed-image", "--model", MODEL, "--data", self.folder, "--out", self.path("o_tty"),
                "--batch", 10, "--shard-size", 30, *self.dev]
        rc, so, tty, secs = run_on_tty(args)
        self.assertEqual(rc, 0, tty)
        draws = [s for s in re.split(r"[\r\n]", tty) if s.strip()]
        bars = [d for d in draws if d.startswith("embed-image  ")]
        self.assertTrue(bars, tty)
        # every input counts, failed ones too; the rate is shown
        self.assertRegex(bars[-1], r"^embed-image  103/103 \[#+\] 100%  [0-9.]+ img/s  done in \d+:\d\d")
        # the warnings about skipped files are lines of their own
        self.assertEqual(len([d for d in draws if d.startswith("clipcl: warning: skipped: ")]), 3)
        self.assertIn("100 rows in 4 shards", draws[-1])

    def test_texts(self):
        model = self.path("tok_model")
        os.makedirs(model, exist_ok=True)
        make_tokenizer_model(model)
        texts = [self.titles["train/%07d.png" % i] for i in range(N)]
        tfile = self.path("texts.txt")
        with open(tfile, "w") as f:
            f.write("\n".join(texts) + "\n")
        ref = self.path("ref_t.npy")
        rc, so, err = run("embed-text", "--model", model, "--out", ref, "--normalize", "--batch", 10,
                          "--texts", tfile, *self.dev)
        self.assert_ok(rc, so, err)
        ref = npy_data(ref)[1]
        for data, out in ((self.path("s", "train.csv"), "t_csv"), (tfile, "t_txt"),
                          (self.path("w", "shards"), "t_wds")):
            with self.subTest(data=data):
                rc, so, err = self.bulk(data, out, kind="embed-text", model=model)
                self.assert_ok(rc, so, err)
                man, rows, meta = folder_rows(self.path(out), "text")
                self.assertEqual(man["kind"], "text")
                self.assertEqual(rows, ref)
                self.assertEqual([m[3] for m in meta], texts)
                self.assertTrue(all(s["metadata"].startswith("text_metadata_")
                                    for s in man["shards"]))
        self.assertEqual([m[0] for m in folder_rows(self.path("t_txt"), "text")[2]][:2],
                         ["000000000", "000000001"])
        # webdataset captions keep their sample's key and image member
        meta = folder_rows(self.path("t_wds"), "text")[2]
        self.assertEqual([m[0] for m in meta], ["%07d" % k for k in range(N)])
        self.assertEqual([m[2] for m in meta], ["%07d.png" % k for k in range(N)])
        # an image folder holds no texts
        rc, so, err = self.bulk(self.folder, "t_bad", kind="embed-text", model=model)
        self.assert_one_line_error(rc, err, self.folder, ".txt")


def make_tokenizer_model(d):
    """The golden ViT with its token table widened to a tiny BPE vocabulary
    (as test_cli_clip.py's TinyTokenizer does)."""
    import test_cli_clip as tc
    src = MODEL
    items, raw, meta = tc.read_st(os.path.join(src, "model.safetensors"))
    info = dict(items)["token_embedding.weight"]
    rows_, width = info["shape"]
    rb = len(raw["token_embedding.weight"]) // rows_
    old = raw["token_embedding.weight"]
    raw["token_embedding.weight"] = old + b"".join(
        old[((i * 37) % rows_) * rb:((i * 37) % rows_ + 1) * rb] for i in range(rows_, tc.TINY_VOCAB))
    info["shape"] = [tc.TINY_VOCAB, width]
    tc.write_st(os.path.join(d, "model.safetensors"), items, raw, meta)
    with open(os.path.join(src, "open_clip_config.json")) as f:
        cfg = json.load(f)
    cfg["model_cfg"]["text_cfg"]["vocab_size"] = tc.TINY_VOCAB
    with open(os.path.join(d, "open_clip_config.json"), "w") as f:
        json.dump(cfg, f)
    with gzip.open(os.path.join(d, "bpe_simple_vocab_16e6.txt.gz"), "wt") as f:
        f.write("#version: tiny\n" + "\n".join(tc.MERGES) + "\n")


if __name__ == "__main__":
    cli_util.main()
