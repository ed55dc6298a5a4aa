/* train/trainer_dist.h: the data-parallel pieces of the training loop.
 *
 * The gradient sum goes bucket by bucket: each parameter's step gradient is
 * read back from the backend into a bucket of a few MiB, the bucket is
 * summed across ranks (train_dist_sum_f32: the same bits on every rank) and
 * written back scaled. The joint graph (towers + loss + backward) runs as
 * one backend plan, so the exchange cannot start while the backward pass
 * still runs; it follows the last micro-batch of the step. */
#include "train/trainer_dist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "runtime/rt.h"
#include "runtime/status.h"

int train_dist_loss_choose(int want_global, train_dist_loss *out)
{
    *out = want_global ? TRAIN_DIST_LOSS_GLOBAL : TRAIN_DIST_LOSS_LOCAL;
    return CC_OK;
}

float train_dist_grad_scale(train_dist_loss kind, int ranks)
{
    return kind == TRAIN_DIST_LOSS_GLOBAL || ranks < 2 ? 1.0f : (float)(1.0 / ranks);
}

int train_dist_gather_features(const float *img, const float *txt, int rows, int dim,
                               float *all_img, float *all_txt)
{
    size_t bytes = (size_t)rows * (size_t)dim * sizeof(float);
    int rc = train_dist_allgather(img, bytes, all_img);
    return rc ? rc : train_dist_allgather(txt, bytes, all_txt);
}

/* No spec and no $CLIPCL_DEVICE on several ranks: GPU (local rank mod the
 * node's GPUs) as "P:D"; one rank, or no GPU: the default choice. */
static void default_device(char *out, size_t len)
{
    out[0] = '\0';
    const char *env = getenv("CLIPCL_DEVICE");
    if (train_dist_size() < 2 || (env && *env))
        return;
    rt_device_info *d = NULL;
    int n = 0, gpus = 0;
    if (rt_list_devices(&d, &n) != CC_OK)
        return; /* the backend reports the missing platform itself */
    for (int i = 0; i < n; i++)
        gpus += (d[i].type & CL_DEVICE_TYPE_GPU) != 0;
    int want = gpus ? train_dist_local_rank() % gpus : -1;
    for (int i = 0; i < n && want >= 0; i++)
        if ((d[i].type & CL_DEVICE_TYPE_GPU) && want-- == 0)
            snprintf(out, len, "%d:%d", d[i].platform_index, d[i].device_index);
    free(d);
}

int train_dist_gather_features_inplace(void *user, float *img, float *txt, int rows, int e)
{
    (void)user;
    size_t bytes = (size_t)rows * (size_t)e * sizeof(float);
    int rc = train_dist_allgather_inplace(img, bytes);
    return rc ? rc : train_dist_allgather_inplace(txt, bytes);
}

int train_dist_device(const char *spec, char *out, size_t len)
{
    const char *s = spec ? spec : "";
    if (!*s) {
        default_device(out, len);
        return CC_OK;
    }
    if (!strchr(s, ',')) {
        snprintf(out, len, "%s", s);
        return CC_OK;
    }
    int count = 1;
    for (const char *p = s; *p; p++)
        count += *p == ',';
    int want = train_dist_local_rank() % count;
    const char *p = s;
    for (int i = 0; i < want; i++)
        p = strchr(p, ',') + 1;
    size_t n = strcspn(p, ",");
    if (n == 0 || n >= len)
        return cc_fail(CC_ERR_INVALID, "--device \"%s\": entry %d is empty or too long", s, want);
    memcpy(out, p, n);
    out[n] = '\0';
    return CC_OK;
}

int train_dist_resume_batch(int prev_batch, int prev_accum, int prev_ranks, int ranks,
                            int want_batch, int want_accum, int *batch, int *accum)
{
    int64_t global = (int64_t)prev_batch * prev_accum * (prev_ranks > 0 ? prev_ranks : 1);
    *accum = want_accum > 0 ? want_accum : prev_accum;
    if (want_batch > 0) {
        *batch = want_batch;
    } else if (global % ((int64_t)ranks * *accum) == 0) {
        *batch = (int)(global / ((int64_t)ranks * *accum));
    } else {
        return cc_fail(CC_ERR_INVALID, "trainer: the checkpoint's global batch is %lld (%d ranks x batch "
                       "%d x accum %d), which %d ranks x accum %d cannot split evenly; resume on a rank "
                       "count that divides it, or give --batch/--accum to change the global batch",
                       (long long)global, prev_ranks, prev_batch, prev_accum, ranks, *accum);
    }
    return CC_OK;
}

int train_dist_bcast_weights(clip_wmap *w, int buffers_only)
{
    int rc = CC_OK;
    for (int i = 0; i < w->n && !rc; i++) {
        if (buffers_only && !train_key_is_buffer(w->w[i].name))
            continue;
        rc = train_dist_bcast(w->w[i].data, (size_t)w->w[i].numel * sizeof(float), 0);
    }
    return rc;
}

uint64_t train_dist_weights_hash(const clip_wmap *w)
{
    XXH64_state_t *st = XXH64_createState();
    if (!st)
        return 0;
    XXH64_reset(st, 0);
    for (int i = 0; i < w->n; i++) {
        XXH64_update(st, w->w[i].name, strlen(w->w[i].name) + 1);
        XXH64_update(st, w->w[i].data, (size_t)w->w[i].numel * sizeof(float));
    }
    uint64_t h = XXH64_digest(st);
    XXH64_freeState(st);
    return h;
}

int train_dist_reducer_init(train_dist_reducer *r, double bucket_mb)
{
    memset(r, 0, sizeof *r);
    const char *env = getenv("CLIPCL_DIST_BUCKET_MB");
    if (env && atof(env) > 0)
        bucket_mb = atof(env);
    if (!(bucket_mb > 0))
        bucket_mb = 16;
    r->cap = (size_t)(bucket_mb * 1048576.0 / sizeof(float));
    if (r->cap < 1024)
        r->cap = 1024;
    r->bucket = malloc(r->cap * sizeof(float));
    r->scratch = malloc(train_dist_scratch_floats(r->cap) * sizeof(float));
    if (!r->bucket || !r->scratch) {
        train_dist_reducer_free(r);
        return cc_fail(CC_ERR_NOMEM, "trainer: out of memory for a %.0f MiB gradient bucket", bucket_mb);
    }
    return CC_OK;
}

void train_dist_reducer_free(train_dist_reducer *r)
{
    free(r->bucket);
    free(r->scratch);
    memset(r, 0, sizeof *r);
}

/* A run of whole parameters [first, last) packed into the bucket (a
 * parameter larger than the bucket goes alone, in pieces). */
static int flush(train_dist_reducer *r, train_exec *e, int first, int last, size_t used, float scale)
{
    int rc = train_dist_sum_f32(r->bucket, used, r->scratch);
    r->bytes_per_step += (int64_t)(used * sizeof(float));
    size_t off = 0;
    const clip_train_graph *tg = train_exec_graph(e);
    for (int i = first; i < last && !rc; i++) {
        size_t n = (size_t)g_numel(tg->g, tg->t->param_t[i]);
        float *g = r->bucket + off;
        for (size_t j = 0; j < n; j++)
            g[j] *= scale;
        rc = train_exec_grad(e, i, g, 1);
        off += n;
    }
    return rc;
}

/* A parameter too large for the bucket: summed through a buffer of its own. */
static int reduce_big(train_dist_reducer *r, train_exec *e, int i, size_t n, float scale)
{
    float *g = malloc(n * sizeof *g), *s = malloc(train_dist_scratch_floats(n) * sizeof *s);
    int rc = g && s ? train_exec_grad(e, i, g, 0) : cc_fail(CC_ERR_NOMEM, "trainer: out of memory "
                                                            "for a gradient of %zu floats", n);
    if (!rc)
        rc = train_dist_sum_f32(g, n, s);
    r->bytes_per_step += (int64_t)(n * sizeof(float));
    for (size_t j = 0; !rc && j < n; j++)
        g[j] *= scale;
    if (!rc)
        rc = train_exec_grad(e, i, g, 1);
    free(g);
    free(s);
    return rc;
}

int train_dist_reduce(train_dist_reducer *r, train_exec *e, float scale, float *extra, int n_extra)
{
    const clip_train_graph *tg = train_exec_graph(e);
    int np = tg->t->n_params, first = 0, rc = CC_OK;
    size_t used = 0;
    r->bytes_per_step = 0;
    for (int i = 0; i < np && !rc; i++) {
        size_t n = (size_t)g_numel(tg->g, tg->t->param_t[i]);
        if (n + (size_t)n_extra > r->cap) {
            if (used)
                rc = flush(r, e, first, i, used, scale);
            if (!rc)
                rc = reduce_big(r, e, i, n, scale);
            used = 0;
            first = i + 1;
            continue;
        }
        if (used + n > r->cap) {
            rc = flush(r, e, first, i, used, scale);
            used = 0;
            first = i;
        }
        if (!rc)
            rc = train_exec_grad(e, i, r->bucket + used, 0);
        used += n;
    }
    /* the extras ride at the end of the last bucket */
    if (!rc && used + (size_t)n_extra > r->cap) {
        rc = flush(r, e, first, np, used, scale);
        used = 0;
        first = np;
    }
    if (!rc) {
        memcpy(r->bucket + used, extra, (size_t)n_extra * sizeof *extra);
        rc = flush(r, e, first, np, used + (size_t)n_extra, scale);
        if (!rc)
            memcpy(extra, r->bucket + used, (size_t)n_extra * sizeof *extra);
    }
    return rc;
}
