#!/usr/bin/env python3
"""SentencePiece (SigLIP) tokenizer goldens for tests/io/test_spm_tokenizer.c and
tests/tools/test_cli_spm.py.

    HF_HUB_OFFLINE=1 ~/compat-venv/bin/python tests/reference/make_spm_goldens.py [--train]

No SigLIP tokenizer can be downloaded here, so a small unigram model is trained with
`sentencepiece.SentencePieceTrainer` (--train; the committed tests/data/spm/spiece.model
is reused otherwise) on the repository's docs/ plus a few lines in other scripts, with
SigLIP's special ids (<pad> 0, </s> 1, <unk> 2, no <s>) and the default nmt_nfkc
normaliser. Both references then tokenise the same texts with it:
  - transformers' SiglipTokenizer(vocab_file=...) with padding='max_length',
    truncation=True, max_length=64 (SiglipModel's tokenizer);
  - open_clip's HFTokenizer on a directory saved by that tokenizer, with clean=
    'canonicalize' (open_clip's ViT-B-16-SigLIP text_cfg.tokenizer_kwargs) and
    context_length 64;
  - open_clip's HFTokenizer(clean='canonicalize') on a directory whose
    tokenizer_config.json names T5Tokenizer (transformers' tokenizers-library
    path on tokenizer.json, padding with <pad>), as hub SigLIP directories may.
Writes tests/data/spm/tokenizer.json (the same model through transformers'
SpmConverter) and tests/data/spm/goldens.json: texts, ids per reference, the pieces of each text
and the decoded text (transformers' decode with special tokens skipped).
"""
import glob
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
OUT_DIR = os.path.join(ROOT, "tests", "data", "spm")
CONTEXT = 64
T5_CONFIG = {"tokenizer_class": "T5Tokenizer", "eos_token": "</s>", "pad_token": "<pad>",
             "unk_token": "<unk>", "extra_ids": 0, "model_max_length": CONTEXT}

TEXTS = [
    "a photo of a cat", "A photo of a DOG.", "Hello, World!", "hello world", "a diagram",
    "This is a photo of a tabby cat.", "it's 2021, CLIP   rocks!!", "2025", "3.14159 and 1,000,000",
    "Special characters: !@#$%^&*()", "I'LL BE THERE, WON'T YOU?", "snake_case and kebab-case",
    "state-of-the-art (SOTA) models: GPT-4 vs. CLIP", "https://example.com/path?q=1&lang=en",
    "café naïve résumé Ångström", "STRAßE Straße", "ΟΔΟΣ ΣΟΦΟΣ καλημέρα", "ПРИВЕТ Мир",
    "İstanbul", "你好世界", "こんにちは世界", "안녕하세요", "مرحبا بالعالم", "😀 😃 😄",
    "👨‍👩‍👧 family 🇫🇷 flag", "x² Ⅻ ½", "\uff2c\uff2f\uff35\uff24 \uff11\uff12\uff13",
    "\ufb01ne \ufb02ow", "cafe\u0301 combining", "it\u2019s \u201cquoted\u201d",
    "&amp;lt;3 &quot;quotes&quot;", "Tom &amp; Jerry", "  lots \t of\n\n whitespace\u00a0here\u3000end  ",
    " leading space", "trailing space ", "x </s> y", "</s>start", "end</s>", "an <unk> inside",
    "\u2581already\u2581underlined", "tab\tand\u2003em space", "", "   ", "!!!", "___",
    "numbers 0123456789 and 42nd 1st", "mixed 中文 and English text", "déjà vu, ça va? übermäßig",
    " ".join(["word"] * 100), "a " * 80, "supercalifragilisticexpialidocious " * 12,
    "the quick brown fox jumps over the lazy dog " * 8,
]


def corpus_lines():
    lines = []
    for p in sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        with open(p, encoding="utf-8") as f:
            lines += [l for l in f.read().split("\n") if l.strip()]
    lines += ["café naïve résumé Ångström déjà vu", "你好世界 中文 こんにちは 안녕하세요",
              "ПРИВЕТ Мир", "καλημέρα ΟΔΟΣ", "a photo of a cat", "a photo of a dog"] * 5
    return lines


def train(model_path):
    import sentencepiece as spm
    # The trainer records model_prefix in the file: a bare name, from the
    # output folder, keeps paths of this machine out of it.
    out_dir, name = os.path.split(model_path)
    prefix = name[: -len(".model")]
    cwd = os.getcwd()
    os.chdir(out_dir)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(corpus_lines()), model_prefix=prefix, vocab_size=1000,
            model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
            character_coverage=0.9995, num_threads=1, minloglevel=2)
        os.remove(prefix + ".vocab")
    finally:
        os.chdir(cwd)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    model = os.path.join(OUT_DIR, "spiece.model")
    if "--train" in sys.argv or not os.path.exists(model):
        train(model)
    import tempfile
    from transformers import SiglipTokenizer
    from open_clip.tokenizer import HFTokenizer

    hf = SiglipTokenizer(vocab_file=model)
    hf_ids = hf(TEXTS, max_length=CONTEXT, padding="max_length", truncation=True).input_ids
    with tempfile.TemporaryDirectory() as d:
        hf.save_pretrained(d)
        oc = HFTokenizer(d, context_length=CONTEXT, clean="canonicalize")
        oc_ids = oc(TEXTS).tolist()
    # The same model as a tokenizer.json (what a hub's fast tokenizer ships):
    # transformers' converter for SentencePiece models.
    from transformers.convert_slow_tokenizer import SpmConverter
    SpmConverter(hf).converted().save(os.path.join(OUT_DIR, "tokenizer.json"), pretty=False)
    # open_clip's hub SigLIP directories may name T5Tokenizer (the tokenizers
    # library on tokenizer.json, pad <pad>): the same model that way, after
    # open_clip's canonicalize.
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(os.path.join(OUT_DIR, "tokenizer.json"), d)
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump(T5_CONFIG, f)
        t5 = HFTokenizer(d, context_length=CONTEXT, clean="canonicalize")
        assert type(t5.tokenizer).__name__ == "T5Tokenizer", type(t5.tokenizer)
        t5_ids = t5(TEXTS).tolist()
    pieces = [hf.tokenize(t) for t in TEXTS]
    decoded = [hf.decode(ids, skip_special_tokens=True) for ids in hf_ids]
    out = {
        "model": "spiece.model", "context_length": CONTEXT,
        "pad_id": hf.pad_token_id, "eos_id": hf.eos_token_id, "unk_id": hf.unk_token_id,
        "vocab_size": hf.vocab_size,
        "texts": TEXTS, "transformers": hf_ids, "open_clip": oc_ids,
        "t5_config": T5_CONFIG, "open_clip_t5": t5_ids,
        "pieces": pieces, "decoded": decoded,
    }
    with open(os.path.join(OUT_DIR, "goldens.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=True, indent=None, separators=(",", ":"))
        f.write("\n")
    diff = sum(a != b for a, b in zip(hf_ids, oc_ids))
    print(f"{len(TEXTS)} texts, {diff} where open_clip's cleaning changes the ids")


if __name__ == "__main__":
    main()
