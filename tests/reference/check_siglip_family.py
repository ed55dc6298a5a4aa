#!/usr/bin/env python3
"""Every open_clip SigLIP config through clipcl, scaled down: the timm trunk
each config names is built by timm itself with only its size changed (2
blocks, 2 heads of the model's own head width, patch grid 2 x 2; mlp_ratio,
activation, eps, MAP head as timm defines the model), the text tower with 1
block, vocabulary 1000 and width 64 (the embedding width where proj_type is
"none"), every other option as published. Random perturbed weights; float64
references from open_clip; clipcl's `embed-image --pixels` / `embed-text
--ids` must reach cosine >= 0.99999 and max|err| <= 1e-4 max|ref|.

    HF_HUB_OFFLINE=1 nice ~/compat-venv/bin/python tests/reference/check_siglip_family.py \\
        --clipcl build/tools/clipcl [--only REGEX] [--work DIR]

This checks clipcl's table of timm SigLIP models (models/clip_config_siglip.c:
head width and activation per name) against timm's definitions. CI does not
run it (it needs torch); docs/models.md records its result.
"""
import argparse
import copy
import json
import os
import re
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compat_matrix as cm  # noqa: E402


def scaled(name):
    import open_clip
    import timm
    import torch
    cfg = copy.deepcopy(open_clip.get_model_config(name))
    v, t = cfg["vision_cfg"], cfg["text_cfg"]
    if "hf_model_name" in t:
        return None, None  # a Hugging Face text tower: not a SigLIP text tower
    with torch.device("meta"):
        full = timm.create_model(v["timm_model_name"], num_classes=0, global_pool="map")
    hd = full.embed_dim // full.blocks[0].attn.num_heads
    patch = full.patch_embed.patch_size[0]
    trunk = dict(embed_dim=2 * hd, depth=2, num_heads=2, img_size=2 * patch)
    v["image_size"] = 2 * patch
    cfg["embed_dim"] = 2 * hd
    t.update(layers=1, vocab_size=1000, heads=2,
             width=2 * hd if t.get("proj_type") == "none" else 64)
    return cfg, trunk


def export(name, out, seed=0):
    import open_clip
    import numpy as np
    import torch
    import timm
    cfg, trunk = scaled(name)
    if cfg is None:
        return None
    real = timm.create_model
    open_clip.timm_model.timm.create_model = lambda n, **kw: real(n, **dict(kw, **trunk))
    try:
        os.makedirs(out, exist_ok=True)
        reg = os.path.join(out, "siglip-family-check.json")
        with open(reg, "w") as f:
            json.dump(cfg, f)
        open_clip.add_model_config(reg)
        os.remove(reg)
        torch.manual_seed(seed)
        model = open_clip.create_model("siglip-family-check", pretrained=None).eval()
    finally:
        open_clip.timm_model.timm.create_model = real
    cm.perturb(model, seed + 1)
    from safetensors.torch import save_file
    save_file({k: v.detach().contiguous().clone() for k, v in model.state_dict().items()},
              os.path.join(out, "open_clip_model.safetensors"))
    with open(os.path.join(out, "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": cfg}, f)
    R = cfg["vision_cfg"]["image_size"]
    pixels = np.random.default_rng(seed + 2).standard_normal((2, 3, R, R)).astype(np.float32)
    ids = cm._ids(cfg, 2, seed + 3)
    np.save(os.path.join(out, "pixels.npy"), pixels)
    np.save(os.path.join(out, "ids.npy"), ids)
    m = model.double()
    with torch.no_grad():
        np.save(os.path.join(out, "ref_image.npy"),
                m.encode_image(torch.from_numpy(pixels).double()).numpy())
        np.save(os.path.join(out, "ref_text.npy"),
                m.encode_text(torch.from_numpy(ids).long()).numpy())
    with open(os.path.join(out, "export.json"), "w") as f:
        json.dump({"name": name, "weights": "random, perturbed", "trunk": trunk}, f)
    return trunk


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clipcl", required=True)
    ap.add_argument("--only", default="SigLIP")
    ap.add_argument("--work")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    import open_clip
    cm._torch()
    names = [n for n in open_clip.list_models() if "siglip" in n.lower() and re.search(a.only, n)]
    work = a.work or tempfile.mkdtemp()
    bad = 0
    for n in names:
        d = os.path.join(work, re.sub("[^A-Za-z0-9]+", "-", n))
        trunk = export(n, d)
        if trunk is None:
            print("%-32s skipped (Hugging Face text tower)" % n)
            continue
        r = cm.compare(d, a.clipcl, a.device)
        cells = []
        for tower in ("image", "text"):
            x = r[tower]
            ok = x.get("status") == "match"
            bad += not ok
            cells.append("%s %s cos %.9f rel %.1e" % (tower, x.get("status"), x.get("cos", 0),
                                                     x.get("rel", 0)) if "cos" in x
                         else "%s %s: %s" % (tower, x.get("status"), x.get("message")))
        print("%-32s %s | %s" % (n, " | ".join(cells), "width %d" % trunk["embed_dim"]))
        sys.stdout.flush()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
