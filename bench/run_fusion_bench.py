#!/usr/bin/python3
"""What fusion at lowering buys on full-size CLIP towers.

    bench/run_fusion_bench.py [--build DIR] [--models DIR] [--batch 1,32]
                              [--runs N] [--min-time S] [--rounds R] [--out FILE.md]

For each model folder under --models (default bench-models/, made by
bench/make_random_clip.py: vit-b-32, rn50) and each tower, runs `clipcl bench`
with CLIPCL_FUSION=0 (unfused), with every pattern on (the default), and with
every pattern on but one (`-name`, for each pattern that fires on that tower),
at each batch size. Prints, and writes as markdown to --out, the launches per
run and the fusions that fired, the median time per batch of each setting, and
per pattern the time it saves: t(all but that one) - t(all on). Each setting's
time is the median of `clipcl bench --no-ops` runs (no profiling events); the
settings of one tower run interleaved, R rounds, and the minimum over rounds
is kept (a shared machine's slow spells hit one round, not every setting).
Before each tower the script waits for a 1-minute load below 0.5 and
records it with the CPU model: run it on a quiet machine.
Standard library only; clipcl does the work.
"""
import argparse
import os
import re
import subprocess
import sys
import time

LINE = re.compile(r"^(image|text) batch (\d+): ([\d.]+) \S+ \(([\d.]+) s/batch")
FUS = re.compile(r"launches: (\d+) per run \+ (\d+) after a param change; fusions:(.*)$")


def bench(clipcl, model, tower, batches, fusion, runs, min_time):
    env = dict(os.environ, CLIPCL_FUSION=fusion)
    cmd = [clipcl, "bench", "--model", model, "--tower", tower, "--batch", ",".join(map(str, batches)),
           "--runs", str(runs), "--min-time", str(min_time), "--no-ops"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"run_fusion_bench: {' '.join(cmd)} (CLIPCL_FUSION={fusion}) failed:\n{p.stderr}")
    out, cur = {}, None
    for line in p.stdout.splitlines():
        m = LINE.match(line.strip())
        if m:
            cur = int(m.group(2))
            out[cur] = {"s": float(m.group(4))}
            continue
        m = FUS.search(line)
        if m and cur is not None:
            fired = {}
            for item in m.group(3).split(","):
                item = item.strip()
                if item and item != "none":
                    name, _, count = item.rpartition(" x")
                    fired[name] = int(count)
            out[cur].update(launches=int(m.group(1)), static=int(m.group(2)), fired=fired)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--build", default="build")
    ap.add_argument("--models", default="bench-models")
    ap.add_argument("--batch", default="1,32")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    clipcl = os.path.join(a.build, "tools", "clipcl")
    if not os.access(clipcl, os.X_OK):
        sys.exit(f"run_fusion_bench: {clipcl} not found: build first (meson setup {a.build} && ninja -C {a.build})")
    batches = [int(b) for b in a.batch.split(",")]
    models = sorted(d for d in os.listdir(a.models) if os.path.isdir(os.path.join(a.models, d))) \
        if os.path.isdir(a.models) else []
    if not models:
        sys.exit(f"run_fusion_bench: no model folders in {a.models}: make them with "
                 f"/usr/bin/python3 bench/make_random_clip.py {a.models}")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    md = [f"# Fusion at lowering: launches and time per batch", "",
          f"CPU: {cpu}, {os.cpu_count()} logical CPUs; device: clipcl's default; "
          f"median of >= {a.runs} runs and >= {a.min_time} s per setting, best of {a.rounds} interleaved rounds.", ""]
    for model in models:
        path = os.path.join(a.models, model)
        for tower in ("image", "text"):
            while os.getloadavg()[0] >= 0.5:
                time.sleep(10)
            load = os.getloadavg()[0]
            print(f"-- {model} {tower} (load {load:.2f})", flush=True)
            run = lambda spec: bench(clipcl, path, tower, batches, spec, a.runs, a.min_time)
            on = run("1")
            names = sorted({n for b in on for n in on[b].get("fired", {})})
            specs = ["1", "0"] + ["-" + n for n in names]
            best = {spec: None for spec in specs}
            for r in range(a.rounds):
                for spec in specs:
                    res = on if (r == 0 and spec == "1") else run(spec)
                    if best[spec] is None:
                        best[spec] = res
                    else:
                        for b in batches:
                            if res[b]["s"] < best[spec][b]["s"]:
                                best[spec][b]["s"] = res[b]["s"]
            on, off = best["1"], best["0"]
            minus = {n: best["-" + n] for n in names}
            md += [f"## {model}, {tower} tower (1-min load {load:.2f} at start)", "",
                   "| batch | launches unfused | launches fused | fusions fired | s/batch unfused | s/batch fused"
                   " | speed-up |", "| --- | --- | --- | --- | --- | --- | --- |"]
            for b in batches:
                fired = ", ".join(f"{n} x{c}" for n, c in sorted(on[b].get("fired", {}).items())) or "none"
                md.append(f"| {b} | {off[b].get('launches', '?')} | {on[b].get('launches', '?')} | {fired} | "
                          f"{off[b]['s']:.4f} | {on[b]['s']:.4f} | {off[b]['s'] / on[b]['s']:.3f}x |")
            if names:
                md += ["", "| pattern | " + " | ".join(f"saves at batch {b}" for b in batches) + " |",
                       "| --- |" + " --- |" * len(batches)]
                for n in names:
                    cells = []
                    for b in batches:
                        d = minus[n][b]["s"] - on[b]["s"]
                        cells.append(f"{1000 * d:+.2f} ms ({100 * d / minus[n][b]['s']:+.1f}%)")
                    md.append(f"| {n} | " + " | ".join(cells) + " |")
            md.append("")
            print("\n".join(md[-(len(batches) + len(names) + 8):]), flush=True)
    md.append(f"Finished {time.strftime('%Y-%m-%d %H:%M')}; uptime: {os.popen('uptime').read().strip()}")
    text = "\n".join(md) + "\n"
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
