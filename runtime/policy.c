/* The device policy (policy.h): the defaults table, the environment overlay,
 * the tuned overlay and the text forms `clipcl devices --policy` prints. */
#include "runtime/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/gemm_db.h"
#include "runtime/rt.h"
#include "runtime/settings.h"

/* ---- defaults: data, most specific row first ---------------------------- */

/* Values a table row gives; the style-dependent fields follow `style`
 * through style_presets so that CLIPCL_FORCE_VARIANT can switch them all. */
typedef struct policy_defaults {
    rt_style style;
    int row_wg;
    rt_gemm_impl_choice gemm_impl;
    int gemm_tm, gemm_vw, gemm_nv;
    int gemm_rt, gemm_kc;
    size_t conv_scratch_bytes;
    int fusion_enabled;
    int gemm_small_m;
} policy_defaults;

typedef struct style_preset {
    rt_style row_variant, gemm_variant, attention, attention_grad;
    int optim_vpi;
    rt_conv_choice conv_variant;
} style_preset;

/* Optimizer vectors per work-item: on a CPU device 512 contiguous elements
 * per item (32 to 128 float8 measured alike) amortise PoCL's per-work-item
 * cost; on a GPU one float8 per item keeps the launch wide (backends/opencl/ocl_optim.c). */
static const style_preset style_presets[2] = {
    [RT_STYLE_CPU] = {RT_STYLE_CPU, RT_STYLE_CPU, RT_STYLE_CPU, RT_STYLE_CPU, 64, RT_CONV_DIRECT},
    [RT_STYLE_GPU] = {RT_STYLE_GPU, RT_STYLE_GPU, RT_STYLE_GPU, RT_STYLE_GPU, 1, RT_CONV_LOCAL},
};

/* GEMM tile 6x16x4 (with packed A): the best of the sweeps on the PoCL Xeon
 * (docs/gemm.md), used until a tile is measured for the device. K blocks of
 * 768: only K > 768 is blocked (fc2's 3072 x 64 B panel outgrows L2).
 * The 16 MiB im2col cap: docs/opencl-backend.md. */
static const policy_defaults cpu_style = {
    RT_STYLE_CPU, 256, RT_GEMM_MEASURE, 6, 16, 4, 0, 768, (size_t)16 << 20, 1, 1,
};
static const policy_defaults gpu_style = {
    RT_STYLE_GPU, 256, RT_GEMM_MEASURE, 6, 16, 4, 0, 768, (size_t)16 << 20, 1, 1,
};

#define ANY (-1)

typedef struct policy_row {
    const char *label;       /* printed as "default (<label>)" */
    int device_class;        /* rt_device_class or ANY */
    int local_mem_real;      /* 1, 0 or ANY */
    const char *vendor;      /* case-insensitive part of the vendor, NULL = any */
    const char *device_name; /* case-insensitive part of the device name, NULL = any */
    const policy_defaults *values;
} policy_row;

/* A vendor- or architecture-specific row goes above the class rows, with
 * vendor / device_name set (none is needed yet: every measured difference is
 * covered by the tuned overlay). */
static const policy_row defaults_table[] = {
    {"class cpu", RT_CLASS_CPU, ANY, NULL, NULL, &cpu_style},
    {"class igpu", RT_CLASS_IGPU, 1, NULL, NULL, &gpu_style},
    {"class dgpu", RT_CLASS_DGPU, 1, NULL, NULL, &gpu_style},
    {"class other", RT_CLASS_OTHER, 1, NULL, NULL, &gpu_style},
    /* emulated local memory makes barriers and tree reductions slower than a
     * plain loop per work-item, whatever the class */
    {"emulated local memory", ANY, 0, NULL, NULL, &cpu_style},
    {"fallback", ANY, ANY, NULL, NULL, &cpu_style},
};

static int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && (hay[i] | 0x20) == (needle[i] | 0x20))
            i++;
        if (i == n)
            return 1;
    }
    return n == 0;
}

static const policy_row *match_row(const rt_device_info *d)
{
    const size_t n = sizeof defaults_table / sizeof defaults_table[0];
    for (size_t i = 0; i < n; i++) {
        const policy_row *r = &defaults_table[i];
        if (r->device_class != ANY && r->device_class != (int)d->device_class)
            continue;
        if (r->local_mem_real != ANY && r->local_mem_real != (d->local_mem_is_real ? 1 : 0))
            continue;
        if (r->vendor && !contains_nocase(d->vendor, r->vendor))
            continue;
        if (r->device_name && !contains_nocase(d->device_name, r->device_name))
            continue;
        return r;
    }
    return &defaults_table[n - 1];
}

static void apply_style(rt_policy *p, rt_style s)
{
    const style_preset *sp = &style_presets[s];
    p->style = s;
    p->row_variant = sp->row_variant;
    p->gemm_variant = sp->gemm_variant;
    p->attention = sp->attention;
    p->attention_grad = sp->attention_grad;
    p->optim_vpi = sp->optim_vpi;
    p->conv_variant = sp->conv_variant;
}

static const rt_policy_field style_fields[] = {
    RT_POL_STYLE, RT_POL_ROW_VARIANT, RT_POL_GEMM_VARIANT, RT_POL_ATTENTION,
    RT_POL_ATTENTION_GRAD, RT_POL_OPTIM_VPI, RT_POL_CONV_VARIANT,
};

/* ---- environment overlay ------------------------------------------------ */

static void mark_env(rt_policy *p, rt_policy_field f, rt_setting s)
{
    p->source[f] = RT_SRC_ENV;
    p->env_var[f] = rt_setting_info_of(s)->name;
}

/* An exact match among names sets *dst to its index; anything else is
 * ignored. */
static void env_choice(rt_policy *p, rt_policy_field f, rt_setting s, const char *const *names, int n, int *dst)
{
    const char *v = rt_setting_value(s);
    if (!v)
        return;
    for (int i = 0; i < n; i++)
        if (names[i] && !strcmp(v, names[i])) {
            *dst = i;
            mark_env(p, f, s);
            return;
        }
}

/* atoi(value) within [lo, hi] and a multiple of `multiple`; else ignored. */
static void env_int(rt_policy *p, rt_policy_field f, rt_setting s, int lo, int hi, int multiple, int *dst)
{
    const char *v = rt_setting_value(s);
    if (!v)
        return;
    const int x = atoi(v);
    if (x < lo || x > hi || x % multiple)
        return;
    *dst = x;
    mark_env(p, f, s);
}

static const char *const style_names[] = {"cpu", "gpu"};
static const char *const attention_names[] = {"cpu", "rows"};
static const char *const gemm_impl_names[] = {"measure", "own", "clblast"};
static const char *const pack_names[] = {"auto", "always", "never", "inplace"};
static const char *const small_m_names[] = {"auto", "off"};
static const char *const order_names[] = {"auto", "rows", "panels"};
static const char *const conv_names[] = {"im2col", "direct", "local"};

static void parse_fusion(rt_policy *p, const char *v)
{
    p->fusion_patterns[0] = 0;
    if (!strcmp(v, "0") || !strcmp(v, "1")) {
        p->fusion_enabled = v[0] == '1';
        return;
    }
    /* a list: named patterns on ('-name': off); when any is named on, the
     * unnamed ones are off, so CLIPCL_FUSION=a runs pattern a alone */
    size_t used = 0;
    int any_on = 0;
    const char *s = v;
    while (*s) {
        const size_t len = strcspn(s, ",");
        if (len > 0 && used + len + 2 < sizeof p->fusion_patterns) {
            p->fusion_patterns[used++] = ',';
            memcpy(p->fusion_patterns + used, s, len);
            used += len;
            any_on |= s[0] != '-';
        }
        s += len;
        if (*s == ',')
            s++;
    }
    if (used) {
        p->fusion_patterns[used++] = ',';
        p->fusion_patterns[used] = 0;
    }
    if (any_on)
        p->fusion_enabled = 0;
}

static void apply_env(rt_policy *p)
{
    int v;
    v = (int)p->style;
    env_choice(p, RT_POL_STYLE, RT_SET_FORCE_VARIANT, style_names, 2, &v);
    if (p->source[RT_POL_STYLE] == RT_SRC_ENV) {
        apply_style(p, (rt_style)v);
        for (size_t i = 0; i < sizeof style_fields / sizeof style_fields[0]; i++)
            mark_env(p, style_fields[i], RT_SET_FORCE_VARIANT);
    }

    const char *g = rt_setting_value(RT_SET_GEMM);
    if (g && (!strcmp(g, "own") || !strcmp(g, "clblast"))) {
        p->gemm_impl = g[0] == 'o' ? RT_GEMM_OWN : RT_GEMM_CLBLAST;
        mark_env(p, RT_POL_GEMM_IMPL, RT_SET_GEMM);
    } else if (g && *g && strcmp(g, "auto")) {
        snprintf(p->gemm_impl_error, sizeof p->gemm_impl_error,
                 "CLIPCL_GEMM: expected own, clblast or auto, found \"%.100s\"", g);
        mark_env(p, RT_POL_GEMM_IMPL, RT_SET_GEMM);
    }

    const char *t = rt_setting_value(RT_SET_GEMM_TILE);
    int tm, vw, nv;
    if (t && sscanf(t, "%dx%dx%d", &tm, &vw, &nv) == 3 && tm >= 1 && tm <= 32 &&
        (vw == 1 || vw == 2 || vw == 4 || vw == 8 || vw == 16) && nv >= 1 && nv <= 8) {
        p->gemm_tm = tm;
        p->gemm_vw = vw;
        p->gemm_nv = nv;
        mark_env(p, RT_POL_GEMM_TILE, RT_SET_GEMM_TILE);
    }
    env_int(p, RT_POL_GEMM_RT, RT_SET_GEMM_RT, 1, 64, 1, &p->gemm_rt);
    env_int(p, RT_POL_GEMM_KC, RT_SET_GEMM_KC, 0, 1 << 20, 1, &p->gemm_kc);
    v = (int)p->gemm_pack_b;
    env_choice(p, RT_POL_GEMM_PACK_B, RT_SET_GEMM_PACK, pack_names, 3, &v);
    p->gemm_pack_b = (rt_pack_choice)v;
    v = (int)p->gemm_pack_a;
    env_choice(p, RT_POL_GEMM_PACK_A, RT_SET_GEMM_PACK_A, pack_names, 4, &v);
    p->gemm_pack_a = (rt_pack_choice)v;

    v = (int)p->attention;
    env_choice(p, RT_POL_ATTENTION, RT_SET_ATTENTION, attention_names, 2, &v);
    p->attention = (rt_style)v;
    v = (int)p->attention_grad;
    env_choice(p, RT_POL_ATTENTION_GRAD, RT_SET_ATTENTION_GRAD, attention_names, 2, &v);
    p->attention_grad = (rt_style)v;

    const char *cs = rt_setting_value(RT_SET_CONV_SCRATCH);
    if (cs && atoll(cs) > 0) {
        p->conv_scratch_bytes = (size_t)atoll(cs);
        mark_env(p, RT_POL_CONV_SCRATCH, RT_SET_CONV_SCRATCH);
    }
    const char *cr = rt_setting_value(RT_SET_CONV_ROWS);
    if (cr && *cr) {
        p->conv_rows = atoi(cr) != 0;
        mark_env(p, RT_POL_CONV_ROWS, RT_SET_CONV_ROWS);
    }
    v = (int)p->conv_variant;
    env_choice(p, RT_POL_CONV_VARIANT, RT_SET_CONV, conv_names, 3, &v);
    p->conv_variant = (rt_conv_choice)v;

    const char *fu = rt_setting_value(RT_SET_FUSION);
    if (fu && *fu) {
        parse_fusion(p, fu);
        mark_env(p, RT_POL_FUSION, RT_SET_FUSION);
    }
    v = p->gemm_small_m ? 0 : 1;
    env_choice(p, RT_POL_GEMM_SMALL_M, RT_SET_GEMM_SMALL_M, small_m_names, 2, &v);
    p->gemm_small_m = v == 0;
    v = (int)p->gemm_order;
    env_choice(p, RT_POL_GEMM_ORDER, RT_SET_GEMM_ORDER, order_names, 3, &v);
    p->gemm_order = (rt_gemm_order)v;
}

/* The GEMM database's entry for dev (runtime/gemm_db.h) sets the tile and,
 * unless it says "measure", the implementation; no entry keeps the table's
 * values, and the backend then runs its bounded quick tune on first use. */
static void apply_database(rt_policy *p, const rt_device_info *dev)
{
    rt_gemm_db db;
    char err[sizeof p->gemm_impl_error];
    if (rt_gemm_db_load(&db, err, sizeof err)) {
        snprintf(p->gemm_impl_error, sizeof p->gemm_impl_error, "%s", err);
        return;
    }
    const rt_gemm_db_entry *e = rt_gemm_db_lookup(&db, dev);
    if (e) {
        char name[sizeof p->db_entry - 16];
        rt_gemm_db_entry_name(e, name, sizeof name);
        snprintf(p->db_entry, sizeof p->db_entry, "database %s", name);
        p->gemm_tm = e->tile.tm;
        p->gemm_vw = e->tile.vw;
        p->gemm_nv = e->tile.nv;
        p->db_fields |= 1u << RT_POL_GEMM_TILE;
        p->db_gemm_impl = e->impl;
        if (e->impl != RT_GEMM_MEASURE)
            p->db_fields |= 1u << RT_POL_GEMM_IMPL;
    }
    rt_gemm_db_free(&db);
}

void rt_policy_fill(rt_policy *p, const rt_device_info *dev)
{
    memset(p, 0, sizeof *p);
    const policy_row *row = match_row(dev);
    const policy_defaults *d = row->values;
    p->default_row = row->label;
    apply_style(p, d->style);
    /* the local-memory GEMM runs 256-wide work-groups: a GPU-style device
     * that cannot launch them keeps the CPU-style GEMM */
    if (p->gemm_variant == RT_STYLE_GPU && dev->max_work_group_size < 256)
        p->gemm_variant = RT_STYLE_CPU;
    p->row_wg = d->row_wg;
    while (p->row_wg > 1 && (size_t)p->row_wg > dev->max_work_group_size)
        p->row_wg /= 2;
    p->gemm_impl = d->gemm_impl;
    p->gemm_tm = d->gemm_tm;
    p->gemm_vw = d->gemm_vw;
    p->gemm_nv = d->gemm_nv;
    p->gemm_rt = d->gemm_rt;
    p->gemm_kc = d->gemm_kc;
    p->gemm_pack_b = RT_PACK_AUTO;
    p->gemm_pack_a = RT_PACK_AUTO;
    p->conv_scratch_bytes = d->conv_scratch_bytes;
    p->conv_rows = -1;
    p->fusion_enabled = d->fusion_enabled;
    p->gemm_small_m = d->gemm_small_m;
    p->gemm_order = RT_ORDER_AUTO;
    apply_database(p, dev);
    apply_env(p);
}

void rt_policy_reload(rt_ctx *ctx)
{
    if (ctx)
        rt_policy_fill(&ctx->policy, &ctx->dev);
}

/* The tuned setters write only on a change: lowerings read the policy while
 * another thread's GEMM choice may overlay the same, already known, result. */
void rt_policy_tune_gemm_impl(rt_policy *p, rt_gemm_impl_choice impl)
{
    if (p->source[RT_POL_GEMM_IMPL] == RT_SRC_ENV || p->source[RT_POL_GEMM_IMPL] == RT_SRC_SELFCHECK ||
        p->gemm_impl_error[0] ||
        (p->source[RT_POL_GEMM_IMPL] == RT_SRC_TUNED && p->gemm_impl == impl))
        return;
    p->gemm_impl = impl;
    p->source[RT_POL_GEMM_IMPL] = RT_SRC_TUNED;
}

void rt_policy_tune_note(rt_policy *p, const char *note)
{
    if (strcmp(p->tuned_note, note ? note : ""))
        snprintf(p->tuned_note, sizeof p->tuned_note, "%s", note ? note : "");
}

void rt_policy_tune_gemm_tile(rt_policy *p, int tm, int vw, int nv)
{
    if (p->source[RT_POL_GEMM_TILE] == RT_SRC_ENV ||
        (p->source[RT_POL_GEMM_TILE] == RT_SRC_TUNED && p->gemm_tm == tm && p->gemm_vw == vw && p->gemm_nv == nv))
        return;
    p->gemm_tm = tm;
    p->gemm_vw = vw;
    p->gemm_nv = nv;
    p->source[RT_POL_GEMM_TILE] = RT_SRC_TUNED;
}

/* ---- self-check overlay ------------------------------------------------- */

static const char *const variant_names[RT_VAR_COUNT] = {
    [RT_VAR_ROW_CPU] = "row_variant=cpu",
    [RT_VAR_ROW_GPU] = "row_variant=gpu",
    [RT_VAR_GEMM_OWN_CPU] = "gemm=own/cpu",
    [RT_VAR_GEMM_OWN_GPU] = "gemm=own/gpu",
    [RT_VAR_GEMM_CLBLAST] = "gemm=clblast",
    [RT_VAR_ATTENTION_CPU] = "attention=cpu",
    [RT_VAR_ATTENTION_ROWS] = "attention=rows",
};

const char *rt_variant_name(rt_variant v)
{
    return (int)v >= 0 && v < RT_VAR_COUNT ? variant_names[v] : "?";
}

static int var_off(unsigned mask, rt_variant v) { return (mask >> v) & 1u; }

/* A two-way style field: the other style when its own is off and the other
 * is not. */
static void swap_style(rt_policy *p, rt_policy_field f, rt_style *val, unsigned mask, rt_variant cpu,
                       rt_variant gpu)
{
    if (p->source[f] == RT_SRC_ENV)
        return;
    const rt_variant cur = *val == RT_STYLE_GPU ? gpu : cpu, other = *val == RT_STYLE_GPU ? cpu : gpu;
    if (var_off(mask, cur) && !var_off(mask, other)) {
        *val = *val == RT_STYLE_GPU ? RT_STYLE_CPU : RT_STYLE_GPU;
        p->source[f] = RT_SRC_SELFCHECK;
    }
}

void rt_policy_apply_selfcheck(rt_policy *p, unsigned disabled, const char *fusion_off)
{
    p->selfcheck_disabled = disabled;
    swap_style(p, RT_POL_ROW_VARIANT, &p->row_variant, disabled, RT_VAR_ROW_CPU, RT_VAR_ROW_GPU);
    swap_style(p, RT_POL_ATTENTION, &p->attention, disabled, RT_VAR_ATTENTION_CPU, RT_VAR_ATTENTION_ROWS);
    /* GEMM: a wrong own kernel in the device's style goes to CLBlast when
     * that passed (a tuned library beats the other style's kernel), and the
     * own variant moves to the other style for a forced CLIPCL_GEMM=own */
    const rt_variant own_cur = p->gemm_variant == RT_STYLE_GPU ? RT_VAR_GEMM_OWN_GPU : RT_VAR_GEMM_OWN_CPU;
    const int own_bad = var_off(disabled, own_cur);
    swap_style(p, RT_POL_GEMM_VARIANT, &p->gemm_variant, disabled, RT_VAR_GEMM_OWN_CPU, RT_VAR_GEMM_OWN_GPU);
    const rt_variant own_now = p->gemm_variant == RT_STYLE_GPU ? RT_VAR_GEMM_OWN_GPU : RT_VAR_GEMM_OWN_CPU;
    if (p->source[RT_POL_GEMM_IMPL] != RT_SRC_ENV && !p->gemm_impl_error[0]) {
        if (own_bad && p->gemm_impl != RT_GEMM_CLBLAST && !var_off(disabled, RT_VAR_GEMM_CLBLAST)) {
            p->gemm_impl = RT_GEMM_CLBLAST;
            p->source[RT_POL_GEMM_IMPL] = RT_SRC_SELFCHECK;
        } else if (var_off(disabled, RT_VAR_GEMM_CLBLAST) && p->gemm_impl != RT_GEMM_OWN &&
                   !var_off(disabled, own_now)) {
            p->gemm_impl = RT_GEMM_OWN;
            p->source[RT_POL_GEMM_IMPL] = RT_SRC_SELFCHECK;
        }
    }
    if (fusion_off && *fusion_off && p->source[RT_POL_FUSION] != RT_SRC_ENV) {
        /* ",-a,-b," as CLIPCL_FUSION=-a,-b gives: the others follow fusion_enabled */
        size_t used = 0;
        const char *s = fusion_off;
        p->fusion_patterns[0] = 0;
        while (*s) {
            const size_t len = strcspn(s, ",");
            if (len > 0 && used + len + 3 < sizeof p->fusion_patterns) {
                if (!used)
                    p->fusion_patterns[used++] = ',';
                p->fusion_patterns[used++] = '-';
                memcpy(p->fusion_patterns + used, s, len);
                used += len;
                p->fusion_patterns[used++] = ',';
                p->fusion_patterns[used] = 0;
            }
            s += len;
            if (*s == ',')
                s++;
        }
        p->source[RT_POL_FUSION] = RT_SRC_SELFCHECK;
    }
}

int rt_policy_fusion_on(const rt_policy *p, const char *pattern_name)
{
    if (!p)
        return 0;
    if (pattern_name && *pattern_name && p->fusion_patterns[0]) {
        char key[RT_POLICY_FUSION_LEN + 4];
        snprintf(key, sizeof key, ",%s,", pattern_name);
        if (strstr(p->fusion_patterns, key))
            return 1;
        snprintf(key, sizeof key, ",-%s,", pattern_name);
        if (strstr(p->fusion_patterns, key))
            return 0;
    }
    return p->fusion_enabled;
}

/* ---- text forms ---------------------------------------------------------- */

static const struct {
    const char *name, *meaning;
} fields[] = {
    [RT_POL_STYLE] = {"style", "kernel style: cpu (no real local memory or CPU class) or gpu"},
    [RT_POL_ROW_VARIANT] = {"row_variant", "row ops: cpu = a work-item per row, gpu = a work-group per row"},
    [RT_POL_ROW_WG] = {"row_wg", "work-group size of the gpu row variant"},
    [RT_POL_GEMM_IMPL] = {"gemm_impl", "GEMM: own, clblast, or measure (timed once per device, cached)"},
    [RT_POL_GEMM_VARIANT] = {"gemm_variant", "own GEMM: cpu = register tiles on packed panels, gpu = local memory"},
    [RT_POL_GEMM_TILE] = {"gemm_tile", "tile TMxVWxNV of the cpu-style own GEMM"},
    [RT_POL_GEMM_RT] = {"gemm_rt", "row tiles per work-item of the packed-A GEMM (0: from the shape)"},
    [RT_POL_GEMM_KC] = {"gemm_kc", "K block of the packed-A GEMM (0: none)"},
    [RT_POL_GEMM_PACK_B] = {"gemm_pack_b", "pack B into column panels: auto (by shape), always, never"},
    [RT_POL_GEMM_PACK_A] = {"gemm_pack_a", "the row-tile GEMM and its A: auto (by shape), always (A packed), never, inplace"},
    [RT_POL_ATTENTION] = {"attention", "forward attention: cpu = attention_cpu where the head dim allows, else rows"},
    [RT_POL_ATTENTION_GRAD] = {"attention_grad", "attention backward: cpu kernels where they apply, or rows"},
    [RT_POL_CONV_SCRATCH] = {"conv_scratch", "im2col scratch cap per conv node, bytes"},
    [RT_POL_CONV_ROWS] = {"conv_rows", "small-output conv path: auto (by shape), on, off"},
    [RT_POL_CONV_VARIANT] = {"conv_variant", "conv2d: im2col + GEMM, direct (cpu implicit GEMM), local (gpu tiles)"},
    [RT_POL_OPTIM_VPI] = {"optim_vpi", "optimizer float8 vectors per work-item"},
    [RT_POL_FUSION] = {"fusion", "fusion at lowering: on, off, plus per-pattern names"},
    [RT_POL_GEMM_SMALL_M] = {"gemm_small_m", "own cpu GEMM: tile rows cut for a small M (auto: by shape), or off"},
    [RT_POL_GEMM_ORDER] = {"gemm_order", "grid order of the row-tile GEMM: auto (by the cache), rows, panels"},
};
_Static_assert(sizeof fields / sizeof fields[0] == RT_POL_COUNT, "policy field table out of step with rt_policy_field");

const char *rt_policy_field_name(rt_policy_field f)
{
    return (int)f >= 0 && f < RT_POL_COUNT ? fields[f].name : "?";
}

const char *rt_policy_field_meaning(rt_policy_field f)
{
    return (int)f >= 0 && f < RT_POL_COUNT ? fields[f].meaning : "?";
}

void rt_policy_value_text(const rt_policy *p, rt_policy_field f, char *buf, size_t len)
{
    switch (f) {
    case RT_POL_STYLE: snprintf(buf, len, "%s", style_names[p->style]); return;
    case RT_POL_ROW_VARIANT: snprintf(buf, len, "%s", style_names[p->row_variant]); return;
    case RT_POL_ROW_WG: snprintf(buf, len, "%d", p->row_wg); return;
    case RT_POL_GEMM_IMPL: {
        /* the database's choice, before the backend has resolved it */
        const rt_gemm_impl_choice c =
            p->gemm_impl == RT_GEMM_MEASURE && p->source[f] == RT_SRC_DEFAULT ? p->db_gemm_impl : p->gemm_impl;
        snprintf(buf, len, "%s", p->gemm_impl_error[0] ? "invalid" : gemm_impl_names[c]);
        return;
    }
    case RT_POL_GEMM_VARIANT: snprintf(buf, len, "%s", style_names[p->gemm_variant]); return;
    case RT_POL_GEMM_TILE: snprintf(buf, len, "%dx%dx%d", p->gemm_tm, p->gemm_vw, p->gemm_nv); return;
    case RT_POL_GEMM_RT: snprintf(buf, len, "%d", p->gemm_rt); return;
    case RT_POL_GEMM_KC: snprintf(buf, len, "%d", p->gemm_kc); return;
    case RT_POL_GEMM_PACK_B: snprintf(buf, len, "%s", pack_names[p->gemm_pack_b]); return;
    case RT_POL_GEMM_PACK_A: snprintf(buf, len, "%s", pack_names[p->gemm_pack_a]); return;
    case RT_POL_ATTENTION: snprintf(buf, len, "%s", attention_names[p->attention]); return;
    case RT_POL_ATTENTION_GRAD: snprintf(buf, len, "%s", attention_names[p->attention_grad]); return;
    case RT_POL_CONV_SCRATCH: snprintf(buf, len, "%zu", p->conv_scratch_bytes); return;
    case RT_POL_CONV_ROWS:
        snprintf(buf, len, "%s", p->conv_rows < 0 ? "auto" : p->conv_rows ? "on" : "off");
        return;
    case RT_POL_CONV_VARIANT: snprintf(buf, len, "%s", conv_names[p->conv_variant]); return;
    case RT_POL_OPTIM_VPI: snprintf(buf, len, "%d", p->optim_vpi); return;
    case RT_POL_FUSION: {
        /* "on" or "off", then the named patterns without the outer commas */
        const char *pat = p->fusion_patterns;
        const size_t n = strlen(pat);
        snprintf(buf, len, "%s%s%.*s", p->fusion_enabled ? "on" : "off", n ? " " : "",
                 n > 2 ? (int)(n - 2) : 0, n > 2 ? pat + 1 : "");
        return;
    }
    case RT_POL_GEMM_SMALL_M: snprintf(buf, len, "%s", p->gemm_small_m ? "auto" : "off"); return;
    case RT_POL_GEMM_ORDER: snprintf(buf, len, "%s", order_names[p->gemm_order]); return;
    case RT_POL_COUNT:
        break;
    }
    snprintf(buf, len, "?");
}

const char *rt_policy_source_name(rt_policy_source s)
{
    return s == RT_SRC_ENV ? "env" : s == RT_SRC_TUNED ? "tuned" : s == RT_SRC_SELFCHECK ? "selfcheck" : "default";
}

void rt_policy_source_text(const rt_policy *p, rt_policy_field f, char *buf, size_t len)
{
    if ((int)f < 0 || f >= RT_POL_COUNT) {
        snprintf(buf, len, "?");
        return;
    }
    switch (p->source[f]) {
    case RT_SRC_ENV: snprintf(buf, len, "env %s", p->env_var[f] ? p->env_var[f] : "?"); return;
    case RT_SRC_TUNED:
        if (p->tuned_note[0])
            snprintf(buf, len, "tuned (%s)", p->tuned_note);
        else
            snprintf(buf, len, "tuned");
        return;
    case RT_SRC_SELFCHECK: snprintf(buf, len, "selfcheck (a variant found wrong on this device)"); return;
    case RT_SRC_DEFAULT: break;
    }
    if ((p->db_fields >> f) & 1u)
        snprintf(buf, len, "default (%s)", p->db_entry);
    else
        snprintf(buf, len, "default (%s)", p->default_row ? p->default_row : "?");
}
