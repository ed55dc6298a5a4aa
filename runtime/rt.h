/* OpenCL runtime: platforms and devices, selection, context and queue,
 * program build with an on-disk binary cache, embedded kernel sources with a
 * run-time override directory, events and profiling. Knows nothing of graphs. */
#ifndef CLIPCL_RT_H
#define CLIPCL_RT_H

#include <CL/cl.h>
#include <stddef.h>

#include "runtime/dtype.h"
#include "runtime/policy.h"
#include "runtime/status.h"

typedef enum rt_device_class {
    RT_CLASS_CPU = 0,  /* e.g. PoCL: no real local memory, wide vectors, no barriers wanted */
    RT_CLASS_IGPU = 1, /* GPU sharing host memory */
    RT_CLASS_DGPU = 2, /* discrete GPU */
    RT_CLASS_OTHER = 3,
} rt_device_class;

typedef struct rt_device_info {
    cl_platform_id platform;
    cl_device_id device;
    int platform_index, device_index;
    char platform_name[256];
    char platform_version[256];
    char device_name[256];
    char vendor[256];
    char driver_version[256];
    char device_version[256];
    cl_device_type type;
    rt_device_class device_class;
    cl_uint compute_units;
    cl_ulong global_mem_bytes;
    cl_ulong global_mem_cache_bytes; /* CL_DEVICE_GLOBAL_MEM_CACHE_SIZE (a CPU's last-level cache), 0 = unknown */
    cl_ulong local_mem_bytes;
    int local_mem_is_real;      /* CL_LOCAL vs CL_GLOBAL (emulated) */
    cl_ulong max_alloc_bytes;
    size_t max_work_group_size;
    cl_uint preferred_vector_width_float;
    cl_uint native_vector_width_float; /* the GEMM search space's width (runtime/gemm_space.h) */
    cl_uint mem_base_addr_align_bytes;
    int host_unified_memory;
    int fp16, fp64;
} rt_device_info;

/* All devices of all platforms. *out is malloc'd (free()). No platform at all
 * -> CC_ERR_NO_PLATFORM with a message telling to install an ICD such as
 * pocl-opencl-icd. */
int rt_list_devices(rt_device_info **out, int *n);

/* spec: "gpu", "cpu", "P:D" indices, or a case-insensitive substring of the
 * device name; NULL or "" -> $CLIPCL_DEVICE, else the first GPU, else the
 * first CPU. No match -> CC_ERR_NO_DEVICE naming the spec and listing what
 * exists. */
int rt_select_device(const char *spec, rt_device_info *out);

const char *rt_device_class_name(rt_device_class c);
const char *rt_cl_error_string(cl_int err);

/* Fails with CC_ERR_OPENCL naming the call and the error string. */
#define RT_CHECK(call)                                                         \
    do {                                                                       \
        cl_int rt_check_err_ = (call);                                         \
        if (rt_check_err_ != CL_SUCCESS)                                       \
            return cc_fail(CC_ERR_OPENCL, "%s failed: %s (%s:%d)", #call,      \
                           rt_cl_error_string(rt_check_err_), __FILE__, __LINE__); \
    } while (0)

typedef struct rt_program_entry rt_program_entry;

typedef struct rt_ctx {
    rt_device_info dev;
    cl_context context;
    cl_command_queue queue;
    int profiling;                 /* queue created with CL_QUEUE_PROFILING_ENABLE */
    rt_policy policy;              /* every kernel-variant choice (runtime/policy.h) */
    rt_dtype weight_dtype;         /* storage of weights packed once by plans lowered from now
                                      on (backend_set_weight_dtype; docs/gemm.md); f32 default */
    rt_program_entry *programs;    /* in-memory program cache (file + options) */
    int n_programs, cap_programs;
    /* statistics, for tests and --verbose */
    int disk_cache_hits, disk_cache_misses, disk_cache_rejected;
} rt_ctx;

/* spec as rt_select_device. profiling also honours $CLIPCL_PROFILE=1. Fills
 * ctx->policy from the device and the environment (runtime/policy.h). */
int rt_ctx_create(const char *spec, int profiling, rt_ctx **out);
void rt_ctx_free(rt_ctx *ctx);

/* Kernel source by file name ("gemm.cl"): from $CLIPCL_KERNEL_DIR if that
 * folder holds the file, else the copy embedded at build time, with its
 * `#include "x.cl"` lines replaced by those files (looked up the same way).
 * NULL if the file or an include is missing. *from_override (may be NULL):
 * 1 if the file or any file it includes came from the override folder. */
const char *rt_kernel_source(const char *file, size_t *len, int *from_override);
/* The same, as a cc_code: CC_ERR_IO with one line naming the missing file
 * (the kernel file itself, or an include and the file and line asking). */
int rt_kernel_text(const char *file, const char **src, size_t *len, int *from_override);

/* Program for (file, build options) on ctx's device: in-memory cache, then
 * the on-disk binary cache, then a compile (whose binary is stored). The key
 * hashes device name, driver and platform version, source, options and a
 * cache-format number; a corrupt or truncated entry is rebuilt. A compile
 * error -> CC_ERR_BUILD with the file name and the build log. The program
 * stays owned by ctx. */
int rt_program(rt_ctx *ctx, const char *file, const char *options, cl_program *out);
/* A new kernel object (caller releases) from rt_program(). */
int rt_kernel(rt_ctx *ctx, const char *file, const char *options, const char *name, cl_kernel *out);

/* $CLIPCL_CACHE_DIR, else $XDG_CACHE_HOME/clipcl, else ~/.cache/clipcl.
 * Writes into buf; returns buf. */
const char *rt_cache_dir(char *buf, size_t len);

/* Buffers */
int rt_alloc(rt_ctx *ctx, size_t bytes, cl_mem *out);
int rt_upload(rt_ctx *ctx, cl_mem m, size_t offset, const void *src, size_t bytes);
int rt_download(rt_ctx *ctx, cl_mem m, size_t offset, void *dst, size_t bytes);
int rt_finish(rt_ctx *ctx);
/* Seconds between an event's start and end (needs profiling). */
double rt_event_seconds(cl_event ev);

/* "gpu", "cpu", "accel", "custom" or "other": the short name the CLI and the
 * API give a device's type. */
const char *rt_device_type_name(cl_device_type t);

#endif
