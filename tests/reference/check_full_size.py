#!/usr/bin/python3
"""Full-size ViT-B/32 and RN50 (random weights) on clipcl's OpenCL backend
against PyTorch: the towers' agreement rule (tests/models/clip_golden.h) at real size. A developer check,
not CI (minutes per model on PoCL); docs/models.md keeps the measured numbers.

    /usr/bin/python3 tests/reference/check_full_size.py --build BUILDDIR \
        [--model vit-b-32|rn50|all] [--dir CACHE] [--device D]

1. The checkpoint comes from bench/make_random_clip.py (the
   benchmark generator, imported, not copied), so the model checked here is
   the model `clipcl bench` times: OpenAI naming, F32, QuickGELU, fan-in
   scaled matrices, LayerNorm/BatchNorm gains 1 +- 0.1, non-zero biases,
   BatchNorm running statistics away from (0, 1). Cached in CACHE/<model>
   (default $CLIPCL_FULL_DIR, else /tmp/clipcl-full).
2. The reference is the plain torch.nn CLIP of make_clip_goldens.py (written
   from the spec, not from clipcl) loaded strictly from that file, run in
   float64 (the exact answer) and float32 (to show how far PyTorch's own f32
   is from it) on 4 random pixel tensors and 4 token rows: real captions
   through open_clip's reference tokenizer when the vocabulary is in
   $CLIPCL_SHARED_DIR/data (an optional data directory), else fixed ids.
3. BUILDDIR/tests/models/full_size_driver runs the image tower, the text
   tower and the logits graph on OpenCL and writes .npy; each is compared
   with the float64 reference: cosine >= 0.99999 per row and
   max |err| <= 1e-4 * max |ref|. Exit status 1 if any fails.
Needs Debian's python3-torch and python3-numpy; 1 torch thread (shared box).
"""
import argparse
import hashlib
import importlib.util
import json
import os
import struct
import subprocess
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
N_IMG = 4
SEED = 2024          # checkpoint seed: make_random_clip.py's default, as bench uses
INPUT_SEED = 7
COS_MIN, ERR_MAX = 0.99999, 1e-4
CAPTIONS = [
    "a photo of a cat",
    "a diagram",
    "a red double-decker bus parked beside an old stone bridge over a quiet river, "
    "with two cyclists waiting at the crossing while autumn leaves drift across the road "
    "and a street musician plays the violin under a lamp post near the cafe",
    "CLIP 2021!",
]


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


goldens = load_module("make_clip_goldens", os.path.join(HERE, "make_clip_goldens.py"))
randclip = load_module("make_random_clip", os.path.join(ROOT, "bench", "make_random_clip.py"))
CTX, VOCAB = randclip.CTX, randclip.VOCAB


# ------------------------------------------------------------ the model ----
def torch_cfg(m):
    """make_random_clip.MODELS entry -> make_clip_goldens.CLIP config."""
    v = {"kind": m["kind"], "res": m["res"], "width": m["width"], "heads": m["heads"],
         "layers": m["layers"]}
    if m["kind"] == "vit":
        v["patch"] = m["patch"]
    return {"embed": m["embed"], "quick_gelu": True, "vision": v,
            "text": {"vocab": VOCAB, "width": m["twidth"], "layers": m["tlayers"],
                     "heads": m["theads"]}}


def read_safetensors(path):
    dtypes = {"F32": np.float32, "I64": np.int64}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    base = 8 + n
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        dt = np.dtype(dtypes[e["dtype"]]).newbyteorder("<")
        out[name] = np.frombuffer(raw[base + a:base + b], dtype=dt).reshape(e["shape"])
    return out, header.get("__metadata__", {})


def torch_model(name, ckpt_dir):
    st, meta = read_safetensors(os.path.join(ckpt_dir, "model.safetensors"))
    model = goldens.CLIP(torch_cfg(randclip.MODELS[name])).eval()
    sd = {k: torch.from_numpy(np.array(v)) for k, v in st.items()}
    model.load_state_dict(sd, strict=True)  # every tensor present, every shape right
    return model, meta


# --------------------------------------------------------------- inputs ----
def token_rows():
    shared = os.environ.get("CLIPCL_SHARED_DIR", "")
    vocab = os.path.join(shared, "data", "bpe_simple_vocab_16e6.txt.gz") if shared else ""
    rows = np.zeros((len(CAPTIONS), CTX), dtype=np.int32)
    try:
        tokref = load_module("make_tokenizer_goldens",
                             os.path.join(HERE, "make_tokenizer_goldens.py"))
        if not os.path.exists(vocab):
            raise FileNotFoundError(vocab)
        _, tok = tokref.load_reference(vocab)
    except (SystemExit, ImportError, FileNotFoundError) as e:
        print("tokenizer unavailable (%s): fixed ids instead of captions" % e)
        gen = np.random.default_rng(INPUT_SEED)
        for r, n in enumerate((4, 2, 60, 6)):
            rows[r, 0], rows[r, n + 1] = VOCAB - 2, VOCAB - 1
            rows[r, 1:n + 1] = gen.integers(1, VOCAB - 2, n)
        return rows, "fixed ids"
    for r, text in enumerate(CAPTIONS):
        ids = [VOCAB - 2] + tok.encode(text)[:CTX - 2] + [VOCAB - 1]
        rows[r, :len(ids)] = ids
    return rows, "captions via open_clip's SimpleTokenizer"


def pixels(res):
    # Roughly the range of CLIP-normalised pixels, as in make_clip_goldens.py.
    gen = torch.Generator().manual_seed(INPUT_SEED)
    return (1.5 * torch.randn(N_IMG, 3, res, res, generator=gen)).float().numpy()


# ------------------------------------------------------------ reference ----
def block_hooks(model, stats):
    """Records the largest |x| and the RMS leaving each residual block: evidence
    that the random weights keep activations in a sane range."""
    vis = model.visual
    vis_blocks = vis.transformer.resblocks if hasattr(vis, "transformer") else \
        [b for s in (vis.layer1, vis.layer2, vis.layer3, vis.layer4) for b in s]
    hooks = []
    for tower, blocks in (("image", vis_blocks), ("text", model.transformer.resblocks)):
        stats[tower] = []
        for b in blocks:
            def hook(_m, _i, out, tower=tower):
                o = out.detach()
                stats[tower].append((o.abs().max().item(), o.pow(2).mean().sqrt().item()))
            hooks.append(b.register_forward_hook(hook))
    return hooks


def reference(model, px, ids):
    out = {}
    for dt in (torch.float64, torch.float32):
        m = model.to(dt)
        stats = {}
        hooks = block_hooks(m, stats) if dt == torch.float64 else []
        t0 = time.time()
        with torch.no_grad():
            img = m.encode_image(torch.from_numpy(px).to(dt))
            txt = m.encode_text(torch.from_numpy(ids).long())
            lg = m.logits(img, txt)
        for h in hooks:
            h.remove()
        out[str(dt)[6:]] = {"image": img.numpy(), "text": txt.numpy(), "logits": lg.numpy()}
        print("  torch %s forward: %.1f s" % (str(dt)[6:], time.time() - t0))
        for tower, s in stats.items():
            print("  %s blocks out (f64): max|x| %.3g..%.3g, rms %.3g..%.3g over %d blocks"
                  % (tower, min(x for x, _ in s), max(x for x, _ in s),
                     min(r for _, r in s), max(r for _, r in s), len(s)))
    return out


def compare(a, ref):
    """Per-row cosine and max |err| / max |ref|, both in float64."""
    a, ref = a.astype(np.float64), ref.astype(np.float64)
    cos = [float(x @ y / np.linalg.norm(x) / np.linalg.norm(y)) for x, y in zip(a, ref)]
    return cos, float(np.abs(a - ref).max() / np.abs(ref).max())


# ----------------------------------------------------------------- main ----
def check(name, args):
    print("== %s" % name)
    ckpt = randclip.make(args.dir, name, SEED)
    work = os.path.join(ckpt, "check")
    os.makedirs(work, exist_ok=True)
    model, meta = torch_model(name, ckpt)
    px = pixels(randclip.MODELS[name]["res"])
    ids, ids_kind = token_rows()
    print("  inputs: %d pixel tensors, %d token rows (%s; lengths %s)"
          % (N_IMG, len(ids), ids_kind, [int(r.argmax()) + 1 for r in ids]))
    np.save(os.path.join(work, "pixels.npy"), px)
    np.save(os.path.join(work, "ids.npy"), ids)

    key = hashlib.sha256(json.dumps(meta, sort_keys=True).encode() + px.tobytes() +
                         ids.tobytes()).hexdigest()
    refpath = os.path.join(work, "reference.npz")
    ref = None
    if os.path.exists(refpath) and not args.fresh:
        z = np.load(refpath)
        if str(z["key"]) == key:
            ref = {p: {w: z["%s_%s" % (p, w)] for w in ("image", "text", "logits")}
                   for p in ("float64", "float32")}
            print("  torch reference: cached (%s)" % refpath)
    if ref is None:
        ref = reference(model, px, ids)
        np.savez(refpath, key=key, **{"%s_%s" % (p, w): a for p, d in ref.items()
                                      for w, a in d.items()})
    del model

    cmd = [args.driver, ckpt, os.path.join(work, "pixels.npy"), os.path.join(work, "ids.npy"),
           work] + ([args.device] if args.device else [])
    t0 = time.time()
    r = subprocess.run(cmd)
    if r.returncode != 0:
        print("  clipcl driver failed (exit %d): %s" % (r.returncode, " ".join(cmd)))
        return False
    print("  clipcl OpenCL: %.1f s in all" % (time.time() - t0))

    ok = True
    files = {"image": "image_features.npy", "text": "text_features.npy",
             "logits": "logits_per_image.npy"}
    r64 = ref["float64"]
    for what, f in files.items():
        got = np.load(os.path.join(work, f))
        if got.shape != r64[what].shape:
            print("  %-6s shape %s, expected %s" % (what, got.shape, r64[what].shape))
            ok = False
            continue
        cos, err = compare(got, r64[what])
        tcos, terr = compare(ref["float32"][what], r64[what])
        good = min(cos) >= COS_MIN and err <= ERR_MAX
        ok &= good
        # 1 - cosine: the cosines themselves all print as 1.000000000.
        print("  %-6s %s clipcl vs f64: 1-cos per row %s, max err %.2e x max|ref| (%.3g)"
              % (what, "ok  " if good else "FAIL", " ".join("%.1e" % (1 - c) for c in cos),
                 err, np.abs(r64[what]).max()))
        print("  %-6s      torch f32 vs f64: max 1-cos %.1e, max err %.2e x max|ref|"
              % (what, 1 - min(tcos), terr))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="all", choices=["all"] + sorted(randclip.MODELS))
    ap.add_argument("--dir", default=os.environ.get("CLIPCL_FULL_DIR", "/tmp/clipcl-full"))
    ap.add_argument("--build", default=os.path.join(ROOT, "build"),
                    help="meson build dir holding tests/models/full_size_driver")
    ap.add_argument("--driver", help="the driver binary (overrides --build)")
    ap.add_argument("--device", help="OpenCL device spec (default: $CLIPCL_DEVICE, else first)")
    ap.add_argument("--fresh", action="store_true", help="recompute the torch reference")
    args = ap.parse_args()
    args.driver = args.driver or os.path.join(args.build, "tests", "models", "full_size_driver")
    if not os.access(args.driver, os.X_OK):
        sys.exit("no driver at %s (ninja -C BUILDDIR tests/models/full_size_driver)" % args.driver)
    torch.set_num_threads(1)
    ok = True
    for name in sorted(randclip.MODELS) if args.model == "all" else [args.model]:
        ok &= check(name, args)  # one model at a time: the box has little memory
    print("all agree" if ok else "DISAGREEMENT")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
