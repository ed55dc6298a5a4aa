#!/usr/bin/python3
"""clipcl vs PyTorch CPU on full-size random-weight CLIP models, in one run.

    /usr/bin/python3 bench/run_clip_bench.py --clipcl BUILD/tools/clipcl
        [--models vit-b-32,rn50] [--batch 1,32] [--tower image,text]
        [--cache DIR] [--repeat 1] [--min-time 3] [--device D] [--single-thread]

1. Writes the checkpoints once (bench/make_random_clip.py) into --cache
   (default $CLIPCL_BENCH_DIR, else ~/.cache/clipcl/bench-models; ~1 GB).
2. Per model and repeat, runs `clipcl bench` (prints its per-op tables) and
   then bench/clip_torch_bench.py on the same weights, one after the other,
   never at the same time.
3. Prints one table: items/s of each side (median over repeats) and the
   ratio clipcl / PyTorch.

PyTorch runs with the anchor settings (2 threads,
OMP_WAIT_POLICY=PASSIVE); clipcl with whatever OpenCL device --device (or
$CLIPCL_DEVICE) selects. On a shared machine use --repeat 3 and read the
spread: both sides are hit by the same noise only when it is steady.
--single-thread runs both sides on one thread (POCL_MAX_PTHREAD_COUNT=1;
torch.set_num_threads(1) and OPENBLAS_NUM_THREADS=1): on a machine whose
cores other processes are using, two spinning thread pools (OpenMP and
OpenBLAS) slow PyTorch down far more than PoCL, and one thread per side
compares the code rather than the scheduler.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_random_clip  # noqa: E402

LINE_CL = re.compile(r"^(image|text) batch (\d+): ([\d.]+) (?:images|texts)/s")
LINE_PT = re.compile(r"^torch (image|text) batch (\d+): ([\d.]+) (?:images|texts)/s")


def run(cmd, env=None):
    """Runs cmd, echoing its output; returns the output lines."""
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    for line in p.stdout:
        sys.stdout.write("  | " + line)
        sys.stdout.flush()
        lines.append(line.rstrip("\n"))
    if p.wait() != 0:
        raise SystemExit("command failed (exit %d): %s" % (p.returncode, " ".join(cmd)))
    return lines


def collect(lines, pattern, into, model):
    for line in lines:
        m = pattern.match(line.strip())
        if m:
            into.setdefault((model, m.group(1), int(m.group(2))), []).append(float(m.group(3)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clipcl", required=True, help="path of the clipcl executable")
    ap.add_argument("--models", default="vit-b-32,rn50")
    ap.add_argument("--batch", default="1,32")
    ap.add_argument("--tower", default="image,text")
    ap.add_argument("--cache", default=os.environ.get("CLIPCL_BENCH_DIR") or
                    os.path.join(os.path.expanduser("~"), ".cache", "clipcl", "bench-models"))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--min-time", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default=None)
    ap.add_argument("--python", default="/usr/bin/python3", help="interpreter with torch and numpy")
    ap.add_argument("--single-thread", action="store_true", help="one thread on each side")
    a = ap.parse_args()
    cl_env, pt_env = dict(os.environ), dict(os.environ)
    if a.single_thread:
        a.threads = 1
        cl_env["POCL_MAX_PTHREAD_COUNT"] = "1"
        pt_env["OPENBLAS_NUM_THREADS"] = "1"
        pt_env["OMP_NUM_THREADS"] = "1"

    models = a.models.split(",")
    towers = a.tower.split(",")
    ours, theirs = {}, {}
    for model in models:
        d = make_random_clip.make(a.cache, model, 2024)
        for rep in range(a.repeat):
            print("== %s, repeat %d of %d" % (model, rep + 1, a.repeat), flush=True)
            cmd = [a.clipcl, "bench", "--model", d, "--batch", a.batch, "--tower", ",".join(towers),
                   "--min-time", str(a.min_time)]
            if a.device:
                cmd += ["--device", a.device]
            collect(run(cmd, cl_env), LINE_CL, ours, model)
            cmd = [a.python, os.path.join(HERE, "clip_torch_bench.py"), "--model", d, "--batch", a.batch,
                   "--tower", ",".join(towers), "--threads", str(a.threads), "--min-time", str(a.min_time)]
            collect(run(cmd, pt_env), LINE_PT, theirs, model)

    print()
    print("| model | tower | batch | clipcl items/s | PyTorch items/s | clipcl / PyTorch |")
    print("|---|---|---:|---:|---:|---:|")
    for key in sorted(ours, key=lambda k: (models.index(k[0]), towers.index(k[1]), k[2])):
        o, t = ours[key], theirs.get(key)
        om = statistics.median(o)
        spread = " (%.2f-%.2f)" % (min(o), max(o)) if len(o) > 1 else ""
        if t:
            tm = statistics.median(t)
            tspread = " (%.2f-%.2f)" % (min(t), max(t)) if len(t) > 1 else ""
            print("| %s | %s | %d | %.2f%s | %.2f%s | **%.2fx** |"
                  % (key[0], key[1], key[2], om, spread, tm, tspread, om / tm))
        else:
            print("| %s | %s | %d | %.2f%s | - | - |" % (key[0], key[1], key[2], om, spread))
    return 0


if __name__ == "__main__":
    sys.exit(main())
