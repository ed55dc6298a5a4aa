"""Tokenizer files others read with clipcl's ids, the context `tokenize` prints, and
`--out` folders created with their parents.

The reference is OpenAI's SimpleTokenizer rule for reading merges (open_clip's copy is
the same): split the file on "\\n", keep lines [1, 49152-256-2+1), vocabulary = 256 byte
symbols, the same with "</w>", one symbol per merge line (an empty line gives the empty
symbol ""), then the two special tokens. A merges.txt with a final newline therefore
shifts both special tokens one id up in every loader but clipcl's, which is what these
tests catch. The BPE itself is tests/tools/test_cli_tokenize.py's Python port (ASCII).
The open_clip / transformers side is checked by tests/reference/check_train_open_clip.py.
"""
import html
import json
import os
import re
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_util  # noqa: E402
from cli_util import CliCase, read_npy, run  # noqa: E402
from test_cli_tokenize import RefTokenizer  # noqa: E402

CORPUS = ["a photo of a small red circle", "a big blue square on the left", "the green star",
          "a red heart at the top", "a photo of the yellow cross", "a small diamond on the right",
          "two red circles and a blue star", "a photo of a hexagon"] * 3
TEXTS = ["a photo of a red circle", "the blue hexagon!!", "zebra crossing 42",
         "a photo of a small red circle on the left at the top of a big blue square", ""]
MODEL_CFG = {
    "embed_dim": 16, "quick_gelu": True,
    "vision_cfg": {"image_size": 16, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 12, "vocab_size": 600, "width": 32, "heads": 2, "layers": 1},
}


def openai_reader(merges_path):
    """OpenAI's SimpleTokenizer on this file: its exact slicing rule."""
    with open(merges_path, encoding="utf-8") as f:
        lines = f.read().split("\n")[1:49152 - 256 - 2 + 1]
    return RefTokenizer(lines)


def encode(ref, text, ctx):
    """open_clip's SimpleTokenizer.__call__ for one ASCII text: SOT, BPE ids, EOT,
    cut to ctx with EOT last, zero padding."""
    text = re.sub(r"\s+", " ", html.unescape(html.unescape(text)).strip()).strip().lower()
    full = [ref.encoder["<|startoftext|>"]]
    for tok in ref.pat.findall(text):
        full += [ref.encoder[s] for s in ref.bpe("".join(ref.byte_encoder[b] for b in tok.encode()))]
    full.append(ref.encoder["<|endoftext|>"])
    if len(full) > ctx:
        full = full[:ctx]
        full[-1] = ref.encoder["<|endoftext|>"]
    return full + [0] * (ctx - len(full))


def parse_ids(out):
    return [[int(v) for v in line.split(" ")] for line in out.splitlines()]


def write_npy_i32(path, rows):
    header = "{'descr': '<i4', 'fortran_order': False, 'shape': (%d, %d), }" % (len(rows),
                                                                                len(rows[0]))
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("ascii"))
        for r in rows:
            f.write(struct.pack("<%di" % len(r), *r))


class TrainedVocabulary(CliCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        cls.corpus = os.path.join(d, "captions.txt")
        with open(cls.corpus, "w") as f:
            f.write("\n".join(CORPUS) + "\n")
        cls.tok = os.path.join(d, "not", "yet", "tok")  # --out makes the parents
        cls.result = run("tokenizer-train", "--corpus", cls.corpus, "--vocab-size", "560",
                         "--out", cls.tok)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_written_into_new_parents(self):
        self.assert_ok(*self.result)
        self.assertTrue(os.path.isfile(os.path.join(self.tok, "merges.txt")))

    def test_merges_file_ends_without_newline(self):
        with open(os.path.join(self.tok, "merges.txt"), "rb") as f:
            b = f.read()
        self.assertTrue(b.startswith(b"#version: 0.2\n"))
        self.assertFalse(b.endswith(b"\n"), "a final newline is an empty merge for OpenAI's reader")

    def test_openai_reader_gives_vocab_json_ids(self):
        ref = openai_reader(os.path.join(self.tok, "merges.txt"))
        with open(os.path.join(self.tok, "vocab.json"), encoding="utf-8") as f:
            vocab = json.load(f)
        self.assertGreater(len(ref.ranks), 20, "the corpus should yield merges")
        self.assertEqual(vocab["<|startoftext|>"], ref.encoder["<|startoftext|>"])
        self.assertEqual(vocab["<|endoftext|>"], ref.encoder["<|endoftext|>"])
        self.assertEqual(vocab, ref.encoder)

    def test_tokenize_equals_openai_reader(self):
        ref = openai_reader(os.path.join(self.tok, "merges.txt"))
        rc, out, err = run("tokenize", "--model", self.tok, "--", *TEXTS)
        self.assert_ok(rc, out, err)
        got = parse_ids(out)
        self.assertEqual([len(g) for g in got], [77] * len(TEXTS), "77 ids without a model")
        self.assertEqual(got, [encode(ref, t, 77) for t in TEXTS])

    def test_transformers_config(self):
        # AutoTokenizer / CLIPTokenizer.from_pretrained(dir) and open_clip's local-dir
        # loader need the class named; <|endoftext|> pads as in transformers' CLIP files.
        with open(os.path.join(self.tok, "tokenizer_config.json")) as f:
            c = json.load(f)
        self.assertEqual(c["tokenizer_class"], "CLIPTokenizer")
        self.assertEqual((c["bos_token"], c["eos_token"], c["pad_token"]),
                         ("<|startoftext|>", "<|endoftext|>", "<|endoftext|>"))
        self.assertEqual(c["model_max_length"], 77)


class TrainedModel(CliCase):
    """clipcl train --tokenizer DIR --out runs/tiny, from a vocabulary whose merges.txt
    has the final newline older clipcl versions wrote."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        corpus = os.path.join(d, "captions.txt")
        with open(corpus, "w") as f:
            f.write("\n".join(CORPUS) + "\n")
        cls.tok = os.path.join(d, "tok")
        rc, out, err = run("tokenizer-train", "--corpus", corpus, "--vocab-size", "560",
                           "--out", cls.tok)
        assert rc == 0, err
        with open(os.path.join(cls.tok, "merges.txt"), "a") as f:
            f.write("\n")  # as written before the fix
        cfg = os.path.join(d, "cfg.json")
        with open(cfg, "w") as f:
            json.dump(MODEL_CFG, f)
        cls.cfg = cfg
        cls.run_dir = os.path.join(d, "runs", "tiny")
        os.mkdir(os.path.join(d, "runs"))  # OutFolders checks the parents on their own
        cls.train = ["train", "--data", "synth:32:5", "--model-config", cfg, "--tokenizer", cls.tok,
                     "--batch", "8", "--lr", "2e-3", "--warmup", "1", "--device", "ref",
                     "--workers", "1", "--out", cls.run_dir]
        cls.result = run(*cls.train, "--steps", "2")
        cls.ck = os.path.join(cls.run_dir, "latest")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.assert_ok(*self.result)

    def test_checkpoint_merges_read_by_openai_rule(self):
        for d in (self.ck, os.path.join(self.run_dir, "tokenizer")):
            with open(os.path.join(d, "merges.txt"), "rb") as f:
                self.assertFalse(f.read().endswith(b"\n"), d)
        merges = os.path.join(self.ck, "merges.txt")
        with open(merges, "rb") as f:
            self.assertFalse(f.read().endswith(b"\n"))
        with open(os.path.join(self.ck, "vocab.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f), openai_reader(merges).encoder)

    def test_open_clip_local_dir_files(self):
        # open_clip's get_tokenizer('local-dir:CK') reads the tokenizer files of CK through
        # transformers only when text_cfg names an hf_tokenizer_name (else OpenAI's 49408
        # ids: IndexError); clean "lower" is SimpleTokenizer's cleaning.
        with open(os.path.join(self.ck, "open_clip_config.json")) as f:
            oc = json.load(f)
        tc = oc["model_cfg"]["text_cfg"]
        self.assertTrue(tc.get("hf_tokenizer_name"))
        self.assertEqual(tc.get("tokenizer_kwargs"), {"clean": "lower"})
        self.assertEqual(tc["context_length"], 12)
        self.assertIn("preprocess_cfg", oc)
        self.assertTrue(os.path.isfile(os.path.join(self.ck, "open_clip_model.safetensors")))
        with open(os.path.join(self.ck, "tokenizer_config.json")) as f:
            c = json.load(f)
        self.assertEqual((c["tokenizer_class"], c["model_max_length"]), ("CLIPTokenizer", 12))

    def test_tokenize_prints_the_model_context(self):
        ref = openai_reader(os.path.join(self.ck, "merges.txt"))
        rc, out, err = run("tokenize", "--model", self.ck, "--", *TEXTS)
        self.assert_ok(rc, out, err)
        got = parse_ids(out)
        self.assertEqual([len(g) for g in got], [12] * len(TEXTS))
        self.assertEqual(got, [encode(ref, t, 12) for t in TEXTS])
        self.assertIn("text 4 is longer than 12 tokens", err)
        # the weights file named directly: the same; the vocabulary alone: CLIP's 77
        rc, out, err = run("tokenize", "--model",
                           os.path.join(self.ck, "open_clip_model.safetensors"), "x")
        self.assert_ok(rc, out, err)
        self.assertEqual(len(parse_ids(out)[0]), 12)
        rc, out, err = run("tokenize", "--vocab", os.path.join(self.ck, "vocab.json"), "x")
        self.assert_ok(rc, out, err)
        self.assertEqual(len(parse_ids(out)[0]), 77)

    def test_printed_ids_feed_embed_text(self):
        rc, out, err = run("tokenize", "--model", self.ck, "--", *TEXTS)
        self.assert_ok(rc, out, err)
        d = self.tmp.name
        ids_npy, from_ids, from_text = (os.path.join(d, n) for n in ("ids.npy", "a.npy", "b.npy"))
        write_npy_i32(ids_npy, parse_ids(out))
        self.assert_ok(*run("embed-text", "--model", self.ck, "--device", "ref", "--out", from_ids,
                            "--ids", ids_npy))
        self.assert_ok(*run("embed-text", "--model", self.ck, "--device", "ref", "--out", from_text,
                            "--", *TEXTS))
        a, b = read_npy(from_ids), read_npy(from_text)
        self.assertEqual(a[1], (len(TEXTS), MODEL_CFG["embed_dim"]))
        self.assertEqual(a, b)

    def test_resume_keeps_the_tokenizer_keys(self):
        rc, out, err = run(*self.train, "--resume", self.run_dir, "--steps", "3")
        self.assert_ok(rc, out, err)
        with open(os.path.join(self.run_dir, "ckpt-000003", "open_clip_config.json")) as f:
            tc = json.load(f)["model_cfg"]["text_cfg"]
        self.assertTrue(tc.get("hf_tokenizer_name"))
        self.assertEqual(tc.get("tokenizer_kwargs"), {"clean": "lower"})


def write_safetensors(path, tensors):
    """tensors: {name: (rows, cols)} of zeros, F32."""
    header, off = {}, 0
    for name, (r, c) in tensors.items():
        header[name] = {"dtype": "F32", "shape": [r, c], "data_offsets": [off, off + 4 * r * c]}
        off += 4 * r * c
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"\0" * off)


class ContextFromWeights(CliCase):
    """The context is the text positional embedding's rows, under open_clip's or
    Hugging Face's name, whatever the weights file is called."""

    def check(self, weights_name, key, rows, expect=None):
        expect = expect or rows
        with tempfile.TemporaryDirectory() as d:
            corpus = os.path.join(d, "c.txt")
            with open(corpus, "w") as f:
                f.write("\n".join(CORPUS))
            self.assert_ok(*run("tokenizer-train", "--corpus", corpus, "--vocab-size", "530",
                                "--out", d))
            write_safetensors(os.path.join(d, weights_name), {key: (rows, 4), "other": (3, 4)})
            rc, out, err = run("tokenize", "--model", d, "a photo of a red circle")
            self.assert_ok(rc, out, err)
            ref = openai_reader(os.path.join(d, "merges.txt"))
            self.assertEqual(parse_ids(out), [encode(ref, "a photo of a red circle", expect)])

    def test_open_clip_names(self):
        self.check("weights.safetensors", "positional_embedding", 9)

    def test_hugging_face_names(self):
        self.check("model.safetensors", "text_model.embeddings.position_embedding.weight", 248)

    def test_no_text_tower(self):
        self.check("model.safetensors", "visual.positional_embedding", 50, 77)  # not the text's


class OutFolders(CliCase):
    def test_train_out_parents(self):
        with tempfile.TemporaryDirectory() as d:
            cfg = os.path.join(d, "cfg.json")
            with open(cfg, "w") as f:
                json.dump(MODEL_CFG, f)
            out = os.path.join(d, "runs", "tiny")  # no runs/
            rc, o, err = run("train", "--data", "synth:16:5", "--model-config", cfg, "--batch", "8",
                             "--steps", "1", "--device", "ref", "--workers", "1", "--out", out)
            self.assert_ok(rc, o, err)
            self.assertTrue(os.path.isfile(os.path.join(out, "latest", "open_clip_model.safetensors")))

    def test_synth_out_parents(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "a", "b", "shapes")
            self.assert_ok(*run("synth", "--out", out, "--n", "2", "--size", "16"))
            self.assertTrue(os.path.isfile(os.path.join(out, "train.csv")))


if __name__ == "__main__":
    cli_util.main()
