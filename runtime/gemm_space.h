/* What the GEMM tuner may try on a device, derived from what the device
 * reports (docs/gemm.md "Search space"):
 *
 *   class      cpu-avx512 / cpu-avx2 / cpu-128bit from the native (else
 *              preferred) float vector width, gpu-nvidia / gpu-amd /
 *              gpu-intel / gpu from the vendor, unknown otherwise;
 *   registers  an estimate of the vector register file: 32 for AVX-512,
 *              16 for AVX2 and SSE, 32 for 128-bit ARM (NEON), 32 for GPUs
 *              (per work-item, a budget rather than a hardware count);
 *   tiles      TMxVWxNV of the CPU-style own GEMM with VW the class's
 *              vector width (AVX-512 also 8: ymm code can win on cores that
 *              split zmm ops) and TM*NV accumulators between half of the
 *              register estimate (fewer cannot hide the FMA latency) and the
 *              estimate itself (more spill);
 *   row_wg     work-group sizes for the GPU-style row kernels, powers of two
 *              up to the device's maximum and 1024.
 *
 * Pure functions of rt_device_info, so tests feed fake devices. */
#ifndef CLIPCL_RUNTIME_GEMM_SPACE_H
#define CLIPCL_RUNTIME_GEMM_SPACE_H

#include <stddef.h>

typedef struct rt_device_info rt_device_info;

typedef enum rt_gemm_class {
    RT_GC_UNKNOWN = 0,
    RT_GC_CPU_AVX512,
    RT_GC_CPU_AVX2,
    RT_GC_CPU_128,
    RT_GC_GPU_NVIDIA,
    RT_GC_GPU_AMD,
    RT_GC_GPU_INTEL,
    RT_GC_GPU,
    RT_GC_COUNT
} rt_gemm_class;

typedef struct rt_gemm_tile {
    int tm, vw, nv; /* rows, vector width, vectors per row: panel = vw * nv */
} rt_gemm_tile;

#define RT_GEMM_SPACE_MAX 128
#define RT_GEMM_WG_MAX 8

typedef struct rt_gemm_space {
    rt_gemm_class cls;
    int registers;       /* vector register estimate */
    int min_acc, max_acc; /* accumulator bounds the tiles obey */
    int n_tiles;
    rt_gemm_tile tiles[RT_GEMM_SPACE_MAX];
    int n_row_wg;
    int row_wg[RT_GEMM_WG_MAX];
} rt_gemm_space;

/* "cpu-avx2", ... "gpu", "unknown"; and back (-1 when no class has the name). */
const char *rt_gemm_class_name(rt_gemm_class c);
int rt_gemm_class_parse(const char *name);
/* 1 for the gpu-* classes. */
int rt_gemm_class_is_gpu(rt_gemm_class c);

rt_gemm_class rt_gemm_class_of(const rt_device_info *d);
int rt_gemm_registers(const rt_device_info *d);
/* PoCL's device names start with the driver and LLVM CPU name
 * ("pthread-skylake-avx512-AMD EPYC 7B13"): those words, up to the first
 * that begins with an upper-case letter, are the architecture
 * ("pthread-skylake-avx512"). Empty for other drivers. */
void rt_gemm_arch_of(const rt_device_info *d, char *buf, size_t len);

/* The space for d. wide: the bench's exhaustive sweep, every vector width
 * of 4, 8 and 16 and accumulators from a quarter to 1.5 times the register
 * estimate, so a sweep can show what the register bound leaves out. */
void rt_gemm_space_of(const rt_device_info *d, int wide, rt_gemm_space *out);
/* 1 when t is in s. */
int rt_gemm_space_has(const rt_gemm_space *s, rt_gemm_tile t);

/* "6x16x4" -> tile (1 <= tm <= 32, vw in 1/2/4/8/16, 1 <= nv <= 8); 0 when malformed. */
int rt_gemm_tile_parse(const char *text, rt_gemm_tile *out);

#endif
