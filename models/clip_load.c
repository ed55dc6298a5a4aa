/* MODEL path -> clip_model: the safetensors file (io/safetensors.h) read into
 * an owned f32 weight map, the config inferred and the config file applied.
 * This is the only models/ file that touches the file readers. */
#include "models/clip.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/safetensors.h"
#include "runtime/status.h"

/* Entries a CLIP state dict carries that are not weights (OpenAI's build_model
 * deletes them too), and attn_mask, the causal mask some exports keep as a
 * buffer: the graph builds its own. The explicit ignore list of strict
 * loading (models/clip_strict.c). */
static int skipped(const char *name)
{
    static const char *const tails[] = {"position_ids", "num_batches_tracked", "input_resolution",
                                        "context_length", "vocab_size", "attn_mask"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        size_t k = strlen(tails[i]);
        if (n >= k && strcmp(name + n - k, tails[i]) == 0 && (n == k || name[n - k - 1] == '.'))
            return 1;
    }
    return 0;
}

static int wmap_from_file(const char *path, clip_wmap **out)
{
    st_file *f = NULL;
    int rc = st_open(path, &f);
    if (rc)
        return rc;
    clip_wmap *m = clip_wmap_new();
    if (!m) {
        st_close(f);
        return cc_fail(CC_ERR_NOMEM, "clip_load '%s': out of memory", path);
    }
    for (size_t i = 0; i < st_count(f) && !rc; i++) {
        const st_tensor *t = st_at(f, i);
        if (skipped(t->name))
            continue;
        if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) {
            rc = cc_fail(CC_ERR_UNSUPPORTED, "clip_load '%s': tensor '%s' has dtype %s: expected "
                                             "F32, F16 or BF16", path, t->name,
                         st_dtype_name(t->dtype));
            break;
        }
        if (t->ndim > CLIP_MAX_DIMS) {
            rc = cc_fail(CC_ERR_SHAPE, "clip_load '%s': tensor '%s' has %d dims: expected at most %d",
                         path, t->name, t->ndim, CLIP_MAX_DIMS);
            break;
        }
        /* F32 in place, in the file's mapping (no copy; the pages become
         * resident as they are read, and clip_wmap_drop_pages gives them
         * back once uploaded); converted dtypes and unaligned data copied */
        if (t->dtype == ST_F32 && t->numel > 0 && ((uintptr_t)t->data % sizeof(float)) == 0 &&
            __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {
            rc = clip_wmap_add(m, t->name, t->ndim, t->shape, (float *)t->data, 0);
            continue;
        }
        float *d = malloc((size_t)(t->numel > 0 ? t->numel : 1) * sizeof *d);
        if (!d) {
            rc = cc_fail(CC_ERR_NOMEM, "clip_load '%s': out of memory for tensor '%s'", path,
                         t->name);
            break;
        }
        rc = st_read_f32(f, t, d, (size_t)t->numel);
        if (!rc)
            rc = clip_wmap_add(m, t->name, t->ndim, t->shape, d, 1);
        if (rc)
            free(d);
    }
    st_take_map(f, &m->map, &m->map_len);
    m->unmap = st_unmap;
    st_close(f);
    if (rc) {
        clip_wmap_free(m);
        return rc;
    }
    *out = m;
    return CC_OK;
}

static int is_file(const char *p)
{
    struct stat s;
    return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

static int ends_with(const char *s, const char *t)
{
    size_t n = strlen(s), k = strlen(t);
    return n >= k && strcmp(s + n - k, t) == 0;
}

/* dir/name into out; 0 when it does not fit (then no such path is tried). */
static int join(char *out, size_t len, const char *dir, const char *name)
{
    int n = snprintf(out, len, "%s/%s", dir, name);
    return n > 0 && (size_t)n < len;
}

/* The weights file inside a model directory. */
static int find_weights(const char *dir, char *out, size_t len)
{
    static const char *const names[] = {"model.safetensors", "open_clip_model.safetensors"};
    for (size_t i = 0; i < 2; i++) {
        if (join(out, len, dir, names[i]) && is_file(out))
            return CC_OK;
    }
    DIR *d = opendir(dir);
    if (!d)
        return cc_fail(CC_ERR_IO, "clip_load '%s': not a readable file or directory", dir);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!ends_with(e->d_name, ".safetensors"))
            continue;
        if (found == 0 && !join(out, len, dir, e->d_name))
            continue; /* a path too long to open cannot be the weights */
        found++;
    }
    closedir(d);
    if (found == 1)
        return CC_OK;
    return cc_fail(CC_ERR_IO, "clip_load '%s': expected model.safetensors or exactly one "
                              "*.safetensors file, found %d", dir, found);
}

static void find_config(const char *dir, char *out, size_t len)
{
    static const char *const names[] = {"open_clip_config.json", "config.json"};
    for (size_t i = 0; i < 2; i++) {
        if (join(out, len, dir, names[i]) && is_file(out))
            return;
    }
    out[0] = '\0';
}

int clip_model_from_wmap(clip_wmap *w, const char *config_path, clip_model **out)
{
    *out = NULL;
    clip_model *m = calloc(1, sizeof *m);
    if (!m) {
        clip_wmap_free(w);
        return cc_fail(CC_ERR_NOMEM, "clip model: out of memory");
    }
    m->w = w;
    int rc = clip_config_infer(w, &m->cfg);
    if (!rc && config_path && config_path[0]) {
        snprintf(m->config_path, sizeof m->config_path, "%s", config_path);
        rc = clip_config_apply_json(&m->cfg, config_path);
    }
    /* a preprocessing config clipcl cannot follow refuses images, not text */
    if (!rc && img_prep_for_model(&m->prep, m->cfg.vision.resolution, config_path) != CC_OK)
        img_prep_refuse(&m->prep, cc_last_error());
    if (!rc) /* after the config: it may switch on an option that reads such a tensor */
        clip_refuse_foreign_tensors(w, &m->cfg, -1);
    if (!rc) {
        const clip_weight *ls = clip_wmap_find(w, "logit_scale");
        if (!ls)
            rc = cc_fail(CC_ERR_INVALID, "clip %s weights: missing tensor 'logit_scale' (expected "
                                         "shape [])", clip_naming_name(m->cfg.naming));
        else if (ls->numel != 1)
            rc = cc_fail(CC_ERR_SHAPE, "clip %s weights: tensor 'logit_scale': expected shape [], "
                                       "found %lld elements", clip_naming_name(m->cfg.naming),
                         (long long)ls->numel);
        else
            m->logit_scale = ls->data[0];
    }
    const clip_weight *lb = rc ? NULL : clip_wmap_find(w, "logit_bias");
    if (lb && lb->numel != 1)
        rc = cc_fail(CC_ERR_SHAPE, "clip %s weights: tensor 'logit_bias': expected shape [] or "
                                   "[1], found %lld elements", clip_naming_name(m->cfg.naming),
                     (long long)lb->numel);
    else if (lb) { /* a model trained with the sigmoid loss (SigLIP) */
        m->has_logit_bias = 1;
        m->logit_bias = lb->data[0];
    }
    if (rc) {
        clip_model_free(m);
        return rc;
    }
    *out = m;
    return CC_OK;
}

int clip_load(const char *path, clip_model **out)
{
    if (!path || !out)
        return cc_fail(CC_ERR_INVALID, "clip_load: NULL argument");
    *out = NULL;
    char weights[1024], dir[1024], config[1100];
    struct stat s;
    if (stat(path, &s) != 0)
        return cc_fail(CC_ERR_IO, "clip_load '%s': no such file or directory", path);
    if (S_ISDIR(s.st_mode)) {
        snprintf(dir, sizeof dir, "%s", path);
        int rc = find_weights(dir, weights, sizeof weights);
        if (rc)
            return rc;
    } else {
        snprintf(weights, sizeof weights, "%s", path);
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(dir, sizeof dir, ".");
    }
    find_config(dir, config, sizeof config);
    clip_wmap *w = NULL;
    int rc = wmap_from_file(weights, &w);
    if (rc)
        return rc;
    return clip_model_from_wmap(w, config, out);
}

void clip_model_free(clip_model *m)
{
    if (!m)
        return;
    clip_wmap_free(m->w);
    free(m);
}
