/* Reading and validating a checkpoint directory (train/checkpoint.h). A
 * checkpoint is trusted only after every file parses and agrees with the
 * schema its own config implies, so a truncated or edited file is refused
 * with a message instead of resuming from garbage. */
#include "train/checkpoint.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/safetensors.h"
#include "runtime/status.h"
#include "train/trainer_internal.h"

static int is_file(const char *p)
{
    struct stat s;
    return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

int train_ckpt_resolve(const char *path, char *dir, size_t len)
{
    char p[2200], real[PATH_MAX];
    snprintf(p, sizeof p, "%s/trainer_state.json", path);
    if (is_file(p)) {
        snprintf(dir, len, "%s", path);
        return CC_OK;
    }
    snprintf(p, sizeof p, "%s/latest", path);
    if (realpath(p, real)) {
        snprintf(dir, len, "%s", real);
        return CC_OK;
    }
    return cc_fail(CC_ERR_IO, "no checkpoint at '%s': expected a checkpoint directory (with "
                   "trainer_state.json) or a run directory with a 'latest' link", path);
}

/* ---- trainer_state.json ---- */
typedef struct jctx {
    struct json_object *o;
    const char *path;
    int rc;
} jctx;

static struct json_object *field(jctx *j, const char *k, json_type t)
{
    struct json_object *v = NULL;
    if (j->rc)
        return NULL;
    if (!json_object_object_get_ex(j->o, k, &v) ||
        !(json_object_is_type(v, t) || (t == json_type_double && json_object_is_type(v, json_type_int)))) {
        j->rc = cc_fail(CC_ERR_INVALID, "checkpoint '%s': field '%s' missing or not a %s", j->path,
                        k, json_type_to_name(t));
        return NULL;
    }
    return v;
}

static int64_t jint(jctx *j, const char *k)
{
    struct json_object *v = field(j, k, json_type_int);
    return v ? json_object_get_int64(v) : 0;
}

static double jdbl(jctx *j, const char *k)
{
    struct json_object *v = field(j, k, json_type_double);
    return v ? json_object_get_double(v) : 0;
}

static void jstr(jctx *j, const char *k, char *dst, size_t len)
{
    struct json_object *v = field(j, k, json_type_string);
    snprintf(dst, len, "%s", v ? json_object_get_string(v) : "");
}

static int read_state(const char *path, train_ckpt_state *s)
{
    jctx j = {json_object_from_file(path), path, CC_OK};
    if (!j.o || !json_object_is_type(j.o, json_type_object)) {
        json_object_put(j.o);
        return cc_fail(CC_ERR_INVALID, "checkpoint '%s': not a JSON object (%s)", path,
                       cc_line(json_util_get_last_err(), "wrong type"));
    }
    memset(s, 0, sizeof *s);
    if (jint(&j, "format") != 1 && !j.rc)
        j.rc = cc_fail(CC_ERR_UNSUPPORTED, "checkpoint '%s': format is not 1", path);
    s->step = jint(&j, "step");
    s->epoch = jint(&j, "epoch");
    s->epoch_batches = jint(&j, "epoch_batches");
    s->samples = jint(&j, "samples");
    s->skipped = jint(&j, "skipped");
    s->seed = jint(&j, "seed");
    jstr(&j, "data", s->data, sizeof s->data);
    jstr(&j, "csv_img_key", s->csv_img_key, sizeof s->csv_img_key);
    jstr(&j, "csv_caption_key", s->csv_caption_key, sizeof s->csv_caption_key);
    jstr(&j, "device", s->device, sizeof s->device);
    s->batch = (int)jint(&j, "batch");
    s->accum = (int)jint(&j, "accum");
    /* optional: checkpoints of single-process runs before data-parallel training have none */
    struct json_object *rk = NULL;
    s->ranks = json_object_object_get_ex(j.o, "ranks", &rk) && json_object_is_type(rk, json_type_int)
                   ? (int)json_object_get_int64(rk) : 1;
    if (s->ranks < 1 && !j.rc)
        j.rc = cc_fail(CC_ERR_INVALID, "checkpoint '%s': ranks %d out of range", path, s->ranks);
    s->siglip = (int)jint(&j, "siglip");
    s->augment = (int)jint(&j, "augment");
    s->image_size = (int)jint(&j, "image_size");
    s->steps = jint(&j, "steps");
    s->warmup = jint(&j, "warmup");
    s->lr = jdbl(&j, "lr");
    s->weight_decay = jdbl(&j, "weight_decay");
    s->beta1 = jdbl(&j, "beta1");
    s->beta2 = jdbl(&j, "beta2");
    s->eps = jdbl(&j, "eps");
    s->clip_grad_norm = jdbl(&j, "clip_grad_norm");
    json_object_put(j.o);
    if (!j.rc && (s->step < 0 || s->batch < 1 || s->accum < 1 || s->epoch < 0 || s->epoch_batches < 0))
        j.rc = cc_fail(CC_ERR_INVALID, "checkpoint '%s': step %lld, batch %d, accum %d, epoch "
                       "%lld out of range", path, (long long)s->step, s->batch, s->accum,
                       (long long)s->epoch);
    return j.rc;
}

/* ---- tensors ---- */
static int same_shape(const st_tensor *t, const clip_weight *w)
{
    if (t->ndim != w->ndim)
        return 0;
    for (int i = 0; i < w->ndim; i++)
        if (t->shape[i] != w->shape[i])
            return 0;
    return 1;
}

/* Reads name (shaped like w) from f into a new entry `name` of out. */
static int take(const st_file *f, const char *name, const clip_weight *w, clip_wmap *out)
{
    const st_tensor *t = NULL;
    int rc = st_find(f, name, &t);
    if (rc)
        return cc_fail(CC_ERR_INVALID, "checkpoint '%s': missing tensor '%s'", st_path(f), name);
    if (!same_shape(t, w))
        return cc_fail(CC_ERR_SHAPE, "checkpoint '%s': tensor '%s' has %d dims / %lld values, "
                       "the config implies %d dims / %lld", st_path(f), name, t->ndim,
                       (long long)t->numel, w->ndim, (long long)w->numel);
    float *d = malloc((size_t)(t->numel > 0 ? t->numel : 1) * sizeof *d);
    if (!d)
        return cc_fail(CC_ERR_NOMEM, "checkpoint: out of memory for '%s'", name);
    rc = st_read_f32(f, t, d, (size_t)t->numel);
    if (!rc)
        rc = clip_wmap_add(out, name, w->ndim, w->shape, d, 1);
    if (rc)
        free(d);
    return rc;
}

static int read_i64(const st_file *f, const char *name, int64_t n, int64_t *dst)
{
    const st_tensor *t = NULL;
    if (st_find(f, name, &t) || t->dtype != ST_I64 || t->numel != n)
        return cc_fail(CC_ERR_INVALID, "checkpoint '%s': missing or malformed tensor '%s' "
                       "(expected I64 of %lld values)", st_path(f), name, (long long)n);
    memcpy(dst, t->data, (size_t)n * sizeof *dst);
    return CC_OK;
}

static int read_model(const char *path, const clip_wmap *schema, clip_wmap *out)
{
    st_file *f = NULL;
    int rc = st_open(path, &f);
    if (rc)
        return rc;
    for (int i = 0; i < schema->n && !rc; i++)
        rc = take(f, schema->w[i].name, &schema->w[i], out);
    for (size_t i = 0; i < st_count(f) && !rc; i++) {
        const char *n = st_at(f, i)->name;
        if (!clip_wmap_find(schema, n) && !strstr(n, "num_batches_tracked"))
            rc = cc_fail(CC_ERR_INVALID, "checkpoint '%s': unexpected tensor '%s' (not in the "
                         "model its config describes)", path, n);
    }
    st_close(f);
    return rc;
}

static int read_optim(const char *path, const clip_wmap *schema, const train_ckpt_state *s,
                      clip_wmap *out)
{
    st_file *f = NULL;
    int rc = st_open(path, &f);
    if (rc)
        return rc;
    char key[300];
    for (int i = 0; i < schema->n && !rc; i++) {
        const clip_weight *w = &schema->w[i];
        if (train_key_is_buffer(w->name))
            continue;
        snprintf(key, sizeof key, "exp_avg.%s", w->name);
        if (!(rc = take(f, key, w, out))) {
            snprintf(key, sizeof key, "exp_avg_sq.%s", w->name);
            rc = take(f, key, w, out);
        }
    }
    int64_t step = -1, data[4] = {0};
    if (!rc)
        rc = read_i64(f, "step", 1, &step);
    if (!rc)
        rc = read_i64(f, "data_state", 4, data);
    if (!rc && (step != s->step || data[0] != s->epoch || data[1] != s->epoch_batches ||
                data[2] != s->samples || data[3] != s->seed))
        rc = cc_fail(CC_ERR_INVALID, "checkpoint '%s': step/data state (%lld, %lld, %lld) disagree "
                     "with trainer_state.json (%lld, %lld, %lld)", path, (long long)step,
                     (long long)data[0], (long long)data[1], (long long)s->step,
                     (long long)s->epoch, (long long)s->epoch_batches);
    st_close(f);
    return rc;
}

int train_ckpt_load(const char *path, train_ckpt *c)
{
    memset(c, 0, sizeof *c);
    int rc = train_ckpt_resolve(path, c->dir, sizeof c->dir);
    if (rc)
        return rc;
    char p[2200];
    snprintf(p, sizeof p, "%s/trainer_state.json", c->dir);
    if ((rc = read_state(p, &c->st)))
        return rc;
    snprintf(p, sizeof p, "%s/open_clip_config.json", c->dir);
    char what[2300];
    snprintf(what, sizeof what, "'%s'", p);
    clip_wmap *schema = NULL;
    clip_loss_kind kind = c->st.siglip ? CLIP_LOSS_SIGLIP : CLIP_LOSS_CONTRASTIVE;
    if ((rc = train_config_model_text(p, &c->model_cfg_text)) ||
        (rc = train_config_from_json_text(c->model_cfg_text, what, &c->cfg)) ||
        (rc = train_init_weights_ex(&c->cfg, kind, 0, 1, &schema))) {
        train_ckpt_free(c);
        return rc;
    }
    c->model = clip_wmap_new();
    c->optim = clip_wmap_new();
    if (!c->model || !c->optim)
        rc = cc_fail(CC_ERR_NOMEM, "checkpoint: out of memory");
    snprintf(p, sizeof p, "%s/open_clip_model.safetensors", c->dir);
    if (!rc)
        rc = read_model(p, schema, c->model);
    snprintf(p, sizeof p, "%s/optimizer.safetensors", c->dir);
    if (!rc)
        rc = read_optim(p, schema, &c->st, c->optim);
    clip_wmap_free(schema);
    int tok = 0;
    for (int i = 0; !rc && train_tokenizer_files[i]; i++) {
        snprintf(p, sizeof p, "%s/%s", c->dir, train_tokenizer_files[i]);
        tok += is_file(p);
    }
    if (!rc && !tok)
        rc = cc_fail(CC_ERR_IO, "checkpoint '%s': no tokenizer files (vocab.json + merges.txt or "
                     "bpe_simple_vocab_16e6.txt.gz)", c->dir);
    if (rc) {
        train_ckpt_free(c);
        return rc;
    }
    return CC_OK;
}

void train_ckpt_free(train_ckpt *c)
{
    if (!c)
        return;
    free(c->model_cfg_text);
    clip_wmap_free(c->model);
    clip_wmap_free(c->optim);
    c->model_cfg_text = NULL;
    c->model = c->optim = NULL;
}
