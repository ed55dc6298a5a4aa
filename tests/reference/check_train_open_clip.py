"""A model trained by `clipcl train` with a learned vocabulary, loaded by open_clip
and transformers, gives clipcl's token ids and features.

Run from the repository root with the reference virtualenv (CI never runs it):

    HF_HUB_OFFLINE=1 nice ~/compat-venv/bin/python tests/reference/check_train_open_clip.py [--clipcl build/tools/clipcl]

Steps (in a temporary folder):
  1. `clipcl synth` writes a few images at the model's resolution and a caption CSV;
  2. `clipcl tokenizer-train` learns a vocabulary from the captions;
  3. `clipcl train --tokenizer TOK --out runs/tiny` (runs/ does not exist: --out makes
     its parents) trains a 16-context model for a few steps on `synth:` data;
  4. the checkpoint is loaded by open_clip as a user would, offline:
     `create_model_and_transforms('local-dir:CKPT')` and `get_tokenizer('local-dir:CKPT')`,
     by open_clip's SimpleTokenizer on the gzipped merges.txt (OpenAI's loader), and by
     `transformers.CLIPTokenizer.from_pretrained(CKPT)`;
  5. token ids of every loader equal `clipcl tokenize --model CKPT` (16 per line; the
     transformers-based loaders pad with <|endoftext|> where clipcl and OpenAI pad with 0);
     text features (from strings) and image features (from the PNG files) of open_clip,
     in float64, equal clipcl's: cos >= 0.99999 and max|diff| / max|ref| <= 1e-4.
     The ids `clipcl tokenize` prints, given to `embed-text --ids`, give the same
     text features as the strings.

Prints one line per check and exits non-zero on the first failure.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

CONFIG = {
    "embed_dim": 32, "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 640, "width": 64, "heads": 2, "layers": 2},
}
VOCAB = 600  # learned ids; the model's table has room for 640

TEXTS = [
    "a photo of a small red circle",
    "a blue star on the left",
    "A GREEN Hexagon!!",
    "a heart, a cross and a diamond at the top right",
    "zebra photograph",                       # words the corpus never had: byte pieces
    "caf\u00e9 \u00e0 la cr\u00e8me &amp; tea",  # accents and an HTML entity
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen",  # cut
    "",
]
COS_MIN, REL_MAX = 0.99999, 1e-4


def sh(args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit("FAILED: %s\n%s%s" % (" ".join(args), p.stdout, p.stderr))
    return p.stdout


def compare(name, got, ref):
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    cos = (got * ref).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1))
    rel = np.abs(got - ref).max() / np.abs(ref).max()
    ok = cos.min() >= COS_MIN and rel <= REL_MAX
    print("%-34s min cos %.9f  1-cos %.2e  max rel err %.2e  %s"
          % (name, cos.min(), 1 - cos.min(), rel, "ok" if ok else "FAIL"))
    return ok


def same_ids(name, got, ref, eot=None):
    """got: clipcl's rows (zero padding). eot: the reference pads with this id
    (transformers' CLIP files do) instead of 0; ids up to the first end token
    must still be equal, and pooling (argmax, causal mask) sees no difference."""
    got, ref = np.asarray(got), np.asarray(ref).copy()
    pad = ""
    if eot is not None:
        for r in ref:
            first = int(np.argmax(r == eot)) if (r == eot).any() else len(r)
            if not (r[first + 1:] == eot).all():
                print("%-34s padding is not %d: %s" % (name, eot, r.tolist()))
                return False
            r[first + 1:] = 0
        pad = " (padding: %d instead of 0)" % eot
    ok = np.array_equal(got, ref)
    print("%-34s %s%s" % (name, "identical" if ok else "DIFFERENT", pad))
    if not ok:
        for g, r in zip(np.asarray(got).tolist(), np.asarray(ref).tolist()):
            if g != r:
                print("   clipcl %s\n   ref    %s" % (g, r))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clipcl", default="build/tools/clipcl")
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    clipcl = os.path.abspath(a.clipcl)

    env = dict(os.environ, CLIPCL_SELFCHECK="0")
    ok = True
    with tempfile.TemporaryDirectory() as d:
        size = CONFIG["vision_cfg"]["image_size"]
        sh([clipcl, "synth", "--out", os.path.join(d, "shapes"), "--n", "200", "--size", str(size),
            "--seed", "3"], env=env)
        with open(os.path.join(d, "shapes", "train.csv"), encoding="utf-8") as f:
            import csv
            rows = list(csv.DictReader(f))
        corpus = os.path.join(d, "captions.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("\n".join(r["title"] for r in rows) + "\n")
        tok = os.path.join(d, "tok")
        sh([clipcl, "tokenizer-train", "--corpus", corpus, "--vocab-size", str(VOCAB), "--out", tok],
           env=env)
        cfg = os.path.join(d, "cfg.json")
        with open(cfg, "w") as f:
            json.dump(CONFIG, f)
        for how in ("tokenizer-train, then train --tokenizer", "learned by train from its captions"):
            print("== vocabulary: %s" % how)
            run = os.path.join(d, "runs" if "--tokenizer" in how else "runs2", "tiny")
            sh([clipcl, "train", "--data", "synth:512:7", "--model-config", cfg, "--out", run,
                "--batch", "16", "--steps", str(a.steps), "--lr", "2e-3", "--warmup", "2",
                "--device", "ref", "--workers", "1"] + (["--tokenizer", tok] if "--tokenizer" in how
                                                        else []), env=env)
            ok &= check(clipcl, env, d, os.path.realpath(os.path.join(run, "latest")), rows)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def check(clipcl, env, d, ck, rows):
    import open_clip
    from open_clip.tokenizer import SimpleTokenizer
    from PIL import Image
    ok = True
    ctx = CONFIG["text_cfg"]["context_length"]

    # token ids: clipcl's against every reader of the checkpoint's files
    ids_text = sh([clipcl, "tokenize", "--model", ck, "--"] + TEXTS, env=env)
    ids = np.array([[int(x) for x in line.split()] for line in ids_text.splitlines()])
    print("clipcl tokenize: %d ids per line (context %d)" % (ids.shape[1], ctx))
    ok &= ids.shape == (len(TEXTS), ctx)
    eot = int(ids[0].max())
    oc_tok = open_clip.get_tokenizer("local-dir:" + ck)
    ok &= same_ids("open_clip get_tokenizer(local-dir)", ids, oc_tok(TEXTS).numpy(), eot)
    gz = os.path.join(d, "merges.txt.gz")
    with open(os.path.join(ck, "merges.txt"), "rb") as f, gzip.open(gz, "wb") as g:
        g.write(f.read())
    st = SimpleTokenizer(bpe_path=gz, context_length=ctx)
    ok &= same_ids("SimpleTokenizer(merges.txt.gz)", ids, st(TEXTS).numpy())
    # the comparison is sensitive: the same file with a final newline (clipcl's old
    # output) puts the special tokens one id higher in OpenAI's reader
    with open(os.path.join(ck, "merges.txt"), "rb") as f, gzip.open(gz, "wb") as g:
        g.write(f.read() + b"\n")
    shifted = SimpleTokenizer(bpe_path=gz, context_length=ctx)(TEXTS).numpy()
    control = shifted[0, 0] == ids[0, 0] + 1
    print("%-34s %s" % ("control: merges.txt + final newline",
                        "SOT id %d, one too high (caught)" % shifted[0, 0] if control else "NOT caught"))
    ok &= bool(control)
    from transformers import CLIPTokenizer
    hf = CLIPTokenizer.from_pretrained(ck)
    # transformers does not run ftfy / html.unescape: give it open_clip's cleaned text
    from open_clip.tokenizer import _clean_lower
    hf_ids = hf([_clean_lower(t) for t in TEXTS], padding="max_length", truncation=True,
                max_length=ctx)["input_ids"]
    ok &= same_ids("CLIPTokenizer.from_pretrained", ids, hf_ids, eot)

    # features
    model, _, preprocess = open_clip.create_model_and_transforms("local-dir:" + ck)
    model.eval()
    images = [os.path.join(d, "shapes", r["filepath"]) for r in rows[:6]]
    pixels = torch.stack([preprocess(Image.open(p)) for p in images])
    tokens = oc_tok(TEXTS)
    with torch.no_grad():
        ref_img32 = model.encode_image(pixels).numpy()
        ref_txt32 = model.encode_text(tokens).numpy()
        m64 = model.double()
        ref_img = m64.encode_image(pixels.double()).numpy()
        ref_txt = m64.encode_text(tokens).numpy()
    out_t = os.path.join(d, "t.npy")
    out_i = os.path.join(d, "i.npy")
    out_ids = os.path.join(d, "ids.npy")
    out_ti = os.path.join(d, "ti.npy")
    sh([clipcl, "embed-text", "--model", ck, "--device", "ref", "--out", out_t, "--"] + TEXTS,
       env=env)
    sh([clipcl, "embed-image", "--model", ck, "--device", "ref", "--out", out_i] + images, env=env)
    np.save(out_ids, ids.astype(np.int32))
    sh([clipcl, "embed-text", "--model", ck, "--device", "ref", "--out", out_ti, "--ids", out_ids],
       env=env)
    compare("open_clip float32 text (own error)", ref_txt32, ref_txt)
    compare("open_clip float32 image (own error)", ref_img32, ref_img)
    ok &= compare("text features (strings)", np.load(out_t), ref_txt)
    ok &= compare("text features (tokenize -> --ids)", np.load(out_ti), ref_txt)
    ok &= compare("image features (PNG files)", np.load(out_i), ref_img)
    return ok


if __name__ == "__main__":
    sys.exit(main())
