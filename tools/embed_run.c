/* The bulk embedding loop (tools/embed_bulk.h): inputs in order, batches of
 * a fixed size through one device plan, shards committed one by one.
 *
 * Batches never straddle a shard: each shard's rows are encoded in batches
 * of `batch` from the shard's first row, the last one padded to the full
 * batch with copies of its last row (so the device keeps one plan). A shard's
 * rows are therefore a function of its own inputs only, which is what makes a
 * resumed run's shards byte-identical to an uninterrupted run's. */
#include "tools/embed_bulk.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/clock.h"
#include "runtime/grow.h"
#include "runtime/settings.h"
#include "runtime/status.h"
#include "tools/cmd.h"
#include "tools/cmd_progress.h"
#include "tools/embed_decode.h"

/* Failures printed as warnings; the rest only counted (all go to failed.csv). */
#define MAX_FAILURE_WARNINGS 5

static char *dup0(const char *s)
{
    s = s ? s : "";
    char *d = malloc(strlen(s) + 1);
    if (d)
        strcpy(d, s);
    return d;
}

void bulk_failures_free(bulk_run *r)
{
    for (int64_t i = 0; i < r->n_failed; i++) {
        free(r->failed[i].path);
        free(r->failed[i].member);
        free(r->failed[i].error);
    }
    free(r->failed);
    r->failed = NULL;
    r->n_failed = 0;
    r->failed_cap = 0;
}

static int add_failure(bulk_run *r, int64_t i, const char *err, progress *bar)
{
    if (r->n_failed >= INT32_MAX ||
        cc_grow((void **)&r->failed, &r->failed_cap, (int)r->n_failed + 1, sizeof *r->failed,
                "failed inputs"))
        return cmd_lib_error(CC_ERR_NOMEM);
    bulk_failure *f = &r->failed[r->n_failed++];
    f->path = dup0(bulk_input_path(r->set, i));
    f->member = dup0(r->set->v[i].member);
    f->error = dup0(err);
    if (!f->path || !f->member || !f->error)
        return cmd_error("out of memory listing failed inputs");
    r->man->failed = r->n_failed;
    if (r->n_failed <= MAX_FAILURE_WARNINGS) {
        progress_clear(bar);
        fprintf(stderr, "clipcl: warning: skipped: %s%s\n", err,
                r->n_failed == MAX_FAILURE_WARNINGS ? " (further failures only in failed.csv)"
                                                    : "");
    }
    return 0;
}

static int write_failed(bulk_run *r)
{
    es_row *rows = calloc((size_t)(r->n_failed ? r->n_failed : 1), sizeof *rows);
    if (!rows)
        return cmd_error("out of memory writing failed.csv");
    for (int64_t i = 0; i < r->n_failed; i++)
        rows[i] = (es_row){NULL, r->failed[i].path, r->failed[i].member, NULL, r->failed[i].error};
    int rc = es_failed_write(r->dir, rows, r->n_failed);
    free(rows);
    return rc ? cmd_lib_error(rc) : 0;
}

/* Test hook: CLIPCL_BULK_KILL_AT_SHARD=K kills this process with SIGKILL
 * once shard K's files are written but before the manifest lists it (the
 * worst moment for a crash), so tests can interrupt a run deterministically. */
static void test_kill_hook(int shard)
{
    const char *k = rt_setting_value(RT_SET_BULK_KILL_AT_SHARD);
    if (k && *k && atoi(k) == shard)
        raise(SIGKILL);
}

/* Writes the shard's files, failed.csv, then the manifest (the commit). */
static int commit_shard(bulk_run *r, const float *x, int64_t rows, const es_row *meta,
                        int64_t in_begin, int64_t in_end)
{
    int rc = es_shard_write(r->dir, r->man, x, rows, meta, in_begin, in_end);
    if (rc)
        return cmd_lib_error(rc);
    if ((rc = write_failed(r)) != 0)
        return rc;
    test_kill_hook(r->man->n_shards - 1);
    rc = es_manifest_write(r->dir, r->man);
    return rc ? cmd_lib_error(rc) : 0;
}

static int finish(bulk_run *r, progress *bar, double t0, int64_t done, const char *unit)
{
    r->man->complete = 1;
    int rc = write_failed(r);
    if (!rc && (rc = es_manifest_write(r->dir, r->man)) != 0)
        rc = cmd_lib_error(rc);
    if (rc) {
        progress_abort(bar);
        return rc;
    }
    progress_finish(bar);
    double dt = cc_now_s() - t0;
    fprintf(stderr, "%s: %" PRId64 " rows in %d shard%s (%" PRId64 " input%s this run, %.1f %s/s)",
            r->dir, r->man->rows, r->man->n_shards, r->man->n_shards == 1 ? "" : "s", done,
            done == 1 ? "" : "s", dt > 0 ? (double)done / dt : 0.0, unit);
    if (r->n_failed)
        fprintf(stderr, "; %" PRId64 " input%s skipped, listed in %s/failed.csv", r->n_failed,
                r->n_failed == 1 ? "" : "s", r->dir);
    fputc('\n', stderr);
    if (r->man->rows == 0)
        return cmd_error("--data %s: no input could be read (%" PRId64 " failed, see %s/failed.csv)",
                         r->man->data, r->n_failed, r->dir);
    return 0;
}

typedef struct shard_buf {
    float *x;        /* shard_size x D */
    es_row *meta;    /* shard_size rows, strings borrowed from the set */
    float *out;      /* batch x D */
    int64_t rows;    /* filled so far */
    int64_t begin;   /* first input of the shard */
} shard_buf;

static int shard_buf_init(shard_buf *s, const bulk_run *r, int64_t begin)
{
    int64_t N = r->man->shard_size, D = r->man->embed_dim;
    memset(s, 0, sizeof *s);
    s->x = malloc((size_t)(N * D) * sizeof *s->x);
    s->meta = calloc((size_t)N, sizeof *s->meta);
    s->out = malloc((size_t)r->batch * (size_t)D * sizeof *s->out);
    s->begin = begin;
    if (!s->x || !s->meta || !s->out)
        return cmd_error("out of memory for a shard of %" PRId64 " x %" PRId64 " floats "
                         "(--shard-size)", N, D);
    return 0;
}

static void shard_buf_free(shard_buf *s)
{
    free(s->x);
    free(s->meta);
    free(s->out);
}

static es_row meta_row(const bulk_run *r, int64_t i)
{
    const bulk_input *in = &r->set->v[i];
    return (es_row){in->key, bulk_input_path(r->set, i), in->member, in->caption, NULL};
}

/* Encodes `count` rows held in `in` (row_bytes each, room for a full batch)
 * as one full batch, and appends them to the shard. */
static int encode_batch(bulk_run *r, shard_buf *s, void *in, size_t row_bytes, int count, int text,
                        int *truncated)
{
    if (count == 0)
        return 0;
    for (int k = count; k < r->batch; k++)
        memcpy((char *)in + (size_t)k * row_bytes, (char *)in + (size_t)(count - 1) * row_bytes,
               row_bytes);
    int flags = r->man->normalized ? CLIPCL_NORMALIZE : 0, tr = 0, rc;
    if (text)
        rc = clipcl_encode_texts(r->model, in, r->batch, flags, s->out, &tr);
    else
        rc = clipcl_encode_image_pixels(r->model, in, r->batch, flags, s->out);
    if (rc)
        return cmd_lib_error(rc);
    *truncated += tr; /* a flag: padded copies may count a text twice */
    size_t D = (size_t)r->man->embed_dim;
    memcpy(s->x + (size_t)s->rows * D, s->out, (size_t)count * D * sizeof *s->out);
    s->rows += count;
    return 0;
}

int bulk_run_images(bulk_run *r)
{
    const bulk_set *set = r->set;
    int R = clipcl_image_size(r->model);
    size_t per = 3 * (size_t)R * (size_t)R;
    shard_buf s;
    int rc = shard_buf_init(&s, r, r->begin);
    float *px = rc ? NULL : malloc((size_t)r->batch * per * sizeof *px);
    if (!rc && !px)
        rc = cmd_error("out of memory for a batch of %d images of %dx%d", r->batch, R, R);
    bulk_decoder *dec = NULL;
    if (!rc && bulk_decoder_open(&dec, set, r->begin, set->n, r->model, r->workers,
                                 2 * r->batch + r->workers))
        rc = cmd_lib_error(1);
    progress bar;
    cmd_progress_start(&bar, r->label, "img", set->n - r->begin);
    double t0 = cc_now_s();
    int n_batch = 0, unused = 0;
    char err[512];
    for (int64_t i = r->begin; i < set->n && !rc; i++) {
        int ok = 0;
        if (bulk_decoder_next(dec, px + (size_t)n_batch * per, &ok, err, sizeof err)) {
            rc = cmd_lib_error(1);
            break;
        }
        if (ok)
            s.meta[s.rows + n_batch++] = meta_row(r, i);
        else
            rc = add_failure(r, i, err, &bar);
        if (!rc && (n_batch == r->batch || s.rows + n_batch == r->man->shard_size)) {
            rc = encode_batch(r, &s, px, per * sizeof *px, n_batch, 0, &unused);
            n_batch = 0;
        }
        if (!rc && s.rows == r->man->shard_size) {
            rc = commit_shard(r, s.x, s.rows, s.meta, s.begin, i + 1);
            s.rows = 0;
            s.begin = i + 1;
        }
        progress_update(&bar, i + 1 - r->begin);
    }
    if (!rc)
        rc = encode_batch(r, &s, px, per * sizeof *px, n_batch, 0, &unused);
    if (!rc && s.rows)
        rc = commit_shard(r, s.x, s.rows, s.meta, s.begin, set->n);
    bulk_decoder_close(dec);
    if (!rc)
        rc = finish(r, &bar, t0, set->n - r->begin, "img");
    else
        progress_abort(&bar);
    free(px);
    shard_buf_free(&s);
    return rc;
}

int bulk_run_texts(bulk_run *r)
{
    const bulk_set *set = r->set;
    shard_buf s;
    int rc = shard_buf_init(&s, r, r->begin);
    const char **texts = rc ? NULL : malloc((size_t)r->batch * sizeof *texts);
    if (!rc && !texts)
        rc = cmd_error("out of memory for a batch of %d texts", r->batch);
    progress bar;
    cmd_progress_start(&bar, r->label, "text", set->n - r->begin);
    double t0 = cc_now_s();
    int n_batch = 0, truncated = 0;
    for (int64_t i = r->begin; i < set->n && !rc; i++) {
        texts[n_batch] = set->v[i].caption ? set->v[i].caption : "";
        s.meta[s.rows + n_batch++] = meta_row(r, i);
        if (n_batch == r->batch || s.rows + n_batch == r->man->shard_size) {
            rc = encode_batch(r, &s, texts, sizeof *texts, n_batch, 1, &truncated);
            n_batch = 0;
        }
        if (!rc && s.rows == r->man->shard_size) {
            rc = commit_shard(r, s.x, s.rows, s.meta, s.begin, i + 1);
            s.rows = 0;
            s.begin = i + 1;
        }
        progress_update(&bar, i + 1 - r->begin);
    }
    if (!rc)
        rc = encode_batch(r, &s, texts, sizeof *texts, n_batch, 1, &truncated);
    if (!rc && s.rows)
        rc = commit_shard(r, s.x, s.rows, s.meta, s.begin, set->n);
    if (!rc)
        rc = finish(r, &bar, t0, set->n - r->begin, "text");
    else
        progress_abort(&bar);
    if (!rc && truncated)
        fprintf(stderr, "clipcl: warning: texts longer than %d tokens were cut to fit, with "
                        "the end-of-text token kept last.\n", clipcl_context_length(r->model));
    free(texts);
    shard_buf_free(&s);
    return rc;
}
