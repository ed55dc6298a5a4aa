/* The GEMM search space and the database of defaults without a device
 * (runtime/gemm_space.h, runtime/gemm_db.h): fake AVX2, AVX-512, 128-bit and
 * GPU device descriptions get the tiles they should and not the others; the
 * embedded database parses, every entry is valid for its class, and the
 * fallback chain device -> arch -> vendor -> class picks the right entry;
 * malformed databases are one-line errors; the policy shows the entry, and
 * the tuned overlay and the environment win over it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/gemm_db.h"
#include "runtime/gemm_space.h"
#include "runtime/rt.h"
#include "runtime/settings.h"

static rt_device_info cpu(const char *name, const char *vendor, unsigned width)
{
    rt_device_info d;
    memset(&d, 0, sizeof d);
    d.device_class = RT_CLASS_CPU;
    d.type = CL_DEVICE_TYPE_CPU;
    d.native_vector_width_float = width;
    d.preferred_vector_width_float = width;
    d.max_work_group_size = 4096;
    d.compute_units = 2;
    snprintf(d.device_name, sizeof d.device_name, "%s", name);
    snprintf(d.vendor, sizeof d.vendor, "%s", vendor);
    return d;
}

static rt_device_info gpu(const char *name, const char *vendor)
{
    rt_device_info d;
    memset(&d, 0, sizeof d);
    d.device_class = RT_CLASS_DGPU;
    d.type = CL_DEVICE_TYPE_GPU;
    d.local_mem_is_real = 1;
    d.native_vector_width_float = 1;
    d.preferred_vector_width_float = 1;
    d.max_work_group_size = 256;
    d.local_mem_bytes = 65536;
    snprintf(d.device_name, sizeof d.device_name, "%s", name);
    snprintf(d.vendor, sizeof d.vendor, "%s", vendor);
    return d;
}

static int has(const rt_gemm_space *s, const char *tile)
{
    rt_gemm_tile t;
    assert_true(rt_gemm_tile_parse(tile, &t));
    return rt_gemm_space_has(s, t);
}

static void assert_widths(const rt_gemm_space *s, int w1, int w2)
{
    assert_true(s->n_tiles > 0);
    for (int i = 0; i < s->n_tiles; i++) {
        const rt_gemm_tile t = s->tiles[i];
        assert_true(t.vw == w1 || t.vw == w2);
        assert_true(t.tm * t.nv <= s->registers);
        assert_true(t.tm * t.nv >= s->registers / 2);
    }
}

static void test_space_avx2(void **state)
{
    (void)state;
    rt_device_info d = cpu("pthread-haswell-AMD EPYC 7B13", "AuthenticAMD", 8);
    rt_gemm_space s;
    rt_gemm_space_of(&d, 0, &s);
    assert_int_equal(s.cls, RT_GC_CPU_AVX2);
    assert_int_equal(s.registers, 16);
    assert_true(has(&s, "4x8x3"));
    assert_true(has(&s, "6x8x2"));
    assert_true(has(&s, "8x8x2"));
    assert_true(has(&s, "4x8x4"));
    assert_false(has(&s, "6x8x4"));  /* 24 accumulators on 16 registers spill */
    assert_false(has(&s, "8x16x2")); /* 16-wide: spills on AVX2 (35-70 vs 150-160 GFLOP/s) */
    assert_false(has(&s, "6x16x4"));
    assert_widths(&s, 8, 8);
    /* the wide space of the bench sweep has what the bound leaves out */
    rt_gemm_space_of(&d, 1, &s);
    assert_true(has(&s, "6x8x4"));
    assert_true(has(&s, "8x16x2"));
    assert_true(has(&s, "4x8x3"));
    assert_true(has(&s, "4x4x4"));
    /* preferred width alone (a driver without the native query) */
    d.native_vector_width_float = 0;
    assert_int_equal(rt_gemm_class_of(&d), RT_GC_CPU_AVX2);
}

static void test_space_avx512(void **state)
{
    (void)state;
    rt_device_info d = cpu("pthread-skylake-avx512-Intel(R) Xeon(R) Processor @ 2.50GHz", "GenuineIntel", 16);
    rt_gemm_space s;
    rt_gemm_space_of(&d, 0, &s);
    assert_int_equal(s.cls, RT_GC_CPU_AVX512);
    assert_int_equal(s.registers, 32);
    assert_true(has(&s, "6x16x4"));
    assert_true(has(&s, "8x16x3"));
    assert_true(has(&s, "4x16x4"));
    assert_true(has(&s, "8x16x2"));
    assert_true(has(&s, "6x8x4")); /* ymm tiles too */
    assert_false(has(&s, "12x16x3")); /* 36 accumulators */
    assert_false(has(&s, "4x4x3"));
    assert_widths(&s, 16, 8);
    /* LLVM's CPU name says AVX-512 even where the width says 8 */
    d.native_vector_width_float = d.preferred_vector_width_float = 8;
    assert_int_equal(rt_gemm_class_of(&d), RT_GC_CPU_AVX512);
}

static void test_space_128bit_and_gpu(void **state)
{
    (void)state;
    rt_gemm_space s;
    rt_device_info d = cpu("pthread-cortex-a72-ARM Cortex-A72", "ARM", 4);
    rt_gemm_space_of(&d, 0, &s);
    assert_int_equal(s.cls, RT_GC_CPU_128);
    assert_int_equal(s.registers, 32); /* NEON */
    assert_true(has(&s, "4x4x4"));
    assert_true(has(&s, "8x4x3"));
    assert_false(has(&s, "4x8x3"));
    assert_widths(&s, 4, 4);
    d = cpu("pthread-nehalem-Intel(R) Core(TM) i7", "GenuineIntel", 4);
    rt_gemm_space_of(&d, 0, &s);
    assert_int_equal(s.registers, 16); /* SSE */
    assert_true(has(&s, "4x4x3"));
    assert_false(has(&s, "6x4x4"));
    assert_widths(&s, 4, 4);

    d = gpu("NVIDIA GeForce RTX 3090", "NVIDIA Corporation");
    rt_gemm_space_of(&d, 0, &s);
    assert_int_equal(s.cls, RT_GC_GPU_NVIDIA);
    assert_true(s.n_tiles > 0);
    assert_int_equal(s.n_row_wg, 4); /* 32..256: the device's maximum */
    assert_int_equal(s.row_wg[s.n_row_wg - 1], 256);
    d = gpu("gfx1030", "Advanced Micro Devices, Inc.");
    assert_int_equal(rt_gemm_class_of(&d), RT_GC_GPU_AMD);
    d = gpu("Intel(R) Iris(R) Xe Graphics", "Intel(R) Corporation");
    assert_int_equal(rt_gemm_class_of(&d), RT_GC_GPU_INTEL);
    d = gpu("Mali-G78", "ARM");
    assert_int_equal(rt_gemm_class_of(&d), RT_GC_GPU);
    /* a CPU with no usable width, an accelerator: unknown */
    d = cpu("Some Device", "Some Vendor", 0);
    assert_int_equal(rt_gemm_class_of(&d), RT_GC_UNKNOWN);
}

static void test_arch_names(void **state)
{
    (void)state;
    char a[128];
    rt_device_info d = cpu("pthread-skylake-avx512-AMD EPYC", "AuthenticAMD", 16);
    rt_gemm_arch_of(&d, a, sizeof a);
    assert_string_equal(a, "pthread-skylake-avx512");
    d = cpu("cpu-znver3-AMD Ryzen 9 5950X 16-Core Processor", "AuthenticAMD", 8);
    rt_gemm_arch_of(&d, a, sizeof a);
    assert_string_equal(a, "cpu-znver3");
    d = cpu("pthread-haswell", "GenuineIntel", 8);
    rt_gemm_arch_of(&d, a, sizeof a);
    assert_string_equal(a, "pthread-haswell");
    d = gpu("NVIDIA GeForce RTX 3090", "NVIDIA Corporation");
    rt_gemm_arch_of(&d, a, sizeof a);
    assert_string_equal(a, "");
}

/* Every entry of the embedded database: a tile inside the space of its
 * class (CPU classes), GPU classes marked untuned guesses, one class entry
 * per class. */
static void test_embedded_db_valid(void **state)
{
    (void)state;
    unsetenv("CLIPCL_GEMM_DB");
    rt_gemm_db db;
    char err[256] = "";
    assert_int_equal(rt_gemm_db_load(&db, err, sizeof err), 0);
    assert_true(db.n >= RT_GC_COUNT - 1);
    static const struct {
        rt_gemm_class c;
        const char *name, *vendor;
        unsigned width;
    } reps[] = {
        {RT_GC_CPU_AVX512, "pthread-x-Some CPU", "Some", 16},
        {RT_GC_CPU_AVX2, "pthread-x-Some CPU", "Some", 8},
        {RT_GC_CPU_128, "pthread-x-Some CPU", "Some", 4},
    };
    int class_entries[RT_GC_COUNT] = {0};
    for (int i = 0; i < db.n; i++) {
        const rt_gemm_db_entry *e = &db.entries[i];
        const int c = e->level == RT_DB_CLASS ? rt_gemm_class_parse(e->match) : e->cls;
        assert_true(c > 0); /* every entry names its class */
        if (e->level == RT_DB_CLASS)
            class_entries[c]++;
        if (rt_gemm_class_is_gpu((rt_gemm_class)c))
            assert_true(e->guess);
        for (size_t r = 0; r < sizeof reps / sizeof reps[0]; r++) {
            if ((int)reps[r].c != c)
                continue;
            rt_device_info d = cpu(reps[r].name, reps[r].vendor, reps[r].width);
            rt_gemm_space s;
            rt_gemm_space_of(&d, 0, &s);
            if (!rt_gemm_space_has(&s, e->tile))
                fail_msg("database line %d: tile %dx%dx%d is outside the %s space", e->line, e->tile.tm, e->tile.vw,
                         e->tile.nv, rt_gemm_class_name((rt_gemm_class)c));
        }
        assert_true(e->note[0]); /* where the number came from */
    }
    for (int c = 1; c < RT_GC_COUNT; c++)
        assert_int_equal(class_entries[c], 1);
    rt_gemm_db_free(&db);
}

static void expect_entry(const rt_gemm_db *db, rt_device_info d, const char *name)
{
    const rt_gemm_db_entry *e = rt_gemm_db_lookup(db, &d);
    char got[200];
    if (!name) {
        assert_null(e);
        return;
    }
    assert_non_null(e);
    rt_gemm_db_entry_name(e, got, sizeof got);
    assert_string_equal(got, name);
}

static void test_fallback_embedded(void **state)
{
    (void)state;
    unsetenv("CLIPCL_GEMM_DB");
    rt_gemm_db db;
    char err[256];
    assert_int_equal(rt_gemm_db_load(&db, err, sizeof err), 0);
    expect_entry(&db, cpu("pthread-haswell-AMD EPYC 7B13", "AuthenticAMD", 8), "arch pthread-haswell");
    expect_entry(&db, cpu("pthread-znver3-AMD EPYC 7B13", "AuthenticAMD", 8), "arch pthread-znver3, untuned guess");
    expect_entry(&db, cpu("pthread-x86-64-v3-Some CPU", "Some", 8), "class cpu-avx2");
    expect_entry(&db, cpu("pthread-skylake-avx512-Intel(R) Xeon(R) Gold", "GenuineIntel", 16),
                 "arch pthread-skylake-avx512");
    expect_entry(&db, cpu("pthread-icelake-server-Intel(R) Xeon(R)", "GenuineIntel", 16), "class cpu-avx512");
    expect_entry(&db, cpu("pthread-cortex-a72-ARM", "ARM", 4), "class cpu-128bit, untuned guess");
    expect_entry(&db, gpu("NVIDIA GeForce RTX 3090", "NVIDIA Corporation"), "class gpu-nvidia, untuned guess");
    expect_entry(&db, gpu("gfx1030", "Advanced Micro Devices, Inc."), "class gpu-amd, untuned guess");
    expect_entry(&db, gpu("Mali-G78", "ARM"), "class gpu, untuned guess");
    expect_entry(&db, cpu("Some Device", "Some Vendor", 0), NULL);
    rt_gemm_db_free(&db);
}

static const char chain_db[] =
    "# a test database\n"
    "device | EPYC 7B13       | cpu-avx2 | 6x8x2 | own     | measured | one machine\n"
    "arch   | pthread-haswell | *        | 4x8x3 | own     | measured | the arch\n"
    "vendor | GenuineIntel    | cpu-avx2 | 8x8x2 | own     | guess    | the vendor, AVX2 only\n"
    "class  | cpu-avx2        | cpu-avx2 | 4x8x4 | own     | measured | the class\n"
    "class  | gpu             | *        | 4x4x2 | clblast | guess    | any GPU\n";

static void test_fallback_chain(void **state)
{
    (void)state;
    rt_gemm_db db;
    char err[256];
    assert_int_equal(rt_gemm_db_parse(chain_db, "chain", &db, err, sizeof err), 0);
    assert_int_equal(db.n, 5);
    /* device beats arch beats vendor beats class */
    expect_entry(&db, cpu("pthread-haswell-AMD EPYC 7B13", "AuthenticAMD", 8), "device EPYC 7B13");
    expect_entry(&db, cpu("pthread-haswell-Intel(R) Core(TM) i7", "GenuineIntel", 8), "arch pthread-haswell");
    expect_entry(&db, cpu("pthread-alderlake-Intel(R) Core(TM) i7", "GenuineIntel", 8), "vendor GenuineIntel, untuned guess");
    expect_entry(&db, cpu("pthread-znver2-AMD Ryzen", "AuthenticAMD", 8), "class cpu-avx2");
    /* an entry's class column restricts it: the Intel vendor entry is AVX2 only */
    expect_entry(&db, cpu("pthread-icelake-Intel(R) Xeon(R)", "GenuineIntel", 16), NULL);
    /* the device entry is AVX2 only too, even on a matching name */
    expect_entry(&db, cpu("pthread-skylake-avx512-AMD EPYC 7B13", "AuthenticAMD", 16), NULL);
    /* a GPU class without its own entry falls back to gpu */
    expect_entry(&db, gpu("gfx1030", "Advanced Micro Devices, Inc."), "class gpu, untuned guess");
    const rt_gemm_db_entry *e = rt_gemm_db_lookup(&db, &(rt_device_info){0});
    assert_null(e);
    rt_gemm_db_free(&db);
}

static void expect_parse_error(const char *text, const char *what)
{
    rt_gemm_db db;
    char err[256] = "";
    assert_int_equal(rt_gemm_db_parse(text, "bad.txt", &db, err, sizeof err), -1);
    assert_int_equal(db.n, 0);
    assert_null(strchr(err, '\n'));
    if (!strstr(err, "bad.txt:2:") || !strstr(err, what))
        fail_msg("error \"%s\" should name bad.txt:2: and \"%s\"", err, what);
}

static void test_malformed_db(void **state)
{
    (void)state;
    const char *ok = "class | cpu-avx2 | * | 4x8x3 | own | measured | fine\n";
    char text[512];
    static const struct {
        const char *line, *what;
    } bad[] = {
        {"kind | cpu-avx2 | * | 4x8x3 | own | measured | x", "level device, arch, vendor or class"},
        {"class | cpu-avx3 | * | 4x8x3 | own | measured | x", "a class name"},
        {"arch | pthread-haswell | avx | 4x8x3 | own | measured | x", "a class name or *"},
        {"class | cpu-avx2 | cpu-avx512 | 4x8x3 | own | measured | x", "class column equal"},
        {"arch | pthread-haswell | * | 4x8 | own | measured | x", "a tile TMxVWxNV"},
        {"arch | pthread-haswell | * | 4x12x3 | own | measured | x", "a tile TMxVWxNV"},
        {"arch | pthread-haswell | * | 4x8x3 | fastest | measured | x", "impl own, clblast or measure"},
        {"arch | pthread-haswell | * | 4x8x3 | own | tuned | x", "status measured or guess"},
        {"arch | pthread-haswell | * | 4x8x3 | own | measured", "7 fields"},
        {"arch | pthread-haswell | * | 4x8x3 | own | measured | x | y", "7 fields"},
        {"arch |  | * | 4x8x3 | own | measured | x", "a match"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "%s%s\n", ok, bad[i].line);
        expect_parse_error(text, bad[i].what);
    }
}

/* The policy takes the tile from the database entry and names it; the
 * tuned overlay and the environment win; CLIPCL_GEMM_DB replaces the
 * database, and a malformed one makes the GEMM choice fail with its line. */
static void test_policy_from_db(void **state)
{
    (void)state;
    unsetenv("CLIPCL_GEMM_DB");
    unsetenv("CLIPCL_GEMM_TILE");
    unsetenv("CLIPCL_GEMM");
    rt_policy p;
    char src[200];
    rt_device_info d = cpu("pthread-haswell-AMD EPYC 7B13", "AuthenticAMD", 8);
    rt_policy_fill(&p, &d);
    assert_int_equal(p.gemm_tm, 4);
    assert_int_equal(p.gemm_vw, 8);
    assert_int_equal(p.gemm_nv, 3);
    /* the implementation is resolved by the backend: cache first, then this */
    assert_int_equal(p.gemm_impl, RT_GEMM_MEASURE);
    assert_int_equal(p.db_gemm_impl, RT_GEMM_OWN);
    char val[64];
    rt_policy_value_text(&p, RT_POL_GEMM_IMPL, val, sizeof val);
    assert_string_equal(val, "own");
    assert_int_equal(p.source[RT_POL_GEMM_TILE], RT_SRC_DEFAULT);
    rt_policy_source_text(&p, RT_POL_GEMM_TILE, src, sizeof src);
    assert_string_equal(src, "default (database arch pthread-haswell)");
    rt_policy_source_text(&p, RT_POL_GEMM_IMPL, src, sizeof src);
    assert_string_equal(src, "default (database arch pthread-haswell)");
    rt_policy_source_text(&p, RT_POL_ROW_WG, src, sizeof src);
    assert_string_equal(src, "default (class cpu)");
    /* the cache overlays the database */
    rt_policy_tune_note(&p, "clipcl tune, load 0.31");
    rt_policy_tune_gemm_tile(&p, 6, 8, 2);
    assert_int_equal(p.gemm_tm, 6);
    rt_policy_source_text(&p, RT_POL_GEMM_TILE, src, sizeof src);
    assert_string_equal(src, "tuned (clipcl tune, load 0.31)");
    /* the environment over both */
    setenv("CLIPCL_GEMM_TILE", "8x8x2", 1);
    rt_policy_fill(&p, &d);
    rt_policy_tune_gemm_tile(&p, 6, 8, 2);
    assert_int_equal(p.gemm_tm, 8);
    assert_int_equal(p.source[RT_POL_GEMM_TILE], RT_SRC_ENV);
    unsetenv("CLIPCL_GEMM_TILE");

    /* a GPU entry that says "measure" leaves the implementation to be timed */
    d = gpu("NVIDIA GeForce RTX 3090", "NVIDIA Corporation");
    rt_policy_fill(&p, &d);
    assert_int_equal(p.gemm_impl, RT_GEMM_MEASURE);
    assert_int_equal(p.db_gemm_impl, RT_GEMM_MEASURE);
    rt_policy_source_text(&p, RT_POL_GEMM_TILE, src, sizeof src);
    assert_string_equal(src, "default (database class gpu-nvidia, untuned guess)");
    rt_policy_source_text(&p, RT_POL_GEMM_IMPL, src, sizeof src);
    assert_string_equal(src, "default (class dgpu)");

    /* CLIPCL_GEMM_DB: a file replaces the embedded text */
    char path[] = "/tmp/clipcl-gemm-db-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(chain_db, f);
    fclose(f);
    setenv("CLIPCL_GEMM_DB", path, 1);
    d = cpu("pthread-haswell-AMD EPYC 7B13", "AuthenticAMD", 8);
    rt_policy_fill(&p, &d);
    assert_int_equal(p.gemm_tm, 6);
    assert_int_equal(p.gemm_nv, 2);
    assert_string_equal(p.db_entry, "database device EPYC 7B13");
    /* malformed: the policy keeps the table's values and the error */
    f = fopen(path, "w");
    fputs("class | cpu-avx2 | * | 4x8x3 | own | maybe | x\n", f);
    fclose(f);
    rt_policy_fill(&p, &d);
    assert_non_null(strstr(p.gemm_impl_error, path));
    assert_non_null(strstr(p.gemm_impl_error, ":1: status measured or guess"));
    assert_int_equal(p.db_entry[0], 0);
    remove(path);
    rt_policy_fill(&p, &d);
    assert_non_null(strstr(p.gemm_impl_error, "CLIPCL_GEMM_DB: cannot read"));
    unsetenv("CLIPCL_GEMM_DB");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_space_avx2),
        cmocka_unit_test(test_space_avx512),
        cmocka_unit_test(test_space_128bit_and_gpu),
        cmocka_unit_test(test_arch_names),
        cmocka_unit_test(test_embedded_db_valid),
        cmocka_unit_test(test_fallback_embedded),
        cmocka_unit_test(test_fallback_chain),
        cmocka_unit_test(test_malformed_db),
        cmocka_unit_test(test_policy_from_db),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
