/* Developer driver for tests/reference/check_full_size.py (not a CI test:
 * full-size towers take minutes on PoCL). Runs the image tower, the text
 * tower and the logits graph of a checkpoint on the OpenCL backend and writes
 * what they produce as .npy, so the script can hold them against PyTorch.
 *
 *   full_size_driver MODEL PIXELS.npy IDS.npy OUTDIR [DEVICE]
 *
 * writes OUTDIR/{image_features,text_features,logits_per_image}.npy and one
 * timing line per graph on stderr. It goes through models/clip.h and the
 * plan API directly (as tests/models/test_clip_ocl.c does) rather than the
 * public clipcl.h, so a mismatch points at the graphs and kernels, not at
 * batching or padding in the API layer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/opencl/ocl_backend.h"
#include "io/npy.h"
#include "models/clip.h"
#include "runtime/clock.h"
#include "runtime/rt.h"
#include "runtime/status.h"

/* Uploads every bound input and parameter, runs once, reads `out` back into
 * a malloc'd buffer (*res). */
static int run_graph(rt_ctx *ctx, const graph *g, void **slots, int out, const char *what,
                     float **res)
{
    *res = NULL;
    double t0 = cc_now_s();
    ocl_plan *p = NULL;
    int rc = ocl_plan_create(ctx, g, &p);
    for (int i = 0; !rc && i < g->n_tensors; i++) {
        g_role r = g->tensors[i].role;
        if ((r == G_ROLE_INPUT || r == G_ROLE_PARAM) && slots[i])
            rc = ocl_plan_write(p, i, slots[i], g_nbytes(g, i));
    }
    double t1 = cc_now_s();
    if (!rc)
        rc = ocl_plan_run(p);
    if (!rc) {
        size_t bytes = g_nbytes(g, out);
        *res = malloc(bytes);
        rc = *res ? ocl_plan_read(p, out, *res, bytes)
                  : cc_fail(CC_ERR_NOMEM, "%s: %zu bytes for the output", what, bytes);
    }
    double t2 = cc_now_s();
    ocl_plan_free(p);
    if (rc) {
        free(*res);
        *res = NULL;
        fprintf(stderr, "full_size_driver: %s: %s\n", what, cc_last_error());
        return rc;
    }
    fprintf(stderr, "full_size_driver: %-6s plan+upload %.2f s, run+read %.2f s\n", what,
            t1 - t0, t2 - t1);
    return 0;
}

static int run_tower(rt_ctx *ctx, const clip_model *m, int text, int batch, const void *input,
                     float **res)
{
    clip_tower *t = NULL;
    const char *what = text ? "text" : "image";
    int rc = text ? clip_build_text(m->w, &m->cfg, batch, &t)
                  : clip_build_image(m->w, &m->cfg, batch, &t);
    if (rc) {
        fprintf(stderr, "full_size_driver: build %s tower: %s\n", what, cc_last_error());
        return rc;
    }
    void **slots = calloc((size_t)t->g->n_tensors, sizeof *slots);
    if (!slots)
        rc = cc_fail(CC_ERR_NOMEM, "slots for the %s tower", what);
    if (!rc && (rc = clip_tower_bind(t, slots, input)) != 0)
        fprintf(stderr, "full_size_driver: bind %s tower: %s\n", what, cc_last_error());
    if (!rc)
        rc = run_graph(ctx, t->g, slots, t->out, what, res);
    free(slots);
    clip_tower_free(t);
    return rc;
}

static int run_logits(rt_ctx *ctx, const clip_model *m, float *img, int ni, float *txt, int nt,
                      float **res)
{
    clip_logits_graph l;
    int rc = clip_build_logits(ni, nt, m->cfg.embed_dim, m->logit_scale, &l);
    if (rc) {
        fprintf(stderr, "full_size_driver: build logits: %s\n", cc_last_error());
        return rc;
    }
    void **slots = calloc((size_t)l.g->n_tensors, sizeof *slots);
    if (!slots) {
        clip_logits_free(&l);
        return cc_fail(CC_ERR_NOMEM, "slots for the logits graph");
    }
    slots[l.img] = img;
    slots[l.txt] = txt;
    rc = run_graph(ctx, l.g, slots, l.out, "logits", res);
    free(slots);
    clip_logits_free(&l);
    return rc;
}

static int save(const char *dir, const char *name, const float *data, int64_t rows,
                int64_t cols)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int64_t shape[2] = { rows, cols };
    int rc = npy_write_f32(path, data, shape, 2);
    if (rc)
        fprintf(stderr, "full_size_driver: %s\n", cc_last_error());
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 6) {
        fprintf(stderr, "usage: %s MODEL PIXELS.npy IDS.npy OUTDIR [DEVICE]\n", argv[0]);
        return 2;
    }
    const char *outdir = argv[4];
    clip_model *m = NULL;
    rt_ctx *ctx = NULL;
    npy_array px = { 0 }, ids = { 0 };
    float *img = NULL, *txt = NULL, *lg = NULL;
    int rc = clip_load(argv[1], &m);
    if (rc)
        fprintf(stderr, "full_size_driver: load %s: %s\n", argv[1], cc_last_error());
    if (!rc && (rc = npy_read(argv[2], NPY_F32, &px)) != 0)
        fprintf(stderr, "full_size_driver: %s\n", cc_last_error());
    if (!rc && (rc = npy_read(argv[3], NPY_I32, &ids)) != 0)
        fprintf(stderr, "full_size_driver: %s\n", cc_last_error());
    if (!rc) {
        int R = m->cfg.vision.resolution;
        if (px.ndim != 4 || px.shape[1] != 3 || px.shape[2] != R || px.shape[3] != R ||
            ids.ndim != 2 || ids.shape[1] != m->cfg.text.context) {
            fprintf(stderr, "full_size_driver: expected pixels [N,3,%d,%d] and ids [M,%d]\n",
                    R, R, m->cfg.text.context);
            rc = 2;
        }
    }
    if (!rc && (rc = rt_ctx_create(argc > 5 ? argv[5] : NULL, 0, &ctx)) != 0)
        fprintf(stderr, "full_size_driver: OpenCL context: %s\n", cc_last_error());
    if (!rc)
        fprintf(stderr, "full_size_driver: device %s\n", ctx->dev.device_name);
    int ni = (int)px.shape[0], nt = (int)ids.shape[0], E = m ? m->cfg.embed_dim : 0;
    if (!rc)
        rc = run_tower(ctx, m, 0, ni, px.data, &img);
    if (!rc)
        rc = run_tower(ctx, m, 1, nt, ids.data, &txt);
    if (!rc)
        rc = run_logits(ctx, m, img, ni, txt, nt, &lg);
    if (!rc)
        rc = save(outdir, "image_features.npy", img, ni, E);
    if (!rc)
        rc = save(outdir, "text_features.npy", txt, nt, E);
    if (!rc)
        rc = save(outdir, "logits_per_image.npy", lg, ni, nt);
    free(img);
    free(txt);
    free(lg);
    npy_free(&px);
    npy_free(&ids);
    rt_ctx_free(ctx);
    clip_model_free(m);
    return rc ? 1 : 0;
}
