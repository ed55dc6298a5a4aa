#!/usr/bin/env python3
"""Golden for exact gradient accumulation on a ResNet tower: the gradient of
ONE batch of 32 pairs whose image tower runs as 4 chunks of 8 in training
mode (so each BatchNorm normalises with the statistics of its chunk of 8,
as open_clip's --accum-freq 4 and clipcl's --accum 4 --batch 8 do), the
symmetric contrastive loss over all 32.

    ~/compat-venv/bin/python tests/reference/make_accum_goldens.py   # from the repository root

(the virtualenv of tests/reference/README.md: torch, numpy, safetensors)

The model is tests/data/train_step_rn (make_train_goldens.py's tiny
ModifiedResNet CLIP, loaded from its model.safetensors into the same
plain-torch classes); the 32 pairs are those tests/train/test_train_accum.c
generates (the same LCG, reproduced below). Forward and backward in float64,
gradients saved as float32 (the exact answer): tests/data/train_accum_rn/
grads.safetensors (OpenAI key names, logit_scale as [1]) and loss.npy.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_clip_goldens as mc  # noqa: E402
import make_train_goldens as mt  # noqa: E402

K, B = 4, 8
N = K * B


class Lcg:
    """test_train_accum.c's lcg(): s = s * 1664525 + 1013904223 (mod 2^32), s >> 8."""

    def __init__(self, seed):
        self.s = seed

    def __call__(self):
        self.s = (self.s * 1664525 + 1013904223) & 0xFFFFFFFF
        return self.s >> 8


def pairs(res, ctx, vocab):
    """make_pairs(distinct = 1) of test_train_accum.c."""
    r = Lcg(12345)
    px = np.zeros((N, 3, res, res), dtype=np.float32)
    ids = np.zeros((N, ctx), dtype=np.int64)
    for i in range(N):
        flat = px[i].reshape(-1)
        for j in range(flat.size):
            flat[j] = np.float32(r() * (4.0 / 16777216.0) - 2.0)
        n = 1 + r() % (ctx - 2)
        ids[i, 0] = vocab - 2
        for j in range(1, n + 1):
            ids[i, j] = 1 + r() % (vocab - 3)
        ids[i, n + 1] = vocab - 1
    return torch.from_numpy(px), torch.from_numpy(ids)


def main():
    torch.set_num_threads(1)
    cfg = mt.RN
    src = os.path.join(mt.DATA, "train_step_rn")
    model = mc.CLIP(cfg).double()
    state = load_file(os.path.join(src, "model.safetensors"))
    state = {k: (v.double() if v.is_floating_point() else v) for k, v in state.items()}
    if state["logit_scale"].ndim != model.logit_scale.ndim:
        state["logit_scale"] = state["logit_scale"].reshape(model.logit_scale.shape)
    model.load_state_dict(state, strict=True)
    model.train()
    px, ids = pairs(cfg["vision"]["res"], mc.CTX, cfg["text"]["vocab"])
    img = torch.cat([model.encode_image(px[k * B:(k + 1) * B].double()) for k in range(K)])
    txt = model.encode_text(ids)
    img = img / img.norm(dim=1, keepdim=True)
    txt = txt / txt.norm(dim=1, keepdim=True)
    logits = model.logit_scale.exp() * img @ txt.t()
    labels = torch.arange(N)
    loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
    loss.backward()
    out = os.path.join(mt.DATA, "train_accum_rn")
    os.makedirs(out, exist_ok=True)
    named = list(model.named_parameters())

    def saved(t):
        a = np.ascontiguousarray(t.detach().numpy().astype(np.float32))
        return a.reshape(1) if a.ndim == 0 else a
    mc.write_safetensors(os.path.join(out, "grads.safetensors"), [(n, saved(p.grad)) for n, p in named])
    mc.save_npy(out, "loss.npy", np.array([loss.item()], dtype=np.float32))
    print("train_accum_rn: loss %.9f, %d tensors, %d bytes" % (
        loss.item(), len(named), os.path.getsize(os.path.join(out, "grads.safetensors"))))


if __name__ == "__main__":
    main()
