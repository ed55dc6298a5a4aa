#!/usr/bin/env python3
"""clipcl against open_clip, one row per open_clip model config.

For each config name in open_clip's model_configs/ (or the ones given), this
builds the model with random weights, perturbs every parameter and BatchNorm
statistic away from its initial value, exports it the way open_clip's hub
export does (open_clip_model.safetensors + open_clip_config.json with
model_cfg and preprocess_cfg), computes float64 and float32 reference
features for fixed pixels and token ids, then runs `clipcl embed-image
--pixels` and `clipcl embed-text --ids` on the export and reports, per tower,
the minimum cosine and max|clipcl - ref| / max|ref| against the float64
reference, or the message clipcl refused with. A tower that exits 0 with
numbers outside the tolerance is the one outcome that must never happen.

Depth is capped (--max-layers, default 2 blocks per tower, ResNet stages 1
block each, timm trunks through timm's own depth argument), and token tables
over 262,144 rows are cut to that, so that every config, up to ViT-e-14 and
ViT-bigG-14, runs on a small machine; widths, heads, patch and image sizes, vocabularies and every
option stay as published.

Needs a virtualenv with torch >= 2 and open_clip_torch (see
tests/reference/README.md); CI does not run it. Nothing is downloaded:
HF_HUB_OFFLINE is set, and models whose text tower is a Hugging Face model
get a configuration built in code (their default sizes, depth capped).

  compat_matrix.py export NAME|hf:VARIANT OUT [--set vision_cfg.ls_init_value=0.1 ...]
  compat_matrix.py compare DIR --clipcl build/tools/clipcl
  compat_matrix.py matrix --clipcl build/tools/clipcl --work DIR --results R.json
                          [--only REGEX]
  compat_matrix.py table R.json --doc docs/models.md
"""
import argparse
import copy
import json
import os
import re
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

COS_MIN = 0.99999
REL_MAX = 1e-4
BIG_PARAMS = 700_000_000  # above this the weights are not materialised
MAX_VOCAB = 262_144       # larger token tables (ViT-H-14-worldwide's 901,629) are cut to this


def _torch():
    import torch
    torch.set_num_threads(int(os.environ.get("COMPAT_THREADS", "1")))
    return torch


def config_names():
    import open_clip
    return sorted(open_clip.list_models())


def _set(cfg, dotted, value):
    parts = dotted.split(".")
    d = cfg
    for p in parts[:-1]:
        d = d.setdefault(p, {})
    try:
        value = json.loads(value)
    except (ValueError, TypeError):
        pass
    d[parts[-1]] = value


def capped_config(name, max_layers, sets=()):
    import open_clip
    cfg = copy.deepcopy(open_clip.get_model_config(name))
    if cfg is None:
        raise SystemExit(f"unknown open_clip config '{name}'")
    v, t = cfg.get("vision_cfg", {}), cfg.get("text_cfg", {})
    if max_layers:
        if isinstance(v.get("layers"), (list, tuple)):
            v["layers"] = [min(n, 1) for n in v["layers"]]
        elif isinstance(v.get("layers"), int):
            v["layers"] = min(v["layers"], max_layers)
        if isinstance(t.get("layers"), int):
            t["layers"] = min(t["layers"], max_layers)
        mm = cfg.get("multimodal_cfg")
        if isinstance(mm, dict) and isinstance(mm.get("layers"), int):
            mm["layers"] = min(mm["layers"], max_layers)
    if max_layers and int(t.get("vocab_size", 0)) > MAX_VOCAB:
        t["vocab_size"] = MAX_VOCAB  # a table's row count changes no arithmetic
    if t.get("hf_model_name"):
        t["hf_model_pretrained"] = False  # random weights from a config built in code
    for s in sets:
        k, _, val = s.partition("=")
        _set(cfg, k, val)
    return cfg


def _patch_hf_configs(max_layers):
    """open_clip's Hugging Face text towers ask the hub for their config:
    answer with the architecture's default config built in code."""
    import transformers
    real = transformers.AutoConfig.from_pretrained

    def offline(name, *a, **k):
        n = str(name).lower()
        if "xlm-roberta" in n or "xlm-v" in n:
            c = transformers.XLMRobertaConfig()
        elif "roberta" in n:
            c = transformers.RobertaConfig(vocab_size=50265, max_position_embeddings=514,
                                           type_vocab_size=1, pad_token_id=1)
        elif "mt5" in n:
            c = transformers.MT5Config()
        elif "nllb" in n:
            c = transformers.M2M100Config()
        elif "bert" in n:
            c = transformers.BertConfig()
        else:
            return real(name, *a, **k)
        for key in ("num_hidden_layers", "num_layers", "encoder_layers", "decoder_layers"):
            if hasattr(c, key) and max_layers:
                setattr(c, key, min(getattr(c, key), max_layers))
        return c

    transformers.AutoConfig.from_pretrained = offline


def _patch_timm_depth(max_layers):
    """open_clip passes no size arguments to timm: cap a timm trunk's depth
    here (timm's own `depth` argument), as the towers' layers are capped."""
    import timm
    if getattr(timm.create_model, "_compat_capped", None) == max_layers or not max_layers:
        return
    real = getattr(timm.create_model, "_compat_real", timm.create_model)

    def capped(name, *a, **k):
        if "depth" not in k:
            try:
                return real(name, *a, depth=max_layers, **k)
            except TypeError:  # a trunk without a depth argument
                pass
        return real(name, *a, **k)

    capped._compat_capped = max_layers
    capped._compat_real = real
    timm.create_model = capped
    import open_clip.timm_model as tm
    tm.timm.create_model = capped


def _count_params_meta(cfg):
    import open_clip
    torch = _torch()
    from open_clip.model import CLIP, CustomTextCLIP
    cls = CustomTextCLIP if ("hf_model_name" in cfg.get("text_cfg", {}) or cfg.get("custom_text")) else CLIP
    if "multimodal_cfg" in cfg:
        from open_clip.coca_model import CoCa
        cls = CoCa
    kw = {k: v for k, v in cfg.items() if k not in ("custom_text",)}
    with torch.device("meta"):
        m = cls(**kw)
    return sum(p.numel() for p in m.parameters()), m


def perturb(model, seed):
    torch = _torch()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype)
            p.add_(r * (0.1 if p.ndim <= 1 else 0.02))
        for name, b in model.named_buffers():
            if not b.is_floating_point():
                continue
            r = torch.randn(b.shape, generator=g, dtype=torch.float64).to(b.dtype)
            if name.endswith("running_var"):
                b.copy_((b + 0.2 * r).abs() + 0.05)
            elif name.endswith("running_mean"):
                b.add_(0.1 * r)


def _ids(cfg, batch, seed):
    t = cfg.get("text_cfg", {})
    T, V = int(t.get("context_length", 77)), int(t.get("vocab_size", 49408))
    rng = np.random.default_rng(seed)
    ids = np.zeros((batch, T), np.int32)
    pad = int(t.get("pad_id", 0))
    ids[:] = pad
    eos = int(t.get("eos_id", 2)) if t.get("pool_type") == "eos" else V - 1
    for b in range(batch):
        L = int(rng.integers(3, T + 1)) if b else T
        ids[b, 0] = V - 2
        ids[b, 1:L - 1] = rng.integers(1, V - 2, L - 2)
        ids[b, L - 1] = eos
    return ids


_PENDING = {}  # out dir -> (model, record) whose references are not written yet


def _fresh_dir(out):
    """An export folder without the files of an earlier (perhaps interrupted)
    export: a stale reference must never be compared with new weights."""
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.endswith(".npy") or f.endswith(".safetensors") or f.endswith(".json"):
            os.remove(os.path.join(out, f))


def export(name, out, max_layers=2, sets=(), seed=0, batch=2, refs=True):
    """Writes OUT/open_clip_model.safetensors, open_clip_config.json,
    pixels.npy, ids.npy, ref_{image,text}{,_f32}.npy and export.json.
    Returns the export record. refs=False leaves the references to
    write_refs(OUT) (the matrix computes them only for towers clipcl runs)."""
    import open_clip
    from open_clip.transform import PreprocessCfg
    from dataclasses import asdict
    torch = _torch()
    from safetensors.torch import save_file
    _fresh_dir(out)
    _patch_hf_configs(max_layers)
    _patch_timm_depth(max_layers)
    cfg = capped_config(name, max_layers, sets)
    rec = {"name": name, "max_layers": max_layers, "sets": list(sets)}
    n_params, _ = _count_params_meta(cfg)
    rec["params"] = int(n_params)
    pre = asdict(PreprocessCfg())
    v = cfg.get("vision_cfg", {})
    size = v.get("image_size", 224)
    pre["size"] = size
    if "image_mean" in cfg.get("preprocess_cfg", {}):
        pre.update(cfg["preprocess_cfg"])
    with open(os.path.join(out, "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": cfg, "preprocess_cfg": pre}, f, indent=2)
    if n_params > BIG_PARAMS:
        rec["weights"] = "none (too large to materialise here)"
        json.dump(rec, open(os.path.join(out, "export.json"), "w"), indent=2)
        return rec
    cfg_name = f"compat-{re.sub('[^A-Za-z0-9]+', '-', name)}"
    reg = os.path.join(out, cfg_name + ".json")
    with open(reg, "w") as f:
        json.dump(cfg, f)
    open_clip.add_model_config(reg)
    os.remove(reg)
    torch.manual_seed(seed)
    model = open_clip.create_model(cfg_name, pretrained=None, pretrained_text=False)
    model.eval()
    perturb(model, seed + 1)
    sd = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(out, "open_clip_model.safetensors"))
    R = size if isinstance(size, int) else size[0]
    rng = np.random.default_rng(seed + 2)
    pixels = rng.standard_normal((batch, 3, R, R)).astype(np.float32)
    ids = _ids(cfg, batch, seed + 3)
    np.save(os.path.join(out, "pixels.npy"), pixels)
    np.save(os.path.join(out, "ids.npy"), ids)
    rec["weights"] = "random, perturbed"
    json.dump(rec, open(os.path.join(out, "export.json"), "w"), indent=2)
    _PENDING[out] = (model, rec)
    if refs:
        write_refs(out)
    return rec


def write_refs(out):
    """The float64 and float32 reference features of an export (open_clip)."""
    torch = _torch()
    model, rec = _PENDING.pop(out)
    pixels, ids = np.load(os.path.join(out, "pixels.npy")), np.load(os.path.join(out, "ids.npy"))
    for dt, tag in ((torch.float64, ""), (torch.float32, "_f32")):
        m = copy.deepcopy(model).to(dt)
        with torch.no_grad():
            for tower, fn, x in (("image", "encode_image", torch.from_numpy(pixels).to(dt)),
                                 ("text", "encode_text", torch.from_numpy(ids).long())):
                try:
                    y = getattr(m, fn)(x)
                    np.save(os.path.join(out, f"ref_{tower}{tag}.npy"), y.double().numpy())
                except Exception as e:  # a tower open_clip itself cannot run offline
                    rec[f"ref_{tower}_error"] = f"{type(e).__name__}: {e}"[:300]
    json.dump(rec, open(os.path.join(out, "export.json"), "w"), indent=2)
    return rec


# Hugging Face CLIPModel / SiglipModel variants: (vision_config, text_config,
# top-level) overrides of a small base, each a thing a checkpoint can differ in.
HF_BASE_VISION = dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=2,
                      num_attention_heads=4, image_size=64, patch_size=16)
HF_BASE_TEXT = dict(hidden_size=192, intermediate_size=768, num_hidden_layers=2,
                    num_attention_heads=3, max_position_embeddings=77, vocab_size=49408,
                    eos_token_id=49407, bos_token_id=49406, pad_token_id=1)
HF_VARIANTS = {
    "hf:clip-quick_gelu": ({}, {}, {}),
    "hf:clip-gelu": (dict(hidden_act="gelu"), dict(hidden_act="gelu"), {}),
    "hf:clip-288px": (dict(image_size=288, patch_size=32), {}, {}),
    "hf:clip-eps1e-6": (dict(layer_norm_eps=1e-6), dict(layer_norm_eps=1e-6), {}),
    "hf:clip-odd-heads": (dict(hidden_size=320, intermediate_size=1280, num_attention_heads=5),
                          dict(hidden_size=224, intermediate_size=896, num_attention_heads=7), {}),
    "hf:clip-mlp-1000": (dict(intermediate_size=1000), dict(intermediate_size=700), {}),
    "hf:clip-legacy-eos2": ({}, dict(eos_token_id=2), {}),
    "hf:clip-eos-id-1000": ({}, dict(eos_token_id=1000), {}),
    "hf:clip-gelu_new": (dict(hidden_act="gelu_new"), dict(hidden_act="gelu_new"), {}),
    "hf:siglip": ("siglip", {}, {}),
}


def export_hf(name, out, seed=0, batch=2):
    import transformers
    torch = _torch()
    _fresh_dir(out)
    v, t, top = HF_VARIANTS[name]
    torch.manual_seed(seed)
    if v == "siglip":
        cfg = transformers.SiglipConfig(vision_config=dict(HF_BASE_VISION),
                                        text_config=dict(hidden_size=192, intermediate_size=768,
                                                         num_hidden_layers=2, num_attention_heads=3,
                                                         vocab_size=1000, max_position_embeddings=16,
                                                         # SiglipModel compares image and text
                                                         # features: equal widths
                                                         projection_size=HF_BASE_VISION["hidden_size"]))
        model = transformers.SiglipModel(cfg)
        R, T, V, eos = HF_BASE_VISION["image_size"], 16, 1000, 1
    else:
        vc, tc = dict(HF_BASE_VISION, **v), dict(HF_BASE_TEXT, **t)
        cfg = transformers.CLIPConfig(vision_config=vc, text_config=tc, projection_dim=128, **top)
        model = transformers.CLIPModel(cfg)
        R, T, V = vc["image_size"], tc["max_position_embeddings"], tc["vocab_size"]
        eos = tc["eos_token_id"] if tc["eos_token_id"] != 2 else V - 1
    model.eval()
    perturb(model, seed + 1)
    model.save_pretrained(out)
    rng = np.random.default_rng(seed + 2)
    pixels = rng.standard_normal((batch, 3, R, R)).astype(np.float32)
    ids = np.zeros((batch, T), np.int32)
    for b in range(batch):
        L = int(rng.integers(3, T + 1)) if b else T
        ids[b, 0] = V - 2
        ids[b, 1:L - 1] = rng.integers(3, V - 2, L - 2)
        ids[b, L - 1] = eos
        if eos != V - 1 and L > 3:
            ids[b, 1] = V - 1  # a larger id before the end token: argmax would pick it
    np.save(os.path.join(out, "pixels.npy"), pixels)
    np.save(os.path.join(out, "ids.npy"), ids)
    rec = {"name": name, "weights": "random, perturbed"}

    def feats(out_):
        return out_ if torch.is_tensor(out_) else out_.pooler_output

    for dt, tag in ((torch.float64, ""), (torch.float32, "_f32")):
        m = copy.deepcopy(model).to(dt)
        with torch.no_grad():
            y = feats(m.get_image_features(pixel_values=torch.from_numpy(pixels).to(dt)))
            np.save(os.path.join(out, f"ref_image{tag}.npy"), y.double().numpy())
            y = feats(m.get_text_features(input_ids=torch.from_numpy(ids).long()))
            np.save(os.path.join(out, f"ref_text{tag}.npy"), y.double().numpy())
    json.dump(rec, open(os.path.join(out, "export.json"), "w"), indent=2)
    return rec


def _metrics(got, ref):
    got = got.astype(np.float64)
    if got.shape != ref.shape:
        return {"error": f"shape {got.shape} != reference {ref.shape}"}
    cos = (got * ref).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1) + 1e-300)
    rel = float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-300))
    return {"cos": float(cos.min()), "rel": rel}


def compare(d, clipcl, device="cpu", timeout=900, standin=None):
    """Runs clipcl on an export; returns {tower: {status, cos, rel, ref32_rel,
    message}} with status one of match / WRONG / refused / error / skipped."""
    res = {}
    for tower, flag, inp in (("image", "--pixels", "pixels.npy"), ("text", "--ids", "ids.npy")):
        r = {}
        refp = os.path.join(d, f"ref_{tower}.npy")
        weights = os.path.join(d, "open_clip_model.safetensors")
        if os.path.exists(os.path.join(d, "model.safetensors")):
            weights = os.path.join(d, "model.safetensors")  # transformers' save_pretrained
        if not os.path.exists(weights) and standin:
            # Too large to build here: the config alone must be refused, so
            # give clipcl a valid CLIP state dict of another model with it.
            os.symlink(os.path.abspath(standin), weights)
            r["config_only"] = True
        if not os.path.exists(weights):
            r["status"] = "skipped"
            r["message"] = "weights not materialised (model too large here)"
            res[tower] = r
            continue
        out = os.path.join(d, f"clipcl_{tower}.npy")
        if os.path.exists(out):
            os.remove(out)
        cmd = [clipcl, f"embed-{tower}", "--model", d, "--out", out, flag, os.path.join(d, inp),
               "--device", device]
        t0 = time.time()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            rc, err = p.returncode, p.stderr.strip()
        except subprocess.TimeoutExpired:
            rc, err = -1, f"timed out after {timeout} s"
        r["seconds"] = round(time.time() - t0, 1)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        if r.get("config_only"):
            os.remove(weights)
            if rc == 0:
                r["status"] = "WRONG"
                r["message"] = "accepted a config it was not built for (stand-in weights)"
                res[tower] = r
                continue
        if rc != 0:
            r["status"] = "refused" if rc > 0 else "error"
            r["message"] = lines[-1] if lines else f"exit {rc}"
            res[tower] = r
            continue
        if lines:
            r["stderr"] = " | ".join(lines[-3:])
        if not os.path.exists(refp):
            rec = json.load(open(os.path.join(d, "export.json")))
            r["status"] = "no reference"
            if f"ref_{tower}_error" in rec:  # clipcl ran a tower open_clip cannot run offline
                r["status"] = "unchecked"
                r["message"] = "open_clip cannot run it offline: " + rec[f"ref_{tower}_error"]
            res[tower] = r
            continue
        ref = np.load(refp)
        m = _metrics(np.load(out), ref)
        r.update(m)
        r32 = os.path.join(d, f"ref_{tower}_f32.npy")
        if os.path.exists(r32):
            r["ref32_rel"] = _metrics(np.load(r32), ref).get("rel")
        ok = "cos" in m and m["cos"] >= COS_MIN and m["rel"] <= REL_MAX
        r["status"] = "match" if ok else "WRONG"
        res[tower] = r
    return res


def matrix(args):
    names = config_names() + sorted(HF_VARIANTS)
    if args.only:
        names = [n for n in names if re.search(args.only, n)]
    results = {}
    if os.path.exists(args.results):
        results = json.load(open(args.results))
    standin = os.path.join(args.work, "_standin")
    if not os.path.exists(os.path.join(standin, "open_clip_model.safetensors")):
        export("ViT-B-32", standin, 1)
    standin = os.path.join(standin, "open_clip_model.safetensors")
    for i, name in enumerate(names):
        if name in results and not args.redo:
            continue
        d = os.path.join(args.work, name.replace(":", "-"))
        t0 = time.time()
        try:
            rec = export_hf(name, d) if name.startswith("hf:") else export(name, d, args.max_layers,
                                                                              refs=False)
            towers = compare(d, args.clipcl, args.device, standin=standin)
            if d in _PENDING:
                if any(t.get("status") == "no reference" for t in towers.values()):
                    rec = write_refs(d)
                    towers = compare(d, args.clipcl, args.device, standin=standin)
                _PENDING.pop(d, None)
            row = {"export": rec, "towers": towers}
        except Exception as e:
            row = {"export": {"name": name, "error": f"{type(e).__name__}: {e}"[:400]}, "towers": {}}
        row["seconds"] = round(time.time() - t0, 1)
        results[name] = row
        tw = row["towers"]
        print(f"[{i + 1}/{len(names)}] {name}: " +
              ", ".join(f"{k} {v.get('status')}" for k, v in tw.items()) +
              (f" export error {row['export'].get('error')}" if "error" in row["export"] else "") +
              f" ({row['seconds']} s)", flush=True)
        json.dump(results, open(args.results + ".tmp", "w"), indent=1, sort_keys=True)
        os.replace(args.results + ".tmp", args.results)
        if not args.keep:
            for f in ("open_clip_model.safetensors",):
                p = os.path.join(d, f)
                if os.path.exists(p):
                    os.remove(p)


def _cell(r):
    s = r.get("status", "?")
    if s == "match":
        return f"match: 1-cos {1 - r['cos']:.1e}, rel {r['rel']:.1e}"
    if s == "refused" and r.get("config_only"):
        s = "refused (not built here: too large; its config with a stand-in state dict)"
    if s == "WRONG":
        return f"**WRONG**: cos {r.get('cos', float('nan')):.5f}, rel {r.get('rel', float('nan')):.1e}"
    msg = r.get("message", "").replace("|", "\\|")
    msg = re.sub(r"'/[^']*/([^'/]+)'", r"'\1'", msg)
    return f"{s}: {msg}"


def table(args):
    results = json.load(open(args.results))
    rows = ["| config | image tower | text tower |", "| --- | --- | --- |"]
    counts = {}
    for name in sorted(results, key=str.lower):
        row = results[name]
        tw = row.get("towers", {})
        if "error" in row.get("export", {}):
            cells = [f"not exported: {row['export']['error'][:120]}"] * 2
        else:
            cells = [_cell(tw.get(t, {})) for t in ("image", "text")]
        for t in ("image", "text"):
            s = tw.get(t, {}).get("status", "not exported")
            counts[s] = counts.get(s, 0) + 1
        rows.append(f"| {name} | {cells[0]} | {cells[1]} |")
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    text = ("<!-- compat-matrix: generated by tests/reference/compat_matrix.py table; do not edit -->\n"
            f"{len(results)} configs, towers: {summary}.\n\n" + "\n".join(rows) +
            "\n<!-- /compat-matrix -->")
    doc = open(args.doc).read()
    pat = re.compile(r"<!-- compat-matrix:.*?<!-- /compat-matrix -->", re.S)
    if pat.search(doc):
        doc = pat.sub(lambda _: text, doc)
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    open(args.doc, "w").write(doc)
    print(summary)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("name")
    e.add_argument("out")
    e.add_argument("--set", action="append", default=[], help="dotted.key=json value")
    e.add_argument("--max-layers", type=int, default=2)
    e.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("compare")
    c.add_argument("dir")
    c.add_argument("--clipcl", required=True)
    c.add_argument("--device", default="cpu")
    m = sub.add_parser("matrix")
    m.add_argument("--clipcl", required=True)
    m.add_argument("--work", required=True)
    m.add_argument("--results", required=True)
    m.add_argument("--only")
    m.add_argument("--device", default="cpu")
    m.add_argument("--max-layers", type=int, default=2)
    m.add_argument("--redo", action="store_true")
    m.add_argument("--keep", action="store_true", help="keep the exported weights")
    t = sub.add_parser("table")
    t.add_argument("results")
    t.add_argument("--doc", required=True)
    a = ap.parse_args()
    if a.cmd == "export":
        if a.name.startswith("hf:"):
            print(json.dumps(export_hf(a.name, a.out, a.seed), indent=1))
        else:
            print(json.dumps(export(a.name, a.out, a.max_layers, a.set, a.seed), indent=1))
    elif a.cmd == "compare":
        print(json.dumps(compare(a.dir, a.clipcl, a.device), indent=1))
    elif a.cmd == "matrix":
        matrix(a)
    else:
        table(a)


if __name__ == "__main__":
    sys.exit(main())
