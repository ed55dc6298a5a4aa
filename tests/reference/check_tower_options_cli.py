#!/usr/bin/env python3
"""open_clip's published configs that use the tower options, through the
`clipcl` command, against open_clip itself. A developer check (minutes on a
CPU), not a test: the committed goldens of make_tower_option_goldens.py are
what CI runs.

    HF_HUB_OFFLINE=1 nice ~/compat-venv/bin/python tests/reference/check_tower_options_cli.py \
        [--clipcl build/tools/clipcl] [--full] [NAME...]

Each config is read from open_clip's model_configs/ with its real widths,
head widths and mlp_ratio (so ViT-bigG-14's 4.9231 x 1664 = 8192 and the
like are exercised), but with depth cut to 2 blocks per tower unless --full;
the model is built by open_clip.create_model(pretrained=None), every
parameter perturbed (layer-scale gains far from ls_init_value), exported as
open_clip's hub export does (open_clip_model.safetensors +
open_clip_config.json), and compared on random pixels / token ids:
`clipcl embed-image --pixels` and `embed-text --ids` against open_clip's
float64 forward: min cosine and max |err| / max |ref| per tower. Towers
whose options belong elsewhere (CLIPA's BERT-tokenised text tower: pool_type
last, no_causal_mask) are compared only where noted.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import open_clip  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
CONFIGS = os.path.join(os.path.dirname(open_clip.__file__), "model_configs")

# name -> towers to compare (the text towers of the CLIPA configs use options
# of the text side: pool_type last, no_causal_mask, a BERT tokenizer).
CHECKS = {
    "ViT-M-16-alt": ("image", "text"),
    "ViT-bigG-14": ("image", "text"),
    "ViT-g-14": ("image", "text"),
    "ViT-e-14": ("image", "text"),
    "ViT-L-14-CLIPA": ("image",),
    "ViT-bigG-14-CLIPA": ("image",),
    # CoCa: the image tower (attentional pooler) of the CoCa model itself;
    # its text tower (embed_cls, the multimodal decoder) is refused elsewhere.
    "coca_ViT-B-32": ("image",),
}


def coca_as_clip(cfg, coca):
    """A CLIP whose visual.* are CoCa's image tower: the file clipcl reads
    when only the image tower is compared (CoCa's own text keys are text.*)."""
    vc = {k: v for k, v in cfg["vision_cfg"].items() if k != "output_tokens"}
    tc = {k: v for k, v in cfg["text_cfg"].items() if k not in ("embed_cls", "output_tokens")}
    clip_cfg = {"embed_dim": cfg["embed_dim"], "vision_cfg": vc, "text_cfg": tc}
    model = open_clip.model.CLIP(**clip_cfg).eval()
    model.visual.load_state_dict(coca.visual.state_dict())
    return clip_cfg, model


def perturb(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            n = torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype)
            if name.endswith(".gamma"):
                p.copy_(0.3 + 0.9 * torch.rand(p.shape, generator=gen, dtype=torch.float64).to(p.dtype))
            elif p.ndim == 1 and ("ln" in name or "norm" in name) and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * n)
            elif p.ndim == 1:
                p.copy_(0.1 * n)
            elif name.endswith("logit_scale"):
                p.copy_(torch.tensor(2.5))
            else:
                p.add_(0.02 * n)


def compare(what, got, ref):
    cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
    rel = np.abs(got - ref).max() / np.abs(ref).max()
    ok = cos.min() >= 0.99999 and rel <= 1e-4
    print("  %-5s min cos %.9f (1-cos %.1e), max|err|/max|ref| %.2e  %s"
          % (what, cos.min(), 1 - cos.min(), rel, "ok" if ok else "MISMATCH"))
    return ok


def check(name, towers, clipcl, full, tmp):
    with open(os.path.join(CONFIGS, name + ".json")) as f:
        cfg = json.load(f)
    if not full:
        cfg["vision_cfg"]["layers"] = 2
        cfg["text_cfg"]["layers"] = 2
    cname = "clipcl-check-" + name
    with open(os.path.join(tmp, cname + ".json"), "w") as f:
        json.dump(cfg, f)
    open_clip.add_model_config(os.path.join(tmp, cname + ".json"))
    torch.manual_seed(7)
    gen = torch.Generator().manual_seed(7)
    model = open_clip.create_model(cname, pretrained=None).eval()
    perturb(model, gen)
    ref_model = model
    if name.startswith("coca"):
        cfg, model = coca_as_clip(cfg, model)
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    save_file({k: v.detach().float().contiguous() for k, v in model.state_dict().items()},
              os.path.join(d, "open_clip_model.safetensors"))
    with open(os.path.join(d, "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": cfg, "preprocess_cfg": {}}, f)
    r = cfg["vision_cfg"]["image_size"]
    ctx, vocab = cfg["text_cfg"].get("context_length", 77), cfg["text_cfg"].get("vocab_size", 49408)
    px = torch.randn((2, 3, r, r), generator=gen, dtype=torch.float64)
    ids = torch.zeros((2, ctx), dtype=torch.int64)
    for row, body in enumerate([5, ctx - 2]):
        ids[row, 0] = vocab - 2
        ids[row, 1:1 + body] = torch.randint(1, vocab - 2, (body,), generator=gen)
        ids[row, 1 + body] = vocab - 1
    ref_model = ref_model.double()
    print("%s (%s layers):" % (name, "all" if full else "2"))
    ok = True
    with torch.no_grad():
        for tower in towers:
            inp = os.path.join(d, tower + "_in.npy")
            out = os.path.join(d, tower + "_out.npy")
            if tower == "image":
                np.save(inp, px.float().numpy())
                kw = {"normalize": False} if name.startswith("coca") else {}
                ref = ref_model.encode_image(px.float().double(), **kw).numpy()
                cmd = [clipcl, "embed-image", "--model", d, "--out", out, "--pixels", inp]
            else:
                np.save(inp, ids.int().numpy())
                ref = ref_model.encode_text(ids).numpy()
                cmd = [clipcl, "embed-text", "--model", d, "--out", out, "--ids", inp]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode:
                print("  %-5s clipcl exit %d: %s" % (tower, p.returncode, p.stderr.strip()))
                ok = False
                continue
            ok &= compare(tower, np.load(out).astype(np.float64), ref)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clipcl", default=os.path.join(ROOT, "build", "tools", "clipcl"))
    ap.add_argument("--full", action="store_true", help="every layer (slow)")
    ap.add_argument("names", nargs="*", help="config names (default: all of CHECKS)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.names or list(CHECKS):
            ok &= check(name, CHECKS.get(name, ("image", "text")), a.clipcl, a.full, tmp)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
