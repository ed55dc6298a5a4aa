#!/usr/bin/env python3
"""Goldens for preprocessing driven by a model's config (tests/io/test_preprocess_cfg.c).

For each case (a source image and a config) writes the reference output at
32 px into tests/data/prepcfg/ and lists it in tests/data/prepcfg/cases.json:
  - open_clip: open_clip.transform.image_transform(32, is_train=False, ...)
    built from a `preprocess_cfg`, exactly as create_model_and_transforms
    does (PreprocessCfg + merge_preprocess_dict, size replaced by the
    model's image size);
  - Hugging Face: transformers' CLIPImageProcessorPil (golden) and
    CLIPImageProcessor (torchvision backend, transformers' default: its
    antialiased resize on tensors lands within 1/255 of Pillow's; *_tv.npy)
    from a preprocessor_config.json dict.
Pixel cases are run with mean 0 / std 1 (open_clip) or do_normalize false
(HF), so output * 255 is the uint8 image (<case>.npy, 32 x 32 x 3 uint8);
"norm" cases keep the config's statistics and store float32 3 x 32 x 32.

  HF_HUB_OFFLINE=1 nice ~/compat-venv/bin/python tests/reference/make_preprocess_cfg_goldens.py
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "data")
OUT = os.path.join(DATA, "prepcfg")
S = 32

IMAGES = ["decode/jpeg_baseline_420.jpg", "decode/jpeg_cmyk.jpg", "preprocess_rgba_90x70_in.png",
          "preprocess_palette_80x120_in.png", "preprocess_grey_37x53_in.png",
          "preprocess_rgb_17x23_in.png", "decode/png16_grey.png"]

OPEN_CLIP = {
    "oc_bilinear": {"interpolation": "bilinear"},
    "oc_longest": {"resize_mode": "longest"},
    "oc_longest_fill": {"resize_mode": "longest", "fill_color": 200, "interpolation": "bilinear"},
    "oc_squash": {"resize_mode": "squash"},
    "oc_random": {"interpolation": "random", "resize_mode": "shortest"},
}
OPEN_CLIP_NORM = {
    "ocn_stats": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bilinear"},
    "ocn_scalar": {"mean": 0.45, "std": 0.27, "resize_mode": "squash"},
}
HF_BASE = {"image_processor_type": "CLIPImageProcessor", "do_resize": True, "do_center_crop": True,
           "do_rescale": True, "rescale_factor": 1 / 255, "do_convert_rgb": True,
           "image_mean": [0.48145466, 0.4578275, 0.40821073],
           "image_std": [0.26862954, 0.26130258, 0.27577711]}
HF = {
    "hf_default": {"size": {"shortest_edge": 32}, "crop_size": {"height": 32, "width": 32},
                   "resample": 3},
    "hf_pad": {"size": {"shortest_edge": 28}, "crop_size": {"height": 32, "width": 32},
               "resample": 3},
    "hf_bigger": {"size": {"shortest_edge": 41}, "crop_size": {"height": 32, "width": 32},
                  "resample": 2},
    "hf_squash": {"size": {"height": 32, "width": 32}, "do_center_crop": False, "resample": 3},
}
HF_NORM = {
    "hfn_default": {"size": {"shortest_edge": 32}, "crop_size": {"height": 32, "width": 32},
                    "resample": 3, "do_normalize": True},
    "hfn_half": {"size": {"shortest_edge": 35}, "crop_size": 32, "resample": 3,
                 "do_normalize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]},
}


def open_clip_tf(pcfg, norm):
    from open_clip.transform import PreprocessCfg, image_transform_v2, merge_preprocess_dict
    from dataclasses import asdict
    d = merge_preprocess_dict(asdict(PreprocessCfg()), pcfg)
    d["size"] = S
    if not norm:
        d["mean"], d["std"] = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    return image_transform_v2(PreprocessCfg(**d), is_train=False)


def hf_proc(cfg, norm, pil):
    from transformers.models.clip.image_processing_clip import CLIPImageProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    d = dict(HF_BASE, do_normalize=False)
    d.update(cfg)
    if not norm:
        d["do_normalize"] = False
    d = {k: v for k, v in d.items() if k != "image_processor_type"}
    return (CLIPImageProcessorPil if pil else CLIPImageProcessor)(**d)


def to_u8(x):
    u8 = np.rint(x * 255.0).astype(np.uint8).transpose(1, 2, 0)
    assert np.abs(u8.astype(np.float64) / 255.0 - x.transpose(1, 2, 0)).max() < 1e-5
    return np.ascontiguousarray(u8)


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    for img in IMAGES:
        stem = os.path.splitext(os.path.basename(img))[0].replace("preprocess_", "").replace("_in", "")
        with Image.open(os.path.join(DATA, img)) as im:
            im.load()
            for name, cfg in list(OPEN_CLIP.items()) + list(OPEN_CLIP_NORM.items()):
                norm = name.startswith("ocn")
                if norm and img != IMAGES[0]:
                    continue
                if "longest" in name and "palette" in img:
                    continue  # the pad is palette index fill_color: see docs/preprocessing.md
                x = open_clip_tf(cfg, norm)(im).numpy()
                out = "%s_%s.npy" % (stem, name)
                np.save(os.path.join(OUT, out), x.astype(np.float32) if norm else to_u8(x))
                cases.append({"image": img, "style": "open_clip", "config": cfg, "golden": out,
                              "normalized": norm})
            for name, cfg in list(HF.items()) + list(HF_NORM.items()):
                norm = name.startswith("hfn")
                if norm and img != IMAGES[0]:
                    continue
                x = hf_proc(cfg, norm, True)(im, return_tensors="np")["pixel_values"][0]
                tv = hf_proc(cfg, norm, False)(im, return_tensors="pt")["pixel_values"][0].numpy()
                dev = np.abs(tv - x).max() * (1.0 if not norm else 1.0)
                out = "%s_%s.npy" % (stem, name)
                np.save(os.path.join(OUT, out), x.astype(np.float32) if norm else to_u8(x))
                full = dict(HF_BASE, do_normalize=False)
                full.update(cfg)
                case = {"image": img, "style": "hf", "config": full, "golden": out,
                        "normalized": norm, "torchvision_backend_max_abs_diff": float(dev)}
                if not norm:
                    # CLIPImageProcessor (transformers' default, tensors through
                    # torchvision): within 1/255 of Pillow, not equal to it
                    case["golden_torchvision"] = "%s_%s_tv.npy" % (stem, name)
                    np.save(os.path.join(OUT, case["golden_torchvision"]), to_u8(tv))
                cases.append(case)
                print("%-40s torchvision backend vs PIL backend: max |diff| %.3g" % (out, dev))
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"size": S, "cases": cases}, f, indent=1)
    print(len(cases), "cases")


if __name__ == "__main__":
    sys.exit(main())
