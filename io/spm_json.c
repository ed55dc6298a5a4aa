/* A Hugging Face tokenizer.json holding a Unigram model (what transformers'
 * SpmConverter writes for a SentencePiece tokenizer) turned back into the
 * ModelProto libsentencepiece reads: the pieces with their scores and types, the
 * unknown id, the Precompiled normaliser's character map and the Metaspace
 * pre-tokenizer's prefix. Anything else in the pipeline that would change the
 * ids is refused by name rather than ignored. The protobuf wire format is
 * written by hand (a few varint, fixed32 and length-delimited fields of
 * sentencepiece_model.proto) so that no protobuf compiler is needed. */
#include "io/spm_files.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/grow.h"
#include "runtime/status.h"

/* ---- protobuf writer ---- */

typedef struct pb_buf {
    unsigned char *v;
    size_t n, cap;
} pb_buf;

static int pb_bytes(pb_buf *b, const void *p, size_t n)
{
    int rc = cc_grow_size((void **)&b->v, &b->cap, b->n + n + 1, 1, "the SentencePiece model");
    if (rc == CC_OK) {
        memcpy(b->v + b->n, p, n);
        b->n += n;
    }
    return rc;
}

static int pb_varint(pb_buf *b, uint64_t x)
{
    unsigned char t[10];
    size_t n = 0;
    do {
        t[n] = (unsigned char)(x & 0x7f);
        x >>= 7;
        if (x)
            t[n] |= 0x80;
        n++;
    } while (x);
    return pb_bytes(b, t, n);
}

static int pb_key(pb_buf *b, unsigned field, unsigned wire) { return pb_varint(b, (uint64_t)field << 3 | wire); }

static int pb_int(pb_buf *b, unsigned field, int64_t v)
{
    int rc = pb_key(b, field, 0);
    return rc ? rc : pb_varint(b, (uint64_t)v);
}

static int pb_len(pb_buf *b, unsigned field, const void *p, size_t n)
{
    int rc = pb_key(b, field, 2);
    if (rc == CC_OK)
        rc = pb_varint(b, n);
    return rc ? rc : pb_bytes(b, p, n);
}

static int pb_float(pb_buf *b, unsigned field, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    unsigned char t[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                          (unsigned char)(u >> 24)};
    int rc = pb_key(b, field, 5);
    return rc ? rc : pb_bytes(b, t, 4);
}

/* ---- base64 (the Precompiled normaliser's map) ---- */

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

static int b64_decode(const char *s, const char *path, unsigned char **out, size_t *n)
{
    size_t len = strlen(s);
    unsigned char *o = malloc(len / 4 * 3 + 3);
    if (!o)
        return cc_fail(CC_ERR_NOMEM, "%s: out of memory for the normaliser's map", path);
    size_t w = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len && s[i] != '='; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            free(o);
            return cc_fail(CC_ERR_INVALID, "%s: precompiled_charsmap is not base64 (byte %zu)", path, i);
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[w++] = (unsigned char)(acc >> bits);
        }
    }
    *out = o;
    *n = w;
    return CC_OK;
}

/* ---- tokenizer.json ---- */

static const char *str_of(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

static struct json_object *unigram_model(struct json_object *root)
{
    struct json_object *m = NULL;
    if (!json_object_object_get_ex(root, "model", &m) || !json_object_is_type(m, json_type_object))
        return NULL;
    const char *type = str_of(m, "type");
    return type && strcmp(type, "Unigram") == 0 ? m : NULL;
}

int spm_json_is_unigram(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || st.st_size > SPM_MAX_FILE_BYTES)
        return 0;
    struct json_object *root = json_object_from_file(path);
    int ok = root && unigram_model(root) != NULL;
    json_object_put(root);
    return ok;
}

/* The normaliser: Precompiled (the map) and the whitespace handling SpmConverter
 * adds for remove_extra_whitespaces (Strip, Replace " {2,}"). */
typedef struct norm_info {
    const char *charsmap; /* base64, NULL for identity */
    int extra_ws;
} norm_info;

static int read_normalizer(struct json_object *n, const char *path, norm_info *info)
{
    if (!n || json_object_is_type(n, json_type_null))
        return CC_OK;
    const char *type = str_of(n, "type");
    if (!type)
        return cc_fail(CC_ERR_INVALID, "%s: normalizer without a type", path);
    if (strcmp(type, "Sequence") == 0) {
        struct json_object *list = NULL;
        if (!json_object_object_get_ex(n, "normalizers", &list) || !json_object_is_type(list, json_type_array))
            return cc_fail(CC_ERR_INVALID, "%s: Sequence normalizer without a list", path);
        for (size_t i = 0; i < json_object_array_length(list); i++) {
            int rc = read_normalizer(json_object_array_get_idx(list, i), path, info);
            if (rc)
                return rc;
        }
        return CC_OK;
    }
    if (strcmp(type, "Precompiled") == 0) {
        info->charsmap = str_of(n, "precompiled_charsmap");
        return info->charsmap ? CC_OK
                              : cc_fail(CC_ERR_INVALID, "%s: Precompiled normalizer without precompiled_charsmap", path);
    }
    if (strcmp(type, "Strip") == 0) {
        info->extra_ws = 1;
        return CC_OK;
    }
    if (strcmp(type, "Replace") == 0) {
        /* SpmConverter's runs of spaces to one: what remove_extra_whitespaces
         * does; another replacement would be ignored, so it is refused. */
        struct json_object *pat = NULL;
        const char *content = str_of(n, "content");
        const char *re = NULL;
        if (json_object_object_get_ex(n, "pattern", &pat))
            re = str_of(pat, "Regex") ? str_of(pat, "Regex") : str_of(pat, "String");
        if (re && strcmp(re, " {2,}") == 0 && content &&
            (strcmp(content, " ") == 0 || strcmp(content, "\xe2\x96\x81") == 0)) {
            info->extra_ws = 1;
            return CC_OK;
        }
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: normalizer Replace of \"%s\" is not supported (only runs of "
                       "spaces, \" {2,}\")", path, re ? re : "(no pattern)");
    }
    return cc_fail(CC_ERR_UNSUPPORTED, "%s: normalizer \"%s\" is not supported (a SentencePiece tokenizer.json has "
                   "Precompiled, Strip and Replace)", path, type);
}

/* Metaspace decides the dummy prefix ("always"/"first", or add_prefix_space).
 * Older T5 conversions put WhitespaceSplit before it: SentencePiece's pieces
 * never span a word boundary, so splitting words first changes no id. */
static int read_pre_tokenizer(struct json_object *p, const char *path, int *dummy_prefix)
{
    *dummy_prefix = 1;
    if (!p || json_object_is_type(p, json_type_null))
        return CC_OK;
    const char *type = str_of(p, "type");
    struct json_object *list = NULL;
    if (type && strcmp(type, "Sequence") == 0 && json_object_object_get_ex(p, "pretokenizers", &list) &&
        json_object_is_type(list, json_type_array)) {
        struct json_object *meta = NULL;
        for (size_t i = 0; i < json_object_array_length(list); i++) {
            struct json_object *e = json_object_array_get_idx(list, i);
            const char *et = str_of(e, "type");
            if (et && strcmp(et, "Metaspace") == 0 && !meta)
                meta = e;
            else if (!et || strcmp(et, "WhitespaceSplit") != 0)
                return cc_fail(CC_ERR_UNSUPPORTED, "%s: pre_tokenizer \"%s\" in a Sequence is not supported "
                               "(expected WhitespaceSplit and one Metaspace)", path, et ? et : "(none)");
        }
        if (!meta)
            return cc_fail(CC_ERR_UNSUPPORTED, "%s: pre_tokenizer Sequence without a Metaspace", path);
        p = meta;
        type = "Metaspace";
    }
    if (!type || strcmp(type, "Metaspace") != 0)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: pre_tokenizer \"%s\" is not supported (expected Metaspace)", path,
                       type ? type : "(none)");
    const char *repl = str_of(p, "replacement");
    if (repl && strcmp(repl, "\xe2\x96\x81") != 0)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: Metaspace replacement \"%s\" is not supported (expected U+2581)",
                       path, repl);
    const char *scheme = str_of(p, "prepend_scheme");
    struct json_object *aps = NULL;
    if (scheme)
        *dummy_prefix = strcmp(scheme, "never") != 0;
    else if (json_object_object_get_ex(p, "add_prefix_space", &aps))
        *dummy_prefix = json_object_get_boolean(aps);
    return CC_OK;
}

static int is_special_id(struct json_object *root, int64_t id)
{
    struct json_object *added = NULL;
    if (!json_object_object_get_ex(root, "added_tokens", &added) || !json_object_is_type(added, json_type_array))
        return 0;
    for (size_t i = 0; i < json_object_array_length(added); i++) {
        struct json_object *a = json_object_array_get_idx(added, i), *v = NULL, *sp = NULL;
        if (json_object_object_get_ex(a, "id", &v) && json_object_get_int64(v) == id &&
            json_object_object_get_ex(a, "special", &sp) && json_object_get_boolean(sp))
            return 1;
    }
    return 0;
}

enum { PIECE_NORMAL = 1, PIECE_UNKNOWN = 2, PIECE_CONTROL = 3 };

static int write_pieces(pb_buf *b, struct json_object *root, struct json_object *vocab, int64_t unk_id,
                        const char *path)
{
    int rc = CC_OK;
    pb_buf p = {0};
    for (size_t i = 0; rc == CC_OK && i < json_object_array_length(vocab); i++) {
        struct json_object *e = json_object_array_get_idx(vocab, i);
        struct json_object *s = json_object_array_get_idx(e, 0), *score = json_object_array_get_idx(e, 1);
        if (!json_object_is_type(e, json_type_array) || !s || !json_object_is_type(s, json_type_string) || !score)
            return free(p.v), cc_fail(CC_ERR_INVALID, "%s: vocab entry %zu is not [piece, score]", path, i);
        int type = (int64_t)i == unk_id ? PIECE_UNKNOWN : is_special_id(root, (int64_t)i) ? PIECE_CONTROL
                                                                                          : PIECE_NORMAL;
        p.n = 0;
        const char *piece = json_object_get_string(s);
        rc = pb_len(&p, 1, piece, strlen(piece));
        if (rc == CC_OK)
            rc = pb_float(&p, 2, (float)json_object_get_double(score));
        if (rc == CC_OK)
            rc = pb_int(&p, 3, type);
        if (rc == CC_OK)
            rc = pb_len(b, 1, p.v, p.n);
    }
    free(p.v);
    return rc;
}

static int write_proto(struct json_object *root, const char *path, pb_buf *b)
{
    struct json_object *m = unigram_model(root), *vocab = NULL, *unk = NULL, *bf = NULL, *norm = NULL,
                       *pre = NULL;
    if (!m)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: not a Unigram tokenizer.json (a SentencePiece tokenizer's "
                       "model.type is \"Unigram\")", path);
    if (!json_object_object_get_ex(m, "vocab", &vocab) || !json_object_is_type(vocab, json_type_array) ||
        json_object_array_length(vocab) == 0)
        return cc_fail(CC_ERR_INVALID, "%s: Unigram model without a vocab", path);
    if (json_object_object_get_ex(m, "byte_fallback", &bf) && json_object_get_boolean(bf))
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: byte_fallback is not supported", path);
    int64_t unk_id = json_object_object_get_ex(m, "unk_id", &unk) && !json_object_is_type(unk, json_type_null)
                         ? json_object_get_int64(unk)
                         : -1;
    if (unk_id < 0 || unk_id >= (int64_t)json_object_array_length(vocab))
        return cc_fail(CC_ERR_INVALID, "%s: unk_id missing or outside the vocab (SentencePiece needs one)", path);
    norm_info ni = {0};
    int dummy = 1;
    json_object_object_get_ex(root, "normalizer", &norm);
    json_object_object_get_ex(root, "pre_tokenizer", &pre);
    int rc = read_normalizer(norm, path, &ni);
    if (rc == CC_OK)
        rc = read_pre_tokenizer(pre, path, &dummy);
    if (rc == CC_OK)
        rc = write_pieces(b, root, vocab, unk_id, path);
    pb_buf t = {0}, n = {0};
    if (rc == CC_OK)
        rc = pb_int(&t, 3, 1); /* model_type UNIGRAM */
    if (rc == CC_OK)
        rc = pb_int(&t, 40, unk_id);
    /* The ids the model reports itself; the tokenizer takes its special tokens
     * from tokenizer_config.json or SiglipTokenizer's defaults. */
    if (rc == CC_OK)
        rc = pb_int(&t, 41, -1);
    if (rc == CC_OK)
        rc = pb_int(&t, 42, -1);
    if (rc == CC_OK)
        rc = pb_int(&t, 43, -1);
    if (rc == CC_OK)
        rc = pb_len(b, 2, t.v, t.n);
    unsigned char *map = NULL;
    size_t map_n = 0;
    if (rc == CC_OK && ni.charsmap)
        rc = b64_decode(ni.charsmap, path, &map, &map_n);
    const char *name = ni.charsmap ? "nmt_nfkc" : "identity";
    if (rc == CC_OK)
        rc = pb_len(&n, 1, name, strlen(name));
    if (rc == CC_OK && map)
        rc = pb_len(&n, 2, map, map_n);
    if (rc == CC_OK)
        rc = pb_int(&n, 3, dummy);
    if (rc == CC_OK)
        rc = pb_int(&n, 4, ni.extra_ws);
    if (rc == CC_OK)
        rc = pb_int(&n, 5, 1);
    if (rc == CC_OK)
        rc = pb_len(b, 3, n.v, n.n);
    free(map);
    free(t.v);
    free(n.v);
    return rc;
}

int spm_json_to_proto(const char *path, unsigned char **proto, size_t *n)
{
    *proto = NULL;
    *n = 0;
    struct json_object *root = json_object_from_file(path);
    if (!root) {
        const char *why = json_util_get_last_err();
        return cc_fail(CC_ERR_INVALID, "%s: cannot read it as JSON (%s)", path, why ? why : "unknown error");
    }
    pb_buf b = {0};
    int rc = write_proto(root, path, &b);
    json_object_put(root);
    if (rc) {
        free(b.v);
        return rc;
    }
    *proto = b.v;
    *n = b.n;
    return CC_OK;
}
