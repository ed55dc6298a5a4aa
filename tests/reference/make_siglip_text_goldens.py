#!/usr/bin/env python3
"""Goldens for SigLIP text from strings: a tiny transformers SiglipModel
whose vocabulary is the self-trained SentencePiece model of
tests/data/spm/spiece.model (1000 pieces), saved with that tokenizer as
SiglipTokenizer.save_pretrained writes it, and the text features transformers
gives for varied texts tokenized by SiglipTokenizer (padding to the context,
truncation, as SigLIP is used).

    HF_HUB_OFFLINE=1 nice ~/compat-venv/bin/python tests/reference/make_siglip_text_goldens.py

Writes tests/data/siglip_text/: model/ (model.safetensors, config.json,
spiece.model, tokenizer_config.json, special_tokens_map.json), texts.txt (one
text a line), ids.npy and ids.txt (SiglipTokenizer's ids) and text_features.npy
(float64 forward, saved float32). Every parameter is perturbed
(compat_matrix.perturb). The CLI test test_cli_siglip_text.py checks clipcl's
`embed-text` on the texts and `tokenize` against them.
"""
import copy
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from compat_matrix import _torch, perturb  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
OUT = os.path.join(DATA, "siglip_text")
TEXTS = [
    "a photo of a cat.",
    "A PHOTO OF A DOG!",
    "Two red circles, and 3 blue squares...",
    "café naïve résumé Ångström",
    "你好世界 こんにちは",
    "emoji 🐱🐶 and punctuation: (yes) [no] {maybe}",
    "digits 1234567890 and 3.14159",
    "a very long caption " + "that goes on and on " * 12,
]
CONTEXT = 16


def main():
    import transformers
    torch = _torch()
    shutil.rmtree(OUT, ignore_errors=True)
    model_dir = os.path.join(OUT, "model")
    os.makedirs(model_dir)
    tok = transformers.SiglipTokenizer(vocab_file=os.path.join(DATA, "spm", "spiece.model"),
                                       model_max_length=CONTEXT)
    cfg = transformers.SiglipConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=2, image_size=32, patch_size=16),
        text_config=dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=3, vocab_size=len(tok),
                         max_position_embeddings=CONTEXT, projection_size=32,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id))
    torch.manual_seed(0)
    model = transformers.SiglipModel(cfg)
    model.eval()
    perturb(model, 7)
    model.save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    enc = tok(TEXTS, padding="max_length", truncation=True, max_length=CONTEXT,
              return_tensors="np")
    ids = enc["input_ids"].astype(np.int32)
    m = copy.deepcopy(model).double()
    with torch.no_grad():
        feats = m.get_text_features(input_ids=torch.from_numpy(ids).long())
    feats = feats if torch.is_tensor(feats) else feats.pooler_output
    with open(os.path.join(OUT, "texts.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(TEXTS) + "\n")
    np.save(os.path.join(OUT, "ids.npy"), ids)
    with open(os.path.join(OUT, "ids.txt"), "w") as f:  # as `clipcl tokenize` prints them
        f.write("".join(" ".join(map(str, r)) + "\n" for r in ids))
    np.save(os.path.join(OUT, "text_features.npy"), feats.numpy().astype(np.float32))
    for name in sorted(os.listdir(model_dir)):
        print(name, os.path.getsize(os.path.join(model_dir, name)))


if __name__ == "__main__":
    main()
