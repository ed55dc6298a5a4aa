/* The public API (include/clipcl.h) over models/: a loaded clip_model, its
 * tokenizer, and one cached tower per kind (image, text) run on a backend
 * plan (backends/backend.h: OpenCL or the reference backend).
 *
 * A plan is built for one batch size and gets its own copy of the weights, so
 * a remainder batch (the last 3 of 35 at batch 16) is padded up to the cached
 * plan's size instead of building and uploading a second one; padded rows
 * repeat the last real row and are dropped. Rows are independent at inference
 * (BatchNorm uses running statistics), so padding changes nothing. */
#include "clipcl.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backends/backend.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "io/tokenizer.h"
#include "models/clip.h"
#include "models/clip_api_internal.h"
#include "runtime/clock.h"
#include "runtime/rt.h"
#include "runtime/timings.h"
#include "runtime/status.h"

#define DEFAULT_MAX_BATCH 16

/* The public codes are the runtime's (include/clipcl.h documents them). */
_Static_assert(CLIPCL_OK == CC_OK && CLIPCL_ERR_INVALID == CC_ERR_INVALID &&
                   CLIPCL_ERR_SHAPE == CC_ERR_SHAPE && CLIPCL_ERR_IO == CC_ERR_IO &&
                   CLIPCL_ERR_NOMEM == CC_ERR_NOMEM && CLIPCL_ERR_OPENCL == CC_ERR_OPENCL &&
                   CLIPCL_ERR_NO_PLATFORM == CC_ERR_NO_PLATFORM &&
                   CLIPCL_ERR_NO_DEVICE == CC_ERR_NO_DEVICE && CLIPCL_ERR_BUILD == CC_ERR_BUILD &&
                   CLIPCL_ERR_UNSUPPORTED == CC_ERR_UNSUPPORTED,
               "include/clipcl.h's status codes must equal runtime/status.h's");

void clip_api_lock(const clipcl_model *cm) { pthread_mutex_lock((pthread_mutex_t *)&cm->lock); }
void clip_api_unlock(const clipcl_model *cm) { pthread_mutex_unlock((pthread_mutex_t *)&cm->lock); }

const char *clipcl_last_error(void) { return cc_last_error(); }

/* The header's version, compiled into the library; meson.build checks at
 * configure time that the header's macros spell the project's version. */
const char *clipcl_version(void) { return CLIPCL_VERSION_STRING; }

static int is_file(const char *p)
{
    struct stat s;
    return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

static int join(char *out, size_t len, const char *dir, const char *name)
{
    int n = snprintf(out, len, "%s/%s", dir, name);
    return n > 0 && (size_t)n < len;
}

/* The weights file clip_load chose (its rule: model.safetensors,
 * open_clip_model.safetensors, else the only *.safetensors). */
static void find_paths(clipcl_model *cm, const char *path)
{
    if (is_file(path)) {
        snprintf(cm->weights, sizeof cm->weights, "%s", path);
        snprintf(cm->dir, sizeof cm->dir, "%s", path);
        char *slash = strrchr(cm->dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(cm->dir, sizeof cm->dir, ".");
        return;
    }
    snprintf(cm->dir, sizeof cm->dir, "%s", path);
    static const char *const names[] = {"model.safetensors", "open_clip_model.safetensors"};
    for (int i = 0; i < 2; i++)
        if (join(cm->weights, sizeof cm->weights, path, names[i]) && is_file(cm->weights))
            return;
    cm->weights[0] = '\0';
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 12 && strcmp(e->d_name + n - 12, ".safetensors") == 0) {
            join(cm->weights, sizeof cm->weights, path, e->d_name);
            break;
        }
    }
    if (d)
        closedir(d);
}

/* OpenAI's merges file first (what OpenAI and open_clip ship), then HF's. */
static void find_vocab(clipcl_model *cm)
{
    static const char *const names[] = {"bpe_simple_vocab_16e6.txt.gz",
                                        "bpe_simple_vocab_16e6.txt", "vocab.json"};
    cm->vocab[0] = '\0';
    for (int i = 0; i < 3; i++)
        if (join(cm->vocab, sizeof cm->vocab, cm->dir, names[i]) && is_file(cm->vocab))
            return;
    cm->vocab[0] = '\0';
}

int clipcl_load(const char *model, const char *device, clipcl_model **out)
{
    return clip_api_load(model, device, 0, out);
}

int clip_api_load(const char *model, const char *device, int flags, clipcl_model **out)
{
    if (!model || !out)
        return cc_fail(CC_ERR_INVALID, "clipcl_load: NULL argument");
    *out = NULL;
    clipcl_model *cm = calloc(1, sizeof *cm);
    if (!cm)
        return cc_fail(CC_ERR_NOMEM, "clipcl_load: out of memory");
    cm->max_batch = DEFAULT_MAX_BATCH;
    /* The device is opened before the weights are read, so a typo in it
     * costs nothing. */
    int rc = backend_open(device, 0, &cm->be);
    if (!rc && (flags & (CLIPCL_LOAD_F16 | CLIPCL_LOAD_BF16)))
        rc = backend_set_weight_dtype(cm->be, (flags & CLIPCL_LOAD_F16) ? RT_DTYPE_F16 : RT_DTYPE_BF16);
    double t0 = cc_now_s();
    if (!rc)
        rc = clip_load(model, &cm->m);
    rt_timing_add("checkpoint load", NULL, cc_now_s() - t0);
    t0 = cc_now_s();
    /* Graphs hold shapes only, so building both towers once checks every
     * tensor's presence and shape now, not when the other tower first runs,
     * and that every tensor is used (strict loading). */
    if (!rc)
        rc = clip_model_check_tensors(cm->m, (flags & CLIPCL_LOAD_ALLOW_UNUSED) != 0, cm->notes,
                                      sizeof cm->notes);
    rt_timing_add("checkpoint tensor check", NULL, cc_now_s() - t0);
    if (rc) {
        backend_close(cm->be);
        clip_model_free(cm->m);
        free(cm);
        return rc;
    }
    if (pthread_mutex_init(&cm->lock, NULL) != 0) {
        backend_close(cm->be);
        clip_model_free(cm->m);
        free(cm);
        return cc_fail(CC_ERR_NOMEM, "clipcl_load: cannot create the model's lock");
    }
    find_paths(cm, model);
    find_vocab(cm);
    clip_api_note_assumptions(cm, model);
    *out = cm;
    return CC_OK;
}

static void tower_drop(api_tower *a)
{
    backend_plan_free(a->plan);
    free(a->slots);
    clip_tower_free(a->t);
    memset(a, 0, sizeof *a);
}

void clipcl_free(clipcl_model *cm)
{
    if (!cm)
        return;
    tower_drop(&cm->tower[0]);
    tower_drop(&cm->tower[1]);
    backend_close(cm->be);
    tok_free(cm->tok);
    spm_free(cm->spm);
    clip_model_free(cm->m);
    free(cm->pad);
    pthread_mutex_destroy(&cm->lock);
    free(cm);
}

int clipcl_set_vocab(clipcl_model *cm, const char *path)
{
    if (!cm || !path)
        return cc_fail(CC_ERR_INVALID, "clipcl_set_vocab: NULL argument");
    if (!is_file(path))
        return cc_fail(CC_ERR_IO, "tokenizer file '%s': no such file", path);
    if (strlen(path) >= sizeof cm->vocab)
        return cc_fail(CC_ERR_INVALID, "tokenizer file '%s': path longer than %zu bytes", path,
                       sizeof cm->vocab - 1);
    clip_api_lock(cm);
    tok_free(cm->tok);
    cm->tok = NULL;
    spm_free(cm->spm);
    cm->spm = NULL;
    snprintf(cm->vocab, sizeof cm->vocab, "%s", path);
    clip_api_unlock(cm);
    return CC_OK;
}

int clipcl_set_max_batch(clipcl_model *cm, int max_batch)
{
    if (!cm)
        return cc_fail(CC_ERR_INVALID, "clipcl_set_max_batch: NULL model");
    if (max_batch < 1)
        return cc_fail(CC_ERR_INVALID, "clipcl_set_max_batch: batch %d: expected >= 1", max_batch);
    clip_api_lock(cm);
    cm->max_batch = max_batch;
    clip_api_unlock(cm);
    return CC_OK;
}

/* The getters read what load fixed (the config, logit_scale): no lock. */
int clipcl_embed_dim(const clipcl_model *cm)
{
    if (!cm)
        return cc_fail(CC_ERR_INVALID, "clipcl_embed_dim: NULL model"), 0;
    return cm->m->cfg.embed_dim;
}

int clipcl_image_size(const clipcl_model *cm)
{
    if (!cm)
        return cc_fail(CC_ERR_INVALID, "clipcl_image_size: NULL model"), 0;
    return cm->m->cfg.vision.resolution;
}

int clipcl_context_length(const clipcl_model *cm)
{
    if (!cm)
        return cc_fail(CC_ERR_INVALID, "clipcl_context_length: NULL model"), 0;
    return cm->m->cfg.text.context;
}

float clipcl_logit_scale(const clipcl_model *cm)
{
    if (!cm)
        return cc_fail(CC_ERR_INVALID, "clipcl_logit_scale: NULL model"), 0.0f;
    return cm->m->logit_scale;
}

/* ---- running a tower ---- */

static int tower_build(clipcl_model *cm, int text, int batch, api_tower *a)
{
    const clip_model *m = cm->m;
    const char *tower = text ? "text" : "image";
    double t0 = cc_now_s();
    int rc = text ? clip_build_text(m->w, &m->cfg, batch, &a->t)
                  : clip_build_image(m->w, &m->cfg, batch, &a->t);
    rt_timing_add("graph build", tower, cc_now_s() - t0);
    if (rc)
        return rc;
    a->batch = batch;
    a->slots = calloc((size_t)a->t->g->n_tensors, sizeof *a->slots);
    if (!a->slots)
        return cc_fail(CC_ERR_NOMEM, "%s tower: out of memory", text ? "text" : "image");
    t0 = cc_now_s();
    rc = backend_plan_create(cm->be, a->t->g, &a->plan);
    rt_timing_add("plan build (kernel builds included)", tower, cc_now_s() - t0);
    if (rc != CC_OK)
        return rc;
    t0 = cc_now_s();
    for (int i = 0; i < a->t->n_params && !rc; i++) {
        const size_t bytes = g_nbytes(a->t->g, a->t->param_t[i]);
        rc = backend_plan_write(a->plan, a->t->param_t[i], a->t->param_data[i], bytes);
        /* the write is complete on return: the file's pages can go */
        if (!rc)
            clip_wmap_drop_pages(m->w, a->t->param_data[i], bytes);
    }
    rt_timing_add("weights upload", tower, cc_now_s() - t0);
    /* inference: weights never change, the first run packs them and the
     * originals only the packed copies read are released */
    if (!rc)
        backend_plan_release_originals(a->plan);
    return rc;
}

/* The cached tower if its batch fits `want` without wasting more than half
 * of each run; else a new one replacing it. */
static int tower_get(clipcl_model *cm, int text, int want, api_tower **out)
{
    api_tower *a = &cm->tower[text];
    if (a->t && a->batch >= want && a->batch <= 2 * want) {
        *out = a;
        return CC_OK;
    }
    tower_drop(a);
    int rc = tower_build(cm, text, want, a);
    if (rc) {
        tower_drop(a);
        return rc;
    }
    *out = a;
    return CC_OK;
}

/* Runs `rows` real rows of input (row_bytes each) through a tower of a->batch
 * rows, writing rows x D features into out. */
static int tower_run(clipcl_model *cm, api_tower *a, const void *input, int rows,
                     size_t row_bytes, float *out)
{
    const void *in = input;
    if (rows < a->batch) {
        size_t need = (size_t)a->batch * row_bytes;
        if (need > cm->pad_bytes) {
            float *p = realloc(cm->pad, need);
            if (!p)
                return cc_fail(CC_ERR_NOMEM, "padding a batch: out of memory");
            cm->pad = p;
            cm->pad_bytes = need;
        }
        char *p = (char *)cm->pad;
        memcpy(p, input, (size_t)rows * row_bytes);
        for (int r = rows; r < a->batch; r++)
            memcpy(p + (size_t)r * row_bytes, p + (size_t)(rows - 1) * row_bytes, row_bytes);
        in = p;
    }
    clip_tower *t = a->t;
    int rc = clip_tower_bind(t, a->slots, in);
    size_t out_bytes = (size_t)rows * (size_t)cm->m->cfg.embed_dim * sizeof(float);
    if (rc)
        return rc;
    rc = backend_plan_write(a->plan, t->input, in, g_nbytes(t->g, t->input));
    for (int i = 0; i < t->n_host && !rc; i++)
        rc = backend_plan_write(a->plan, t->host_t[i], t->host_buf[i], g_nbytes(t->g, t->host_t[i]));
    if (!rc) {
        double t0 = cc_now_s();
        rc = backend_plan_run(a->plan);
        rt_timing_add(a->runs++ ? "run" : "first run (packing, driver code generation)",
                      a == &cm->tower[1] ? "text" : "image", cc_now_s() - t0);
    }
    if (!rc && rows == a->batch)
        return backend_plan_read(a->plan, t->out, out, out_bytes);
    if (!rc) {
        /* backend_plan_read reads whole tensors; the padded rows are dropped. */
        float *full = malloc(g_nbytes(t->g, t->out));
        if (!full)
            return cc_fail(CC_ERR_NOMEM, "reading features: out of memory");
        rc = backend_plan_read(a->plan, t->out, full, g_nbytes(t->g, t->out));
        if (!rc)
            memcpy(out, full, out_bytes);
        free(full);
    }
    return rc;
}

static void normalize_rows(float *x, int n, int d)
{
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < d; j++)
            s += (double)x[(size_t)i * d + j] * x[(size_t)i * d + j];
        /* F.normalize's eps: a zero row stays zero instead of NaN. */
        double inv = 1.0 / fmax(sqrt(s), 1e-12);
        for (int j = 0; j < d; j++)
            x[(size_t)i * d + j] = (float)(x[(size_t)i * d + j] * inv);
    }
}

/* n rows of input in chunks of at most max_batch, all through one plan. */
static int encode_rows(clipcl_model *cm, int text, const void *input, int n, size_t row_bytes,
                       int flags, float *out)
{
    int D = cm->m->cfg.embed_dim;
    int b = n < cm->max_batch ? n : cm->max_batch;
    api_tower *a = NULL;
    int rc = tower_get(cm, text, b, &a);
    for (int i = 0; i < n && !rc; i += b) {
        int rows = n - i < b ? n - i : b;
        rc = tower_run(cm, a, (const char *)input + (size_t)i * row_bytes, rows, row_bytes,
                       out + (size_t)i * D);
    }
    if (!rc && (flags & CLIPCL_NORMALIZE))
        normalize_rows(out, n, D);
    return rc;
}

/* The arguments every encoder takes. A flag this version does not know is
 * an error rather than ignored: a program written for a later version then
 * fails here instead of getting other results than it asked for. */
static int check_n(const clipcl_model *cm, const void *in, int n, int flags, const float *out,
                   const char *what)
{
    if (!cm || !in || !out)
        return cc_fail(CC_ERR_INVALID, "%s: NULL argument", what);
    if (n < 1)
        return cc_fail(CC_ERR_INVALID, "%s: %d inputs: expected at least 1", what, n);
    if (flags & ~CLIPCL_NORMALIZE)
        return cc_fail(CC_ERR_INVALID, "%s: flags 0x%x: expected 0 or CLIPCL_NORMALIZE (0x%x)",
                       what, (unsigned)flags, (unsigned)CLIPCL_NORMALIZE);
    return CC_OK;
}

int clipcl_encode_image_pixels(clipcl_model *cm, const float *pixels, int n, int flags,
                               float *out)
{
    int rc = check_n(cm, pixels, n, flags, out, "encode images");
    if (rc)
        return rc;
    size_t R = (size_t)cm->m->cfg.vision.resolution;
    clip_api_lock(cm);
    rc = encode_rows(cm, 0, pixels, n, 3 * R * R * sizeof(float), flags, out);
    clip_api_unlock(cm);
    return rc;
}

int clipcl_encode_image_files(clipcl_model *cm, const char *const *paths, int n, int flags,
                              float *out)
{
    int rc = check_n(cm, paths, n, flags, out, "encode images");
    for (int i = 0; i < n && !rc; i++)
        if (!paths[i])
            rc = cc_fail(CC_ERR_INVALID, "encode images: path %d is NULL", i);
    if (rc)
        return rc;
    int R = cm->m->cfg.vision.resolution;
    size_t per = 3 * (size_t)R * (size_t)R;
    /* Decoded one chunk at a time so memory stays at one batch of pixels;
     * decoding holds no lock, so threads sharing the model decode side by
     * side and take turns on the device. */
    clip_api_lock(cm);
    int b = n < cm->max_batch ? n : cm->max_batch;
    clip_api_unlock(cm);
    float *px = malloc((size_t)b * per * sizeof *px);
    if (!px)
        return cc_fail(CC_ERR_NOMEM, "encode images: out of memory for %d images", b);
    for (int i = 0; i < n && !rc; i += b) {
        int rows = n - i < b ? n - i : b;
        for (int r = 0; r < rows && !rc; r++) {
            rc = img_prep_file(&cm->m->prep, paths[i + r], px + (size_t)r * per);
            if (rc && !strstr(cc_last_error(), paths[i + r])) {
                rc = cc_wrap(rc, "image '%s'", paths[i + r]);
            }
        }
        if (!rc) {
            clip_api_lock(cm);
            rc = encode_rows(cm, 0, px, rows, per * sizeof *px, 0,
                             out + (size_t)i * cm->m->cfg.embed_dim);
            clip_api_unlock(cm);
        }
    }
    free(px);
    if (!rc && (flags & CLIPCL_NORMALIZE))
        normalize_rows(out, n, cm->m->cfg.embed_dim);
    return rc;
}

/* The embedding gather does not check its indices. */
static int check_ids(const clipcl_model *cm, const int32_t *ids, int n)
{
    int T = cm->m->cfg.text.context, V = cm->m->cfg.text.vocab;
    for (int64_t i = 0; i < (int64_t)n * T; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return cc_fail(CC_ERR_INVALID, "token ids: row %lld position %lld holds id %d: "
                                           "expected 0 to %d (the model's vocabulary)",
                           (long long)(i / T), (long long)(i % T), (int)ids[i], V - 1);
    return CC_OK;
}

int clipcl_encode_token_ids(clipcl_model *cm, const int32_t *ids, int n, int flags, float *out)
{
    int rc = check_n(cm, ids, n, flags, out, "encode token ids");
    if (!rc)
        rc = check_ids(cm, ids, n);
    if (rc)
        return rc;
    size_t T = (size_t)cm->m->cfg.text.context;
    clip_api_lock(cm);
    rc = encode_rows(cm, 1, ids, n, T * sizeof *ids, flags, out);
    clip_api_unlock(cm);
    return rc;
}

/* A SentencePiece tokenizer (SigLIP) named by --vocab or found beside the
 * weights, for a text tower whose config names a tokenizer other than CLIP's
 * BPE. */
static int load_sentencepiece(clipcl_model *cm)
{
    const char *src = cm->vocab[0] && spm_is_tokenizer(cm->vocab) ? cm->vocab : cm->dir;
    int rc = src == cm->vocab ? spm_open(src, &cm->spm) : spm_open_model_dir(src, &cm->spm);
    if (rc)
        return rc;
    int32_t tv = spm_vocab_size(cm->spm), mv = cm->m->cfg.text.vocab;
    if (tv > mv) {
        spm_free(cm->spm);
        cm->spm = NULL;
        return cc_fail(CC_ERR_SHAPE, "SentencePiece tokenizer in '%s' has %d ids but the model's "
                                     "token embedding has %d rows", src, (int)tv, (int)mv);
    }
    return CC_OK;
}

int clip_api_encode_text(clipcl_model *cm, const char *text, int32_t *ids, size_t T,
                         int *truncated)
{
    if (cm->spm)
        return spm_encode_ctx(cm->spm, text, ids, T, truncated);
    return tok_encode_ctx(cm->tok, text, ids, T, truncated);
}

static int load_tokenizer(clipcl_model *cm)
{
    if (cm->tok || cm->spm)
        return CC_OK;
    const clip_text_cfg *tc = &cm->m->cfg.text;
    if (!tc->unsupported[0] && tc->tokenizer[0] &&
        ((cm->vocab[0] && spm_is_tokenizer(cm->vocab)) || spm_is_tokenizer(cm->dir)))
        return load_sentencepiece(cm);
    int rc = clip_api_text_tokenizer_ok(cm);
    if (rc)
        return rc;
    if (!cm->vocab[0])
        return cc_fail(CC_ERR_IO, "no tokenizer for the model in '%s': expected "
                                  "bpe_simple_vocab_16e6.txt.gz or vocab.json + merges.txt there",
                       cm->dir);
    size_t n = strlen(cm->vocab);
    if (n >= 5 && strcmp(cm->vocab + n - 5, ".json") == 0) {
        /* merges.txt beside vocab.json: same directory part, other name */
        char merges[1100];
        const char *slash = strrchr(cm->vocab, '/');
        int dir_len = slash ? (int)(slash - cm->vocab + 1) : 0;
        snprintf(merges, sizeof merges, "%.*smerges.txt", dir_len, cm->vocab);
        if (!is_file(merges))
            return cc_fail(CC_ERR_IO, "tokenizer '%s' needs merges.txt beside it: '%s' not found",
                           cm->vocab, merges);
        rc = tok_load_hf(cm->vocab, merges, &cm->tok);
    } else {
        rc = tok_load_openai(cm->vocab, &cm->tok);
    }
    if (rc)
        return rc;
    int32_t tv = tok_vocab_size(cm->tok), mv = cm->m->cfg.text.vocab;
    if (tv > mv) {
        tok_free(cm->tok);
        cm->tok = NULL;
        return cc_fail(CC_ERR_SHAPE, "tokenizer '%s' has %d ids but the model's token embedding "
                                     "has %d rows", cm->vocab, (int)tv, (int)mv);
    }
    return CC_OK;
}

int clipcl_encode_texts(clipcl_model *cm, const char *const *texts, int n, int flags,
                        float *out, int *n_truncated)
{
    int rc = check_n(cm, texts, n, flags, out, "encode texts");
    if (rc)
        return rc;
    size_t T = (size_t)cm->m->cfg.text.context;
    int32_t *ids = malloc((size_t)n * T * sizeof *ids);
    if (!ids)
        return cc_fail(CC_ERR_NOMEM, "encode texts: out of memory for %d texts", n);
    /* The tokenizer is loaded at the first text and its word cache changes
     * with every text: tokenizing holds the lock too. */
    clip_api_lock(cm);
    rc = load_tokenizer(cm);
    int trunc_total = 0;
    for (int i = 0; i < n && !rc; i++) {
        int tr = 0;
        if (!texts[i])
            rc = cc_fail(CC_ERR_INVALID, "encode texts: text %d is NULL", i);
        else
            rc = clip_api_encode_text(cm, texts[i], ids + (size_t)i * T, T, &tr);
        trunc_total += tr;
    }
    if (!rc)
        rc = check_ids(cm, ids, n);
    if (!rc)
        rc = encode_rows(cm, 1, ids, n, T * sizeof *ids, flags, out);
    clip_api_unlock(cm);
    free(ids);
    if (n_truncated)
        *n_truncated = trunc_total;
    return rc;
}

/* ---- for models/clip_api_tokenize.c ---- */

int clip_api_with_tokenizer(clipcl_model *cm, clip_api_tok_fn fn, void *arg)
{
    clip_api_lock(cm);
    int rc = load_tokenizer(cm);
    if (!rc)
        rc = fn(cm, cm->m->cfg.text.context, arg);
    clip_api_unlock(cm);
    return rc;
}
