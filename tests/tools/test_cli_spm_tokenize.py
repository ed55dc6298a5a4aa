"""`clipcl tokenize` with SigLIP's SentencePiece tokenizer, against the ids of
transformers' SiglipTokenizer and open_clip's HFTokenizer(clean='canonicalize') in
tests/data/spm/goldens.json (tests/reference/make_spm_goldens.py, a self-trained
model): --vocab spiece.model / tokenizer.json, --clean, model directories the
way open_clip and Hugging Face lay them out (the clean function from
open_clip_config.json, the context from the weights), truncation, errors."""
import json
import os
import shutil
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_util  # noqa: E402
from cli_util import CliCase, run  # noqa: E402

DATA = os.path.join(os.environ.get("CLIPCL_TEST_DATA", "tests/data"), "spm")
with open(os.path.join(DATA, "goldens.json"), encoding="utf-8") as f:
    G = json.load(f)


def write_safetensors(path, tensors):
    """tensors: name -> shape (float32 zeros)."""
    header, off = {}, 0
    for name, shape in tensors.items():
        n = 4
        for d in shape:
            n *= d
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"\0" * off)


class SpmTokenize(CliCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="clipcl-spm-")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def tokenize(self, *args, texts=None):
        rc, out, err = run("tokenize", *args, "--", *(G["texts"] if texts is None else texts))
        self.assert_ok(rc, out, err)
        return [[int(x) for x in line.split()] for line in out.splitlines()], err

    def assert_ids(self, got, ref):
        self.assertEqual(len(got), len(G[ref]))
        for i, (g, w) in enumerate(zip(got, G[ref])):
            self.assertEqual(g, w, "%s: text %d %r" % (ref, i, G["texts"][i]))

    def test_vocab_model_is_siglip_tokenizer(self):
        got, err = self.tokenize("--vocab", os.path.join(DATA, "spiece.model"))
        self.assertGreaterEqual(len(got), 40)
        self.assert_ids(got, "transformers")
        self.assertIn("</s> kept last", err)  # the over-long texts

    def test_clean_canonicalize_is_open_clip(self):
        got, _ = self.tokenize("--vocab", os.path.join(DATA, "spiece.model"), "--clean", "canonicalize")
        self.assert_ids(got, "open_clip")

    def test_tokenizer_json(self):
        got, _ = self.tokenize("--vocab", os.path.join(DATA, "tokenizer.json"))
        self.assert_ids(got, "transformers")

    def test_open_clip_model_dir(self):
        """open_clip's SigLIP layout: the clean function from the config, the
        context from text.positional_embedding's rows."""
        d = os.path.join(self.tmp, "oc")
        os.mkdir(d)
        shutil.copy(os.path.join(DATA, "spiece.model"), d)
        cfg = {"model_cfg": {"embed_dim": 8, "text_cfg": {
            "context_length": 64, "hf_tokenizer_name": "timm/ViT-B-16-SigLIP",
            "tokenizer_kwargs": {"clean": "canonicalize"}}}}
        with open(os.path.join(d, "open_clip_config.json"), "w") as f:
            json.dump(cfg, f)
        got, _ = self.tokenize("--model", d)
        self.assert_ids(got, "open_clip")
        write_safetensors(os.path.join(d, "open_clip_model.safetensors"), {"text.positional_embedding": [16, 8]})
        got, _ = self.tokenize("--model", d)
        self.assertEqual(got, [w[:15] + [G["eos_id"]] if w[15] != G["pad_id"] else w[:16] for w in G["open_clip"]])

    def test_open_clip_t5_dir(self):
        """A hub-style open_clip SigLIP directory naming T5Tokenizer (pad <pad>)."""
        d = os.path.join(self.tmp, "t5")
        os.mkdir(d)
        shutil.copy(os.path.join(DATA, "tokenizer.json"), d)
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump(G["t5_config"], f)
        cfg = {"model_cfg": {"text_cfg": {"hf_tokenizer_name": "timm/ViT-B-16-SigLIP",
                                          "tokenizer_kwargs": {"clean": "canonicalize"}}}}
        with open(os.path.join(d, "open_clip_config.json"), "w") as f:
            json.dump(cfg, f)
        got, _ = self.tokenize("--model", d)
        self.assert_ids(got, "open_clip_t5")
        rc, _, err = run("tokenize", "--model", d, "--clean", "lower", "x")
        self.assert_one_line_error(rc, err, "T5Tokenizer", "canonicalize")

    def test_hf_model_dir(self):
        """A Hugging Face SiglipModel directory with tokenizer.json only."""
        d = os.path.join(self.tmp, "hf")
        os.mkdir(d)
        shutil.copy(os.path.join(DATA, "tokenizer.json"), d)
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump({"tokenizer_class": "SiglipTokenizer", "eos_token": "</s>", "pad_token": "</s>",
                       "unk_token": "<unk>", "do_lower_case": True}, f)
        write_safetensors(os.path.join(d, "model.safetensors"),
                          {"text_model.embeddings.position_embedding.weight": [64, 8]})
        got, _ = self.tokenize("--model", d)
        self.assert_ids(got, "transformers")

    def test_errors(self):
        rc, _, err = run("tokenize", "--vocab", os.path.join(DATA, "spiece.model"), "--clean", "sanitize", "x")
        self.assert_one_line_error(rc, err, "--clean", "sanitize")
        junk = os.path.join(self.tmp, "junk.model")
        with open(junk, "wb") as f:
            f.write(b"not a model")
        rc, _, err = run("tokenize", "--vocab", junk, "x")
        self.assert_one_line_error(rc, err, "junk.model", "SentencePiece")
        d = os.path.join(self.tmp, "empty")
        os.mkdir(d)
        rc, _, err = run("tokenize", "--model", d, "x")
        self.assert_one_line_error(rc, err, "spiece.model")


if __name__ == "__main__":
    cli_util.main()
