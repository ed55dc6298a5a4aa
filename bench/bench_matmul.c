/* bench_matmul: GFLOP/s of each GEMM implementation on the CLIP ViT-B/32
 * shapes (50B x 768)(768 x 3072), (50B x 3072)(3072 x 768),
 * (50B x 768)(768 x 2304) for B = 1 and 32, through the GEMM entry that the
 * matmul lowering uses (B shared by the batch, packed every call).
 *
 * usage: bench_matmul [--impl own|clblast|both] [--min-time S] [--runs N]
 *                     [--device SPEC] [--batches 1,32]
 * Each number: one warm-up call, then the median of >= N calls (default 5)
 * lasting >= S seconds in all (default 1), each followed by clFinish.
 * Output: one line per (shape, impl), machine-readable:
 *   gemm <label> <impl> M N K batch <gflops> <gflop per CPU-second>
 * (the second: all the process's threads' CPU time over the timed calls,
 * which a loaded machine inflates far less than wall time) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_gemm.h"
#include "runtime/rt.h"

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [--impl own|clblast|both] [--min-time S] [--runs N] [--device SPEC] [--batches 1,32]\n",
            argv0);
    return 2;
}

int main(int argc, char **argv)
{
    const char *impl_s = "both", *device = NULL, *batches_s = "1,32";
    double min_time = 1.0;
    int runs = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--impl") && i + 1 < argc)
            impl_s = argv[++i];
        else if (!strcmp(argv[i], "--min-time") && i + 1 < argc)
            min_time = atof(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--device") && i + 1 < argc)
            device = argv[++i];
        else if (!strcmp(argv[i], "--batches") && i + 1 < argc)
            batches_s = argv[++i];
        else
            return usage(argv[0]);
    }
    ocl_gemm_impl impls[2];
    int n_impls = 0;
    if (!strcmp(impl_s, "own") || !strcmp(impl_s, "both"))
        impls[n_impls++] = OCL_GEMM_OWN;
    if (!strcmp(impl_s, "clblast") || !strcmp(impl_s, "both"))
        impls[n_impls++] = OCL_GEMM_CLBLAST;
    if (!n_impls || runs < 1)
        return usage(argv[0]);
    int batches[8], n_batches = 0;
    for (const char *p = batches_s; *p && n_batches < 8;) {
        batches[n_batches++] = atoi(p);
        p = strchr(p, ',');
        if (!p)
            break;
        p++;
    }

    rt_ctx *ctx;
    if (rt_ctx_create(device, 0, &ctx)) {
        fprintf(stderr, "bench_matmul: %s\n", cc_last_error());
        return 1;
    }
    ocl_gemm_tile t = ocl_gemm_tile_for(ctx);
    printf("# device %s (%s), driver %s; own tile TM=%d VW=%d NV=%d\n", ctx->dev.device_name,
           rt_device_class_name(ctx->dev.device_class), ctx->dev.driver_version, t.tm, t.vw, t.nv);
    static const struct { const char *name; int n, k; } shapes[] = {
        {"fc1", 3072, 768}, {"fc2", 768, 3072}, {"qkv", 2304, 768},
    };
    int rc = 0;
    for (int bi = 0; bi < n_batches; bi++) {
        for (int s = 0; s < 3; s++) {
            for (int i = 0; i < n_impls; i++) {
                double gf = 0, gf_cpu = 0;
                char label[32];
                snprintf(label, sizeof label, "%s_b%d", shapes[s].name, batches[bi]);
                if (ocl_gemm_measure_cpu(ctx, impls[i], 50, shapes[s].n, shapes[s].k, batches[bi], 1, runs,
                                         min_time, &gf, &gf_cpu)) {
                    fprintf(stderr, "bench_matmul: %s %s: %s\n", label, ocl_gemm_impl_name(impls[i]),
                            cc_last_error());
                    rc = 1;
                    continue;
                }
                printf("gemm %s %s %d %d %d %d %.1f %.1f\n", label, ocl_gemm_impl_name(impls[i]),
                       50 * batches[bi], shapes[s].n, shapes[s].k, batches[bi], gf, gf_cpu);
                fflush(stdout);
            }
        }
    }
    rt_ctx_free(ctx);
    return rc;
}
