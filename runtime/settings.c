/* The table of CLIPCL_* environment variables and the one place that reads
 * them (see settings.h). */
#include "runtime/settings.h"

#include <stdlib.h>

static const rt_setting_info table[] = {
    [RT_SET_DEVICE] = {"CLIPCL_DEVICE", "runtime", "gpu|cpu|P:D|name part",
                       "device when none is given: gpu, cpu, platform:device indices or part of a name"},
    [RT_SET_CACHE_DIR] = {"CLIPCL_CACHE_DIR", "runtime", "folder",
                          "program binaries and tuning results (default $XDG_CACHE_HOME/clipcl, ~/.cache/clipcl)"},
    [RT_SET_KERNEL_DIR] = {"CLIPCL_KERNEL_DIR", "runtime", "folder",
                           "kernel files found there replace the embedded ones"},
    [RT_SET_PROFILE] = {"CLIPCL_PROFILE", "runtime", "1", "every context's queue profiles its launches"},
    [RT_SET_TIMINGS] = {"CLIPCL_TIMINGS", "runtime", "1",
                        "the tool prints the wall time of each phase (load, device, kernel builds, plan, upload, runs) at exit"},
    [RT_SET_SELFCHECK] = {"CLIPCL_SELFCHECK", "runtime", "0",
                          "0: skip the device self-check of the kernels each plan uses (default: once per device, cached)"},
    [RT_SET_DEVICE_MEM_LIMIT] = {"CLIPCL_DEVICE_MEM_LIMIT", "runtime", "bytes",
                                 "lowers the device memory a plan may use (global and per buffer; tests)"},
    [RT_SET_FORCE_VARIANT] = {"CLIPCL_FORCE_VARIANT", "policy", "cpu|gpu",
                              "kernel style of every family (row ops, own GEMM, attention, optimizer)"},
    [RT_SET_GEMM] = {"CLIPCL_GEMM", "policy", "own|clblast|auto", "GEMM implementation (auto: measured)"},
    [RT_SET_GEMM_TILE] = {"CLIPCL_GEMM_TILE", "policy", "TMxVWxNV", "tile of the own CPU-style GEMM kernel"},
    [RT_SET_GEMM_DB] = {"CLIPCL_GEMM_DB", "policy", "file",
                        "GEMM defaults database replacing the embedded runtime/gemm_defaults.txt"},
    [RT_SET_GEMM_RT] = {"CLIPCL_GEMM_RT", "policy", "1..64", "row tiles per work-item of the packed-A GEMM"},
    [RT_SET_GEMM_KC] = {"CLIPCL_GEMM_KC", "policy", "0..1048576", "K block of the packed-A GEMM (0: none)"},
    [RT_SET_GEMM_PACK] = {"CLIPCL_GEMM_PACK", "policy", "always|never",
                          "pack B into column panels always or never (default: by shape)"},
    [RT_SET_GEMM_PACK_A] = {"CLIPCL_GEMM_PACK_A", "policy", "always|never|inplace",
                            "row-tile GEMM with A packed every run, never, or with A read in place (default: by shape)"},
    [RT_SET_ATTENTION] = {"CLIPCL_ATTENTION", "policy", "cpu|rows",
                          "forward attention: attention_cpu where the head dim allows, or attention_rows"},
    [RT_SET_ATTENTION_GRAD] = {"CLIPCL_ATTENTION_GRAD", "policy", "cpu|rows",
                               "attention backward: CPU-style kernels where they apply, or the row kernels"},
    [RT_SET_CONV_SCRATCH] = {"CLIPCL_CONV_SCRATCH", "policy", "bytes", "im2col scratch cap per conv node"},
    [RT_SET_CONV_ROWS] = {"CLIPCL_CONV_ROWS", "policy", "0|1", "small-output conv path off or on (default: by shape)"},
    [RT_SET_CONV] = {"CLIPCL_CONV", "policy", "im2col|direct|local",
                     "conv2d lowering: im2col + GEMM, cpu implicit GEMM in place, gpu local-memory tiles"},
    [RT_SET_FUSION] = {"CLIPCL_FUSION", "policy", "0|1|name,name,-name",
                       "fusion at lowering: all off, all on, or per pattern"},
    [RT_SET_GEMM_SMALL_M] = {"CLIPCL_GEMM_SMALL_M", "policy", "auto|off",
                             "own GEMM: fewer tile rows where M is small and leaves padded rows (auto), or off"},
    [RT_SET_GEMM_ORDER] = {"CLIPCL_GEMM_ORDER", "policy", "auto|rows|panels",
                           "own GEMM: grid order of the row-tile kernel (auto: by the device's cache)"},
    [RT_SET_EVAL_THREADS] = {"CLIPCL_EVAL_THREADS", "train", "1..N", "threads of the linear-probe evaluation"},
    [RT_SET_CKPT_KILL_AFTER] = {"CLIPCL_CKPT_KILL_AFTER", "train", "N",
                                "the process kills itself after writing N checkpoint files (crash tests)"},
    [RT_SET_PROGRESS] = {"CLIPCL_PROGRESS", "tools", "0", "0: no progress lines (default: on when stderr is a terminal)"},
    [RT_SET_BULK_KILL_AT_SHARD] = {"CLIPCL_BULK_KILL_AT_SHARD", "tools", "K",
                                   "embed-* --data kills itself once shard K is written, before the manifest lists it (crash tests)"},
    [RT_SET_TEST_DATA] = {"CLIPCL_TEST_DATA", "tests", "folder", "tests/data (set by meson)"},
    [RT_SET_SHARED_DIR] = {"CLIPCL_SHARED_DIR", "tests", "folder", "shared model and data files (set by meson)"},
    [RT_SET_TEST_VERBOSE] = {"CLIPCL_TEST_VERBOSE", "tests", "any", "gradient checks print their margins"},
    [RT_SET_KEEP_TEST_DIR] = {"CLIPCL_KEEP_TEST_DIR", "tests", "any", "trainer tests keep their run folders"},
    [RT_SET_TEST_FUSION] = {"CLIPCL_TEST_FUSION", "tests", "pattern name", "test_fusion checks this pattern alone"},
};

/* a new enum value without a row fails the build */
_Static_assert(sizeof table / sizeof table[0] == RT_SET_COUNT, "settings table out of step with rt_setting");

const rt_script_setting rt_script_settings[] = {
    {"CLIPCL_TEST_BUILDS", "tools/run-tests.sh", "builds to test (release, asan)"},
    {"CLIPCL_JOBS", "tools/run-tests.sh", "parallel test processes"},
    {"CLIPCL_BENCH_DIR", "bench/run_*_bench.py", "where benchmark models are downloaded"},
    {"CLIPCL_WITH_PYTORCH", "tools/install-deps.sh", "1: also install PyTorch (benchmarks, reference)"},
    {"CLIPCL_FULL_DIR", "tests/reference/check_full_size.py", "folder of the full-size check"},
};
const int rt_n_script_settings = (int)(sizeof rt_script_settings / sizeof rt_script_settings[0]);

const char *rt_setting_value(rt_setting s)
{
    if ((int)s < 0 || s >= RT_SET_COUNT)
        return NULL;
    return getenv(table[s].name); /* the one getenv of every CLIPCL_* variable */
}

const rt_setting_info *rt_setting_info_of(rt_setting s)
{
    return (int)s < 0 || s >= RT_SET_COUNT ? NULL : &table[s];
}
