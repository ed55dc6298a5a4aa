#!/usr/bin/python3
"""Full-size random-weight CLIP checkpoints for benchmarking, numpy only.

    /usr/bin/python3 bench/make_random_clip.py OUTDIR [--model vit-b-32|rn50|all] [--seed N]

Writes OUTDIR/<model>/model.safetensors (OpenAI/open_clip naming, F32) and
OUTDIR/<model>/open_clip_config.json for ViT-B/32 and RN50 as OpenAI ships
them (OpenAI's clip/model.py shapes). Weights are random, not trained:
they exist so `clipcl bench` and bench/clip_torch_bench.py time exactly the
same model. Scales keep activations finite through every layer (fan-in
scaled matrices, gains near 1, positive BatchNorm variances), so no denormal
or NaN slows either side down. An existing file with the same content
description is kept (the checkpoints are ~0.4-0.6 GB each).
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

CTX, VOCAB = 77, 49408

# name -> (vision, embed, text width, text layers, text heads)
MODELS = {
    "vit-b-32": dict(kind="vit", res=224, patch=32, width=768, layers=12, heads=12,
                     embed=512, twidth=512, tlayers=12, theads=8),
    "rn50": dict(kind="rn", res=224, layers=(3, 4, 6, 3), width=64, heads=32,
                 embed=1024, twidth=512, tlayers=12, theads=8),
}


class Gen:
    """Deterministic tensors in OpenAI's state-dict order."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.out = []

    def put(self, name, a):
        self.out.append((name, np.ascontiguousarray(a)))

    def normal(self, name, shape, std):
        self.put(name, (self.rng.standard_normal(shape, dtype=np.float32) * np.float32(std)))

    def matrix(self, name, shape):
        fan_in = int(np.prod(shape[1:]))
        self.normal(name, shape, fan_in ** -0.5)

    def bias(self, name, n):
        self.normal(name, (n,), 0.02)

    def ln(self, prefix, n):
        self.put(prefix + ".weight", 1.0 + 0.1 * self.rng.standard_normal(n, dtype=np.float32))
        self.bias(prefix + ".bias", n)

    def bn(self, prefix, n):
        self.put(prefix + ".weight", 1.0 + 0.1 * self.rng.standard_normal(n, dtype=np.float32))
        self.bias(prefix + ".bias", n)
        self.normal(prefix + ".running_mean", (n,), 0.1)
        self.put(prefix + ".running_var",
                 (0.5 + self.rng.random(n, dtype=np.float32)).astype(np.float32))
        self.put(prefix + ".num_batches_tracked", np.array(7, dtype=np.int64))


def transformer(g, prefix, width, layers):
    for i in range(layers):
        p = "%s.resblocks.%d." % (prefix, i)
        g.matrix(p + "attn.in_proj_weight", (3 * width, width))
        g.bias(p + "attn.in_proj_bias", 3 * width)
        g.matrix(p + "attn.out_proj.weight", (width, width))
        g.bias(p + "attn.out_proj.bias", width)
        g.ln(p + "ln_1", width)
        g.matrix(p + "mlp.c_fc.weight", (4 * width, width))
        g.bias(p + "mlp.c_fc.bias", 4 * width)
        g.matrix(p + "mlp.c_proj.weight", (width, 4 * width))
        g.bias(p + "mlp.c_proj.bias", width)
        g.ln(p + "ln_2", width)


def vit(g, m):
    w, grid = m["width"], m["res"] // m["patch"]
    g.normal("visual.class_embedding", (w,), w ** -0.5)
    g.normal("visual.positional_embedding", (grid * grid + 1, w), w ** -0.5)
    g.normal("visual.proj", (w, m["embed"]), w ** -0.5)
    g.matrix("visual.conv1.weight", (w, 3, m["patch"], m["patch"]))
    g.ln("visual.ln_pre", w)
    transformer(g, "visual.transformer", w, m["layers"])
    g.ln("visual.ln_post", w)


def resnet(g, m):
    w = m["width"]
    g.matrix("visual.conv1.weight", (w // 2, 3, 3, 3))
    g.bn("visual.bn1", w // 2)
    g.matrix("visual.conv2.weight", (w // 2, w // 2, 3, 3))
    g.bn("visual.bn2", w // 2)
    g.matrix("visual.conv3.weight", (w, w // 2, 3, 3))
    g.bn("visual.bn3", w)
    inplanes = w
    for li, (blocks, mult) in enumerate(zip(m["layers"], (1, 2, 4, 8))):
        planes, stride = w * mult, 1 if li == 0 else 2
        for b in range(blocks):
            p = "visual.layer%d.%d." % (li + 1, b)
            g.matrix(p + "conv1.weight", (planes, inplanes, 1, 1))
            g.bn(p + "bn1", planes)
            g.matrix(p + "conv2.weight", (planes, planes, 3, 3))
            g.bn(p + "bn2", planes)
            g.matrix(p + "conv3.weight", (planes * 4, planes, 1, 1))
            g.bn(p + "bn3", planes * 4)
            if b == 0 and (stride > 1 or inplanes != planes * 4):
                g.matrix(p + "downsample.0.weight", (planes * 4, inplanes, 1, 1))
                g.bn(p + "downsample.1", planes * 4)
            inplanes = planes * 4
    d, sp = w * 32, m["res"] // 32
    g.normal("visual.attnpool.positional_embedding", (sp * sp + 1, d), d ** -0.5)
    for n in ("k_proj", "q_proj", "v_proj"):
        g.matrix("visual.attnpool.%s.weight" % n, (d, d))
        g.bias("visual.attnpool.%s.bias" % n, d)
    g.matrix("visual.attnpool.c_proj.weight", (m["embed"], d))
    g.bias("visual.attnpool.c_proj.bias", m["embed"])


def text(g, m):
    tw = m["twidth"]
    g.normal("positional_embedding", (CTX, tw), 0.01)
    g.normal("text_projection", (tw, m["embed"]), tw ** -0.5)
    g.put("logit_scale", np.array(np.log(1 / 0.07), dtype=np.float32))
    g.normal("token_embedding.weight", (VOCAB, tw), 0.02)
    transformer(g, "transformer", tw, m["tlayers"])
    g.ln("ln_final", tw)


def write_safetensors(path, tensors, meta):
    codes = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}
    header, off = {}, 0
    for name, a in tensors:
        header[name] = {"dtype": codes[a.dtype], "shape": list(a.shape),
                        "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    header["__metadata__"] = meta
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for _, a in tensors:
            f.write(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def open_clip_config(m):
    if m["kind"] == "vit":
        vc = {"image_size": m["res"], "layers": m["layers"], "width": m["width"],
              "patch_size": m["patch"], "head_width": m["width"] // m["heads"]}
    else:
        vc = {"image_size": m["res"], "layers": list(m["layers"]), "width": m["width"]}
    return {"model_cfg": {"embed_dim": m["embed"], "quick_gelu": True, "vision_cfg": vc,
                          "text_cfg": {"context_length": CTX, "vocab_size": VOCAB,
                                       "width": m["twidth"], "heads": m["theads"],
                                       "layers": m["tlayers"]}},
            "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073],
                               "std": [0.26862954, 0.26130258, 0.27577711]}}


def make(outdir, name, seed):
    m = MODELS[name]
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    st, cfg = os.path.join(d, "model.safetensors"), os.path.join(d, "open_clip_config.json")
    meta = {"format": "pt", "source": "bench/make_random_clip.py", "model": name,
            "seed": str(seed), "version": "1"}
    if os.path.exists(st) and os.path.exists(cfg):
        with open(st, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            if json.loads(f.read(n)).get("__metadata__") == meta:
                print("%s: up to date" % st)
                return d
    g = Gen(seed)
    vit(g, m) if m["kind"] == "vit" else resnet(g, m)
    text(g, m)
    write_safetensors(st, g.out, meta)
    with open(cfg, "w") as f:
        json.dump(open_clip_config(m), f, indent=2)
    n = sum(a.size for k, a in g.out if a.dtype == np.float32)
    print("%s: %d tensors, %.1f M parameters" % (st, len(g.out), n / 1e6))
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--model", default="all", choices=["all"] + sorted(MODELS))
    ap.add_argument("--seed", type=int, default=2024)
    a = ap.parse_args()
    for name in sorted(MODELS) if a.model == "all" else [a.model]:
        make(a.outdir, name, a.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
