#!/usr/bin/python3
"""Times one CLIP training step in PyTorch CPU on a checkpoint written by
bench/make_random_clip.py: the same step bench/bench_train.c times.

    /usr/bin/python3 bench/train_torch_bench.py --model DIR
        [--pixels P.npy --ids I.npy | --batch 32] [--steps 3] [--warmup 1]
        [--lr 1e-4] [--threads 2] [--min-time 0]

The step: zero_grad, forward of both towers of the plain-torch CLIP of
tests/reference/make_clip_goldens.py (the model the goldens come from,
loaded with strict key and shape checking), the symmetric contrastive loss
(exp(t) * normalize(I) @ normalize(T)^T, mean of the two cross-entropies),
backward, torch.optim.AdamW with CLIP's hyper-parameters (betas 0.9/0.98,
eps 1e-6, weight decay 0.2 on exactly the tensors
backends/adamw.c:adamw_param_decays() decays, 0 elsewhere), constant lr, then
logit_scale clamped to [0, ln 100] as open_clip does. fp32, train(), the
anchor settings (2 threads,
OMP_WAIT_POLICY=PASSIVE, Debian's torch at /usr/bin/python3). Every step
trains on the same batch, as bench_train does, so the printed losses of
both can be compared step by step. Prints:
    torch train batch 32: 10.12 samples/s (3.1620 s/step, median of 3 steps, ...)
    losses: 3.465712 3.410221 ...
    blas: /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so
Debian's torch takes its GEMMs from whatever libblas.so.3 the alternatives
system (or LD_LIBRARY_PATH) gives it; with only the netlib reference BLAS
installed they run ~40x slower than with OpenBLAS, so the last line says
which one ran, with a warning when it is not OpenBLAS.
"""
import os

# Must be set before libgomp starts (the anchor settings).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import clip_torch_bench as ctb  # noqa: E402

# backends/adamw.c:adamw_param_decays (the same list as tests/reference/make_train_goldens.py)
NO_DECAY = ("bn", "ln", "bias", "logit_scale", "token_embedding", "positional_embedding",
            "position_embedding", "class_embedding")
BETAS, EPS, WD = (0.9, 0.98), 1e-6, 0.2
LOGIT_SCALE_MAX = math.log(100)


def decays(name, ndim):
    return ndim >= 2 and not any(s in name for s in NO_DECAY)


def clip_loss(model, px, ids):
    img = model.encode_image(px)
    txt = model.encode_text(ids)
    img = img / img.norm(dim=1, keepdim=True)
    txt = txt / txt.norm(dim=1, keepdim=True)
    logits = model.logit_scale.exp() * img @ txt.t()
    labels = torch.arange(logits.shape[0])
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


def random_inputs(cfg, batch, seed=2024):
    """Same layout as bench_train's own random inputs (not the same values)."""
    rng = np.random.default_rng(seed)
    r, v, ctx = cfg["vision"]["res"], cfg["text"]["vocab"], ctx_len()
    px = rng.standard_normal((batch, 3, r, r), dtype=np.float32)
    ids = np.zeros((batch, ctx), dtype=np.int32)
    for b in range(batch):
        eot = int(rng.integers(5, ctx))
        ids[b, 0] = v - 2
        ids[b, 1:eot] = rng.integers(1, v - 2, eot - 1)
        ids[b, eot] = v - 1
    return px, ids


def ctx_len():
    return ctb.ref.CTX


def make_optimizer(model, lr):
    named = list(model.named_parameters())
    groups = [{"params": [p for n, p in named if decays(n, p.ndim)], "weight_decay": WD},
              {"params": [p for n, p in named if not decays(n, p.ndim)], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=BETAS, eps=EPS)


def step(model, opt, px, ids):
    """One training step; returns (seconds, optimizer seconds, loss)."""
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = clip_loss(model, px, ids)
    loss.backward()
    t1 = time.perf_counter()
    opt.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, LOGIT_SCALE_MAX)
    t2 = time.perf_counter()
    return t2 - t0, t2 - t1, loss.item()


def blas_library():
    """The BLAS shared object this process mapped (torch's addmm/mm go there)."""
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if "blas" in os.path.basename(path):
                return os.path.realpath(path)
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description="PyTorch CPU timing of one CLIP training step")
    ap.add_argument("--model", required=True, help="folder with model.safetensors + open_clip_config.json")
    ap.add_argument("--pixels", help="f32 [B, 3, R, R] .npy (with --ids)")
    ap.add_argument("--ids", help="i32 [B, 77] .npy (with --pixels)")
    ap.add_argument("--batch", type=int, default=32, help="random inputs of this batch when no files")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--min-time", type=float, default=0.0)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if (a.pixels is None) != (a.ids is None):
        ap.error("--pixels and --ids go together")
    torch.set_num_threads(a.threads)
    model, cfg = ctb.load(a.model)
    model = model.float().train()
    if a.pixels:
        px, ids = np.load(a.pixels), np.load(a.ids)
    else:
        px, ids = random_inputs(cfg, a.batch)
    r = cfg["vision"]["res"]
    if px.shape[1:] != (3, r, r) or ids.shape != (px.shape[0], ctx_len()):
        raise SystemExit("inputs: pixels %s, ids %s do not fit the model (res %d, context %d)"
                         % (px.shape, ids.shape, r, ctx_len()))
    batch = px.shape[0]
    px = torch.from_numpy(np.ascontiguousarray(px, dtype=np.float32))
    ids = torch.from_numpy(ids.astype(np.int64))
    opt = make_optimizer(model, a.lr)
    nparam = sum(p.numel() for p in model.parameters())
    print("torch %s, %d threads, OMP_WAIT_POLICY=%s; %.2f M parameters; lr %g constant"
          % (torch.__version__, torch.get_num_threads(), os.environ.get("OMP_WAIT_POLICY"),
             nparam / 1e6, a.lr), flush=True)

    losses = []
    for _ in range(a.warmup):
        losses.append(step(model, opt, px, ids)[2])
    times, opts = [], []
    end = time.perf_counter() + a.min_time
    while len(times) < a.steps or time.perf_counter() < end:
        dt, do, loss = step(model, opt, px, ids)
        times.append(dt)
        opts.append(do)
        losses.append(loss)
    med = float(np.median(times))
    print("torch train batch %d: %.2f samples/s (%.4f s/step, median of %d steps, min %.4f max %.4f; "
          "AdamW %.4f s; %d threads)"
          % (batch, batch / med, med, len(times), min(times), max(times), float(np.median(opts)),
             a.threads), flush=True)
    print("losses: " + " ".join("%.6f" % v for v in losses), flush=True)
    blas = blas_library()
    print("blas: %s" % blas, flush=True)
    if "openblas" not in blas.lower():
        print("WARNING: torch runs its matmuls on %s, not OpenBLAS: Debian's netlib reference "
              "BLAS is ~40x slower (install libopenblas0-pthread, or point LD_LIBRARY_PATH at its "
              "openblas-pthread folder); the PyTorch numbers are not a fair baseline" % blas, flush=True)
    if not all(math.isfinite(v) for v in losses):
        raise SystemExit("a loss is not finite")
    return 0


if __name__ == "__main__":
    sys.exit(main())
