#!/usr/bin/env python3
"""Goldens for SigLIP: a tiny open_clip ViT-*-SigLIP model (timm trunk +
CustomTextCLIP text tower) and a tiny transformers SiglipModel.

    HF_HUB_OFFLINE=1 nice ~/compat-venv/bin/python tests/reference/make_siglip_goldens.py

(any Python with torch >= 2, open_clip_torch 3.x, timm, transformers >= 4.37,
safetensors, Pillow and numpy; run from the repository root). Deterministic:
fixed seeds.

siglip_oc: open_clip's ViT-B-16-SigLIP config with the text tower scaled down
(with the SO400M configs' text mlp_ratio 3.7362) and the timm trunk `vit_base_patch16_siglip_224` built scaled down (open_clip
passes no size arguments to timm, so this script hands timm.create_model
width 128 = 2 heads of timm's 64, 2 blocks, mlp_ratio 1.5, patches of 8 on 32 px). Everything
else is the published model: no class token, the MAP head, the text tower's
pool "last", no causal mask and projection bias, eps 1e-6, and SigLIP's
preprocess_cfg (squash, bicubic, mean = std = 0.5).

siglip_hf: transformers' SiglipModel, 2 layers per tower, 4 vision and 3
text heads, gelu_pytorch_tanh, projection_size = the vision width.

Every parameter is perturbed and rounded to float16-representable values
(matrices stored as F16). Writes tests/data/siglip_{oc,hf}/: the model
directory model/, pixels.npy, ids.npy, image_features.npy and
text_features.npy (float64 forward, saved float32); for siglip_oc also two
PNG images, label_ids.npy (one prompt per label) and zeroshot_probs.npy:
sigmoid(exp(logit_scale) * cos(image, label) + logit_bias) for the PNGs
through open_clip's own transform (float64).
"""
import json
import os
import shutil
import sys

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import open_clip  # noqa: E402
import timm  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DATA = os.path.join(ROOT, "tests", "data")
CTX, VOCAB, R = 16, 64, 32

OC_CFG = {
    "embed_dim": 128,
    "init_logit_bias": -10,
    "custom_text": True,
    "vision_cfg": {"image_size": R, "timm_model_name": "vit_base_patch16_siglip_224",
                   "timm_model_pretrained": False, "timm_pool": "map", "timm_proj": "none"},
    "text_cfg": {"context_length": CTX, "vocab_size": VOCAB,
                 "hf_tokenizer_name": "timm/ViT-B-16-SigLIP",
                 "tokenizer_kwargs": {"clean": "canonicalize"}, "width": 32, "heads": 2,
                 "layers": 2, "mlp_ratio": 3.7362, "no_causal_mask": True, "proj_bias": True,
                 "pool_type": "last",
                 "norm_kwargs": {"eps": 1e-6}},
}
OC_PREPROCESS = {"size": R, "mode": "RGB", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                 "interpolation": "bicubic", "resize_mode": "squash", "fill_color": 0}
TRUNK = dict(embed_dim=128, depth=2, num_heads=2, mlp_ratio=1.5, patch_size=8, img_size=R)


def perturb(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            n = torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype)
            if name.endswith("logit_scale"):
                p.fill_(2.0)
            elif name.endswith("logit_bias"):
                p.fill_(-1.5)
            elif p.ndim == 1 and ("norm" in name or "ln" in name) and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * n)
            elif p.ndim == 1:
                p.copy_(0.1 * n)
            else:
                p.add_(0.05 * n)
            p.copy_(p.half().to(p.dtype))


def ids_rows(gen, n=3, pad=1):
    ids = torch.full((n, CTX), pad, dtype=torch.int64)
    for r, L in enumerate([CTX, 5, 9][:n]):
        ids[r, :L] = torch.randint(2, VOCAB, (L,), generator=gen)
    return ids


def save_weights(sd, path):
    sd = {k: v.detach().float().contiguous() for k, v in sd.items()}
    save_file({k: (v.half() if v.ndim >= 2 else v) for k, v in sd.items()}, path)
    os.chmod(path, 0o644)


def save_feats(d, img, txt):
    np.save(os.path.join(d, "image_features.npy"), img.numpy().astype(np.float32))
    np.save(os.path.join(d, "text_features.npy"), txt.numpy().astype(np.float32))


def report(name, ref, f32):
    for what, r, g in zip(["image", "text"], ref, f32):
        r, g = r.numpy(), g.double().numpy()
        print("%-10s %-5s float32 vs float64: max|err|/max|ref| %.2e"
              % (name, what, np.abs(g - r).max() / np.abs(r).max()))


def images(d):
    """Two PNGs: one the model's size, one squashed from 40 x 28."""
    rng = np.random.default_rng(7)
    paths = []
    for i, (w, h) in enumerate([(R, R), (40, 28)]):
        yy, xx = np.mgrid[0:h, 0:w]
        a = np.stack([(xx * 255 / w), (yy * 255 / h), ((xx + yy) * 97 % 256)], -1)
        a = np.clip(a + rng.normal(0, 20, a.shape), 0, 255).astype(np.uint8)
        p = os.path.join(d, "img%d.png" % i)
        Image.fromarray(a, "RGB").save(p)
        paths.append(p)
    return paths


def make_oc():
    real = timm.create_model

    def small(name, **kw):
        return real(name, **dict(kw, **TRUNK))

    open_clip.timm_model.timm.create_model = small
    d = os.path.join(DATA, "siglip_oc")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "model"))
    cfg_path = os.path.join(d, "clipcl-siglip-tiny.json")
    with open(cfg_path, "w") as f:
        json.dump(OC_CFG, f)
    open_clip.add_model_config(cfg_path)
    os.remove(cfg_path)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = open_clip.create_model("clipcl-siglip-tiny", pretrained=None).eval()
    open_clip.timm_model.timm.create_model = real
    perturb(model, gen)
    save_weights(model.state_dict(), os.path.join(d, "model", "open_clip_model.safetensors"))
    with open(os.path.join(d, "model", "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": OC_CFG, "preprocess_cfg": OC_PREPROCESS}, f, indent=2)
        f.write("\n")
    px = 1.5 * torch.randn((3, 3, R, R), generator=gen, dtype=torch.float64)
    ids = ids_rows(gen)
    np.save(os.path.join(d, "pixels.npy"), px.float().numpy())
    np.save(os.path.join(d, "ids.npy"), ids.int().numpy())
    m64 = model.double()
    with torch.no_grad():
        ref = (m64.encode_image(px.float().double()), m64.encode_text(ids))
    m32 = model.float()
    with torch.no_grad():
        f32 = (m32.encode_image(px.float()), m32.encode_text(ids))
    save_feats(d, *ref)
    report("siglip_oc", ref, f32)
    # zero-shot: each label one prompt of token ids; the images through
    # open_clip's transform for this preprocess_cfg
    label_ids = ids_rows(gen, 3)
    np.save(os.path.join(d, "label_ids.npy"), label_ids.int().numpy())
    tf = open_clip.image_transform(R, is_train=False, mean=OC_PREPROCESS["mean"],
                                   std=OC_PREPROCESS["std"], interpolation="bicubic",
                                   resize_mode="squash")
    pix = torch.stack([tf(Image.open(p)) for p in images(d)]).double()
    m64 = model.double()
    with torch.no_grad():
        img = torch.nn.functional.normalize(m64.encode_image(pix), dim=-1)
        txt = torch.nn.functional.normalize(m64.encode_text(label_ids), dim=-1)
        logits = m64.logit_scale.exp() * img @ txt.T + m64.logit_bias
    probs = torch.sigmoid(logits).numpy()
    np.save(os.path.join(d, "zeroshot_probs.npy"), probs.astype(np.float32))
    print("siglip_oc  zero-shot probabilities", np.round(probs, 4).tolist())
    return d


def make_hf():
    import transformers
    d = os.path.join(DATA, "siglip_hf")
    shutil.rmtree(d, ignore_errors=True)
    torch.manual_seed(2)
    gen = torch.Generator().manual_seed(3)
    cfg = transformers.SiglipConfig(
        vision_config=dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                           num_attention_heads=4, image_size=R, patch_size=8),
        text_config=dict(hidden_size=48, intermediate_size=80, num_hidden_layers=2,
                         num_attention_heads=3, vocab_size=VOCAB, max_position_embeddings=CTX,
                         projection_size=64, pad_token_id=1, eos_token_id=1, bos_token_id=None))
    model = transformers.SiglipModel(cfg).eval()
    perturb(model, gen)
    model.save_pretrained(os.path.join(d, "model"))
    save_weights(model.state_dict(), os.path.join(d, "model", "model.safetensors"))
    px = 1.5 * torch.randn((3, 3, R, R), generator=gen, dtype=torch.float64)
    ids = ids_rows(gen)
    np.save(os.path.join(d, "pixels.npy"), px.float().numpy())
    np.save(os.path.join(d, "ids.npy"), ids.int().numpy())

    def feats(m, x, dt):
        with torch.no_grad():
            a = m.get_image_features(pixel_values=x.to(dt))
            b = m.get_text_features(input_ids=ids)
        return tuple(o if torch.is_tensor(o) else o.pooler_output for o in (a, b))

    ref = feats(model.double(), px.float(), torch.float64)
    f32 = feats(model.float(), px.float(), torch.float32)
    save_feats(d, *ref)
    report("siglip_hf", ref, f32)
    # SiglipImageProcessor as transformers saves it (squash to 32 x 32,
    # bicubic, mean = std = 0.5); the Pillow backend's pixels for the PNGs
    proc = transformers.SiglipImageProcessorPil(size={"height": R, "width": R})
    proc.save_pretrained(os.path.join(d, "model"))
    with open(os.path.join(d, "model", "preprocessor_config.json")) as f:
        pc = json.load(f)
    pc["image_processor_type"] = "SiglipImageProcessor"  # what hub checkpoints name
    with open(os.path.join(d, "model", "preprocessor_config.json"), "w") as f:
        json.dump(pc, f, indent=2)
        f.write("\n")
    paths = images(d)
    pix = proc([Image.open(p).convert("RGB") for p in paths], return_tensors="np")["pixel_values"]
    np.save(os.path.join(d, "preprocessed.npy"), pix.astype(np.float32))
    # zero-shot through SiglipModel's own forward: logits_per_image =
    # exp(scale) * cos + bias; probabilities sigmoid(logits)
    label_ids = ids_rows(gen, 3)
    np.save(os.path.join(d, "label_ids.npy"), label_ids.int().numpy())
    m64 = model.double()
    with torch.no_grad():
        out = m64(input_ids=label_ids, pixel_values=torch.from_numpy(pix).double())
    probs = np.ascontiguousarray(torch.sigmoid(out.logits_per_image).numpy())
    np.save(os.path.join(d, "zeroshot_probs.npy"), probs.astype(np.float32))
    print("siglip_hf  zero-shot probabilities", np.round(probs, 4).tolist())
    return d


def main():
    torch.set_num_threads(1)
    for d in (make_oc(), make_hf()):
        size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(d) for f in fs)
        print("wrote %s (%d bytes)" % (os.path.relpath(d, ROOT), size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
