/* Which GEMM a device gets and with which tile, in increasing precedence:
 * the GEMM database (runtime/gemm_db.h, already in the policy's defaults),
 * the per-device cache rt_cache_dir()/tuning/gemm-<hash>.txt that `clipcl
 * tune` (or a first-use measurement) wrote, and the environment. First use
 * never sweeps: with a database entry nothing is measured (or, for an entry
 * saying "measure", own vs CLBlast once); with none, a quick tune bounded to
 * QUICK_BUDGET_S picks a tile and says so once through ocl_warn. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "backends/opencl/ocl_gemm.h"
#include "backends/opencl/ocl_gemm_tune.h"
#include "backends/opencl/ocl_warn.h"
#include "runtime/status.h"
#include "runtime/fs.h"

/* ---------------- the cached choice ---------------- */

/* Per device, what this process knows; memo_lock guards it and serialises
 * measurements so that two threads never measure the same device at once. */
typedef struct memo_entry {
    cl_device_id dev;
    int have_impl, have_tile, file_read;
    ocl_gemm_impl impl;
    ocl_gemm_tile tile;
    char note[96]; /* how the file's values came about: "clipcl tune, load 0.31" */
} memo_entry;

static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;
static memo_entry memo[16];
static int n_memo;

/* Called with memo_lock held. NULL when the table is full. */
static memo_entry *memo_for(cl_device_id dev)
{
    for (int i = 0; i < n_memo; i++)
        if (memo[i].dev == dev)
            return &memo[i];
    if (n_memo == (int)(sizeof memo / sizeof memo[0]))
        return NULL;
    memo_entry *e = &memo[n_memo++];
    memset(e, 0, sizeof *e);
    e->dev = dev;
    return e;
}

static int tuning_dir(char *dir, size_t dlen)
{
    char cache[768];
    rt_cache_dir(cache, sizeof cache);
    if (!cache[0])
        return -1;
    int w = snprintf(dir, dlen, "%s/tuning", cache);
    return (w < 0 || (size_t)w >= dlen) ? -1 : 0;
}

int ocl_gemm_tuning_path(const rt_ctx *ctx, char *buf, size_t len)
{
    char key[1100], dir[800];
    if (tuning_dir(dir, sizeof dir))
        return -1;
    /* platform, device and driver: a driver update measures again */
    int n = snprintf(key, sizeof key, "%s\n%s\n%s\n%s\n", ctx->dev.platform_name, ctx->dev.platform_version,
                     ctx->dev.device_name, ctx->dev.driver_version);
    if (n < 0 || (size_t)n >= sizeof key)
        n = (int)strlen(key);
    unsigned long long h = (unsigned long long)XXH64(key, (size_t)n, 0);
    int w = snprintf(buf, len, "%s/gemm-%016llx.txt", dir, h);
    return (w < 0 || (size_t)w >= len) ? -1 : 0;
}

void ocl_gemm_choose_reset(void)
{
    pthread_mutex_lock(&memo_lock);
    n_memo = 0;
    pthread_mutex_unlock(&memo_lock);
}

/* Fills what the tuning file says into e (choice, tile, how measured). An
 * unreadable file gives nothing; a malformed choice or tile line is ignored
 * with a warning (the database or a measurement takes its place). */
static void read_file(const rt_ctx *ctx, memo_entry *e)
{
    char file[1000], line[512], word[64], how[64] = "";
    double load = -1;
    int n = 0, timed = 0;
    e->file_read = 1;
    if (ocl_gemm_tuning_path(ctx, file, sizeof file))
        return;
    FILE *f = fopen(file, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        n++;
        line[strcspn(line, "\r\n")] = 0;
        if (!strncmp(line, "choice", 6) && (line[6] == ' ' || !line[6])) {
            if (sscanf(line, "choice %63s", word) == 1 && (!strcmp(word, "own") || !strcmp(word, "clblast"))) {
                e->impl = strcmp(word, "own") ? OCL_GEMM_CLBLAST : OCL_GEMM_OWN;
                e->have_impl = 1;
            } else {
                ocl_warn("tuning file %s: line %d: expected \"choice own\" or \"choice clblast\", found \"%.60s\"; "
                         "ignored", file, n, line);
            }
        } else if (!strncmp(line, "tile", 4) && (line[4] == ' ' || !line[4])) {
            if (sscanf(line, "tile %63s", word) == 1 && ocl_gemm_parse_tile(word, &e->tile))
                e->have_tile = 1;
            else
                ocl_warn("tuning file %s: line %d: expected \"tile TMxVWxNV\", found \"%.60s\"; ignored", file, n,
                         line);
        } else if (!strncmp(line, "gflops ", 7)) {
            timed = 1;
        } else if (sscanf(line, "source %63[^\n]", word) == 1) {
            snprintf(how, sizeof how, "%s", word);
        } else {
            (void)sscanf(line, "load %lf", &load);
        }
    }
    fclose(f);
    /* Timings without a source line: the first-use sweep before the tuner,
     * which tried 16-wide tiles only (they spill on AVX2, at a quarter of
     * the speed of the database's 8-wide tile). Its implementation choice
     * stands; its tile gives way to the database until `clipcl tune` runs.
     * A hand-written file (no timings) is honoured whole. */
    if (timed && !how[0])
        e->have_tile = 0;
    /* a file from before the tuner (no source line) stays plain "tuned" */
    if (load >= 0)
        snprintf(e->note, sizeof e->note, "%.60s, load %.2f", how[0] ? how : "measured", load);
    else
        snprintf(e->note, sizeof e->note, "%s", how);
}

int ocl_gemm_tile_cached(const rt_ctx *ctx, ocl_gemm_tile *out)
{
    int found = 0;
    pthread_mutex_lock(&memo_lock);
    memo_entry *e = memo_for(ctx->dev.device);
    if (e && !e->file_read && !e->have_tile)
        read_file(ctx, e);
    if (e && e->have_tile) {
        *out = e->tile;
        found = 1;
    }
    pthread_mutex_unlock(&memo_lock);
    return found;
}

static void write_result(FILE *f, const rt_ctx *ctx, const ocl_gemm_tune_result *r)
{
    time_t now = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&now));
    fprintf(f, "# clipcl GEMM choice for one device and driver, measured %s\n", when);
    fprintf(f, "# delete this file to measure again (clipcl tune); CLIPCL_GEMM=own|clblast and\n");
    fprintf(f, "# CLIPCL_GEMM_TILE=TMxVWxNV override it\n");
    fprintf(f, "device %s\nplatform %s %s\ndriver %s\n", ctx->dev.device_name, ctx->dev.platform_name,
            ctx->dev.platform_version, ctx->dev.driver_version);
    fprintf(f, "source %s\n", r->source);
    fprintf(f, "# 1-minute load average before and after; rounds per candidate below\n");
    fprintf(f, "load %.2f\nload_after %.2f\n", r->load_before, r->load_after);
    fprintf(f, "seconds %.1f\nremeasured %d\n", r->seconds, r->remeasured);
    for (int s = 0; s < r->n_shapes; s++) {
        const ocl_gemm_shape *sh = &r->shapes[s];
        const double flop = 2.0 * sh->M * sh->N * sh->K;
        for (int c = 0; c < r->n_cand; c++)
            if (r->measured[c])
                fprintf(f, "gflops own:%dx%dx%d %dx%dx%d %.1f spread %.3f rounds %d\n", r->cand[c].tm,
                        r->cand[c].vw, r->cand[c].nv, sh->M, sh->N, sh->K, flop / r->t[c][s] * 1e-9, r->spread[c],
                        r->rounds[c]);
        if (r->clblast_timed)
            fprintf(f, "gflops clblast %dx%dx%d %.1f\n", sh->M, sh->N, sh->K, flop / r->clblast_t[s] * 1e-9);
    }
    if (r->clblast_error[0])
        fprintf(f, "clblast_error %s\n", r->clblast_error);
    fprintf(f, "tile %dx%dx%d\n", r->tile.tm, r->tile.vw, r->tile.nv);
    fprintf(f, "choice %s\n", ocl_gemm_impl_name(r->impl));
}

/* Writes the file (temporary name + rename, so a reader never sees half). */
static int write_file(const rt_ctx *ctx, const ocl_gemm_tune_result *r)
{
    char dir[800], file[1000], tmp[1100];
    if (tuning_dir(dir, sizeof dir) || ocl_gemm_tuning_path(ctx, file, sizeof file))
        return cc_fail(CC_ERR_IO, "ocl_gemm: no cache folder to store the tuning result in (CLIPCL_CACHE_DIR)");
    int rc = rt_make_dirs(dir);
    if (rc)
        return rc;
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", file, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return cc_fail(CC_ERR_IO, "ocl_gemm: cannot write %s: %s", tmp, strerror(errno));
    write_result(f, ctx, r);
    int bad = fclose(f) != 0;
    if (bad || rename(tmp, file)) {
        remove(tmp);
        return cc_fail(CC_ERR_IO, "ocl_gemm: cannot write %s", file);
    }
    return CC_OK;
}

static void memo_set(memo_entry *e, const ocl_gemm_tune_result *r)
{
    e->impl = r->impl;
    e->tile = r->tile;
    e->have_impl = e->have_tile = e->file_read = 1;
    if (r->load_before >= 0)
        snprintf(e->note, sizeof e->note, "%.70s, load %.2f", r->source, r->load_before);
    else
        snprintf(e->note, sizeof e->note, "%s", r->source);
}

int ocl_gemm_tune_store(rt_ctx *ctx, const ocl_gemm_tune_result *r)
{
    int rc = write_file(ctx, r);
    if (rc)
        return rc;
    pthread_mutex_lock(&memo_lock);
    memo_entry *e = memo_for(ctx->dev.device);
    if (e)
        memo_set(e, r);
    pthread_mutex_unlock(&memo_lock);
    return CC_OK;
}

/* The first-use quick tune's bound, and the shapes it times: ViT-B/32's fc1
 * at batch 8, big enough to rank tiles, small enough to time several. */
#define QUICK_BUDGET_S 5.0
static const ocl_gemm_shape quick_shape = {400, 3072, 768};
/* The shapes an own-vs-CLBlast decision times (a database entry saying
 * "measure"): ViT-B/32 fc1 at batch 1 and fc2 at batch 32. */
static const ocl_gemm_shape impl_shapes[] = {{50, 3072, 768}, {1600, 768, 3072}};

/* Called with memo_lock held, when neither the cache nor the database
 * names an implementation: a database entry (its tile) gets own vs CLBlast
 * timed once; no entry gets the quick tune. Fills e and writes the file. */
static int first_use(rt_ctx *ctx, memo_entry *e)
{
    const rt_policy *pol = &ctx->policy;
    ocl_gemm_tune_opts o;
    memset(&o, 0, sizeof o);
    ocl_gemm_tile t = {pol->gemm_tm, pol->gemm_vw, pol->gemm_nv};
    if (pol->db_entry[0]) {
        o.cand = &t;
        o.n_cand = 1;
        o.shapes = impl_shapes;
        o.n_shapes = 2;
        o.rounds = 1;
        o.runs = 3;
        o.clblast = 1;
        o.source = "own vs CLBlast at first use";
    } else {
        o.shapes = &quick_shape;
        o.n_shapes = 1;
        o.rounds = 2;
        o.runs = 3;
        o.budget_s = QUICK_BUDGET_S;
        o.source = "quick tune at first use";
    }
    ocl_gemm_tune_result *r = malloc(sizeof *r);
    if (!r)
        return cc_fail(CC_ERR_NOMEM, "ocl_gemm: out of memory");
    int rc = ocl_gemm_tune(ctx, &o, r);
    if (!rc) {
        memo_set(e, r);
        if (write_file(ctx, r))
            cc_clear_error(); /* a read-only cache costs a re-measure next time, not a failure */
        if (!pol->db_entry[0]) {
            int n = 0;
            for (int c = 0; c < r->n_cand; c++)
                n += r->measured[c];
            ocl_warn("no GEMM defaults for %s (class %s) in the database: a %.1f s quick tune of %d tile%s picked "
                     "%dx%dx%d; `clipcl tune` measures properly", ctx->dev.device_name,
                     rt_gemm_class_name(rt_gemm_class_of(&ctx->dev)), r->seconds, n, n == 1 ? "" : "s", r->tile.tm,
                     r->tile.vw, r->tile.nv);
        }
    }
    free(r);
    return rc;
}

/* Called with memo_lock held: what e knows becomes the tuned overlay of
 * ctx's policy (fields set by the environment stay). */
static void overlay(rt_ctx *ctx, const memo_entry *e)
{
    rt_policy *p = &ctx->policy;
    /* nothing cached: the database's implementation, still a default */
    if (!e->have_impl && p->gemm_impl == RT_GEMM_MEASURE && p->source[RT_POL_GEMM_IMPL] == RT_SRC_DEFAULT &&
        p->db_gemm_impl != RT_GEMM_MEASURE)
        p->gemm_impl = p->db_gemm_impl;
    if (e->have_impl || e->have_tile)
        rt_policy_tune_note(&ctx->policy, e->note);
    if (e->have_impl)
        rt_policy_tune_gemm_impl(&ctx->policy, e->impl == OCL_GEMM_CLBLAST ? RT_GEMM_CLBLAST : RT_GEMM_OWN);
    if (e->have_tile)
        rt_policy_tune_gemm_tile(&ctx->policy, e->tile.tm, e->tile.vw, e->tile.nv);
}

int ocl_gemm_policy_overlay(rt_ctx *ctx)
{
    int known = 0;
    pthread_mutex_lock(&memo_lock);
    memo_entry *e = memo_for(ctx->dev.device);
    if (e && !e->file_read && !(e->have_impl && e->have_tile))
        read_file(ctx, e);
    if (e) {
        overlay(ctx, e);
        known = e->have_impl || e->have_tile;
    }
    pthread_mutex_unlock(&memo_lock);
    return known;
}

int ocl_gemm_choose(rt_ctx *ctx, ocl_gemm_impl *out)
{
    /* policy.gemm_impl: CLIPCL_GEMM (or the self-check, or the database's
     * choice once resolved here) naming one wins; otherwise the cache, the
     * database's choice, or a measurement, which become the overlay */
    const rt_policy *pol = &ctx->policy;
    if (pol->gemm_impl_error[0])
        return cc_fail(CC_ERR_INVALID, "%s", pol->gemm_impl_error);
    if (pol->source[RT_POL_GEMM_IMPL] != RT_SRC_TUNED && pol->gemm_impl != RT_GEMM_MEASURE) {
        *out = pol->gemm_impl == RT_GEMM_CLBLAST ? OCL_GEMM_CLBLAST : OCL_GEMM_OWN;
        return CC_OK;
    }
    int rc = CC_OK;
    pthread_mutex_lock(&memo_lock);
    memo_entry *e = memo_for(ctx->dev.device);
    memo_entry scratch;
    if (!e) { /* table full: work without remembering */
        memset(&scratch, 0, sizeof scratch);
        scratch.dev = ctx->dev.device;
        e = &scratch;
    }
    if (!e->have_impl && !e->file_read)
        read_file(ctx, e);
    if (!e->have_impl && pol->db_gemm_impl != RT_GEMM_MEASURE) {
        overlay(ctx, e); /* resolves the database's choice (and a tile line alone) */
        *out = pol->gemm_impl == RT_GEMM_CLBLAST ? OCL_GEMM_CLBLAST : OCL_GEMM_OWN;
        pthread_mutex_unlock(&memo_lock);
        return CC_OK;
    }
    if (!e->have_impl)
        rc = first_use(ctx, e);
    if (!rc) {
        *out = e->impl;
        overlay(ctx, e);
    }
    pthread_mutex_unlock(&memo_lock);
    return rc;
}
