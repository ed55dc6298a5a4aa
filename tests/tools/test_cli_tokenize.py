"""`clipcl tokenize`: ids against an independent reference and every error path.

A tiny vocabulary (written here in both OpenAI's and Hugging Face's formats)
is checked against a Python port of OpenAI's SimpleTokenizer restricted to
ASCII (stdlib `re` has no \\p{L}); the real vocabulary, when
$CLIPCL_SHARED_DIR/data has it, against tests/data/tokenizer_goldens.json
(written by open_clip)."""
import gzip
import html
import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_util  # noqa: E402
from cli_util import CliCase, run  # noqa: E402

CTX = 77
MERGES = ["h e", "l l", "l o</w>", "he ll", "hell o</w>", "c a", "ca t</w>", "t h", "th e</w>",
          "i n", "in g</w>", "' s</w>"]


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


class RefTokenizer:
    """OpenAI's clip/simple_tokenizer.py, ASCII letters and digits only."""

    def __init__(self, merges):
        self.byte_encoder = bytes_to_unicode()
        vocab = list(self.byte_encoder.values())
        vocab += [v + "</w>" for v in vocab]
        pairs = [tuple(m.split()) for m in merges]
        vocab += ["".join(p) for p in pairs]
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        self.vocab = vocab
        self.encoder = {v: i for i, v in enumerate(vocab)}
        self.ranks = {p: i for i, p in enumerate(pairs)}
        self.pat = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|"""
                              r"""[a-z]+|[0-9]|[^\sa-z0-9]+""", re.IGNORECASE)

    def bpe(self, token):
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            bigram = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if bigram not in self.ranks:
                break
            new, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == bigram:
                    new.append(word[i] + word[i + 1])
                    i += 2
                else:
                    new.append(word[i])
                    i += 1
            word = tuple(new)
        return word

    def encode77(self, text):
        text = html.unescape(html.unescape(text)).strip()
        text = re.sub(r"\s+", " ", text).strip().lower()
        ids = [self.encoder["<|startoftext|>"]]
        for tok in self.pat.findall(text):
            tok = "".join(self.byte_encoder[b] for b in tok.encode("utf-8"))
            ids += [self.encoder[s] for s in self.bpe(tok)]
        ids.append(self.encoder["<|endoftext|>"])
        truncated = len(ids) > CTX
        if truncated:
            ids = ids[:CTX]
            ids[-1] = self.encoder["<|endoftext|>"]
        return ids + [0] * (CTX - len(ids)), truncated


TEXTS = ["Hello the cat!", "cats sing things", "it's 42 HELLO   world", "The Cat's hat, the end.",
         "a &amp; b &lt;c&gt;", "", "hello " * 80, "x"]


def parse_ids(out):
    return [[int(v) for v in line.split(" ")] for line in out.splitlines()]


class TinyVocab(CliCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        cls.ref = RefTokenizer(MERGES)
        # OpenAI layout: a header line, then merges (open_clip reads the same).
        cls.openai_dir = os.path.join(d, "openai")
        os.mkdir(cls.openai_dir)
        cls.gz = os.path.join(cls.openai_dir, "bpe_simple_vocab_16e6.txt.gz")
        with gzip.open(cls.gz, "wt", encoding="utf-8") as f:
            f.write("#version: tiny\n" + "\n".join(MERGES) + "\n")
        open(os.path.join(cls.openai_dir, "model.safetensors"), "wb").close()
        # Hugging Face layout: vocab.json (symbol -> id) + merges.txt.
        cls.hf_dir = os.path.join(d, "hf")
        os.mkdir(cls.hf_dir)
        cls.vocab_json = os.path.join(cls.hf_dir, "vocab.json")
        with open(cls.vocab_json, "w", encoding="utf-8") as f:
            json.dump({s: i for i, s in enumerate(cls.ref.vocab)}, f, ensure_ascii=False)
        with open(os.path.join(cls.hf_dir, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "\n".join(MERGES) + "\n")
        cls.expected = [cls.ref.encode77(t)[0] for t in TEXTS]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def check_all_forms(self, *source):
        rc, out, err = run("tokenize", *source, "--", *TEXTS)
        self.assert_ok(rc, out, err)
        got = parse_ids(out)
        self.assertEqual(len(got), len(TEXTS))
        for t, g, e in zip(TEXTS, got, self.expected):
            self.assertEqual(len(g), CTX, t)
            self.assertEqual(g, e, "text %r" % t)
        return err

    def test_reference_is_not_trivial(self):
        # Guards the reference itself: merges fire, SOT/EOT are where OpenAI puts them.
        ids, _ = self.ref.encode77("hello the cat")
        n = 512 + len(MERGES)
        self.assertEqual(ids[:5], [n, 512 + 4, 512 + 8, 512 + 6, n + 1])

    def test_vocab_gz(self):
        err = self.check_all_forms("--vocab", self.gz)
        # The one over-long text (number 7) is named, and only it.
        self.assertIn("text 7 ", err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("warning", err)

    def test_vocab_json(self):
        self.check_all_forms("--vocab", self.vocab_json)

    def test_model_dir_openai(self):
        self.check_all_forms("--model", self.openai_dir)

    def test_model_dir_hf(self):
        self.check_all_forms("--model=" + self.hf_dir)

    def test_model_safetensors_path(self):
        self.check_all_forms("--model", os.path.join(self.openai_dir, "model.safetensors"))

    def test_texts_file_then_arguments(self):
        p = os.path.join(self.tmp.name, "texts.txt")
        with open(p, "w", encoding="utf-8", newline="") as f:
            f.write("Hello the cat!\r\n\ncats sing things\n" + "hello " * 80 + "\n")
        rc, out, err = run("tokenize", "--vocab", self.gz, "--texts", p, "x")
        self.assert_ok(rc, out, err)
        want = [self.ref.encode77(t)[0] for t in ["Hello the cat!", "", "cats sing things", "hello " * 80, "x"]]
        self.assertEqual(parse_ids(out), want)
        self.assertIn("text 4 (%s line 4)" % p, err)

    def test_texts_from_stdin(self):
        rc, out, err = run("tokenize", "--vocab", self.gz, "--texts", "-", stdin=b"the cat\nhello")
        self.assert_ok(rc, out, err)
        self.assertEqual(parse_ids(out), [self.ref.encode77("the cat")[0], self.ref.encode77("hello")[0]])
        self.assertEqual(err, "")

    def test_errors(self):
        d = self.tmp.name
        empty = os.path.join(d, "empty.txt")
        open(empty, "w").close()
        nul = os.path.join(d, "nul.txt")
        with open(nul, "wb") as f:
            f.write(b"ok\nbad\x00text\n")
        lonely = os.path.join(d, "lonely")
        os.makedirs(lonely, exist_ok=True)
        lonely_json = os.path.join(lonely, "vocab.json")
        with open(lonely_json, "w") as f:
            f.write("{}")
        broken = os.path.join(d, "broken.txt.gz")
        with gzip.open(broken, "wt") as f:
            f.write("#version\nonlyonefield\n")
        cases = [
            (("tokenize", "hello"), ("--model", "--vocab")),
            (("tokenize", "--vocab", self.gz), ("no texts",)),
            (("tokenize", "--vocab", self.gz, "--texts", empty), (empty,)),
            (("tokenize", "--vocab", self.gz, "--texts", os.path.join(d, "nope.txt")), ("nope.txt",)),
            (("tokenize", "--vocab", self.gz, "--texts", nul), (nul, "line 2")),
            (("tokenize", "--model", os.path.join(d, "missing"), "x"), ("missing",)),
            (("tokenize", "--model", d, "x"), (d, "bpe_simple_vocab_16e6.txt.gz", "vocab.json")),
            (("tokenize", "--vocab", lonely_json, "x"), ("merges.txt",)),
            (("tokenize", "--model", lonely, "x"), ("merges.txt",)),
            (("tokenize", "--vocab", broken, "x"), (broken,)),
            (("tokenize", "--vocab", self.gz, "--model", self.hf_dir, "x"), ("not both",)),
            (("tokenize", "--vocab"), ("--vocab",)),
            (("tokenize", "--vocab", self.gz, "--frobnicate", "x"), ("--frobnicate",)),
            (("tokenize", "--vocab", self.gz, "-5"), ("-5",)),
        ]
        for args, names in cases:
            with self.subTest(args=args):
                rc, out, err = run(*args)
                self.assert_one_line_error(rc, err, *names)
                self.assertEqual(out, "")

    def test_dash_dash_and_help(self):
        rc, out, err = run("tokenize", "--vocab", self.gz, "--", "-5")
        self.assert_ok(rc, out, err)
        self.assertEqual(parse_ids(out), [self.ref.encode77("-5")[0]])
        rc, out, err = run("tokenize", "--help")
        self.assertEqual(rc, 0)
        self.assertIn("usage: clipcl tokenize", out)


def shared_vocab():
    d = os.environ.get("CLIPCL_SHARED_DIR")
    p = os.path.join(d, "data", "bpe_simple_vocab_16e6.txt.gz") if d else ""
    return p if p and os.path.isfile(p) else None


def goldens():
    d = os.environ.get("CLIPCL_TEST_DATA") or os.path.join(os.path.dirname(__file__), "..", "data")
    p = os.path.join(d, "tokenizer_goldens.json")
    if not os.path.isfile(p):
        return None
    with open(p, encoding="utf-8") as f:
        return json.load(f)


class RealVocab(CliCase):
    def setUp(self):
        self.vocab = shared_vocab()
        self.g = goldens()
        if not self.vocab or not self.g:
            self.skipTest("needs $CLIPCL_SHARED_DIR/data/bpe_simple_vocab_16e6.txt.gz and tokenizer goldens")
        self.assertEqual(self.g["context_length"], CTX)

    def cases(self):
        # "skip" marks goldens the C cleaner knowingly differs on (docs/tokenizer.md).
        return [c for c in self.g["cases"] if "skip" not in c]

    def test_goldens_as_arguments(self):
        cases = self.cases()
        self.assertGreaterEqual(len(cases), 40)
        rc, out, err = run("tokenize", "--vocab", self.vocab, "--", *[c["text"] for c in cases])
        self.assert_ok(rc, out, err)
        got = parse_ids(out)
        self.assertEqual(len(got), len(cases))
        for i, (c, g) in enumerate(zip(cases, got)):
            want = c["ids"] + [0] * (CTX - len(c["ids"]))
            self.assertEqual(g, want, "golden %d %r" % (i, c["text"]))
            named = ("text %d " % (i + 1)) in err
            self.assertEqual(named, bool(c["truncated"]), "warning for text %d" % (i + 1))

    def test_goldens_from_file_via_model_dir(self):
        cases = [c for c in self.cases() if not re.search(r"[\r\n]", c["text"])]
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "texts.txt")
            with open(p, "w", encoding="utf-8", newline="") as f:
                f.write("".join(c["text"] + "\n" for c in cases))
            rc, out, err = run("tokenize", "--model", os.path.dirname(self.vocab), "--texts", p)
        self.assert_ok(rc, out, err)
        got = parse_ids(out)
        self.assertEqual(len(got), len(cases))
        for c, g in zip(cases, got):
            self.assertEqual(g, c["ids"] + [0] * (CTX - len(c["ids"])), c["text"])


if __name__ == "__main__":
    cli_util.main()
