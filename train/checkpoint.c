/* Writing a checkpoint directory atomically (train/checkpoint.h). */
#include "train/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "io/tok_files.h"
#include "runtime/status.h"
#include "train/trainer_internal.h"
#include "runtime/settings.h"

/* Files completed in this process's current checkpoint, for the kill hook. */
static void file_done(int *count)
{
    (*count)++;
    const char *k = rt_setting_value(RT_SET_CKPT_KILL_AFTER);
    if (k && atoi(k) == *count)
        raise(SIGKILL); /* simulates a crash between two files */
}

static int write_text(const char *path, const char *text)
{
    io_atomic a;
    int rc = io_atomic_open(&a, path);
    if (rc)
        return rc;
    if ((rc = io_atomic_write(&a, text, strlen(text)))) {
        io_atomic_abort(&a);
        return rc;
    }
    return io_atomic_commit(&a);
}

static const char *join(char *buf, size_t len, const char *a, const char *b)
{
    /* a path too long for buf comes out cut, and then fails to open */
    if (snprintf(buf, len, "%s/%s", a, b) >= (int)len)
        buf[len - 1] = '\0';
    return buf;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Removes a directory of plain files (a stale .tmp or a replaced checkpoint). */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char p[2200];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        unlink(join(p, sizeof p, dir, e->d_name));
    }
    closedir(d);
    rmdir(dir);
}

static int write_state(const char *path, const train_ckpt_state *s)
{
    struct json_object *o = json_object_new_object();
    if (!o)
        return cc_fail(CC_ERR_NOMEM, "trainer_state.json: out of memory");
#define I64(k, v) json_object_object_add(o, k, json_object_new_int64(v))
#define DBL(k, v) json_object_object_add(o, k, json_object_new_double(v))
#define STR(k, v) json_object_object_add(o, k, json_object_new_string(v))
    I64("format", 1);
    I64("step", s->step);
    I64("epoch", s->epoch);
    I64("epoch_batches", s->epoch_batches);
    I64("samples", s->samples);
    I64("skipped", s->skipped);
    I64("seed", s->seed);
    STR("data", s->data);
    STR("csv_img_key", s->csv_img_key);
    STR("csv_caption_key", s->csv_caption_key);
    STR("device", s->device);
    I64("batch", s->batch);
    I64("accum", s->accum);
    I64("ranks", s->ranks > 0 ? s->ranks : 1);
    I64("siglip", s->siglip);
    I64("augment", s->augment);
    I64("image_size", s->image_size);
    I64("steps", s->steps);
    I64("warmup", s->warmup);
    DBL("lr", s->lr);
    DBL("weight_decay", s->weight_decay);
    DBL("beta1", s->beta1);
    DBL("beta2", s->beta2);
    DBL("eps", s->eps);
    DBL("clip_grad_norm", s->clip_grad_norm);
#undef I64
#undef DBL
#undef STR
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
    char *copy = text ? malloc(strlen(text) + 2) : NULL;
    int rc;
    if (!copy) {
        rc = cc_fail(CC_ERR_NOMEM, "trainer_state.json: out of memory");
    } else {
        snprintf(copy, strlen(text) + 2, "%s\n", text);
        rc = write_text(path, copy);
    }
    free(copy);
    json_object_put(o);
    return rc;
}

/* The model file: every map tensor as f32 plus num_batches_tracked (i64
 * 0-d) per BatchNorm, which open_clip's state dict has. */
static int write_model(const char *path, const clip_wmap *m, int64_t tracked)
{
    int nbn = 0;
    for (int i = 0; i < m->n; i++)
        nbn += train_key_is_buffer(m->w[i].name) && strstr(m->w[i].name, "running_mean") != NULL;
    st_write_tensor *ts = calloc((size_t)(m->n + nbn + 1), sizeof *ts);
    char **names = calloc((size_t)nbn + 1, sizeof *names);
    int rc = ts && names ? CC_OK : cc_fail(CC_ERR_NOMEM, "checkpoint: out of memory");
    size_t n = 0;
    int k = 0;
    for (int i = 0; i < m->n && !rc; i++) {
        const clip_weight *w = &m->w[i];
        ts[n++] = (st_write_tensor){w->name, ST_F32, w->ndim, w->shape, w->data};
        size_t len = strlen(w->name);
        if (len > 12 && strcmp(w->name + len - 12, "running_mean") == 0) {
            names[k] = malloc(len + 20);
            if (!names[k]) {
                rc = cc_fail(CC_ERR_NOMEM, "checkpoint: out of memory");
                break;
            }
            snprintf(names[k], len + 20, "%.*snum_batches_tracked", (int)(len - 12), w->name);
            ts[n++] = (st_write_tensor){names[k], ST_I64, 0, NULL, &tracked};
            k++;
        }
    }
    static const char *const meta[] = {"format", "pt"};
    if (!rc)
        rc = st_write(path, ts, n, meta, 1);
    for (int i = 0; i < k; i++)
        free(names[i]);
    free(names);
    free(ts);
    return rc;
}

static int write_optim(const char *path, const train_ckpt *c)
{
    const clip_wmap *m = c->optim;
    st_write_tensor *ts = calloc((size_t)m->n + 2, sizeof *ts);
    if (!ts)
        return cc_fail(CC_ERR_NOMEM, "checkpoint: out of memory");
    size_t n = 0;
    for (int i = 0; i < m->n; i++)
        ts[n++] = (st_write_tensor){m->w[i].name, ST_F32, m->w[i].ndim, m->w[i].shape, m->w[i].data};
    int64_t step = c->st.step, one[1] = {1}, four[1] = {4};
    int64_t data[4] = {c->st.epoch, c->st.epoch_batches, c->st.samples, c->st.seed};
    ts[n++] = (st_write_tensor){"step", ST_I64, 1, one, &step};
    ts[n++] = (st_write_tensor){"data_state", ST_I64, 1, four, data};
    static const char *const meta[] = {"format", "pt", "optimizer", "AdamW"};
    int rc = st_write(path, ts, n, meta, 2);
    free(ts);
    return rc;
}

/* 1 when tok_dir holds a learned (Hugging Face format) vocabulary. */
static int has_hf_vocab(const char *tok_dir)
{
    char a[2200];
    struct stat s;
    return stat(join(a, sizeof a, tok_dir, "vocab.json"), &s) == 0 && S_ISREG(s.st_mode);
}

/* The tokenizer files, readable by every CLIP loader with clipcl's ids: merges.txt
 * loses any final newline (OpenAI's loader would read an empty merge and shift the
 * special tokens), and a learned vocabulary gets tokenizer_config.json with the
 * model's context, for transformers and open_clip's local-dir loader. */
static int copy_tokenizer(const char *tok_dir, const char *dir, int context, int *count)
{
    int copied = 0;
    char a[2200], b[2200];
    for (int i = 0; train_tokenizer_files[i]; i++) {
        struct stat s;
        if (stat(join(a, sizeof a, tok_dir, train_tokenizer_files[i]), &s) != 0 || !S_ISREG(s.st_mode))
            continue;
        join(b, sizeof b, dir, train_tokenizer_files[i]);
        int rc = strcmp(train_tokenizer_files[i], "merges.txt") == 0 ? tok_copy_merges(a, b)
                                                                     : train_copy_file(a, b);
        if (rc)
            return rc;
        file_done(count);
        copied++;
    }
    if (!copied)
        return cc_fail(CC_ERR_IO, "checkpoint: no tokenizer files in '%s'", tok_dir);
    if (has_hf_vocab(tok_dir)) {
        int rc = tok_write_hf_config(dir, context > 1 ? context : TOK_CONTEXT_LENGTH);
        if (rc)
            return rc;
        file_done(count);
    }
    return CC_OK;
}

/* open_clip's get_tokenizer('local-dir:DIR') uses OpenAI's 49408-id vocabulary
 * unless text_cfg names an hf_tokenizer_name; with one it loads the tokenizer
 * files of DIR through transformers. clean "lower" gives that path open_clip's
 * SimpleTokenizer cleaning (ftfy, html unescape, whitespace, lower case), which
 * is clipcl's. Keys already there (a resumed run's) are kept. */
static int name_learned_tokenizer(const char *model_cfg_text, char **out)
{
    struct json_object *o = json_tokener_parse(model_cfg_text), *tc = NULL, *kw = NULL;
    if (!o || !json_object_object_get_ex(o, "text_cfg", &tc) ||
        !json_object_is_type(tc, json_type_object)) {
        json_object_put(o);
        return cc_fail(CC_ERR_INVALID, "checkpoint: model config has no text_cfg object");
    }
    if (!json_object_object_get_ex(tc, "hf_tokenizer_name", NULL))
        json_object_object_add(tc, "hf_tokenizer_name", json_object_new_string(TOK_HF_TOKENIZER_NAME));
    if (!json_object_object_get_ex(tc, "tokenizer_kwargs", &kw)) {
        kw = json_object_new_object();
        json_object_object_add(tc, "tokenizer_kwargs", kw);
    }
    if (json_object_is_type(kw, json_type_object) && !json_object_object_get_ex(kw, "clean", NULL))
        json_object_object_add(kw, "clean", json_object_new_string("lower"));
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    *out = s ? strdup(s) : NULL;
    json_object_put(o);
    return *out ? CC_OK : cc_fail(CC_ERR_NOMEM, "checkpoint: out of memory");
}

static int switch_latest(const char *run_dir, const char *name)
{
    char tmp[2200], latest[2200];
    join(tmp, sizeof tmp, run_dir, "latest.tmp");
    join(latest, sizeof latest, run_dir, "latest");
    unlink(tmp);
    if (symlink(name, tmp) != 0)
        return cc_fail(CC_ERR_IO, "checkpoint: cannot create link '%s': %s", tmp, strerror(errno));
    if (rename(tmp, latest) != 0)
        return cc_fail(CC_ERR_IO, "checkpoint: cannot rename '%s' to '%s': %s", tmp, latest,
                       strerror(errno));
    fsync_dir(run_dir);
    return CC_OK;
}

int train_ckpt_save(const char *run_dir, const train_ckpt *c, const char *tok_dir, char *path,
                    size_t len)
{
    if (!run_dir || !c || !c->model || !c->optim || !c->model_cfg_text || !tok_dir)
        return cc_fail(CC_ERR_INVALID, "train_ckpt_save: NULL argument");
    char name[64], final[2200], tmp[2300], old[2300], f[2400];
    snprintf(name, sizeof name, "ckpt-%06" PRId64, c->st.step);
    join(final, sizeof final, run_dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", final);
    snprintf(old, sizeof old, "%s.old", final);
    int rc = train_mkdir(run_dir);
    if (rc)
        return rc;
    remove_dir(tmp);
    if ((rc = train_mkdir(tmp)))
        return rc;
    int count = 0;
    char *cfg_text = NULL, *model_cfg = NULL;
    if (has_hf_vocab(tok_dir))
        rc = name_learned_tokenizer(c->model_cfg_text, &model_cfg);
    if (!rc)
        rc = train_config_write_open_clip(model_cfg ? model_cfg : c->model_cfg_text, &cfg_text);
    free(model_cfg);
    if (!rc && !(rc = write_text(join(f, sizeof f, tmp, "open_clip_config.json"), cfg_text)))
        file_done(&count);
    free(cfg_text);
    /* training-mode forwards per BatchNorm: exact accumulation (K > 1) runs
     * each micro-batch twice, features then gradients, as open_clip does */
    int64_t tracked = c->st.step * (c->st.accum > 1 ? 2 * (int64_t)c->st.accum : 1);
    if (!rc && !(rc = write_model(join(f, sizeof f, tmp, "open_clip_model.safetensors"), c->model, tracked)))
        file_done(&count);
    if (!rc)
        rc = copy_tokenizer(tok_dir, tmp, c->cfg.text.context, &count);
    if (!rc && !(rc = write_optim(join(f, sizeof f, tmp, "optimizer.safetensors"), c)))
        file_done(&count);
    /* trainer_state.json last: its presence marks a complete directory */
    if (!rc && !(rc = write_state(join(f, sizeof f, tmp, "trainer_state.json"), &c->st)))
        file_done(&count);
    if (rc) {
        remove_dir(tmp);
        return rc;
    }
    fsync_dir(tmp);
    struct stat s;
    int replaced = stat(final, &s) == 0;
    remove_dir(old);
    if (replaced && rename(final, old) != 0)
        return cc_fail(CC_ERR_IO, "checkpoint: cannot move '%s' aside: %s", final, strerror(errno));
    if (rename(tmp, final) != 0)
        return cc_fail(CC_ERR_IO, "checkpoint: cannot rename '%s' to '%s': %s", tmp, final,
                       strerror(errno));
    fsync_dir(run_dir);
    if ((rc = switch_latest(run_dir, name)))
        return rc;
    if (replaced)
        remove_dir(old);
    if (path)
        snprintf(path, len, "%s", final);
    return CC_OK;
}
