/* The GEMM search space of a device (gemm_space.h). */
#include "runtime/gemm_space.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "runtime/rt.h"

static const char *const class_names[RT_GC_COUNT] = {
    [RT_GC_UNKNOWN] = "unknown",       [RT_GC_CPU_AVX512] = "cpu-avx512", [RT_GC_CPU_AVX2] = "cpu-avx2",
    [RT_GC_CPU_128] = "cpu-128bit",    [RT_GC_GPU_NVIDIA] = "gpu-nvidia", [RT_GC_GPU_AMD] = "gpu-amd",
    [RT_GC_GPU_INTEL] = "gpu-intel",   [RT_GC_GPU] = "gpu",
};

const char *rt_gemm_class_name(rt_gemm_class c)
{
    return (int)c >= 0 && c < RT_GC_COUNT ? class_names[c] : "unknown";
}

int rt_gemm_class_parse(const char *name)
{
    for (int c = 0; c < RT_GC_COUNT; c++)
        if (name && !strcmp(name, class_names[c]))
            return c;
    return -1;
}

int rt_gemm_class_is_gpu(rt_gemm_class c) { return c >= RT_GC_GPU_NVIDIA && c <= RT_GC_GPU; }

static int has_nocase(const char *hay, const char *needle)
{
    const size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return 0;
}

static int is_arm(const rt_device_info *d)
{
    return has_nocase(d->vendor, "arm") || has_nocase(d->device_name, "aarch64") ||
           has_nocase(d->device_name, "cortex") || has_nocase(d->device_name, "neoverse") ||
           has_nocase(d->device_name, "apple");
}

rt_gemm_class rt_gemm_class_of(const rt_device_info *d)
{
    const int gpu = d->device_class == RT_CLASS_DGPU || d->device_class == RT_CLASS_IGPU ||
                    (d->type & CL_DEVICE_TYPE_GPU) != 0;
    if (gpu) {
        if (has_nocase(d->vendor, "nvidia"))
            return RT_GC_GPU_NVIDIA;
        if (has_nocase(d->vendor, "advanced micro") || has_nocase(d->vendor, "amd"))
            return RT_GC_GPU_AMD;
        if (has_nocase(d->vendor, "intel"))
            return RT_GC_GPU_INTEL;
        return RT_GC_GPU;
    }
    if (d->device_class != RT_CLASS_CPU)
        return RT_GC_UNKNOWN;
    /* LLVM's CPU name says AVX-512 even where a driver reports a narrower
     * preferred width */
    if (has_nocase(d->device_name, "avx512"))
        return RT_GC_CPU_AVX512;
    const unsigned w = d->native_vector_width_float ? d->native_vector_width_float : d->preferred_vector_width_float;
    return w == 16 ? RT_GC_CPU_AVX512 : w == 8 ? RT_GC_CPU_AVX2 : w == 4 ? RT_GC_CPU_128 : RT_GC_UNKNOWN;
}

int rt_gemm_registers(const rt_device_info *d)
{
    switch (rt_gemm_class_of(d)) {
    case RT_GC_CPU_AVX512: return 32;
    case RT_GC_CPU_AVX2: return 16;
    case RT_GC_CPU_128: return is_arm(d) ? 32 : 16;
    case RT_GC_UNKNOWN: return 16;
    default: return 32; /* GPUs: a per-work-item budget that keeps occupancy */
    }
}

void rt_gemm_arch_of(const rt_device_info *d, char *buf, size_t len)
{
    buf[0] = 0;
    const char *n = d->device_name;
    if (strncmp(n, "pthread-", 8) && strncmp(n, "cpu-", 4) && strncmp(n, "basic-", 6))
        return;
    size_t end = 0;
    for (size_t i = 0; n[i];) {
        size_t j = i;
        while (n[j] && n[j] != '-')
            j++;
        if (i > 0 && isupper((unsigned char)n[i]))
            break;
        end = j;
        if (!n[j])
            break;
        i = j + 1;
    }
    snprintf(buf, len, "%.*s", (int)end, n);
}

int rt_gemm_tile_parse(const char *text, rt_gemm_tile *out)
{
    int tm, vw, nv;
    char tail;
    if (!text || sscanf(text, "%dx%dx%d%c", &tm, &vw, &nv, &tail) != 3 || tm < 1 || tm > 32 ||
        !(vw == 1 || vw == 2 || vw == 4 || vw == 8 || vw == 16) || nv < 1 || nv > 8)
        return 0;
    out->tm = tm;
    out->vw = vw;
    out->nv = nv;
    return 1;
}

int rt_gemm_space_has(const rt_gemm_space *s, rt_gemm_tile t)
{
    for (int i = 0; i < s->n_tiles; i++)
        if (s->tiles[i].tm == t.tm && s->tiles[i].vw == t.vw && s->tiles[i].nv == t.nv)
            return 1;
    return 0;
}

/* Row counts tried: every one up to 8, then even ones (a 9-row tile is
 * never better than 8 or 10 and costs a compile). */
static const int tm_values[] = {1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16};

static void add_width(rt_gemm_space *s, int vw)
{
    for (int nv = 1; nv <= 4; nv++) {
        if (vw * nv > 64) /* a B panel wider than 64 floats leaves L1 per k step */
            continue;
        for (size_t i = 0; i < sizeof tm_values / sizeof tm_values[0]; i++) {
            const int acc = tm_values[i] * nv;
            if (acc < s->min_acc || acc > s->max_acc || s->n_tiles == RT_GEMM_SPACE_MAX)
                continue;
            s->tiles[s->n_tiles++] = (rt_gemm_tile){tm_values[i], vw, nv};
        }
    }
}

void rt_gemm_space_of(const rt_device_info *d, int wide, rt_gemm_space *out)
{
    memset(out, 0, sizeof *out);
    out->cls = rt_gemm_class_of(d);
    out->registers = rt_gemm_registers(d);
    out->min_acc = wide ? out->registers / 4 : out->registers / 2;
    out->max_acc = wide ? out->registers * 3 / 2 : out->registers;
    if (wide) {
        add_width(out, 16);
        add_width(out, 8);
        add_width(out, 4);
    } else {
        switch (out->cls) {
        case RT_GC_CPU_AVX512: add_width(out, 16); add_width(out, 8); break;
        case RT_GC_CPU_AVX2: add_width(out, 8); break;
        case RT_GC_CPU_128: add_width(out, 4); break;
        case RT_GC_UNKNOWN: {
            const unsigned w = d->preferred_vector_width_float;
            add_width(out, w == 1 || w == 2 || w == 4 || w == 8 || w == 16 ? (int)w : 4);
            break;
        }
        default: add_width(out, 4); break; /* GPUs: float4, the CPU-style kernel if forced */
        }
    }
    /* GPU-style row kernels: powers of two from 32 up to the device's limit */
    for (int wg = 32; wg <= 1024 && (size_t)wg <= d->max_work_group_size && out->n_row_wg < RT_GEMM_WG_MAX; wg *= 2)
        out->row_wg[out->n_row_wg++] = wg;
}
