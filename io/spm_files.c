/* Which file a SentencePiece tokenizer is read from, and its special tokens from
 * tokenizer_config.json as transformers reads them (io/spm_files.h). */
#include "io/spm_files.h"
#include "io/spm_tokenizer.h"

#include "runtime/fs.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/status.h"

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

/* The model file of a directory: spiece.model, else a Unigram tokenizer.json. */
static char *model_in_dir(const char *dir)
{
    char *p = rt_path_join(dir, "spiece.model");
    if (!p || is_file(p))
        return p;
    free(p);
    p = rt_path_join(dir, "tokenizer.json");
    if (p && is_file(p) && spm_json_is_unigram(p))
        return p;
    free(p);
    return NULL;
}

int spm_is_tokenizer(const char *path)
{
    if (!path)
        return 0;
    if (is_dir(path)) {
        char *m = model_in_dir(path);
        free(m);
        return m != NULL;
    }
    if (!is_file(path))
        return 0;
    if (ends_with(path, ".json"))
        return spm_json_is_unigram(path);
    return ends_with(path, ".model");
}

/* A special token in tokenizer_config.json: a string, or an AddedToken object. */
static int token_field(struct json_object *cfg, const char *key, char *out, const char *path)
{
    struct json_object *v = NULL, *c = NULL;
    if (!json_object_object_get_ex(cfg, key, &v) || json_object_is_type(v, json_type_null))
        return CC_OK;
    if (json_object_is_type(v, json_type_object) && json_object_object_get_ex(v, "content", &c))
        v = c;
    if (!json_object_is_type(v, json_type_string))
        return cc_fail(CC_ERR_INVALID, "%s: %s is not a string or {\"content\": ...}", path, key);
    const char *s = json_object_get_string(v);
    if (strlen(s) >= SPM_FILES_TOKEN_BYTES)
        return cc_fail(CC_ERR_INVALID, "%s: %s is longer than %d bytes", path, key, SPM_FILES_TOKEN_BYTES - 1);
    snprintf(out, SPM_FILES_TOKEN_BYTES, "%s", s);
    return CC_OK;
}

static int read_config(const char *dir, spm_special_tokens *sp)
{
    char *path = rt_path_join(dir, "tokenizer_config.json");
    if (!path)
        return cc_fail(CC_ERR_NOMEM, "out of memory");
    int rc = CC_OK;
    if (is_file(path)) {
        struct json_object *cfg = json_object_from_file(path), *lower = NULL;
        if (!cfg || !json_object_is_type(cfg, json_type_object))
            rc = cc_fail(CC_ERR_INVALID, "%s: not a JSON object", path);
        if (rc == CC_OK)
            rc = token_field(cfg, "eos_token", sp->eos, path);
        if (rc == CC_OK)
            rc = token_field(cfg, "unk_token", sp->unk, path);
        if (rc == CC_OK)
            rc = token_field(cfg, "pad_token", sp->pad, path);
        if (rc == CC_OK)
            rc = token_field(cfg, "tokenizer_class", sp->tokenizer_class, path);
        if (rc == CC_OK && json_object_object_get_ex(cfg, "do_lower_case", &lower))
            sp->do_lower_case = json_object_get_boolean(lower);
        json_object_put(cfg);
    }
    free(path);
    return rc;
}

static int load_model(const char *file, spm_model **model)
{
    struct stat st;
    if (stat(file, &st) == 0 && st.st_size > SPM_MAX_FILE_BYTES)
        return cc_fail(CC_ERR_INVALID, "%s: %lld bytes, more than a SentencePiece tokenizer file may have (%d MiB)",
                       file, (long long)st.st_size, SPM_MAX_FILE_BYTES >> 20);
    if (!ends_with(file, ".json"))
        return spm_model_load_file(file, model);
    unsigned char *proto = NULL;
    size_t n = 0;
    int rc = spm_json_to_proto(file, &proto, &n);
    if (rc == CC_OK)
        rc = spm_model_load_proto(proto, n, file, model);
    free(proto);
    return rc;
}

int spm_files_load(const char *path, spm_model **model, spm_special_tokens *sp)
{
    *model = NULL;
    *sp = (spm_special_tokens){"</s>", "<unk>", "</s>", 1, ""};
    char *file = NULL, *dir = NULL;
    if (is_dir(path)) {
        file = model_in_dir(path);
        if (!file)
            return cc_fail(CC_ERR_IO, "%s: no SentencePiece tokenizer in it (expected spiece.model or a Unigram "
                           "tokenizer.json)", path);
        dir = strdup(path);
    } else if (is_file(path)) {
        file = strdup(path);
        dir = rt_path_dir(path);
    } else {
        return cc_fail(CC_ERR_IO, "%s: no such file or directory", path);
    }
    int rc = file && dir ? CC_OK : cc_fail(CC_ERR_NOMEM, "out of memory");
    if (rc == CC_OK)
        rc = read_config(dir, sp);
    if (rc == CC_OK)
        rc = load_model(file, model);
    free(file);
    free(dir);
    return rc;
}

static struct json_object *obj_get(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    return o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_object) ? v : NULL;
}

/* open_clip_config.json's text_cfg (under model_cfg, or at the top level as in
 * open_clip's model_configs/NAME.json). */
static int config_clean(const char *dir, spm_clean *clean)
{
    *clean = SPM_CLEAN_NONE;
    char *path = rt_path_join(dir, "open_clip_config.json");
    if (!path)
        return cc_fail(CC_ERR_NOMEM, "out of memory");
    int rc = CC_OK;
    if (is_file(path)) {
        struct json_object *cfg = json_object_from_file(path);
        struct json_object *model = obj_get(cfg, "model_cfg");
        struct json_object *text = obj_get(model ? model : cfg, "text_cfg"), *name = NULL, *c = NULL;
        if (!cfg)
            rc = cc_fail(CC_ERR_INVALID, "%s: not JSON", path);
        else if (text && json_object_object_get_ex(text, "hf_tokenizer_name", &name)) {
            struct json_object *kw = obj_get(text, "tokenizer_kwargs");
            const char *how = "whitespace";
            if (kw && json_object_object_get_ex(kw, "clean", &c))
                how = json_object_get_string(c);
            if (spm_clean_from_name(how, clean) != CC_OK || *clean == SPM_CLEAN_NONE)
                rc = cc_fail(CC_ERR_UNSUPPORTED, "%s: tokenizer_kwargs clean \"%s\" is not one of open_clip's "
                             "(canonicalize, lower, whitespace)", path, how ? how : "(null)");
        }
        json_object_put(cfg);
    }
    free(path);
    return rc;
}

int spm_open_model_dir(const char *path, spm_tokenizer **out)
{
    *out = NULL;
    char *dir = is_dir(path) ? strdup(path) : rt_path_dir(path);
    if (!dir)
        return cc_fail(CC_ERR_NOMEM, "out of memory");
    spm_clean clean = SPM_CLEAN_NONE;
    int rc = config_clean(dir, &clean);
    if (rc == CC_OK)
        rc = spm_open(dir, out);
    if (rc == CC_OK)
        spm_set_clean(*out, clean);
    free(dir);
    return rc;
}
