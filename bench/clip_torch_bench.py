#!/usr/bin/python3
"""Times PyTorch CPU on a CLIP checkpoint written by bench/make_random_clip.py
(the same weights `clipcl bench` runs), with the anchor settings:
fp32, eval(), no_grad(), 2 threads,
OMP_WAIT_POLICY=PASSIVE, Debian's torch at /usr/bin/python3.

    /usr/bin/python3 bench/clip_torch_bench.py --model DIR [--batch 1,32] [--tower image,text]
                                               [--threads 2] [--min-time 3] [--min-iters 3]

The model is tests/reference/make_clip_goldens.py's plain-torch CLIP (the
one the goldens come from), loaded with strict key and shape checking.
Prints one line per tower and batch:
    torch image batch 32: 16.64 images/s (1.9231 s/batch, median of 3, 2 threads)
"""
import os

# Must be set before libgomp starts (the anchor settings).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
import make_clip_goldens as ref  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    base = 8 + n
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    dt = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        arr = np.frombuffer(mm[base + a:base + b], dtype=dt[v["dtype"]]).reshape(v["shape"])
        out[k] = torch.from_numpy(arr.astype(np.float32 if v["dtype"] == "F16" else arr.dtype))
    return out


def config_from(model_dir, sd):
    with open(os.path.join(model_dir, "open_clip_config.json")) as f:
        mc = json.load(f)["model_cfg"]
    vc, tc = mc["vision_cfg"], mc["text_cfg"]
    text = {"vocab": tc["vocab_size"], "width": tc["width"], "layers": tc["layers"],
            "heads": tc["heads"]}
    if "patch_size" in vc:
        w = vc["width"]
        vision = {"kind": "vit", "res": vc["image_size"], "patch": vc["patch_size"], "width": w,
                  "layers": vc["layers"], "heads": w // vc.get("head_width", 64)}
    else:
        w = vc["width"]
        vision = {"kind": "rn", "res": vc["image_size"], "layers": tuple(vc["layers"]),
                  "width": w, "heads": w * 32 // vc.get("head_width", 64)}
    return {"embed": mc["embed_dim"], "quick_gelu": mc.get("quick_gelu", False),
            "vision": vision, "text": text}


def load(model_dir):
    sd = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    cfg = config_from(model_dir, sd)
    model = ref.CLIP(cfg).eval()
    model.load_state_dict(sd, strict=True)
    return model, cfg


def inputs(cfg, tower, batch):
    g = torch.Generator().manual_seed(batch)
    if tower == "image":
        r = cfg["vision"]["res"]
        return torch.randn(batch, 3, r, r, generator=g)
    v = cfg["text"]["vocab"]
    ids = torch.randint(1, v - 2, (batch, ref.CTX), generator=g)
    ids[:, 0] = v - 2
    ids[:, 20] = v - 1  # EOT; every position is computed anyway
    return ids


def blas_libraries():
    """The BLAS shared objects this process has mapped (torch's Linear goes
    through libblas.so.3, whichever library the alternatives system or
    LD_LIBRARY_PATH makes that)."""
    found = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            name = os.path.basename(path)
            if "blas" in name or "mkl" in name:
                found.add(os.path.realpath(path))
    return sorted(found)


def time_calls(fn, x, min_time, min_iters):
    for _ in range(2):
        fn(x)
    times = []
    end = time.perf_counter() + min_time
    while len(times) < min_iters or time.perf_counter() < end:
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), len(times)


def main():
    ap = argparse.ArgumentParser(description="PyTorch CPU timing of a CLIP checkpoint")
    ap.add_argument("--model", required=True, help="folder with model.safetensors + open_clip_config.json")
    ap.add_argument("--batch", default="1,32")
    ap.add_argument("--tower", default="image,text")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=3.0)
    ap.add_argument("--min-iters", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.randn(64, 64) @ torch.randn(64, 64)  # maps the BLAS
    libs = blas_libraries()
    print("torch %s, BLAS: %s" % (torch.__version__, ", ".join(libs) or "none mapped"), flush=True)
    # Debian's liblapack.so.3 maps libopenblas even when libblas.so.3 (where
    # the GEMMs go) is the reference one: judge by libblas's real path.
    gemm = [p for p in libs if os.path.basename(p).startswith(("libblas.so", "libcblas.so"))] or libs
    if not gemm or not all("openblas" in p or "mkl" in p for p in gemm):
        print("WARNING: PyTorch is not using OpenBLAS or MKL; Debian's reference libblas is ~100x slower "
              "(install libopenblas0-pthread, or point LD_LIBRARY_PATH at its openblas-pthread folder)",
              flush=True)
    model, cfg = load(a.model)
    with torch.no_grad():
        for tower in a.tower.split(","):
            fn = model.encode_image if tower == "image" else model.encode_text
            unit = "images/s" if tower == "image" else "texts/s"
            for b in (int(s) for s in a.batch.split(",")):
                med, n = time_calls(fn, inputs(cfg, tower, b), a.min_time, a.min_iters)
                print("torch %s batch %d: %.2f %s (%.4f s/batch, median of %d, %d threads)"
                      % (tower, b, b / med, unit, med, n, a.threads), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
