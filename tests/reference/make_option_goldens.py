#!/usr/bin/env python3
"""Goldens for open_clip's text-tower options, computed by open_clip itself.

    HF_HUB_OFFLINE=1 nice ~/compat-venv/bin/python tests/reference/make_option_goldens.py

(any virtualenv with torch >= 2 and open_clip_torch 3.x; CI does not run it).
Writes tests/data/clip_options/: one tiny model per option (random weights,
every parameter perturbed, then rounded to float16-representable values and
stored as F16 so the files stay small while holding exactly the weights the
reference ran with), exported as open_clip's hub export does
(open_clip_model.safetensors + open_clip_config.json), plus ids.npy,
pixels.npy and per model the float64 reference features stored as float32:
text_features.npy and image_features.npy.

The token ids make every pooling rule pick a different row: each text holds
its largest id (argmax), an id 5 (eos with eos_id 5) somewhere else, and
non-zero first and last ids. Token embeddings are scaled down so LayerNorm's
eps (1e-5 against 1e-6) changes the features measurably.
"""
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import open_clip  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "clip_options")
CTX, VOCAB = 8, 64

BASE = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 16, "layers": 1, "width": 16, "patch_size": 8, "head_width": 8},
    "text_cfg": {"context_length": CTX, "vocab_size": VOCAB, "width": 24, "heads": 2, "layers": 2},
}

# name -> (model-level overrides, text_cfg overrides, vision_cfg overrides)
VARIANTS = {
    "pool_last": ({}, {"pool_type": "last"}, {}),
    "pool_first": ({}, {"pool_type": "first"}, {}),
    "pool_eos": ({}, {"pool_type": "eos", "eos_id": 5}, {}),
    "no_causal_mask": ({}, {"no_causal_mask": True}, {}),
    "proj_bias": ({}, {"proj_bias": True}, {}),
    "proj_none": ({"embed_dim": 24}, {"proj_type": "none"}, {}),
    "norm_eps": ({}, {"norm_kwargs": {"eps": 1e-6}}, {"norm_kwargs": {"eps": 1e-6}}),
    # SigLIP's text tower options together, under CustomTextCLIP's "text."
    # keys, with a tokenizer other than CLIP's: text from token ids only.
    "siglip_text": ({"custom_text": True},
                    {"pool_type": "last", "proj_bias": True, "no_causal_mask": True,
                     "norm_kwargs": {"eps": 1e-6}, "hf_tokenizer_name": "timm/ViT-B-16-SigLIP"},
                    {}),
}


def f16_exact(t):
    return t.to(torch.float16).to(torch.float32)


def perturb(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name.endswith("token_embedding.weight"):
                p.copy_(f16_exact(0.002 * noise))  # small rows: LayerNorm's eps matters
            elif p.ndim <= 1 or name.endswith("bias"):
                p.copy_(f16_exact(p + 0.1 + 0.2 * noise))
            else:
                p.copy_(f16_exact(p + 0.05 * noise))


def token_ids(gen):
    rows = []
    for b in range(4):
        r = torch.randint(6, VOCAB - 8, (CTX,), generator=gen)
        r[2 + b % 3] = VOCAB - 1 - b          # the argmax row
        r[(5 + b) % CTX if (5 + b) % CTX != 2 + b % 3 else 1] = 5  # the eos row
        rows.append(r)
    return torch.stack(rows).to(torch.int64)


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(1234)
    ids = token_ids(gen)
    pixels = torch.randn((2, 3, 16, 16), generator=gen)
    np.save(os.path.join(OUT, "ids.npy"), ids.numpy().astype(np.int32))
    np.save(os.path.join(OUT, "pixels.npy"), pixels.numpy().astype(np.float32))
    for name, (top, text, vision) in VARIANTS.items():
        cfg = json.loads(json.dumps(BASE))
        cfg.update(top)
        cfg["text_cfg"].update(text)
        cfg["vision_cfg"].update(vision)
        model_name = "clipcl-opt-" + name
        open_clip.factory._MODEL_CONFIGS[model_name] = cfg
        model = open_clip.create_model(model_name, pretrained=None)
        perturb(model, gen)
        model.eval()
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        sd = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()
              if v.dtype.is_floating_point}
        sd["logit_scale"] = model.state_dict()["logit_scale"].detach().float().reshape([])
        save_file(sd, os.path.join(d, "open_clip_model.safetensors"))
        with open(os.path.join(d, "open_clip_config.json"), "w") as f:
            json.dump({"model_cfg": cfg}, f, indent=1)
        m64 = model.double()
        with torch.no_grad():
            txt = m64.encode_text(ids).numpy().astype(np.float32)
            img = m64.encode_image(pixels.double()).numpy().astype(np.float32)
        np.save(os.path.join(d, "text_features.npy"), txt)
        np.save(os.path.join(d, "image_features.npy"), img)
        print(name, "text", txt.shape, "image", img.shape, "keys", len(sd))


if __name__ == "__main__":
    main()
