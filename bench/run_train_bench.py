#!/usr/bin/python3
"""clipcl vs PyTorch CPU: training samples/s of one full CLIP training step
(forward, backward, AdamW) on random-weight checkpoints, in one run.

    /usr/bin/python3 bench/run_train_bench.py --bench BUILD/bench/bench_train
        [--models small,small-rn,vit-b-32] [--batch 32] [--steps 3] [--warmup 1]
        [--repeat 1] [--lr 1e-4] [--cache DIR] [--device D]
        [--torch-blas DIR] [--single-thread] [--top K]

1. Writes the checkpoints once (bench/make_random_clip.py) into --cache
   (default $CLIPCL_BENCH_DIR, else ~/.cache/clipcl/bench-models): ViT-B/32
   as OpenAI ships it, and "small", the small CLIP of this benchmark (ViT
   width 256, 4 layers, 4 heads, patch 16, 64 px; text width 256, 4 layers,
   4 heads, context 77, vocab 49408; embed 256; QuickGELU; 19.3 M values),
   and "small-rn", a ModifiedResNet CLIP (width 32, layers 1-1-1-1, 64 px,
   the same text tower; 21.3 M values) whose step trains 19 BatchNorms
   with batch statistics.
2. Writes one random batch per model and batch size (pixels.npy, ids.npy)
   that both sides train on, so their losses can be compared step by step.
3. Per model and repeat, runs bench/bench_train (prints its per-op table)
   and then bench/train_torch_bench.py on the same weights and batch, one
   after the other, never at the same time (ViT-B/32 at batch 32 needs a
   few GiB on each side).
4. Prints one table: samples/s of each side (median over repeats), the ratio
   clipcl / PyTorch, the loss of the first step on both sides and the largest
   relative difference between their losses over all steps (same weights,
   same batch, same AdamW: the two runs train the same way, so the losses
   agree to ~1e-5 at first and drift apart only slowly with rounding).

PyTorch runs with the anchor settings (2 threads,
OMP_WAIT_POLICY=PASSIVE); clipcl with whatever OpenCL device --device (or
$CLIPCL_DEVICE) selects. bench_train exits with status 3 when the training
graph does not lower to OpenCL in this build: that row shows "-" and says why.

PyTorch's matmuls go to the system's libblas.so.3. With only Debian's netlib
reference BLAS installed they run ~40x slower than with OpenBLAS (the anchor
measurements' BLAS), which would make any ratio meaningless: install
libopenblas0-pthread, or pass --torch-blas DIR, a folder holding OpenBLAS's
libblas.so.3 (e.g. /usr/lib/x86_64-linux-gnu/openblas-pthread, or the same
folder unpacked from the .deb with `apt-get download libopenblas0-pthread;
dpkg-deb -x`), which goes first on the PyTorch process's LD_LIBRARY_PATH.
The table is followed by the BLAS library PyTorch actually used.
--single-thread runs both sides on one thread, as run_clip_bench.py does
(POCL_MAX_PTHREAD_COUNT=1; torch.set_num_threads(1), OPENBLAS_NUM_THREADS=1).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_random_clip  # noqa: E402

# The small model: registered next to the full-size ones so the same writer
# (scales, naming, open_clip_config.json, up-to-date check) makes it.
SMALL = dict(kind="vit", res=64, patch=16, width=256, layers=4, heads=4,
             embed=256, twidth=256, tlayers=4, theads=4)
make_random_clip.MODELS.setdefault("small", SMALL)
# A small ModifiedResNet CLIP: exercises the training BatchNorm (batch
# statistics forward and backward), conv and attention-pool gradients.
SMALL_RN = dict(kind="rn", res=64, layers=(1, 1, 1, 1), width=32, heads=16,
                embed=256, twidth=256, tlayers=4, theads=4)
make_random_clip.MODELS.setdefault("small-rn", SMALL_RN)

LINE_CL = re.compile(r"^train batch (\d+): ([\d.]+) samples/s")
LINE_PT = re.compile(r"^torch train batch (\d+): ([\d.]+) samples/s")
LINE_LOSS = re.compile(r"^losses: (.*)$")
LINE_BLAS = re.compile(r"^blas: (.*)$")


def run(cmd, env=None):
    """Runs cmd, echoing its output; returns (exit status, output lines)."""
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    for line in p.stdout:
        sys.stdout.write("  | " + line)
        sys.stdout.flush()
        lines.append(line.rstrip("\n"))
    return p.wait(), lines


def parse(lines, pattern):
    """(samples/s, [loss of every step]) from a run's output, or (None, None)."""
    rate = losses = None
    for line in lines:
        line = line.strip()
        m = pattern.match(line)
        if m:
            rate = float(m.group(2))
        m = LINE_LOSS.match(line)
        if m and m.group(1).split():
            losses = [float(v) for v in m.group(1).split()]
    return rate, losses


LOSS_TOL = 1e-3  # far above f32 rounding over a few steps, far below a wrong step


def loss_diff(ls):
    """(largest relative difference of the two loss sequences, steps), or None."""
    a, b = ls.get("clipcl"), ls.get("torch")
    if not a or not b:
        return None
    n = min(len(a), len(b))
    return max(abs(x - y) / max(abs(y), 1e-30) for x, y in zip(a[:n], b[:n])), n


def loss_cell(ls):
    """'first loss clipcl / PyTorch; max relative difference over the steps'."""
    cell = " / ".join("%.6f" % x[0] if x else "-" for x in (ls.get("clipcl"), ls.get("torch")))
    d = loss_diff(ls)
    if d:
        cell += "; max rel diff %.1e over %d steps" % d
    return cell


def write_batch(model_dir, batch, seed=2024):
    """One random batch for the model: N(0, 1) pixels (roughly CLIP-normalised)
    and token rows SOT, random ids, EOT (the row's maximum) at positions 5..76,
    zeros after. Kept next to the checkpoint; rewritten every run (cheap)."""
    cfg = make_random_clip.open_clip_config(
        make_random_clip.MODELS[os.path.basename(model_dir.rstrip("/"))])["model_cfg"]
    r, v = cfg["vision_cfg"]["image_size"], cfg["text_cfg"]["vocab_size"]
    ctx = cfg["text_cfg"]["context_length"]
    rng = np.random.default_rng(seed + batch)
    px = rng.standard_normal((batch, 3, r, r), dtype=np.float32)
    ids = np.zeros((batch, ctx), dtype=np.int32)
    for b in range(batch):
        eot = int(rng.integers(5, ctx))
        ids[b, 0] = v - 2
        ids[b, 1:eot] = rng.integers(1, v - 2, eot - 1)
        ids[b, eot] = v - 1
    d = os.path.join(model_dir, "train-batch-%d" % batch)
    os.makedirs(d, exist_ok=True)
    paths = os.path.join(d, "pixels.npy"), os.path.join(d, "ids.npy")
    np.save(paths[0], px)
    np.save(paths[1], ids)
    return paths


def fmt(values):
    if not values:
        return "-"
    m = statistics.median(values)
    return "%.2f" % m + (" (%.2f-%.2f)" % (min(values), max(values)) if len(values) > 1 else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", required=True, help="path of the bench_train executable")
    ap.add_argument("--models", default="small,vit-b-32")
    ap.add_argument("--batch", default="32")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per run (median)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--cache", default=os.environ.get("CLIPCL_BENCH_DIR") or
                    os.path.join(os.path.expanduser("~"), ".cache", "clipcl", "bench-models"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default=None)
    ap.add_argument("--top", type=int, default=0, help="also list the K slowest nodes of clipcl's step")
    ap.add_argument("--python", default="/usr/bin/python3", help="interpreter with torch and numpy")
    ap.add_argument("--torch-blas", default=None,
                    help="folder with OpenBLAS's libblas.so.3, put first on PyTorch's LD_LIBRARY_PATH")
    ap.add_argument("--single-thread", action="store_true", help="one thread on each side")
    a = ap.parse_args()
    cl_env, pt_env = dict(os.environ), dict(os.environ)
    if a.torch_blas:
        if not os.path.exists(os.path.join(a.torch_blas, "libblas.so.3")):
            ap.error("--torch-blas %s: no libblas.so.3 there" % a.torch_blas)
        pt_env["LD_LIBRARY_PATH"] = os.pathsep.join(
            [os.path.abspath(a.torch_blas)] + [p for p in [pt_env.get("LD_LIBRARY_PATH")] if p])
    if a.single_thread:
        a.threads = 1
        cl_env["POCL_MAX_PTHREAD_COUNT"] = "1"
        pt_env["OPENBLAS_NUM_THREADS"] = "1"
        pt_env["OMP_NUM_THREADS"] = "1"

    models = a.models.split(",")
    for m in models:
        if m not in make_random_clip.MODELS:
            ap.error("--models: unknown model %r (known: %s)" % (m, ", ".join(sorted(make_random_clip.MODELS))))
    batches = [int(b) for b in a.batch.split(",")]
    common = ["--steps", str(a.steps), "--warmup", str(a.warmup), "--lr", repr(a.lr)]
    ours, theirs, loss, why, blas = {}, {}, {}, {}, set()
    for model in models:
        d = make_random_clip.make(a.cache, model, 2024)
        for batch in batches:
            key = (model, batch)
            px, ids = write_batch(d, batch)
            for rep in range(a.repeat):
                print("== %s, batch %d, repeat %d of %d" % (model, batch, rep + 1, a.repeat), flush=True)
                cmd = [a.bench, "--model", d, "--pixels", px, "--ids", ids] + common
                if a.top:
                    cmd += ["--top", str(a.top)]
                if a.device:
                    cmd += ["--device", a.device]
                rc, lines = run(cmd, cl_env)
                rate, l0 = parse(lines, LINE_CL)
                if rc == 0 and rate:
                    ours.setdefault(key, []).append(rate)
                    loss.setdefault(key, {})["clipcl"] = l0
                else:
                    last = [ln for ln in lines if ln.strip()][-1:] or ["no output"]
                    why[key] = ("not lowered to OpenCL yet" if rc == 3 else "failed (exit %d)" % rc) + \
                        ": " + last[0].strip()
                cmd = [a.python, os.path.join(HERE, "train_torch_bench.py"), "--model", d, "--pixels", px,
                       "--ids", ids, "--threads", str(a.threads)] + common
                rc, lines = run(cmd, pt_env)
                rate, l0 = parse(lines, LINE_PT)
                blas.update(m.group(1) for m in map(LINE_BLAS.match, lines) if m)
                if rc != 0 or not rate:
                    raise SystemExit("PyTorch failed (exit %d): %s" % (rc, " ".join(cmd)))
                theirs.setdefault(key, []).append(rate)
                loss.setdefault(key, {})["torch"] = l0

    print()
    print("| model | batch | clipcl samples/s | PyTorch samples/s | clipcl / PyTorch | loss step 1 (clipcl / PyTorch) |")
    print("|---|---:|---:|---:|---:|---|")
    for model in models:
        for batch in batches:
            key = (model, batch)
            o, t = ours.get(key), theirs.get(key)
            ratio = "**%.2fx**" % (statistics.median(o) / statistics.median(t)) if o and t else "-"
            print("| %s | %d | %s | %s | %s | %s |" % (model, batch, fmt(o), fmt(t), ratio,
                                                    loss_cell(loss.get(key, {}))))
    for key, w in why.items():
        print("%s batch %d, clipcl: %s" % (key[0], key[1], w))
    for key, ls in sorted(loss.items()):
        d = loss_diff(ls)
        if d and not d[0] <= LOSS_TOL:
            print("WARNING: %s batch %d: clipcl's losses differ from PyTorch's by %.1e (> %g): the two "
                  "sides are not taking the same step; the speed ratio is not comparable" % (key + (d[0], LOSS_TOL)))
    print("PyTorch %d thread(s), BLAS: %s" % (a.threads, ", ".join(sorted(blas)) or "unknown"))
    if any("openblas" not in b.lower() for b in blas):
        print("WARNING: PyTorch did not run on OpenBLAS: its numbers are not a fair baseline (see --torch-blas)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
