"""`clipcl embed-image`, `embed-text`, `zeroshot` and `info` on the small
golden models (tests/data/clip_small_{vit,rn}, made with PyTorch by
tests/reference/make_clip_goldens.py) and every bad-input path.

- embed-image --pixels and embed-text --ids give the PyTorch features
  (cosine >= 0.99999 per row, max |err| <= 1e-4 max |ref|), on the OpenCL
  device (skipped without a platform) and on the reference backend.
- The goldens' vocabulary (256 ids) is too small for any real tokenizer, so
  texts are checked on a copy of the ViT model whose token embedding is
  widened to a tiny BPE vocabulary written here: embed-text TEXT equals
  embed-text --ids on the ids `clipcl tokenize` prints, which the paragraph
  above ties to PyTorch.
- embed-image on files equals embed-image --pixels on `clipcl preprocess`.
- zeroshot probabilities sum to 1 and equal a softmax recomputed here from
  embed-image/embed-text outputs and the checkpoint's logit_scale.
- Bad inputs: one error line, non-zero exit, no output file (an existing one
  untouched)."""
import gzip
import json
import math
import os
import shutil
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_util  # noqa: E402
from cli_util import CliCase, read_npy, run  # noqa: E402

DATA = os.environ.get("CLIPCL_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
MERGES = ["h e", "l l", "l o</w>", "he ll", "hell o</w>", "c a", "ca t</w>", "d o", "do g</w>",
          "p h", "o t", "o f</w>", "ph ot", "phot o</w>"]
TINY_VOCAB = 512 + len(MERGES) + 2
TEXTS = ["hello", "a cat", "a photo of a dog.", "", "Hello, HELLO!! 42 cats & dogs"]
IMAGES = ["preprocess_rgb_200x150_in.png", "preprocess_jpeg_96x80_in.jpg",
          "preprocess_palette_80x120_in.png", "preprocess_rgba_90x70_in.png",
          "preprocess_grey_37x53_in.png"]


# ---- small stdlib helpers: .npy int32, safetensors, feature checks ----

def write_npy_i32(path, rows):
    n, t = len(rows), len(rows[0])
    d = "{'descr': '<i4', 'fortran_order': False, 'shape': (%d, %d), }" % (n, t)
    hlen = (10 + len(d) + 1 + 63) // 64 * 64 - 10
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", hlen) + (d.ljust(hlen - 1) + "\n").encode())
        for r in rows:
            f.write(struct.pack("<%di" % t, *r))


def write_npy_f32(path, shape, vals):
    d = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % \
        "".join("%d, " % s for s in shape)
    hlen = (10 + len(d) + 1 + 63) // 64 * 64 - 10
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", hlen) + (d.ljust(hlen - 1) + "\n").encode())
        f.write(struct.pack("<%df" % len(vals), *vals))


def read_st(path):
    """-> (ordered list of (name, info dict), {name: raw bytes})."""
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    meta = hdr.pop("__metadata__", None)
    base = 8 + n
    items = sorted(hdr.items(), key=lambda kv: kv[1]["data_offsets"][0])
    raw = {k: b[base + v["data_offsets"][0]:base + v["data_offsets"][1]] for k, v in items}
    return items, raw, meta


def write_st(path, items, raw, meta=None):
    hdr, off = {}, 0
    for k, v in items:
        hdr[k] = {"dtype": v["dtype"], "shape": v["shape"],
                  "data_offsets": [off, off + len(raw[k])]}
        off += len(raw[k])
    if meta:
        hdr["__metadata__"] = meta
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for k, _ in items:
            f.write(raw[k])


def st_scalar(path, name):
    items, raw, _ = read_st(path)
    info = dict(items)[name]
    fmt = {"F32": "<f", "F16": "<e"}[info["dtype"]]
    if info["dtype"] == "BF16":
        return struct.unpack("<f", b"\x00\x00" + raw[name][:2])[0]
    return struct.unpack(fmt, raw[name])[0]


def rows(path):
    descr, shape, vals = read_npy(path)
    assert descr == "<f4" and len(shape) == 2, (descr, shape)
    return [vals[i * shape[1]:(i + 1) * shape[1]] for i in range(shape[0])]


def close_to_ref(tc, got, ref, what):
    """The project's agreement rule: cosine >= 0.99999 per row, max |err| <= 1e-4 max |ref|."""
    tc.assertEqual(len(got), len(ref), what)
    maxref = max(abs(x) for r in ref for x in r)
    tc.assertGreater(maxref, 0)
    maxerr = max(abs(a - b) for g, r in zip(got, ref) for a, b in zip(g, r))
    for g, r in zip(got, ref):
        tc.assertEqual(len(g), len(r), what)
        cos = sum(a * b for a, b in zip(g, r)) / math.sqrt(sum(a * a for a in g) * sum(b * b for b in r))
        tc.assertGreaterEqual(cos, 0.99999, what)
    tc.assertLessEqual(maxerr, 1e-4 * maxref, what)


def l2n(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def opencl_available():
    rc, out, err = run("devices")
    return rc == 0 and out.strip() != ""


class Goldens(CliCase):
    """Features from PyTorch's goldens through the CLI."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.devices = ["ref"] + (["default"] if opencl_available() else [])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def embed(self, kind, model, flag, src, device, *extra):
        out = os.path.join(self.tmp.name, "out.npy")
        dev = () if device == "default" else ("--device", device)
        rc, so, err = run(kind, "--model", model, "--out", out, flag, src, *dev, *extra)
        self.assert_ok(rc, so, err)
        return rows(out)

    def check(self, name, sub):
        d = os.path.join(DATA, name)
        model = os.path.join(d, sub)
        img_ref = rows(os.path.join(d, "image_features.npy"))
        txt_ref = rows(os.path.join(d, "text_features.npy"))
        for dev in self.devices:
            with self.subTest(model=name + "/" + sub, device=dev):
                got = self.embed("embed-image", model, "--pixels", os.path.join(d, "pixels.npy"), dev)
                close_to_ref(self, got, img_ref, "image features")
                # batch 2 over 3 rows: the last batch is padded and cut again
                got = self.embed("embed-text", model, "--ids", os.path.join(d, "ids.npy"), dev,
                                 "--batch", "2")
                close_to_ref(self, got, txt_ref, "text features")
                got = self.embed("embed-text", model, "--ids", os.path.join(d, "ids.npy"), dev,
                                 "--normalize")
                close_to_ref(self, got, [l2n(r) for r in txt_ref], "normalised text features")
                for r in got:
                    self.assertAlmostEqual(sum(x * x for x in r), 1.0, places=5)

    def test_vit_openai(self):
        self.check("clip_small_vit", "openai")

    def test_vit_hf(self):
        self.check("clip_small_vit", "hf")

    def test_rn_openai(self):
        self.check("clip_small_rn", "openai")

    def test_info(self):
        rc, out, err = run("info", "--model", os.path.join(DATA, "clip_small_rn", "openai"))
        self.assert_ok(rc, out, err)
        # the architecture make_clip_goldens.py gave the RN model
        self.assertIn("ModifiedResNet, resolution 64", out)
        self.assertIn("layers (1, 1, 1, 1)", out)
        self.assertIn("vocab 192", out)
        self.assertIn("open_clip_config.json", out)
        rc, out, err = run("info", "--model", os.path.join(DATA, "clip_small_vit", "hf"))
        self.assert_ok(rc, out, err)
        self.assertIn("huggingface", out)
        self.assertIn("ViT, resolution 32, patch 8, width 64, layers 2, heads 2", out)
        # parameter count: every weight tensor's elements, summed here from the file
        items, _, _ = read_st(os.path.join(DATA, "clip_small_vit", "hf", "model.safetensors"))
        n = sum(math.prod(v["shape"]) for k, v in items if v["dtype"] != "I64")
        self.assertIn("parameters:   %d " % n, out)


class TinyTokenizer(CliCase):
    """Texts and zero-shot on the ViT golden model with a widened vocabulary."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        src = os.path.join(DATA, "clip_small_vit", "openai")
        items, raw, meta = read_st(os.path.join(src, "model.safetensors"))
        info = dict(items)["token_embedding.weight"]
        rows_, width = info["shape"]
        rb = len(raw["token_embedding.weight"]) // rows_
        old = raw["token_embedding.weight"]
        # new rows repeat old ones in a scrambled order: distinct texts stay distinct
        raw["token_embedding.weight"] = old + b"".join(
            old[((i * 37) % rows_) * rb:((i * 37) % rows_ + 1) * rb] for i in range(rows_, TINY_VOCAB))
        info["shape"] = [TINY_VOCAB, width]
        cls.model = os.path.join(d, "openai")
        os.mkdir(cls.model)
        write_st(os.path.join(cls.model, "model.safetensors"), items, raw, meta)
        with open(os.path.join(src, "open_clip_config.json")) as f:
            cfg = json.load(f)
        cfg["model_cfg"]["text_cfg"]["vocab_size"] = TINY_VOCAB
        with open(os.path.join(cls.model, "open_clip_config.json"), "w") as f:
            json.dump(cfg, f)
        with gzip.open(os.path.join(cls.model, "bpe_simple_vocab_16e6.txt.gz"), "wt") as f:
            f.write("#version: tiny\n" + "\n".join(MERGES) + "\n")
        # the same weights with Hugging Face's tokenizer files
        cls.model_hf = os.path.join(d, "hf")
        os.mkdir(cls.model_hf)
        for n in ("model.safetensors", "open_clip_config.json"):
            shutil.copy(os.path.join(cls.model, n), cls.model_hf)
        with open(os.path.join(cls.model_hf, "merges.txt"), "w") as f:
            f.write("#version: 0.2\n" + "\n".join(MERGES) + "\n")
        vocab = bytes_symbols()
        vocab += [v + "</w>" for v in vocab] + ["".join(m.split()) for m in MERGES]
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        with open(os.path.join(cls.model_hf, "vocab.json"), "w") as f:
            json.dump({s: i for i, s in enumerate(vocab)}, f)
        cls.images = [os.path.join(DATA, n) for n in IMAGES]
        cls.scale = math.exp(st_scalar(os.path.join(cls.model, "model.safetensors"), "logit_scale"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def embed_texts(self, model, texts, *extra):
        out = self.path("t.npy")
        rc, so, err = run("embed-text", "--model", model, "--out", out, "--device", "ref", *extra,
                          "--", *texts)
        self.assert_ok(rc, so, err)
        return rows(out)

    def test_texts_equal_token_ids(self):
        rc, out, err = run("tokenize", "--model", self.model, "--", *TEXTS)
        self.assert_ok(rc, out, err)
        ids = [[int(x) for x in line.split()] for line in out.splitlines()]
        self.assertEqual(len(ids), len(TEXTS))
        self.assertEqual(max(max(r) for r in ids), TINY_VOCAB - 1)  # EOT, the pooled position
        write_npy_i32(self.path("ids.npy"), ids)
        rc, so, err = run("embed-text", "--model", self.model, "--out", self.path("i.npy"),
                          "--device", "ref", "--ids", self.path("ids.npy"))
        self.assert_ok(rc, so, err)
        by_ids = rows(self.path("i.npy"))
        self.assertEqual(self.embed_texts(self.model, TEXTS), by_ids)
        self.assertEqual(self.embed_texts(self.model_hf, TEXTS), by_ids)
        # distinct texts, distinct features: the tokenizer's ids reached the tower
        self.assertEqual(len({tuple(r) for r in by_ids}), len(TEXTS))
        # --texts FILE lines come first, then the arguments
        with open(self.path("texts.txt"), "w") as f:
            f.write("\n".join(TEXTS[:3]) + "\n")
        got = self.embed_texts(self.model, TEXTS[3:], "--texts", self.path("texts.txt"))
        self.assertEqual(got, by_ids)

    def test_images_equal_pixels(self):
        rc, out, err = run("preprocess", "--size", "32", "--out", self.path("px.npy"), *self.images)
        self.assert_ok(rc, out, err)
        outs = []
        for args in (("--pixels", self.path("px.npy")), ("--batch", "2", *self.images)):
            rc, so, err = run("embed-image", "--model", self.model, "--out", self.path("e.npy"),
                              "--device", "ref", *args)
            self.assert_ok(rc, so, err)
            outs.append(rows(self.path("e.npy")))
        self.assertEqual(len(outs[0]), len(self.images))
        self.assertEqual(outs[0], outs[1])

    def zeroshot(self, labels, templates, *extra):
        args = ["zeroshot", "--model", self.model, "--labels", ",".join(labels), "--device", "ref"]
        for t in templates:
            args += ["--template", t]
        rc, out, err = run(*args, *extra, *self.images)
        self.assert_ok(rc, out, err)
        return out

    def expected_probs(self, labels, templates):
        prompts = [t.replace("{}", l) for l in labels for t in templates]
        txt = self.embed_texts(self.model, prompts, "--normalize")
        rc, so, err = run("embed-image", "--model", self.model, "--out", self.path("z.npy"),
                          "--device", "ref", *self.images)
        self.assert_ok(rc, so, err)
        img = [l2n(r) for r in rows(self.path("z.npy"))]
        T, cls = len(templates), []
        for li in range(len(labels)):
            group = txt[li * T:(li + 1) * T]
            cls.append(l2n([sum(c) / T for c in zip(*group)]))
        probs = []
        for v in img:
            logits = [self.scale * sum(a * b for a, b in zip(v, c)) for c in cls]
            m = max(logits)
            e = [math.exp(x - m) for x in logits]
            probs.append([x / sum(e) for x in e])
        return probs

    def test_zeroshot_matches_recomputation(self):
        labels = ["cat", "dog", "hello", "photo"]
        for templates in (["a photo of a {}."], ["a photo of a {}.", "{}", "a {} a {}"]):
            with self.subTest(templates=templates):
                doc = json.loads(self.zeroshot(labels, templates, "--json", "--top", "2"))
                self.assertEqual(doc["labels"], labels)
                want = self.expected_probs(labels, templates)
                self.assertEqual(len(doc["results"]), len(self.images))
                for res, w, img in zip(doc["results"], want, self.images):
                    self.assertEqual(res["image"], img)
                    self.assertAlmostEqual(sum(res["probs"]), 1.0, places=6)
                    for a, b in zip(res["probs"], w):
                        self.assertAlmostEqual(a, b, delta=1e-5)
                    order = sorted(range(len(labels)), key=lambda i: -w[i])[:2]
                    self.assertEqual([t["label"] for t in res["top"]], [labels[i] for i in order])
        # the default template is "a photo of a {}."
        a = json.loads(self.zeroshot(labels, [], "--json"))
        b = json.loads(self.zeroshot(labels, ["a photo of a {}."], "--json"))
        self.assertEqual(a["results"], b["results"])
        text = self.zeroshot(labels, [], "--top", "3")
        lines = text.splitlines()
        self.assertEqual(len(lines), 4 * len(self.images))
        self.assertEqual(lines[0], self.images[0])

    def test_errors(self):
        d = self.tmp.name
        st = os.path.join(self.model, "model.safetensors")
        items, raw, meta = read_st(st)
        cases = {}

        def variant(name, mutate):
            mdir = self.path(name)
            os.makedirs(mdir, exist_ok=True)
            it = [(k, dict(v)) for k, v in items]
            rw = dict(raw)
            mutate(it, rw)
            write_st(os.path.join(mdir, "model.safetensors"), it, rw, meta)
            shutil.copy(os.path.join(self.model, "open_clip_config.json"), mdir)
            return mdir

        cases["missing"] = variant("missing", lambda it, rw: it.remove(
            next(x for x in it if x[0] == "ln_final.weight")))

        def wrong(it, rw):
            info = dict(it)["ln_final.bias"]
            info["shape"] = [info["shape"][0] - 1]
            rw["ln_final.bias"] = rw["ln_final.bias"][:-(len(rw["ln_final.bias"]) // 64)]
        cases["wrong"] = variant("wrong", wrong)
        trunc = self.path("trunc.safetensors")
        with open(st, "rb") as f:
            b = f.read()
        with open(trunc, "wb") as f:
            f.write(b[:len(b) // 2])
        lies = self.path("lies.safetensors")
        n = struct.unpack("<Q", b[:8])[0]
        hdr = json.loads(b[8:8 + n])
        last = max((k for k in hdr if k != "__metadata__"), key=lambda k: hdr[k]["data_offsets"][1])
        hdr[last]["data_offsets"][1] += 4
        h = json.dumps(hdr).encode()
        h += b" " * (-len(h) % 8)
        with open(lies, "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h + b[8 + n:])
        notimg = self.path("notes.png")
        with open(notimg, "w") as f:
            f.write("not an image\n")
        jpg = os.path.join(DATA, "preprocess_jpeg_96x80_in.jpg")
        tjpg = self.path("trunc.jpg")
        with open(jpg, "rb") as f:
            jb = f.read()
        with open(tjpg, "wb") as f:
            f.write(jb[:len(jb) // 2])
        empty = self.path("empty.txt")
        open(empty, "w").close()
        bad_ids = self.path("bad_ids.npy")
        write_npy_i32(bad_ids, [[TINY_VOCAB - 2, 5, TINY_VOCAB] + [0] * 74])
        px_rn = os.path.join(DATA, "clip_small_rn", "pixels.npy")
        notok = os.path.join(DATA, "clip_small_vit", "openai")
        img = self.images[0]
        out = self.path("out.npy")
        E, T, Z = "embed-image", "embed-text", "zeroshot"
        checks = [
            ((E, "--model", self.path("nope"), "--out", out, "--device", "ref", img), ("nope",)),
            ((E, "--model", trunc, "--out", out, "--device", "ref", img), ("trunc.safetensors",)),
            ((E, "--model", lies, "--out", out, "--device", "ref", img), ("lies.safetensors",)),
            ((E, "--model", cases["missing"], "--out", out, "--device", "ref", img), ("ln_final.weight",)),
            ((E, "--model", cases["wrong"], "--out", out, "--device", "ref", img), ("ln_final.bias", "63", "64")),
            ((E, "--model", self.model, "--out", out, "--device", "ref", img, notimg), ("notes.png",)),
            ((E, "--model", self.model, "--out", out, "--device", "ref", tjpg), ("trunc.jpg",)),
            ((E, "--model", self.model, "--out", out, "--device", "nosuchdevice", img),
             ("nosuchdevice",)),
            ((E, "--model", self.model, "--out", out), ("no images",)),
            ((E, "--model", self.model, "--out", out, "--device", "ref", "--pixels", px_rn),
             ("pixels.npy", "32")),
            ((E, "--model", self.model, "--out", out, "--batch", "0", img), ("--batch",)),
            ((E, "--out", out, img), ("--model",)),
            ((E, "--model", self.model, img), ("--out",)),
            ((T, "--model", self.model, "--out", out), ("no texts",)),
            ((T, "--model", self.model, "--out", out, "--texts", empty), ("empty.txt",)),
            ((T, "--model", notok, "--out", out, "--device", "ref", "a cat"),
             ("bpe_simple_vocab_16e6.txt.gz", "vocab.json")),
            ((T, "--model", self.model, "--out", out, "--device", "ref", "--ids", bad_ids),
             (str(TINY_VOCAB), "row 0")),
            ((T, "--model", self.model, "--out", out, "--device", "nosuchdevice", "a"),
             ("nosuchdevice",)),
            ((Z, "--model", self.model, "--device", "ref", img), ("--labels",)),
            ((Z, "--model", self.model, "--device", "ref", "--labels", "cat,,dog", img),
             ("label 2",)),
            ((Z, "--model", self.model, "--device", "ref", "--labels", "cat", "--template", "x",
              img), ("{}",)),
            ((Z, "--model", self.model, "--device", "ref", "--labels", "cat", notimg),
             ("notes.png",)),
            ((Z, "--model", notok, "--device", "ref", "--labels", "cat", img), ("vocab.json",)),
            (("info", "--model", trunc), ("trunc.safetensors",)),
        ]
        for args, names in checks:
            for existing in (False, True):
                with self.subTest(args=args[:1] + args[-2:], existing=existing):
                    if existing:
                        with open(out, "wb") as f:
                            f.write(b"keep me")
                    elif os.path.exists(out):
                        os.remove(out)
                    rc, so, err = run(*args)
                    self.assert_one_line_error(rc, err, *names)
                    if existing:
                        with open(out, "rb") as f:
                            self.assertEqual(f.read(), b"keep me")
                    else:
                        self.assertFalse(os.path.exists(out))
                    self.assertEqual([n for n in os.listdir(d) if ".tmp" in n], [])


def bytes_symbols():
    """list(bytes_to_unicode().values()): OpenAI's first 256 vocabulary entries."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


if __name__ == "__main__":
    cli_util.main()
