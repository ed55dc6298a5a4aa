"""`clipcl eval` end to end on the small golden ViT (its token embedding
widened to a tiny BPE vocabulary, as tests/tools/test_cli_clip.py does) and
procedural sets written by io/synth (the layout `clipcl synth` writes).

- Zero-shot top-1/top-5 equal a recomputation here from `clipcl embed-image`
  and `embed-text` features (two templates ensembled by hand, labels from the
  CSV's class_pair column mapped through classes_pair.txt, the documented tie
  rule); a folder-per-class copy of the set gives the same numbers.
- Retrieval recall@1/5/10 with two captions per image equals a recomputation.
- Linear probe and few-shot: counts, chance and seeded reproducibility.
- Bad input: one error line and exit status 1 (runtime) or 2 (usage).

Argument: PATH-TO-CLIPCL (it writes the sets with `clipcl synth --holdout`
and runs eval and embed-*)."""
import csv
import gzip
import json
import math
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import cli_util  # noqa: E402
from cli_util import CliCase, run  # noqa: E402
import test_cli_clip as clip_t  # noqa: E402  (the tiny-vocabulary model helpers)

DATA = os.environ.get("CLIPCL_TEST_DATA", os.path.join(HERE, "..", "data"))
TEMPLATES = ["a photo of a {}.", "a drawing of a {}"]


def eval_cmd(*args):
    return run("eval", *args)


def rank(scores, t):
    """0-based rank of entry t: higher first, ties by index (train/eval.h)."""
    return sum(1 for c, s in enumerate(scores) if s > scores[t] or (s == scores[t] and c < t))


def l2n(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


class Eval(CliCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        src = os.path.join(DATA, "clip_small_vit", "openai")
        items, raw, meta = clip_t.read_st(os.path.join(src, "model.safetensors"))
        info = dict(items)["token_embedding.weight"]
        rows_, width = info["shape"]
        rb = len(raw["token_embedding.weight"]) // rows_
        old = raw["token_embedding.weight"]
        raw["token_embedding.weight"] = old + b"".join(
            old[((i * 37) % rows_) * rb:((i * 37) % rows_ + 1) * rb]
            for i in range(rows_, clip_t.TINY_VOCAB))
        info["shape"] = [clip_t.TINY_VOCAB, width]
        cls.model = os.path.join(d, "model")
        os.mkdir(cls.model)
        clip_t.write_st(os.path.join(cls.model, "model.safetensors"), items, raw, meta)
        with open(os.path.join(src, "open_clip_config.json")) as f:
            cfg = json.load(f)
        cfg["model_cfg"]["text_cfg"]["vocab_size"] = clip_t.TINY_VOCAB
        with open(os.path.join(cls.model, "open_clip_config.json"), "w") as f:
            json.dump(cfg, f)
        with gzip.open(os.path.join(cls.model, "bpe_simple_vocab_16e6.txt.gz"), "wt") as f:
            f.write("#version: tiny\n" + "\n".join(clip_t.MERGES) + "\n")
        cls.syn = os.path.join(d, "synth")
        rc, _, err = run("synth", "--out", cls.syn, "--n", 64, "--n-holdout", 40,
                         "--size", 32, "--seed", 5, "--holdout")
        if rc != 0:
            raise RuntimeError("synth failed: " + err)
        with open(os.path.join(cls.syn, "classes_pair.txt")) as f:
            cls.classes = [l.strip() for l in f if l.strip()]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, *p):
        return os.path.join(self.tmp.name, *p)

    def csv_rows(self, name):
        with open(os.path.join(self.syn, name), newline="") as f:
            return list(csv.DictReader(f))

    def embed(self, kind, items):
        out = self.path("e.npy")
        extra = ["--"] if kind == "embed-text" else []
        rc, so, err = run(kind, "--model", self.model, "--out", out, "--normalize", "--device",
                          "ref", *extra, *items)
        self.assert_ok(rc, so, err)
        return clip_t.rows(out)

    def eval_json(self, *args):
        rc, out, err = eval_cmd("--model", self.model, "--device", "ref", "--json", *args)
        self.assert_ok(rc, out, err)
        return json.loads(out)

    def zeroshot_expected(self, rows, imgs, key, classes):
        prompts = [t.replace("{}", c) for c in classes for t in TEMPLATES]
        txt = self.embed("embed-text", prompts)
        T = len(TEMPLATES)
        cls = []
        for c in range(len(classes)):
            acc = [0.0] * len(txt[0])
            for t in range(T):
                acc = [a + x for a, x in zip(acc, l2n(txt[c * T + t]))]
            cls.append(l2n(acc))
        top1 = top5 = 0
        for r, v in zip(rows, imgs):
            s = [dot(v, c) for c in cls]
            k = rank(s, int(r[key]))
            top1 += k < 1
            top5 += k < 5
        return top1, top5

    def test_zeroshot_matches_recomputation(self):
        rows = self.csv_rows("heldout_seen.csv")
        imgs = self.embed("embed-image", [os.path.join(self.syn, r["filepath"]) for r in rows])
        args = ["--template", TEMPLATES[0], "--template", TEMPLATES[1]]
        with open(os.path.join(self.syn, "classes_shape.txt")) as f:
            shapes = [l.strip() for l in f if l.strip()]
        # pairs (64 classes) and shapes (8: top-1 rarely zero even untrained)
        for key, classes in (("class_pair", self.classes), ("class_shape", shapes)):
            top1, top5 = self.zeroshot_expected(rows, imgs, key, classes)
            self.assertLess(top5, len(rows), "a set where top-5 is not trivially all")
            j = self.eval_json("--zeroshot", os.path.join(self.syn, "heldout_seen.csv"),
                               "--label-key", key, *args)
            z = j["zeroshot"]
            self.assertEqual(z["images"], len(rows))
            # the class file's classes, not just the labels present
            self.assertEqual(z["classes"], len(classes))
            self.assertEqual(z["templates"], TEMPLATES)
            self.assertAlmostEqual(z["top1"], top1 / len(rows), places=12)
            self.assertAlmostEqual(z["top5"], top5 / len(rows), places=12)
            self.assertAlmostEqual(z["chance_top1"], 1 / len(classes), places=12)
        # default label column of a synth CSV: class_pair
        j = self.eval_json("--zeroshot", os.path.join(self.syn, "heldout_seen.csv"), *args)
        z = j["zeroshot"]
        self.assertEqual(z["classes"], 64)

        # The same images as a folder per class, names with '_' for spaces;
        # --classes keeps the 64 candidates.
        root = self.path("folders")
        for i, r in enumerate(rows):
            name = self.classes[int(r["class_pair"])].replace(" ", "_")
            os.makedirs(os.path.join(root, name), exist_ok=True)
            os.symlink(os.path.join(self.syn, r["filepath"]),
                       os.path.join(root, name, "%03d.png" % i))
        with open(os.path.join(root, "notes.txt"), "w") as f:
            f.write("not a class folder, not an image\n")
        jf = self.eval_json("--zeroshot", root, "--classes",
                            os.path.join(self.syn, "classes_pair.txt"), *args)
        self.assertEqual(jf["zeroshot"]["images"], len(rows))
        self.assertEqual(jf["zeroshot"]["top1"], z["top1"])
        self.assertEqual(jf["zeroshot"]["top5"], z["top5"])

    def test_retrieval_matches_recomputation(self):
        rows = self.csv_rows("train.csv")[:30]
        capf = self.path("captions.csv")
        caps, owner = [], []
        with open(capf, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["filepath", "title"])
            for i, r in enumerate(rows):  # two captions per image, rows interleaved later
                for c in (r["title"], "a %s %s" % (r["colour"], r["shape"])):
                    caps.append((i, c))
            order = sorted(range(len(caps)), key=lambda k: (k % 2, k))
            for k in order:
                i, c = caps[k]
                w.writerow([os.path.join(self.syn, rows[i]["filepath"]), c])
                owner.append(i)
        texts = [caps[k][1] for k in order]
        imgs = self.embed("embed-image", [os.path.join(self.syn, r["filepath"]) for r in rows])
        txt = self.embed("embed-text", texts)
        sim = [[dot(a, b) for b in txt] for a in imgs]
        want_i2t, want_t2i = [], []
        for K in (1, 5, 10):
            hit = 0
            for i in range(len(imgs)):
                best = min(rank(sim[i], j) for j in range(len(txt)) if owner[j] == i)
                hit += best < K
            want_i2t.append(hit / len(imgs))
            hit = sum(rank([sim[a][j] for a in range(len(imgs))], owner[j]) < K
                      for j in range(len(txt)))
            want_t2i.append(hit / len(txt))
        j = self.eval_json("--retrieval", capf)["retrieval"]
        self.assertEqual(j["images"], 30)
        self.assertEqual(j["texts"], 60)
        for n, K in enumerate((1, 5, 10)):
            self.assertAlmostEqual(j["image_to_text"]["R@%d" % K], want_i2t[n], places=12)
            self.assertAlmostEqual(j["text_to_image"]["R@%d" % K], want_t2i[n], places=12)

    def test_probe_and_few_shot(self):
        tr = os.path.join(self.syn, "train.csv")
        te = os.path.join(self.syn, "heldout_seen.csv")
        args = ["--linear-probe", tr, "--few-shot", tr, "--probe-test", te,
                "--label-key", "class_shape", "--shots", "1,2,4", "--seeds", "2", "--seed", "3"]
        j = self.eval_json(*args)
        p = j["linear_probe"]
        self.assertEqual(p["classes"], 8)  # classes_shape.txt
        self.assertEqual(p["n_fit"] + p["n_val"], 64)
        self.assertEqual(p["n_test"], 40)
        self.assertTrue(0 <= p["top1"] <= 1 and 1e-3 <= p["C"] <= 1e3)
        self.assertAlmostEqual(p["chance_top1"], 1 / 8, places=12)
        f = j["few_shot"]
        self.assertEqual([s["k"] for s in f["shots"]], [1, 2, 4])
        self.assertEqual(f["seeds"], 2)
        for s in f["shots"]:
            self.assertTrue(0 <= s["top1_mean"] <= 1 and s["top1_std"] >= 0)
            self.assertTrue(1e-3 * 0.999 <= s["C_geomean"] <= 1e3 * 1.001)
        self.assertEqual(self.eval_json(*args), j, "seeded runs must repeat exactly")
        # the table form prints one row per k
        rc, out, err = eval_cmd("--model", self.model, "--device", "ref", *args)
        self.assert_ok(rc, out, err)
        self.assertIn("linear probe", out)
        self.assertIn("few-shot", out)

    def test_errors(self):
        tr = os.path.join(self.syn, "train.csv")
        m = ["--model", self.model, "--device", "ref"]
        rc, _, err = eval_cmd(*m, "--zeroshot", tr, "--label-key", "nosuch")
        self.assert_one_line_error(rc, err, "nosuch")
        bad = self.path("bad.csv")
        with open(bad, "w") as f:
            f.write("filepath,label\n%s,purple unicorn\n" %
                    os.path.join(self.syn, "train", "0000000.png"))
        rc, _, err = eval_cmd(*m, "--zeroshot", bad, "--classes",
                              os.path.join(self.syn, "classes_pair.txt"))
        self.assert_one_line_error(rc, err, "purple unicorn")
        rc, _, err = eval_cmd(*m, "--linear-probe", tr)
        self.assertEqual(rc, 2)
        self.assert_one_line_error(rc, err, "--probe-test")
        rc, _, err = eval_cmd(*m)
        self.assertEqual(rc, 2)
        rc, _, err = eval_cmd("--model", self.path("nope"), "--zeroshot", tr)
        self.assert_one_line_error(rc, err, "nope")
        rc, _, err = eval_cmd(*m, "--zeroshot", self.path("missing.csv"))
        self.assert_one_line_error(rc, err, "missing.csv")


if __name__ == "__main__":
    cli_util.main()
