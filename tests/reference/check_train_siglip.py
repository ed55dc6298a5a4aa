"""A SigLIP trained by `clipcl train` loads strictly in open_clip and gives
clipcl's features.

Run from the repository root with the reference virtualenv (CI never runs it):

    HF_HUB_OFFLINE=1 nice ~/compat-venv/bin/python tests/reference/check_train_siglip.py \
        [--clipcl build/tools/clipcl] [--ckpt DIR]

Without --ckpt it trains one (in a temporary folder): `clipcl train --siglip
--model-config tools/demo/siglip-tiny.json` (open_clip's ViT-B-16-SigLIP config
scaled down; the vocabulary learned by train from its captions) for a few
steps on `synth:` data. Then, as a user would, offline:
  1. open_clip builds the model from the checkpoint's open_clip_config.json;
     open_clip hands timm no sizes, so timm.create_model receives the trunk's
     sizes the config states (vision_cfg width, layers, patch_size, image_size;
     heads = width / 64, vit_base_patch16_siglip_224's head width);
  2. the checkpoint's open_clip_model.safetensors loads with
     load_state_dict(strict=True) (every tensor used, none missing), and
     `create_model_and_transforms('local-dir:CKPT')` (strict too) loads it;
  3. logit_scale and logit_bias equal clipcl's; image features (PNG files,
     open_clip's transform from the checkpoint) and text features (the token
     ids of open_clip's `get_tokenizer('local-dir:CKPT')`) of open_clip in
     float64 equal clipcl's: cos >= 0.99999 and max|diff| / max|ref| <= 1e-4.

Prints one line per check and exits non-zero on a failure.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
TEXTS = ["a photo of a small red circle", "a blue star on the left", "a green hexagon",
         "a heart, a cross and a diamond at the top right", ""]
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


def trunk_sizes(vc):
    w = vc.get("width", 768)
    return dict(embed_dim=w, depth=vc.get("layers", 12), num_heads=w // 64,
                patch_size=vc.get("patch_size", 16), img_size=vc.get("image_size", 224))


def check(clipcl, env, d, ck):
    import open_clip
    import timm
    from PIL import Image
    from safetensors.torch import load_file
    with open(os.path.join(ck, "open_clip_config.json")) as f:
        cfg = json.load(f)["model_cfg"]
    real = timm.create_model
    sizes = trunk_sizes(cfg["vision_cfg"])
    open_clip.timm_model.timm.create_model = lambda n, **kw: real(n, **dict(kw, **sizes))
    ok = True
    try:
        path = os.path.join(d, "clipcl-trained-siglip.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        open_clip.add_model_config(path)
        model = open_clip.create_model("clipcl-trained-siglip", pretrained=None)
        sd = load_file(os.path.join(ck, "open_clip_model.safetensors"))
        res = model.load_state_dict(sd, strict=True)
        print("%-34s strict: %d tensors, missing %d, unexpected %d" % (
            "load_state_dict", len(sd), len(res.missing_keys), len(res.unexpected_keys)))
        ok &= not res.missing_keys and not res.unexpected_keys
        m2, _, preprocess = open_clip.create_model_and_transforms("local-dir:" + ck)
        same = all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                     m2.state_dict().values()))
        print("%-34s %s" % ("local-dir: load (strict)", "same weights" if same else "DIFFERENT"))
        ok &= same
    finally:
        open_clip.timm_model.timm.create_model = real
    model.eval()
    info = sh([clipcl, "info", "--model", ck], env=env)
    print("clipcl info: " + " | ".join(l.strip() for l in info.splitlines()
                                       if "logit" in l.lower() or "siglip" in l.lower()))
    print("%-34s logit_scale %.6f  logit_bias %.6f" % ("open_clip", model.logit_scale.item(),
                                                      model.logit_bias.item()))
    tok = open_clip.get_tokenizer("local-dir:" + ck)
    ids = tok(TEXTS)
    rows = []
    with open(os.path.join(d, "shapes", "train.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    images = [os.path.join(d, "shapes", r["filepath"]) for r in rows[:6]]
    pixels = torch.stack([preprocess(Image.open(p)) for p in images])
    with torch.no_grad():
        m64 = model.double()
        ref_img = m64.encode_image(pixels.double()).numpy()
        ref_txt = m64.encode_text(ids).numpy()
    out_i, out_t, out_ids = (os.path.join(d, n) for n in ("i.npy", "t.npy", "ids.npy"))
    np.save(out_ids, ids.numpy().astype(np.int32))
    sh([clipcl, "embed-image", "--model", ck, "--device", "ref", "--out", out_i] + images, env=env)
    sh([clipcl, "embed-text", "--model", ck, "--device", "ref", "--out", out_t, "--ids", out_ids],
       env=env)
    ok &= compare("image features (PNG files)", np.load(out_i), ref_img)
    ok &= compare("text features (token ids)", np.load(out_t), ref_txt)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clipcl", default="build/tools/clipcl")
    ap.add_argument("--ckpt", help="a checkpoint of `clipcl train --siglip` (default: train one)")
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    clipcl = os.path.abspath(a.clipcl)
    env = dict(os.environ, CLIPCL_SELFCHECK="0")
    with tempfile.TemporaryDirectory() as d:
        cfg_path = os.path.join(ROOT, "tools", "demo", "siglip-tiny.json")
        with open(cfg_path) as f:
            size = json.load(f)["vision_cfg"]["image_size"]
        sh([clipcl, "synth", "--out", os.path.join(d, "shapes"), "--n", "20", "--size", str(size),
            "--seed", "3"], env=env)
        ck = a.ckpt
        if not ck:
            run = os.path.join(d, "run")
            sh([clipcl, "train", "--siglip", "--data", "synth:512:7", "--model-config", cfg_path,
                "--out", run, "--batch", "16", "--steps", str(a.steps), "--lr", "2e-3",
                "--warmup", "2", "--device", "ref", "--workers", "1"], env=env)
            ck = os.path.join(run, "latest")
        ok = check(clipcl, env, d, os.path.realpath(ck))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
