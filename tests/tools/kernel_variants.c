/* kernel_variants OUTDIR: what the GPU-target compile test
 * (test_kernel_targets.py) compiles, taken from the runtime itself so that it
 * stays right as kernels and lowerings change.
 *
 *   OUTDIR/sources/<file>  every embedded kernel file with its includes
 *                          resolved by rt_kernel_text(), as a driver gets it
 *   OUTDIR/options.txt     "<file>\t<options>" per distinct build, recorded
 *                          from the context's program list after planning,
 *                          with the policy in its GPU style, the graphs that
 *                          use every kernel family: the text and image towers
 *                          and the training step (forward, backward) of the
 *                          ViT and ResNet test models, plus the optimizer.
 *
 * The policy variants a GPU-class device can get: the GPU style of every
 * style-dependent field (as the defaults rows for igpu/dgpu/other give it),
 * the own GEMM and CLBlast (either can be measured faster), fusion on and
 * off, the row work-group sizes the defaults' 256 becomes on devices with a
 * smaller maximum (policy.c halves it), and the GEMM tiles a measurement can
 * pick. Without an OpenCL device only the
 * sources are written and options.txt holds the line "# no device". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backends/opencl/ocl_backend.h"
#include "models/clip.h"
#include "models/clip_train.h"
#include "runtime/kernel_source.h"
#include "runtime/program_cache.h"
#include "runtime/rt.h"
#include "runtime/settings.h"
#include "runtime/status.h"

static int write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return cc_fail(CC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    size_t w = fwrite(text, 1, len, f);
    if (fclose(f) != 0 || w != len)
        return cc_fail(CC_ERR_IO, "cannot write %s", path);
    return CC_OK;
}

static int write_sources(const char *dir)
{
    char path[4096];
    for (const rt_embedded_kernel *k = rt_embedded_kernels; k->name; k++) {
        const char *src;
        size_t len;
        int rc = rt_kernel_text(k->name, &src, &len, NULL);
        if (rc)
            return rc;
        int w = snprintf(path, sizeof path, "%s/%s", dir, k->name);
        if (w < 0 || (size_t)w >= sizeof path)
            return cc_fail(CC_ERR_INVALID, "kernel_variants: path %s/%s too long", dir, k->name);
        if ((rc = write_file(path, src, len)))
            return rc;
    }
    return CC_OK;
}

/* Lowers g on ctx (which compiles every program the plan needs). */
static int plan_once(rt_ctx *ctx, const graph *g, const char *what)
{
    ocl_plan *p = NULL;
    int rc = ocl_plan_create(ctx, g, &p);
    if (rc)
        return cc_wrap(rc, "%s", what);
    ocl_plan_free(p);
    return CC_OK;
}

static int plan_model(rt_ctx *ctx, const char *data, const char *model_dir, const char *train_dir)
{
    char path[4096];
    clip_model *m = NULL;
    clip_tower *t = NULL;
    clip_train_graph *tg = NULL;
    snprintf(path, sizeof path, "%s/%s", data, model_dir);
    int rc = clip_load(path, &m);
    if (!rc && !(rc = clip_build_image(m->w, &m->cfg, 2, &t)))
        rc = plan_once(ctx, t->g, "image tower");
    clip_tower_free(t);
    t = NULL;
    if (!rc && !(rc = clip_build_text(m->w, &m->cfg, 2, &t)))
        rc = plan_once(ctx, t->g, "text tower");
    clip_tower_free(t);
    clip_model_free(m);
    m = NULL;
    if (rc)
        return cc_wrap(rc, "%s", model_dir);
    /* the training step: forward and backward of both towers and the loss */
    snprintf(path, sizeof path, "%s/%s", data, train_dir);
    if (!(rc = clip_load(path, &m)) &&
        !(rc = clip_train_build(m->w, &m->cfg, 4, CLIP_LOSS_CONTRASTIVE, &tg)))
        rc = plan_once(ctx, tg->g, "training step");
    clip_train_free(tg);
    clip_model_free(m);
    return rc ? cc_wrap(rc, "%s", train_dir) : CC_OK;
}

typedef struct variant {
    const char *gemm;   /* CLIPCL_GEMM */
    const char *fusion; /* CLIPCL_FUSION */
    int row_wg;
    const char *tile;   /* CLIPCL_GEMM_TILE, NULL: the default; the others are
                         * the tiles ocl_gemm_select.c may measure as best
                         * (they reach conv.cl, conv_grad.cl and the packing
                         * kernels of gemm.cl), one with K blocks off */
    const char *kc;     /* CLIPCL_GEMM_KC, NULL: the default */
} variant;

static const variant variants[] = {
    {"own", "1", 256, NULL, NULL},     {"own", "0", 256, NULL, NULL},      {"clblast", "1", 256, NULL, NULL},
    {"clblast", "0", 256, NULL, NULL}, {"own", "1", 128, NULL, NULL},      {"own", "1", 64, NULL, NULL},
    {"own", "1", 256, "6x16x3", NULL}, {"own", "1", 256, "8x16x3", NULL},  {"own", "1", 256, "8x16x2", NULL},
    {"own", "1", 256, "4x16x4", "0"},
};

static void set_or_unset(const char *name, const char *value)
{
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

static int record_options(const char *data, FILE *out)
{
    rt_ctx *ctx = NULL;
    if (rt_ctx_create(NULL, 0, &ctx)) {
        fprintf(out, "# no device: %s\n", cc_last_error());
        return CC_OK;
    }
    int rc = CC_OK;
    setenv("CLIPCL_FORCE_VARIANT", "gpu", 1);
    for (size_t v = 0; v < sizeof variants / sizeof variants[0] && !rc; v++) {
        setenv("CLIPCL_GEMM", variants[v].gemm, 1);
        setenv("CLIPCL_FUSION", variants[v].fusion, 1);
        set_or_unset("CLIPCL_GEMM_TILE", variants[v].tile);
        set_or_unset("CLIPCL_GEMM_KC", variants[v].kc);
        rt_policy_reload(ctx);
        ctx->policy.row_wg = variants[v].row_wg;
        rc = plan_model(ctx, data, "clip_small_vit/openai", "train_step_vit");
        if (!rc)
            rc = plan_model(ctx, data, "clip_small_rn/openai", "train_step_rn");
        /* CLBlast may be missing from this build or refuse this device:
         * then its option sets cannot come up on this machine either */
        if (rc && !strcmp(variants[v].gemm, "clblast")) {
            fprintf(out, "# CLBlast variant skipped: %s\n", cc_last_error());
            cc_clear_error();
            rc = CC_OK;
        }
    }
    /* 16-bit weight storage (docs/gemm.md): the panel and conversion
     * kernels with -DPANEL_A_DT / -DPANEL_B_DT, in both GEMM styles */
    for (int dt = RT_DTYPE_F16; dt <= RT_DTYPE_BF16 && !rc; dt++)
        for (int style = 0; style < 2 && !rc; style++) {
            setenv("CLIPCL_FORCE_VARIANT", style ? "cpu" : "gpu", 1);
            setenv("CLIPCL_GEMM", "own", 1);
            setenv("CLIPCL_FUSION", "1", 1);
            unsetenv("CLIPCL_GEMM_TILE");
            unsetenv("CLIPCL_GEMM_KC");
            rt_policy_reload(ctx);
            ctx->weight_dtype = (rt_dtype)dt;
            rc = plan_model(ctx, data, "clip_small_vit/openai", "train_step_vit");
            if (!rc)
                rc = plan_model(ctx, data, "clip_small_rn/openai", "train_step_rn");
            ctx->weight_dtype = RT_DTYPE_F32;
        }
    for (int i = 0; i < 4 && !rc; i++) {
        static const char *const optim[] = {"optim_accumulate", "optim_sumsq", "optim_finalize", "optim_adamw"};
        cl_kernel k;
        if (!(rc = rt_kernel(ctx, "optim.cl", "", optim[i], &k)))
            clReleaseKernel(k);
    }
    for (int i = 0; i < ctx->n_programs && !rc; i++)
        fprintf(out, "%s\t%s\n", ctx->programs[i].file, ctx->programs[i].options);
    rt_ctx_free(ctx);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: kernel_variants OUTDIR\n");
        return 2;
    }
    char path[4096];
    int w = snprintf(path, sizeof path, "%s/sources", argv[1]);
    if (w < 0 || (size_t)w >= sizeof path - 16) {
        fprintf(stderr, "kernel_variants: %s: path too long\n", argv[1]);
        return 2;
    }
    if ((mkdir(argv[1], 0777) && errno != EEXIST) || (mkdir(path, 0777) && errno != EEXIST)) {
        fprintf(stderr, "kernel_variants: cannot create %s: %s\n", path, strerror(errno));
        return 1;
    }
    int rc = write_sources(path);
    const char *data = rt_setting_value(RT_SET_TEST_DATA);
    snprintf(path, sizeof path, "%s/options.txt", argv[1]);
    FILE *out = rc ? NULL : fopen(path, "w");
    if (!rc && !out)
        rc = cc_fail(CC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    if (!rc)
        rc = record_options(data ? data : "tests/data", out);
    if (out && fclose(out) && !rc)
        rc = cc_fail(CC_ERR_IO, "cannot write %s", path);
    if (rc) {
        fprintf(stderr, "kernel_variants: %s\n", cc_last_error());
        return 1;
    }
    return 0;
}
