#!/usr/bin/env python3
"""Golden for one training step of SigLIP's architecture: open_clip's
ViT-B-16-SigLIP config scaled down (the timm trunk vit_base_patch16_siglip_224
built with the sizes the config's vision_cfg states, as `clipcl train
--model-config` reads them: width 64 = one head of timm's 64, 1 block,
patches of 4 on 8 px, MLP ratio 4; the CustomTextCLIP text tower without
causal mask, pool "last", projection with bias, eps 1e-6), a batch of N = 4
(image, token ids) pairs, open_clip's sigmoid loss (SigLipLoss: -sum
logsigmoid(labels * (exp(t) cos + b)) / N, labels +1 on the diagonal, -1
off it) and every parameter's gradient.

    HF_HUB_OFFLINE=1 nice ~/compat-venv/bin/python tests/reference/make_train_siglip_goldens.py

(any Python with torch >= 2, open_clip_torch 3.x, timm and safetensors; run
from the repository root). Deterministic (fixed seeds). As in
make_train_goldens.py the step runs in float64 on float16-representable
weights and loss and gradients are saved as float32. Writes
tests/data/train_step_siglip/: open_clip_model.safetensors +
open_clip_config.json (the model), pixels.npy, ids.npy, loss.npy,
grads.safetensors (no params_after: the AdamW step is the CLIP goldens'
business, the optimizer does not know the architecture).
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_siglip_goldens as ms  # noqa: E402
import open_clip  # noqa: E402
import timm  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
D = os.path.join(ROOT, "tests", "data", "train_step_siglip")
N, CTX, VOCAB, R = 4, 16, 64, 8

CFG = {
    "embed_dim": 64,
    "init_logit_bias": -10,
    "custom_text": True,
    "vision_cfg": {"image_size": R, "timm_model_name": "vit_base_patch16_siglip_224",
                   "timm_model_pretrained": False, "timm_pool": "map", "timm_proj": "none",
                   "width": 64, "layers": 1, "patch_size": 4},
    "text_cfg": {"context_length": CTX, "vocab_size": VOCAB, "width": 32, "heads": 2,
                 "layers": 1, "no_causal_mask": True, "proj_bias": True, "pool_type": "last",
                 "norm_kwargs": {"eps": 1e-6}},
}


def trunk_sizes(vc):
    """timm.create_model arguments for the trunk a config describes (open_clip
    passes none; clipcl reads them from vision_cfg, heads = width / 64)."""
    w = vc.get("width", 768)
    return dict(embed_dim=w, depth=vc.get("layers", 12), num_heads=w // 64,
                patch_size=vc.get("patch_size", 16), img_size=vc.get("image_size", 224))


def build(cfg, name):
    """open_clip's model for cfg, the trunk built at the config's sizes."""
    real = timm.create_model
    open_clip.timm_model.timm.create_model = lambda n, **kw: real(n, **dict(kw, **trunk_sizes(cfg["vision_cfg"])))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".json")
    try:
        with open(path, "w") as f:
            json.dump(cfg, f)
        open_clip.add_model_config(path)
        return open_clip.create_model(name, pretrained=None)
    finally:
        os.remove(path)
        open_clip.timm_model.timm.create_model = real


def siglip_loss(model, px, ids):
    img = model.encode_image(px, normalize=True)
    txt = model.encode_text(ids, normalize=True)
    logits = model.logit_scale.exp() * img @ txt.t() + model.logit_bias
    labels = 2 * torch.eye(img.shape[0], dtype=logits.dtype) - 1
    return -F.logsigmoid(labels * logits).sum() / img.shape[0]


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(5)
    model = build(CFG, "clipcl-train-siglip-tiny")
    ms.perturb(model, gen)  # logit_scale 2, logit_bias -1.5: gradients of every size
    os.makedirs(D, exist_ok=True)
    ms.save_weights(model.state_dict(), os.path.join(D, "open_clip_model.safetensors"))
    with open(os.path.join(D, "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": CFG}, f, indent=2)
        f.write("\n")
    state = {k: v.detach().float().clone() for k, v in model.state_dict().items()}
    px = (1.5 * torch.randn(N, 3, R, R, generator=gen)).float()
    ids = torch.zeros((N, CTX), dtype=torch.int64)
    for r, L in enumerate([CTX, 3, 7, 12]):
        ids[r, :L] = torch.randint(1, VOCAB, (L,), generator=gen)
    out = {}
    for dt in (torch.float64, torch.float32):
        m = model.to(dt)
        m.load_state_dict({k: v.to(dt) for k, v in state.items()})
        m.train()
        m.zero_grad(set_to_none=True)
        loss = siglip_loss(m, px.to(dt), ids)
        loss.backward()
        out[dt] = (loss.item(), {n: p.grad.detach().clone() for n, p in m.named_parameters()})
    loss64, g64 = out[torch.float64]
    loss32, g32 = out[torch.float32]
    np.save(os.path.join(D, "pixels.npy"), px.numpy())
    np.save(os.path.join(D, "ids.npy"), ids.int().numpy())
    np.save(os.path.join(D, "loss.npy"), np.array([loss64], dtype=np.float32))
    save_file({n: g.float().reshape(1) if g.ndim == 0 else g.float().contiguous()
               for n, g in g64.items()}, os.path.join(D, "grads.safetensors"))
    worst, wname = 0.0, ""
    for n in g64:
        a, b = g64[n], g32[n].double()
        e = ((a - b).norm() / a.norm()).item() if a.norm() > 0 else b.norm().item()
        if e > worst:
            worst, wname = e, n
    size = sum(os.path.getsize(os.path.join(D, f)) for f in os.listdir(D))
    print("train_step_siglip: %d params, loss f64 %.9f, torch-f32 %.9f; worst torch-f32 grad "
          "rel err %.2e (%s); %d bytes on disk"
          % (sum(g.numel() for g in g64.values()), loss64, loss32, worst, wname, size))


if __name__ == "__main__":
    main()
