#!/usr/bin/env python3
"""Goldens for Hugging Face CLIPModel checkpoints that differ from OpenAI's
defaults in ways a config.json states: the tanh GELU spellings, an MLP width
other than 4 x hidden_size, and the end-of-text token id that decides which
row the text tower pools (transformers: the first position holding
eos_token_id, or argmax(ids) for the legacy value 2).

Tiny models (width 32-48, 1-2 layers, vocabulary 300, context 16), random
weights with every parameter perturbed (compat_matrix.perturb), features in
float64 from transformers, stored as float32 in tests/data/hf_variants/NAME/:
model.safetensors + config.json (save_pretrained), pixels.npy, ids.npy,
image_features.npy, text_features.npy. The CLI test tests/tools/
test_cli_hf_variants.py compares clipcl with them.

  HF_HUB_OFFLINE=1 nice ~/compat-venv/bin/python tests/reference/make_hf_variant_goldens.py
"""
import copy
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from compat_matrix import _torch, perturb  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "data", "hf_variants")
VISION = dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
              image_size=32, patch_size=16)
TEXT = dict(hidden_size=48, intermediate_size=192, num_hidden_layers=2, num_attention_heads=3,
            max_position_embeddings=16, vocab_size=300, eos_token_id=299, bos_token_id=298,
            pad_token_id=1)
VARIANTS = {
    "gelu_new": (dict(hidden_act="gelu_new"), dict(hidden_act="gelu_pytorch_tanh")),
    "mlp_width": (dict(intermediate_size=100), dict(intermediate_size=70)),
    "eos_id": ({}, dict(eos_token_id=100)),
    "eos_legacy": ({}, dict(eos_token_id=2)),
}


def main():
    import transformers
    torch = _torch()
    for seed, (name, (v, t)) in enumerate(sorted(VARIANTS.items())):
        d = os.path.join(OUT, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        torch.manual_seed(seed)
        vc, tc = dict(VISION, **v), dict(TEXT, **t)
        model = transformers.CLIPModel(transformers.CLIPConfig(vision_config=vc, text_config=tc,
                                                               projection_dim=24))
        model.eval()
        perturb(model, seed + 100)
        model.save_pretrained(d)
        rng = np.random.default_rng(seed)
        R, T, V = vc["image_size"], tc["max_position_embeddings"], tc["vocab_size"]
        eos = tc["eos_token_id"] if tc["eos_token_id"] != 2 else V - 1
        pixels = rng.standard_normal((3, 3, R, R)).astype(np.float32)
        ids = np.zeros((3, T), np.int32)
        for b, L in enumerate((T, 5, 9)):
            ids[b, 0] = V - 2
            ids[b, 1:L - 1] = rng.integers(3, V - 2, L - 2)
            ids[b, L - 1] = eos
            if eos != V - 1:
                ids[b, 1] = V - 1  # argmax pooling would pick this row, not the end token
        np.save(os.path.join(d, "pixels.npy"), pixels)
        np.save(os.path.join(d, "ids.npy"), ids)
        m = copy.deepcopy(model).double()
        with torch.no_grad():
            img = m.get_image_features(pixel_values=torch.from_numpy(pixels).double())
            txt = m.get_text_features(input_ids=torch.from_numpy(ids).long())
        img = img if torch.is_tensor(img) else img.pooler_output
        txt = txt if torch.is_tensor(txt) else txt.pooler_output
        np.save(os.path.join(d, "image_features.npy"), img.numpy().astype(np.float32))
        np.save(os.path.join(d, "text_features.npy"), txt.numpy().astype(np.float32))
        print(name, "ok", sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)), "bytes")


if __name__ == "__main__":
    main()
