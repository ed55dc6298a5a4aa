#!/usr/bin/python3
"""Compare clipcl's GEMMs with numpy's BLAS (OpenBLAS where installed) on the
CLIP ViT-B/32 shapes, in one run, and print one table.

usage: /usr/bin/python3 bench/run_matmul_bench.py [--bench BUILD/bench/bench_matmul]
           [--impl own|clblast|both] [--min-time S] [--runs N] [--batches 1,32]

Use Debian's python (the one python3-numpy installs into). numpy is timed
first, then bench_matmul runs in a child process (never at the same time, so
the two do not fight over the cores); every number is the median of >= N
calls lasting >= S seconds after one warm-up call.
"""
import argparse
import os
import subprocess
import sys
import time

try:
    import numpy as np
except ImportError:
    sys.exit("run_matmul_bench.py: numpy is missing; run it with /usr/bin/python3 (Debian's python3-numpy)")

SHAPES = [("fc1", 3072, 768), ("fc2", 768, 3072), ("qkv", 2304, 768)]


def blas_library():
    """The BLAS shared object numpy actually loaded, from this process's maps."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            name = os.path.basename(path).lower()
            if "blas" in name or "mkl" in name or "blis" in name:
                libs.add(os.path.realpath(path))
    return sorted(libs)


def time_numpy(m, n, k, runs, min_time):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.empty((m, n), dtype=np.float32)
    np.matmul(a, b, out=c)  # warm-up
    times, total = [], 0.0
    cpu0 = time.process_time()
    while len(times) < runs or total < min_time:
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        dt = time.perf_counter() - t0
        times.append(dt)
        total += dt
    cpu = time.process_time() - cpu0
    times.sort()
    flop = 2.0 * m * n * k
    return flop / times[len(times) // 2] * 1e-9, (flop * len(times) / cpu * 1e-9 if cpu > 0 else 0.0)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=os.path.join(here, "..", "build", "bench", "bench_matmul"),
                    help="path of the bench_matmul executable")
    ap.add_argument("--impl", default="both", choices=["own", "clblast", "both"])
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--batches", default="1,32")
    args = ap.parse_args()
    if not os.access(args.bench, os.X_OK):
        sys.exit(f"run_matmul_bench.py: {args.bench} is not an executable; build it (ninja -C BUILD) "
                 "and pass --bench BUILD/bench/bench_matmul")
    batches = [int(b) for b in args.batches.split(",") if b]

    load_before = " ".join(open("/proc/loadavg").read().split()[:3])
    blas = {}
    for bsz in batches:
        for name, n, k in SHAPES:
            blas[(name, bsz)] = time_numpy(50 * bsz, n, k, args.runs, args.min_time)
    libs = blas_library()

    cmd = [args.bench, "--impl", args.impl, "--min-time", str(args.min_time), "--runs", str(args.runs),
           "--batches", args.batches]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    ocl, header = {}, []
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "gemm":
            ocl[(f[1], f[2])] = (float(f[7]), float(f[8]) if len(f) > 8 else 0.0)
        elif line.startswith("#"):
            header.append(line)

    print("\n".join(header))
    print("# numpy %s, BLAS loaded: %s" % (np.__version__, ", ".join(libs) or "unknown"))
    if not any("openblas" in lib.lower() for lib in libs):
        print("# WARNING: numpy is not using OpenBLAS here, so the 'blas' column is not the OpenBLAS baseline")
    print("# BLAS threads: OPENBLAS_NUM_THREADS=%s; load average before: %s" %
          (os.environ.get("OPENBLAS_NUM_THREADS", "(default)"), load_before))
    print("# wall: GFLOP/s from the median call; cpu: GFLOP per CPU-second of the process (all threads)")
    impls = ["own", "clblast"] if args.impl == "both" else [args.impl]
    for kind, idx in (("wall", 0), ("cpu", 1)):
        cols = ["shape", "M", "N", "K", "blas " + kind] + ["%s %s" % (i, kind) for i in impls]
        cols += ["%s/blas" % i for i in impls]
        print("| " + " | ".join(cols) + " |")
        print("|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|")
        for bsz in batches:
            for name, n, k in SHAPES:
                label = "%s_b%d" % (name, bsz)
                ref = blas[(name, bsz)][idx]
                vals = [ocl[(label, i)][idx] if (label, i) in ocl else None for i in impls]
                row = [label, str(50 * bsz), str(n), str(k), "%.1f" % ref]
                row += ["%.1f" % v if v is not None else "-" for v in vals]
                row += ["%.2fx" % (v / ref) if v is not None and ref > 0 else "-" for v in vals]
                print("| " + " | ".join(row) + " |")
        print()


if __name__ == "__main__":
    main()
