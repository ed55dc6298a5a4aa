#!/usr/bin/python3
"""Goldens for one full CLIP training step: a tiny ViT CLIP
(QuickGELU) and a tiny ModifiedResNet CLIP (GELU text tower, BatchNorm in
training mode), a batch of N = 4 (image, token ids) pairs, the symmetric
contrastive loss, every parameter's gradient, the parameters after one
torch.optim.AdamW step and the BatchNorm running statistics after the step.

    /usr/bin/python3 tests/reference/make_train_goldens.py   # from the repository root

Reuses the plain-torch CLIP of make_clip_goldens.py (same classes, same
perturbation, same safetensors writer) with a context length of 16 and
smaller widths, so that weights + gradients + parameters-after stay small
(see tests/reference/README.md for the sizes). Deterministic (fixed seeds).

Precision: the forward and backward run in float64 on the stored weights
(every weight is float16-representable, so f32 and f64 models hold the same
values) and loss and gradients are saved as float32: the exact answer, not
PyTorch-f32's rounding of it. The script prints PyTorch float32's own
per-tensor gradient error against that answer, for scale.

The AdamW step runs in float32, as a training run would, on the float32
rounding of those float64 gradients, with lr 1e-3, betas (0.9, 0.98),
eps 1e-6 and weight decay 0.2 on exactly the tensors
backends/adamw.c:adamw_param_decays() decays (ndim >= 2 and the name holds none
of "bn", "ln", "bias", "logit_scale", "token_embedding",
"positional_embedding", "position_embedding", "class_embedding"), 0
elsewhere; then logit_scale is clamped to [0, ln 100] as open_clip does.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_clip_goldens as mc  # noqa: E402

mc.CTX = 16  # the text context of these tiny models (the module reads it at call time)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DATA = os.path.join(ROOT, "tests", "data")
N = 4
LR, BETAS, EPS, WD = 1e-3, (0.9, 0.98), 1e-6, 0.2
NO_DECAY = ("bn", "ln", "bias", "logit_scale", "token_embedding", "positional_embedding",
            "position_embedding", "class_embedding")

VIT = {"embed": 16, "quick_gelu": True,
       "vision": {"kind": "vit", "res": 16, "patch": 8, "width": 32, "layers": 2, "heads": 2},
       "text": {"vocab": 64, "width": 32, "layers": 2, "heads": 2}}
# RN: res 32 leaves a 1x1 map before the attention pool (HW + 1 = 2 tokens),
# whose heads follow OpenAI's rule (4*32/64 = 2); the text tower's single
# head (width 16) only the config file knows.
RN = {"embed": 16, "quick_gelu": False,
      "vision": {"kind": "rn", "res": 32, "layers": (1, 1, 1, 1), "width": 4, "heads": 2},
      "text": {"vocab": 64, "width": 16, "layers": 1, "heads": 1}}


def decays(name, ndim):
    """backends/adamw.c:adamw_param_decays, verbatim."""
    return ndim >= 2 and not any(s in name for s in NO_DECAY)


def clip_loss(model, px, ids):
    img = model.encode_image(px)
    txt = model.encode_text(ids)
    img = img / img.norm(dim=1, keepdim=True)
    txt = txt / txt.norm(dim=1, keepdim=True)
    logits = model.logit_scale.exp() * img @ txt.t()
    labels = torch.arange(logits.shape[0])
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


def forward_backward(model, state, px, ids, dt):
    """Loads state into model (as dt), runs one train-mode forward + backward.
    Returns loss, {name: grad}, {buffer name: value after the forward}."""
    model = model.to(dt)
    model.load_state_dict(state)
    model.train()
    model.zero_grad(set_to_none=True)
    loss = clip_loss(model, px.to(dt), ids)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    bufs = {n: b.detach().clone() for n, b in model.named_buffers()
            if n.endswith("running_mean") or n.endswith("running_var")}
    return loss.item(), grads, bufs


def f32(t):
    return np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32))


def make(name, cfg, lengths, seed):
    gen = torch.Generator().manual_seed(seed)
    model = mc.CLIP(cfg)
    mc.perturb(model, gen)
    with torch.no_grad():
        model.logit_scale.fill_(math.log(1 / 0.07))  # CLIP's initial temperature
    state = {k: v.clone() for k, v in model.state_dict().items()}

    d = os.path.join(DATA, name)
    os.makedirs(d, exist_ok=True)
    mc.write_safetensors(os.path.join(d, "model.safetensors"), mc.openai_tensors(model, "openai"))
    with open(os.path.join(d, "open_clip_config.json"), "w") as f:
        json.dump(mc.open_clip_config(cfg), f, indent=2)

    R = cfg["vision"]["res"]
    px = (1.5 * torch.randn(N, 3, R, R, generator=gen)).float()
    ids = mc.token_rows(cfg["text"]["vocab"], lengths, gen)
    ids_t = torch.from_numpy(ids).long()

    state64 = {k: (v.double() if v.is_floating_point() else v) for k, v in state.items()}
    loss64, g64, bufs64 = forward_backward(model, state64, px, ids_t, torch.float64)
    loss32, g32, _ = forward_backward(model, state, px, ids_t, torch.float32)

    # One AdamW step in float32 from the stored weights and the f32-rounded
    # exact gradients (the parameters' f32 values equal the stored ones).
    model = model.float()
    model.load_state_dict(state)
    named = list(model.named_parameters())
    for n, p in named:
        p.grad = g64[n].float().clone()
    groups = [{"params": [p for n, p in named if decays(n, p.ndim)], "weight_decay": WD},
              {"params": [p for n, p in named if not decays(n, p.ndim)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=LR, betas=BETAS, eps=EPS)
    opt.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, math.log(100))

    mc.save_npy(d, "pixels.npy", px.numpy().astype(np.float32))
    mc.save_npy(d, "ids.npy", ids)
    mc.save_npy(d, "loss.npy", np.array([loss64], dtype=np.float32))
    # logit_scale is a 0-d tensor in torch and [1] in the graph: stored as [1].
    def as_saved(n, t):
        a = f32(t)
        return a.reshape(1) if a.ndim == 0 else a
    mc.write_safetensors(os.path.join(d, "grads.safetensors"),
                         [(n, as_saved(n, g64[n])) for n, _ in named])
    mc.write_safetensors(os.path.join(d, "params_after.safetensors"),
                         [(n, as_saved(n, p)) for n, p in named])
    if bufs64:
        mc.write_safetensors(os.path.join(d, "bn_after.safetensors"),
                             [(n, f32(b)) for n, b in bufs64.items()])

    worst, wname = 0.0, ""
    for n, _ in named:
        a, b = g64[n].double(), g32[n].double()
        e = ((a - b).norm() / a.norm()).item() if a.norm() > 0 else (b.norm()).item()
        if e > worst:
            worst, wname = e, n
    nparam = sum(p.numel() for _, p in named)
    ndec = sum(p.numel() for n, p in named if decays(n, p.ndim))
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    print("%s: %d params (%d decay), loss f64 %.9f, torch-f32 %.9f (rel %.1e); worst torch-f32 "
          "grad rel err %.2e (%s); %d bytes on disk"
          % (name, nparam, ndec, loss64, loss32, abs(loss32 - loss64) / loss64, worst, wname, size))


if __name__ == "__main__":
    torch.set_num_threads(1)
    make("train_step_vit", VIT, (2, 5, 9, 14), 2024)
    make("train_step_rn", RN, (1, 7, 11, 14), 2025)
