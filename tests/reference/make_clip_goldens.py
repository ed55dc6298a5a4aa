#!/usr/bin/python3
"""Build two small random-weight CLIP models in plain torch.nn (written from
the CLIP specification, OpenAI's model structure),
save them as safetensors in OpenAI/open_clip naming (both) and Hugging Face
CLIPModel naming (ViT only), and write golden features and logits as .npy.

    /usr/bin/python3 tests/reference/make_clip_goldens.py   # from the repository root
Needs Debian's python3-torch and python3-numpy. Deterministic (fixed seeds).

Every parameter is perturbed (no zero bias, no unit gain, BatchNorm with
non-trivial running statistics) and then rounded to a value that float16
represents exactly, so the files can store matrices as F16 (small, and the
reader's F16 path is exercised) while holding exactly the weights the
reference ran with. Goldens are computed in float64 from those weights and
stored as float32: they are the exact answer, not PyTorch-f32's rounding of
it; tests/reference/README.md records how far PyTorch f32 itself is.
"""
import json
import math
import os
import struct
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DATA = os.path.join(ROOT, "tests", "data")
CTX = 77


# ---------------------------------------------------------------- model ----
class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    """Pre-LN residual attention block; batch-first input [N, L, D]."""

    def __init__(self, d, heads, act, causal):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.ln_1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(d, 4 * d)), ("act", act()), ("c_proj", nn.Linear(4 * d, d))]))

    def forward(self, x):
        L = x.shape[1]
        mask = None
        if self.causal:
            mask = torch.full((L, L), float("-inf"), dtype=x.dtype).triu_(1)
        h = self.ln_1(x).transpose(0, 1)  # nn.MultiheadAttention is sequence-first
        a = self.attn(h, h, h, need_weights=False, attn_mask=mask)[0].transpose(0, 1)
        x = x + a
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, act, causal):
        super().__init__()
        self.resblocks = nn.Sequential(*[Block(width, heads, act, causal) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    def __init__(self, res, patch, width, layers, heads, out_dim, act):
        super().__init__()
        g = res // patch
        self.conv1 = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros(g * g + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads, act, causal=False)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, out_dim))

    def forward(self, x):
        x = self.conv1(x)                                  # [N, W, G, G]
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.transformer(self.ln_pre(x))
        return self.ln_post(x[:, 0, :]) @ self.proj


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride > 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(OrderedDict([
                ("-1", nn.AvgPool2d(stride)),
                ("0", nn.Conv2d(inplanes, planes * 4, 1, bias=False)),
                ("1", nn.BatchNorm2d(planes * 4))]))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(self.avgpool(out)))
        idt = x if self.downsample is None else self.downsample(x)
        return F.relu(out + idt)


class AttentionPool2d(nn.Module):
    def __init__(self, spacial, dim, heads, out_dim):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.zeros(spacial * spacial + 1, dim))
        self.k_proj = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.c_proj = nn.Linear(dim, out_dim)
        self.heads = heads

    def forward(self, x):
        n, d = x.shape[0], x.shape[1]
        x = x.reshape(n, d, -1).permute(0, 2, 1)            # [N, HW, D]
        x = torch.cat([x.mean(dim=1, keepdim=True), x], dim=1) + self.positional_embedding
        h, hd = self.heads, d // self.heads
        q = self.q_proj(x[:, :1]).reshape(n, 1, h, hd).transpose(1, 2)
        k = self.k_proj(x).reshape(n, -1, h, hd).transpose(1, 2)
        v = self.v_proj(x).reshape(n, -1, h, hd).transpose(1, 2)
        w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1)
        o = (w @ v).transpose(1, 2).reshape(n, d)
        return self.c_proj(o)


class ModifiedResNet(nn.Module):
    def __init__(self, layers, out_dim, heads, res, width):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width // 2)
        self.conv2 = nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.conv3 = nn.Conv2d(width // 2, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.avgpool = nn.AvgPool2d(2)
        self._inplanes = width
        self.layer1 = self._stage(width, layers[0], 1)
        self.layer2 = self._stage(width * 2, layers[1], 2)
        self.layer3 = self._stage(width * 4, layers[2], 2)
        self.layer4 = self._stage(width * 8, layers[3], 2)
        self.attnpool = AttentionPool2d(res // 32, width * 32, heads, out_dim)

    def _stage(self, planes, blocks, stride):
        mods = [Bottleneck(self._inplanes, planes, stride)]
        self._inplanes = planes * 4
        mods += [Bottleneck(self._inplanes, planes, 1) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.avgpool(F.relu(self.bn3(self.conv3(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.attnpool(x)


class CLIP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        v, t = cfg["vision"], cfg["text"]
        act = QuickGELU if cfg["quick_gelu"] else nn.GELU
        if v["kind"] == "vit":
            self.visual = VisionTransformer(v["res"], v["patch"], v["width"], v["layers"],
                                            v["heads"], cfg["embed"], act)
        else:
            self.visual = ModifiedResNet(v["layers"], cfg["embed"], v["heads"], v["res"],
                                         v["width"])
        self.transformer = Transformer(t["width"], t["layers"], t["heads"], act, causal=True)
        self.token_embedding = nn.Embedding(t["vocab"], t["width"])
        self.positional_embedding = nn.Parameter(torch.zeros(CTX, t["width"]))
        self.ln_final = nn.LayerNorm(t["width"])
        self.text_projection = nn.Parameter(torch.zeros(t["width"], cfg["embed"]))
        self.logit_scale = nn.Parameter(torch.tensor(0.0))

    def encode_image(self, px):
        return self.visual(px)

    def encode_text(self, ids):
        x = self.token_embedding(ids) + self.positional_embedding
        x = self.ln_final(self.transformer(x))
        return x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ self.text_projection

    def logits(self, img, txt):
        img = img / img.norm(dim=1, keepdim=True)
        txt = txt / txt.norm(dim=1, keepdim=True)
        return self.logit_scale.exp() * img @ txt.t()


# ----------------------------------------------------------- perturbing ----
def perturb(model, gen):
    """Fills every tensor of the state dict with deterministic non-trivial
    values, rounded to float16-representable numbers."""
    def rnd(*shape):
        return torch.randn(*shape, generator=gen)

    with torch.no_grad():
        for name, p in model.state_dict(keep_vars=True).items():
            if name.endswith("num_batches_tracked"):
                p.fill_(7)
                continue
            is_norm = ".ln_" in name or name.startswith("ln_") or ".bn" in name or \
                name.endswith("downsample.1.weight") or name.endswith("downsample.1.bias") or \
                ".downsample.1." in name
            if name.endswith("running_var"):
                v = 0.5 + torch.rand(p.shape, generator=gen)
            elif name.endswith("running_mean"):
                v = 0.2 * rnd(*p.shape)
            elif is_norm and name.endswith("weight"):
                # |gain - 1| >= 0.05 so fp16 rounding can never give exactly 1.
                sign = torch.randint(0, 2, p.shape, generator=gen) * 2 - 1
                v = 1.0 + sign * (0.05 + 0.25 * torch.rand(p.shape, generator=gen))
            elif name.endswith("bias"):
                sign = torch.randint(0, 2, p.shape, generator=gen) * 2 - 1
                v = sign * (0.01 + 0.1 * rnd(*p.shape).abs())
            elif name == "logit_scale":
                v = torch.tensor(math.log(1 / 0.07) + 0.25)
            elif name.endswith("class_embedding") or "token_embedding" in name:
                v = 0.5 * rnd(*p.shape)
            elif name.endswith("positional_embedding"):
                v = 0.2 * rnd(*p.shape)
            elif name.endswith("proj") or name == "text_projection":
                v = rnd(*p.shape) * p.shape[0] ** -0.5
            else:  # conv / linear weights [out, in, ...]
                fan_in = int(np.prod(p.shape[1:]))
                v = rnd(*p.shape) * fan_in ** -0.5
            p.copy_(v.half().float())
            if name.endswith("bias"):
                assert bool((p != 0).all()), name
            if is_norm and name.endswith("weight"):
                assert bool((p != 1).all()), name


# ---------------------------------------------------------- safetensors ----
def write_safetensors(path, tensors):
    """tensors: list of (name, ndarray). 8-byte LE header length, JSON, data."""
    header, blobs, off = {}, [], 0
    codes = {np.dtype("float32"): "F32", np.dtype("float16"): "F16",
             np.dtype("int64"): "I64"}
    for name, a in tensors:
        a = np.ascontiguousarray(a)
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": codes[a.dtype], "shape": list(a.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt", "source": "tests/reference/make_clip_goldens.py"}
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)


def storage_dtype(name, a, mode):
    """mode 'f16': everything float is F16. 'openai': like OpenAI's
    convert_weights (conv/linear weights, in_proj and the projections F16;
    embeddings, norms, biases and logit_scale F32)."""
    if a.dtype == np.int64:
        return a
    if mode == "f16":
        return a.astype(np.float16)
    half = (a.ndim >= 2 and "embedding" not in name) or name.endswith("in_proj_bias")
    return a.astype(np.float16 if half else np.float32)


def openai_tensors(model, mode):
    out = []
    for name, p in model.state_dict().items():
        a = p.detach().cpu().numpy()
        if a.dtype == np.float64:
            a = a.astype(np.float32)
        out.append((name, storage_dtype(name, a, mode)))
    return out


def hf_tensors(model, mode):
    """Hugging Face CLIPModel names (transformers' modeling_clip.py): q/k/v split out of
    in_proj, projections transposed, position_ids buffers kept (int64) so
    readers prove they skip them."""
    sd = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    out = []

    def put(name, a):
        out.append((name, storage_dtype(name, np.ascontiguousarray(a), mode)))

    def layers(src, dst, n):
        for i in range(n):
            s, d = "%s.resblocks.%d." % (src, i), "%s.layers.%d." % (dst, i)
            w, b = sd[s + "attn.in_proj_weight"], sd[s + "attn.in_proj_bias"]
            dim = w.shape[1]
            for j, qkv in enumerate("qkv"):
                put(d + "self_attn.%s_proj.weight" % qkv, w[j * dim:(j + 1) * dim])
                put(d + "self_attn.%s_proj.bias" % qkv, b[j * dim:(j + 1) * dim])
            put(d + "self_attn.out_proj.weight", sd[s + "attn.out_proj.weight"])
            put(d + "self_attn.out_proj.bias", sd[s + "attn.out_proj.bias"])
            for a, c in (("ln_1", "layer_norm1"), ("ln_2", "layer_norm2")):
                put(d + c + ".weight", sd[s + a + ".weight"])
                put(d + c + ".bias", sd[s + a + ".bias"])
            for a, c in (("c_fc", "fc1"), ("c_proj", "fc2")):
                put(d + "mlp.%s.weight" % c, sd[s + "mlp.%s.weight" % a])
                put(d + "mlp.%s.bias" % c, sd[s + "mlp.%s.bias" % a])

    nv = len([k for k in sd if k.startswith("visual.") and k.endswith("in_proj_weight")])
    nt = len([k for k in sd if k.startswith("transformer.") and k.endswith("in_proj_weight")])
    npos = sd["visual.positional_embedding"].shape[0]
    out.append(("vision_model.embeddings.position_ids", np.arange(npos, dtype=np.int64)[None]))
    put("vision_model.embeddings.class_embedding", sd["visual.class_embedding"])
    put("vision_model.embeddings.patch_embedding.weight", sd["visual.conv1.weight"])
    put("vision_model.embeddings.position_embedding.weight", sd["visual.positional_embedding"])
    put("vision_model.pre_layrnorm.weight", sd["visual.ln_pre.weight"])
    put("vision_model.pre_layrnorm.bias", sd["visual.ln_pre.bias"])
    layers("visual.transformer", "vision_model.encoder", nv)
    put("vision_model.post_layernorm.weight", sd["visual.ln_post.weight"])
    put("vision_model.post_layernorm.bias", sd["visual.ln_post.bias"])
    out.append(("text_model.embeddings.position_ids", np.arange(CTX, dtype=np.int64)[None]))
    put("text_model.embeddings.token_embedding.weight", sd["token_embedding.weight"])
    put("text_model.embeddings.position_embedding.weight", sd["positional_embedding"])
    layers("transformer", "text_model.encoder", nt)
    put("text_model.final_layer_norm.weight", sd["ln_final.weight"])
    put("text_model.final_layer_norm.bias", sd["ln_final.bias"])
    put("visual_projection.weight", sd["visual.proj"].T)
    put("text_projection.weight", sd["text_projection"].T)
    put("logit_scale", sd["logit_scale"])
    return out


# ------------------------------------------------------------- configs ----
def open_clip_config(cfg):
    v, t = cfg["vision"], cfg["text"]
    if v["kind"] == "vit":
        vc = {"image_size": v["res"], "layers": v["layers"], "width": v["width"],
              "patch_size": v["patch"], "head_width": v["width"] // v["heads"]}
    else:
        vc = {"image_size": v["res"], "layers": list(v["layers"]), "width": v["width"]}
        if v["heads"] != v["width"] * 32 // 64:
            vc["head_width"] = v["width"] * 32 // v["heads"]
    return {"model_cfg": {"embed_dim": cfg["embed"], "quick_gelu": cfg["quick_gelu"],
                          "vision_cfg": vc,
                          "text_cfg": {"context_length": CTX, "vocab_size": t["vocab"],
                                       "width": t["width"], "heads": t["heads"],
                                       "layers": t["layers"]}},
            "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073],
                               "std": [0.26862954, 0.26130258, 0.27577711]}}


def hf_config(cfg):
    v, t = cfg["vision"], cfg["text"]
    act = "quick_gelu" if cfg["quick_gelu"] else "gelu"
    return {"architectures": ["CLIPModel"], "model_type": "clip",
            "projection_dim": cfg["embed"], "logit_scale_init_value": 2.6592,
            "text_config": {"hidden_size": t["width"], "intermediate_size": 4 * t["width"],
                            "num_attention_heads": t["heads"], "num_hidden_layers": t["layers"],
                            "max_position_embeddings": CTX, "vocab_size": t["vocab"],
                            "hidden_act": act, "layer_norm_eps": 1e-05,
                            "bos_token_id": t["vocab"] - 2, "eos_token_id": t["vocab"] - 1,
                            "pad_token_id": 1},
            "vision_config": {"hidden_size": v["width"], "intermediate_size": 4 * v["width"],
                              "num_attention_heads": v["heads"],
                              "num_hidden_layers": v["layers"], "image_size": v["res"],
                              "patch_size": v["patch"], "num_channels": 3,
                              "hidden_act": act, "layer_norm_eps": 1e-05}}


# ------------------------------------------------------------- goldens ----
def token_rows(vocab, lengths, gen):
    """SOT (vocab-2), content ids in [1, vocab-3], EOT (vocab-1), pad 0."""
    rows = np.zeros((len(lengths), CTX), dtype=np.int32)
    for r, n in enumerate(lengths):
        body = torch.randint(1, vocab - 2, (n,), generator=gen).numpy()
        rows[r, 0] = vocab - 2
        rows[r, 1:1 + n] = body
        rows[r, 1 + n] = vocab - 1
    return rows


def save_npy(d, name, a):
    np.save(os.path.join(d, name), np.ascontiguousarray(a))


def make(name, cfg, n_img, lengths, seed):
    gen = torch.Generator().manual_seed(seed)
    model = CLIP(cfg).eval()
    perturb(model, gen)
    d = os.path.join(DATA, name)
    os.makedirs(os.path.join(d, "openai"), exist_ok=True)
    mode = "openai"
    write_safetensors(os.path.join(d, "openai", "model.safetensors"), openai_tensors(model, mode))
    with open(os.path.join(d, "openai", "open_clip_config.json"), "w") as f:
        json.dump(open_clip_config(cfg), f, indent=2)
    if cfg["vision"]["kind"] == "vit":
        os.makedirs(os.path.join(d, "hf"), exist_ok=True)
        write_safetensors(os.path.join(d, "hf", "model.safetensors"), hf_tensors(model, "f16"))
        with open(os.path.join(d, "hf", "config.json"), "w") as f:
            json.dump(hf_config(cfg), f, indent=2)

    R = cfg["vision"]["res"]
    # Roughly the range of CLIP-normalised pixels.
    px = (1.5 * torch.randn(n_img, 3, R, R, generator=gen)).float()
    ids = token_rows(cfg["text"]["vocab"], lengths, gen)
    out = {}
    for dt in (torch.float64, torch.float32):
        m = model.to(dt)
        with torch.no_grad():
            img = m.encode_image(px.to(dt))
            txt = m.encode_text(torch.from_numpy(ids).long())
            lg = m.logits(img, txt)
        out[dt] = (img.numpy(), txt.numpy(), lg.numpy())
    img, txt, lg = out[torch.float64]
    save_npy(d, "pixels.npy", px.numpy().astype(np.float32))
    save_npy(d, "ids.npy", ids)
    save_npy(d, "image_features.npy", img.astype(np.float32))
    save_npy(d, "text_features.npy", txt.astype(np.float32))
    save_npy(d, "logits_per_image.npy", lg.astype(np.float32))
    for what, a, b in zip(("image", "text", "logits"), out[torch.float64], out[torch.float32]):
        err = np.abs(a - b).max() / np.abs(a).max()
        cos = min((r64 @ r32) / np.linalg.norm(r64) / np.linalg.norm(r32) for r64, r32 in zip(a, b))
        print("%s %-6s torch-f32 vs f64: max err %.2e of max|ref| %.3g, min cosine %.9f"
              % (name, what, err, np.abs(a).max(), cos))


VIT = {"embed": 32, "quick_gelu": True,
       "vision": {"kind": "vit", "res": 32, "patch": 8, "width": 64, "layers": 2, "heads": 2},
       "text": {"vocab": 256, "width": 64, "layers": 2, "heads": 2}}
# RN: attention-pool heads from the width (32*8/64 = 4, head_dim 64) as OpenAI
# infers them; the text tower's heads (1, head_dim 32) only the config knows.
RN = {"embed": 32, "quick_gelu": False,
      "vision": {"kind": "rn", "res": 64, "layers": (1, 1, 1, 1), "width": 8, "heads": 4},
      "text": {"vocab": 192, "width": 32, "layers": 2, "heads": 1}}

if __name__ == "__main__":
    torch.set_num_threads(1)
    make("clip_small_vit", VIT, 3, (3, 20, 75), 1234)
    make("clip_small_rn", RN, 2, (1, 30, 75), 4321)
