#!/usr/bin/env python3
"""Goldens for open_clip's tower options, from open_clip itself.

    HF_HUB_OFFLINE=1 nice ~/compat-venv/bin/python tests/reference/make_tower_option_goldens.py

(any Python with torch >= 2, open_clip_torch 3.x, safetensors and numpy;
run from the repository root). Deterministic: fixed seeds.

Each model below is a tiny open_clip config (registered with
open_clip.add_model_config, built by open_clip.create_model with
pretrained=None) whose options are the ones of a published config:
ViT-M-16-alt's layer scale, the CLIPA combination (no_ln_pre + pool_type avg
+ final_ln_after_pool) with ViT-bigG-14's vision mlp_ratio, ViT-g / ViT-e's
non-integer ratios, tanh GELU (act_kwargs), and CoCa's attentional pooler
(both of nn.MultiheadAttention's weight layouts). Every parameter is
perturbed (layer-scale gains far from ls_init_value, no unit gain, no zero
bias) and rounded to float16-representable values, so matrices are stored
as F16 without changing the model.

Writes tests/data/clip_opt_NAME/: openai/open_clip_model.safetensors and
openai/open_clip_config.json (as open_clip's hub export names them),
pixels.npy, ids.npy, image_features.npy, text_features.npy and
logits_per_image.npy. The goldens are open_clip's forward in float64 from
the stored weights, saved as float32; the script prints open_clip float32's
own distance to them.
"""
import json
import os
import sys
import tempfile

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import open_clip  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DATA = os.path.join(ROOT, "tests", "data")
CTX, VOCAB = 16, 64

VISION = {"image_size": 32, "patch_size": 8, "width": 32, "layers": 2, "head_width": 16}
TEXT = {"context_length": CTX, "vocab_size": VOCAB, "width": 32, "heads": 2, "layers": 1}


def cfg(embed_dim=24, vision=None, text=None, quick_gelu=False):
    c = {"embed_dim": embed_dim, "vision_cfg": dict(VISION, **(vision or {})),
         "text_cfg": dict(TEXT, **(text or {}))}
    if quick_gelu:
        c["quick_gelu"] = True
    return c


MODELS = {
    # ViT-M-16-alt: vision ls_init_value 1e-4 (ls_1.gamma / ls_2.gamma).
    "ls": cfg(vision={"ls_init_value": 1e-4}),
    # ViT-*-CLIPA's image tower with ViT-bigG-14's mlp_ratio; text layer
    # scale and a non-integer text ratio (int(32 * 3.7362) = 119).
    "clipa": cfg(vision={"no_ln_pre": True, "pool_type": "avg", "final_ln_after_pool": True,
                         "mlp_ratio": 4.9231},
                 text={"ls_init_value": 1e-5, "mlp_ratio": 3.7362}),
    # avg pooling after ln_post; ViT-g-14 / ViT-e-14 ratios; tanh GELU.
    "avg_tanh": cfg(vision={"pool_type": "avg", "mlp_ratio": 4.3637,
                            "act_kwargs": {"approximate": "tanh"}},
                    text={"mlp_ratio": 8.5715, "act_kwargs": {"approximate": "tanh"}}),
    # CoCa's image pooler: embed_dim != width, so nn.MultiheadAttention keeps
    # separate q/k/v_proj_weight.
    "attnpool": cfg(vision={"attentional_pool": True, "attn_pooler_queries": 5,
                            "attn_pooler_heads": 2}, quick_gelu=True),
    # embed_dim == width: one packed in_proj_weight; pool_type avg over the
    # queries 1..Q-1.
    "attnpool_packed": cfg(embed_dim=32, vision={"attentional_pool": True,
                                                 "attn_pooler_queries": 4,
                                                 "attn_pooler_heads": 4, "pool_type": "avg"}),
}


def perturb(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            n = torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype)
            if name.endswith(".gamma"):  # layer scale: far from ls_init_value
                p.copy_(0.3 + 0.9 * torch.rand(p.shape, generator=gen, dtype=torch.float64).to(p.dtype))
            elif p.ndim == 1 and ("ln" in name or "norm" in name) and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * n)
            elif p.ndim == 1:
                p.copy_(0.1 * n)
            elif name.endswith("logit_scale"):
                p.copy_(torch.tensor(2.5))
            else:
                p.add_(0.05 * n)
            p.copy_(p.half().to(p.dtype))  # float16-representable
            if p.ndim == 1 and ("ln" in name or "norm" in name) and name.endswith("weight"):
                assert not torch.any(p == 1.0), name
            if name.endswith("bias"):
                assert not torch.any(p == 0.0), name


def inputs(gen, n_img=3, n_txt=3):
    px = 1.5 * torch.randn((n_img, 3, 32, 32), generator=gen, dtype=torch.float64)
    ids = torch.zeros((n_txt, CTX), dtype=torch.int64)
    for r, body in enumerate([3, 9, CTX - 2][:n_txt]):
        ids[r, 0] = VOCAB - 2
        ids[r, 1:1 + body] = torch.randint(1, VOCAB - 2, (body,), generator=gen)
        ids[r, 1 + body] = VOCAB - 1
    return px, ids


def features(model, px, ids):
    with torch.no_grad():
        img = model.encode_image(px.to(next(model.parameters()).dtype))
        txt = model.encode_text(ids)
        s = model.logit_scale.exp()
        logits = s * torch.nn.functional.normalize(img, dim=-1) @ \
            torch.nn.functional.normalize(txt, dim=-1).T
    return img, txt, logits


def write(name, model_cfg, model, px, ids):
    d = os.path.join(DATA, "clip_opt_" + name)
    sub = os.path.join(d, "openai")
    os.makedirs(sub, exist_ok=True)
    sd = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    sd = {k: (v.half() if v.ndim >= 2 else v) for k, v in sd.items()}
    save_file(sd, os.path.join(sub, "open_clip_model.safetensors"))
    with open(os.path.join(sub, "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": model_cfg,
                   "preprocess_cfg": {"mean": list(open_clip.OPENAI_DATASET_MEAN),
                                      "std": list(open_clip.OPENAI_DATASET_STD)}}, f, indent=2)
        f.write("\n")
    return d


def main():
    torch.set_num_threads(1)
    tmp = tempfile.mkdtemp()
    for name, c in MODELS.items():
        with open(os.path.join(tmp, "clipcl-opt-%s.json" % name), "w") as f:
            json.dump(c, f)
    open_clip.add_model_config(tmp)
    for i, (name, c) in enumerate(MODELS.items()):
        torch.manual_seed(1000 + i)  # open_clip's own init draws from the global generator
        gen = torch.Generator().manual_seed(1000 + i)
        model = open_clip.create_model("clipcl-opt-" + name, pretrained=None).eval()
        perturb(model, gen)
        px, ids = inputs(gen)
        d = write(name, c, model, px, ids)
        ref = features(model.double(), px, ids)
        f32 = features(model.float(), px.float(), ids)
        np.save(os.path.join(d, "pixels.npy"), px.float().numpy())
        np.save(os.path.join(d, "ids.npy"), ids.int().numpy())
        for what, r, g in zip(["image_features", "text_features", "logits_per_image"], ref, f32):
            r = r.numpy()
            np.save(os.path.join(d, what + ".npy"), r.astype(np.float32))
            g = g.double().numpy()
            cos = (r * g).sum(1) / np.linalg.norm(r, axis=1) / np.linalg.norm(g, axis=1)
            print("%-16s %-17s open_clip f32 vs f64: max|err|/max|ref| %.2e, 1-min cos %.1e"
                  % (name, what, np.abs(g - r).max() / np.abs(r).max(), 1 - cos.min()))
        size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(d) for f in fs)
        print("%-16s wrote %s (%d bytes)" % (name, os.path.relpath(d, ROOT), size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
