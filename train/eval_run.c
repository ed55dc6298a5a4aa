/* `clipcl eval` end to end on a model (train/eval_run.h). */
#include "train/eval_run.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "models/clip.h"
#include "runtime/status.h"

#define CHUNK 64 /* rows handed to the API at once (it splits them further) */

/* ---- features (the only place that talks to the model) ---- */

static void warn(const eval_run_opts *o, const char *fmt, ...) CC_PRINTF(2, 3);
static void warn(const eval_run_opts *o, const char *fmt, ...)
{
    if (!o->warn)
        return;
    va_list ap;
    va_start(ap, fmt);
    ds_vwarn(o->warn, o->warn_user, fmt, ap);
    va_end(ap);
}

/* n x D normalised features of image paths (texts == 0) or of texts, in
 * chunks behind a progress bar. */
static int encode(const eval_run_opts *o, clipcl_model *m, int texts, char *const *items, int64_t n,
                  const char *what, float **out)
{
    size_t D = (size_t)clipcl_embed_dim(m);
    const char *unit = texts ? "text" : "img";
    float *f = malloc((size_t)n * D * sizeof *f);
    if (!f)
        return cc_fail(CC_ERR_NOMEM, "out of memory for %lld %s features", (long long)n, unit);
    progress bar;
    progress_start(&bar, what, unit, n, o->progress);
    int cut = 0;
    for (int64_t i = 0; i < n; i += CHUNK) {
        int c = (int)(n - i < CHUNK ? n - i : CHUNK), t = 0;
        const char *const *chunk = (const char *const *)items + i;
        float *dst = f + (size_t)i * D;
        int rc = texts ? clipcl_encode_texts(m, chunk, c, CLIPCL_NORMALIZE, dst, &t)
                       : clipcl_encode_image_files(m, chunk, c, CLIPCL_NORMALIZE, dst);
        if (rc) {
            progress_abort(&bar);
            free(f);
            return rc;
        }
        cut += t;
        progress_update(&bar, i + c);
    }
    progress_finish(&bar);
    if (cut)
        warn(o, "%d text%s cut to the context length", cut, cut == 1 ? "" : "s");
    *out = f;
    return CC_OK;
}

/* classes x D ensembled class embeddings */
static int class_embeddings(const eval_run_opts *o, clipcl_model *m, const eval_strs *classes,
                            float **out)
{
    int T = o->n_templates;
    eval_strs prompts = {0};
    int rc = CC_OK;
    for (int64_t c = 0; c < classes->n && !rc; c++)
        for (int t = 0; t < T && !rc; t++) {
            char *p = clip_fill_template(o->templates[t], classes->v[c]);
            rc = !p ? cc_fail(CC_ERR_NOMEM, "out of memory") : eval_strs_push(&prompts, p);
            free(p);
        }
    float *f = NULL;
    if (!rc)
        rc = encode(o, m, 1, prompts.v, prompts.n, "prompts", &f);
    eval_strs_free(&prompts);
    float *cls = rc ? NULL : malloc((size_t)classes->n * clipcl_embed_dim(m) * sizeof *cls);
    if (!rc && !cls)
        rc = cc_fail(CC_ERR_NOMEM, "out of memory for %lld class embeddings", (long long)classes->n);
    if (!rc)
        rc = eval_ensemble(f, (int)classes->n, T, clipcl_embed_dim(m), cls);
    free(f);
    if (rc)
        free(cls);
    else
        *out = cls;
    return rc;
}

/* ---- sets and classes ---- */

void eval_run_sets_free(eval_run_sets *s)
{
    eval_set_free(&s->zs);
    eval_set_free(&s->train);
    eval_set_free(&s->test);
    eval_captions_free(&s->caps);
    eval_strs_free(&s->zs_classes);
    eval_strs_free(&s->probe_classes);
    free(s->zs_labels);
    free(s->train_labels);
    free(s->test_labels);
    memset(s, 0, sizeof *s);
}

/* The class list of sets, then each set's label indices. */
static int resolve(const eval_run_opts *o, eval_set *const *sets, int32_t **labels, int n,
                   eval_strs *classes)
{
    const char *file = o->classes;
    if (!file && sets[0]->numeric && sets[0]->classes_hint[0])
        file = sets[0]->classes_hint;
    int rc = file ? eval_classes_read(file, classes)
                  : eval_classes_collect((const eval_set *const *)sets, n, classes);
    for (int k = 0; k < n && rc == CC_OK; k++) {
        labels[k] = malloc((size_t)sets[k]->labels.n * sizeof *labels[k]);
        rc = labels[k] ? eval_set_classes(sets[k], classes, file != NULL, labels[k])
                       : cc_fail(CC_ERR_NOMEM, "eval: %lld labels",
                                 (long long)sets[k]->labels.n);
    }
    return rc;
}

int eval_run_sets_open(const eval_run_opts *o, eval_run_sets *s)
{
    memset(s, 0, sizeof *s);
    eval_set_opts so = {.img_key = o->img_key, .label_key = o->label_key, .warn = o->warn,
                        .warn_user = o->warn_user};
    int rc = CC_OK;
    if (o->zeroshot && (rc = eval_set_open(o->zeroshot, &so, &s->zs)) == CC_OK) {
        eval_set *sets[1] = {&s->zs};
        rc = resolve(o, sets, &s->zs_labels, 1, &s->zs_classes);
    }
    const char *tr = o->probe ? o->probe : o->few;
    if (rc == CC_OK && tr && (rc = eval_set_open(tr, &so, &s->train)) == CC_OK &&
        (rc = eval_set_open(o->test, &so, &s->test)) == CC_OK) {
        eval_set *sets[2] = {&s->train, &s->test};
        int32_t *l[2] = {NULL, NULL};
        rc = resolve(o, sets, l, 2, &s->probe_classes);
        s->train_labels = l[0];
        s->test_labels = l[1];
    }
    if (rc == CC_OK && o->retrieval)
        rc = eval_captions_open(o->retrieval, o->img_key, o->caption_key, o->warn, o->warn_user,
                                &s->caps);
    return rc;
}

/* ---- the run ---- */

int eval_run(const eval_run_opts *o, const eval_run_sets *s, clipcl_model *m, eval_run_results *r)
{
    memset(r, 0, sizeof *r);
    int D = clipcl_embed_dim(m), rc = CC_OK;
    float *cls = NULL, *txt = NULL, *img = NULL, *tr = NULL, *te = NULL;
    if (o->zeroshot)
        rc = class_embeddings(o, m, &s->zs_classes, &cls);
    if (!rc && o->retrieval)
        rc = encode(o, m, 1, s->caps.texts.v, s->caps.texts.n, "captions", &txt);
    if (!rc && o->zeroshot)
        rc = encode(o, m, 0, s->zs.paths.v, s->zs.paths.n, "zeroshot", &img);
    if (!rc && o->zeroshot)
        rc = eval_zeroshot(img, s->zs.paths.n, cls, (int)s->zs_classes.n, D, s->zs_labels, NULL,
                           &r->zs);
    free(img);
    img = NULL;
    if (!rc && o->retrieval)
        rc = encode(o, m, 0, s->caps.images.v, s->caps.images.n, "retrieval", &img);
    if (!rc && o->retrieval)
        rc = eval_retrieval(img, s->caps.images.n, txt, s->caps.texts.n, D, s->caps.text_image,
                            &r->retr);
    if (!rc && (o->probe || o->few))
        rc = encode(o, m, 0, s->train.paths.v, s->train.paths.n, "probe train", &tr);
    if (!rc && (o->probe || o->few))
        rc = encode(o, m, 0, s->test.paths.v, s->test.paths.n, "probe test", &te);
    eval_probe_opts po = {.seed = o->seed};
    int nc = (int)s->probe_classes.n;
    if (!rc && o->probe)
        rc = eval_linear_probe(tr, s->train_labels, s->train.paths.n, te, s->test_labels,
                               s->test.paths.n, D, nc, &po, &r->probe);
    for (int i = 0; !rc && o->few && i < o->n_shots && i < EVAL_MAX_SHOTS; i++) {
        rc = eval_few_shot(tr, s->train_labels, s->train.paths.n, te, s->test_labels,
                           s->test.paths.n, D, nc, o->shots[i], o->seeds, &po, &r->few[i]);
        r->n_few = i + 1;
    }
    free(cls), free(txt), free(img), free(tr), free(te);
    return rc;
}
