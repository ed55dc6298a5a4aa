"""Every kernel file compiles for GPUs nobody here has: OpenCL C 1.2 with
clang for amdgcn (gfx1030), nvptx64 and spir64, warnings (-Wall) as errors.

The sources and option sets come from the runtime (kernel_variants, built
from tests/tools/kernel_variants.c): each embedded file with its includes
resolved as rt_kernel_text() resolves them, compiled with no options (the
defaults its #ifndef lines give) and with every option set the lowerings
passed while planning the test models and the training step with the
policy in its GPU style (variants: kernel_variants.c). A set with a lone -DHD (the GPU attention kernel)
is also compiled for the head dims of the released CLIP models.

Usage: test_kernel_targets.py KERNEL_VARIANTS. Skips (exit 77) when no
clang is installed (tools/install-deps.sh installs it)."""
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile

TARGETS = [
    ("amdgcn-gfx1030", ["-target", "amdgcn-amd-amdhsa", "-mcpu=gfx1030", "-nogpulib"]),
    ("nvptx64", ["-target", "nvptx64-nvidia-nvcl"]),
    ("spir64", ["-target", "spir64"]),
]
# -Wall as errors, less unused functions: the prelude's helpers (common.cl,
# attention_softmax.cl, layernorm_stats.cl) are static inline functions that
# not every file calls
COMMON = ["-x", "cl", "-cl-std=CL1.2", "-Xclang", "-finclude-default-header", "-emit-llvm", "-c",
          "-Werror", "-Wall", "-Wno-unused-function", "-o", os.devnull]
# head dims of the released CLIP models: ViT-B and ResNet towers 64,
# ViT-H 80, ViT-bigG 104 (the test models have 32)
HEAD_DIMS = [64, 80, 104]


def find_clang():
    for name in ["clang", "clang-16", "clang-15", "clang-14"]:
        path = shutil.which(name)
        if path:
            return path
    return None


def option_sets(options_txt, files):
    sets = {f: {""} for f in files}
    notes = []
    with open(options_txt) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#"):
                notes.append(line)
                continue
            name, _, opts = line.partition("\t")
            if name not in sets:
                raise SystemExit("kernel_variants named %r, which is not an embedded kernel" % name)
            sets[name].add(opts)
            if re.fullmatch(r"-DHD=\d+", opts):
                sets[name].update("-DHD=%d" % hd for hd in HEAD_DIMS)
    return sets, notes


def no_half_builtins(target, opts):
    """f16 weight storage (-DPANEL_A_DT=1 / -DPANEL_B_DT=1, kernels/panel.cl)
    uses vload_half / vstore_half_rte, which clang's opencl-c.h leaves
    undeclared for nvptx64 (checked with clang 14)."""
    return target == "nvptx64" and re.search(r"-DPANEL_[AB]_DT=1\b", opts) is not None


def compile_one(clang, src, target_flags, opts):
    cmd = [clang] + target_flags + COMMON + opts.split() + [src]
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stderr


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: test_kernel_targets.py KERNEL_VARIANTS")
    clang = find_clang()
    if not clang:
        print("SKIP: no clang on PATH: the GPU-target compile test needs Debian's clang "
              "(tools/install-deps.sh installs it)")
        sys.exit(77)
    with tempfile.TemporaryDirectory() as tmp:
        p = subprocess.run([sys.argv[1], tmp], capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit("kernel_variants failed: " + p.stderr.strip())
        srcdir = os.path.join(tmp, "sources")
        files = sorted(os.listdir(srcdir))
        sets, notes = option_sets(os.path.join(tmp, "options.txt"), files)
        for n in notes:
            print(n)
        jobs = [(f, t, o) for f in files for t in TARGETS for o in sorted(sets[f])
                if not no_half_builtins(t[0], o)]
        skipped = sum(1 for f in files for t in TARGETS for o in sets[f] if no_half_builtins(t[0], o))
        if skipped:
            print("%d f16 weight-storage sets not compiled for nvptx64: clang's nvptx64 target "
                  "declares no vload_half/vstore_half (core OpenCL 1.0 builtins NVIDIA's driver "
                  "has); their bf16 twins are compiled" % skipped)
        failures = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
            futs = {ex.submit(compile_one, clang, os.path.join(srcdir, f), t[1], o): (f, t[0], o)
                    for f, t, o in jobs}
            for fut in concurrent.futures.as_completed(futs):
                rc, err = fut.result()
                if rc != 0 or err.strip():
                    failures.append((futs[fut], err))
    n_sets = sum(len(sets[f]) for f in files)
    print("%s: %d files, %d option sets, %d targets: %d compiles" %
          (clang, len(files), n_sets, len(TARGETS), len(jobs)))
    for f in files:
        print("  %-22s %s" % (f, " | ".join(o or "(none)" for o in sorted(sets[f]))))
    for (f, t, o), err in sorted(failures):
        print("FAIL %s %s [%s]:\n%s" % (f, t, o or "no options", err.strip()))
    if failures:
        sys.exit("%d of %d compiles failed" % (len(failures), len(jobs)))
    print("all compiled")


if __name__ == "__main__":
    main()
