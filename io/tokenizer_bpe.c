/* Loading OpenAI's and Hugging Face's vocabularies, and byte-level BPE of one
 * pre-token with a word cache. Symbols are handled as vocabulary ids: every symbol
 * string maps to one id (the last one, as Python's dict(zip(...)) keeps), so merging
 * ids is merging strings. */
#include "io/tok_bpe.h"
#include "io/tok_tables.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "runtime/status.h"

enum { CACHE_MAX_WORDS = 1 << 17, CACHE_MAX_IDS = 1 << 22 };

void tok_bytes_to_unicode(uint32_t cp_of_byte[256], uint8_t byte_order[256])
{
    int n = 0, extra = 0;
    for (int b = 0; b < 256; b++)
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) {
            cp_of_byte[b] = (uint32_t)b;
            byte_order[n++] = (uint8_t)b;
        }
    for (int b = 0; b < 256; b++)
        if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
            cp_of_byte[b] = 256u + (uint32_t)extra++;
            byte_order[n++] = (uint8_t)b;
        }
}

static size_t put_cp(char *q, uint32_t c)
{
    if (c < 0x80) { q[0] = (char)c; return 1; }
    q[0] = (char)(0xC0 | (c >> 6));
    q[1] = (char)(0x80 | (c & 0x3F));
    return 2; /* byte symbols are all below U+0800 */
}

/* Whole file, through zlib so that .gz and plain text both work. */
static int read_all(const char *path, char **buf, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return cc_fail(CC_ERR_IO, "tokenizer: cannot open '%s': %s", path, strerror(errno ? errno : ENOENT));
    size_t cap = 1 << 20, n = 0;
    char *b = malloc(cap);
    int rc = b ? CC_OK : cc_fail(CC_ERR_NOMEM, "tokenizer: out of memory reading '%s'", path);
    while (rc == CC_OK) {
        if (n > TOK_MAX_FILE_BYTES) { /* counted after gunzip: a small .gz can expand without bound */
            rc = cc_fail(CC_ERR_UNSUPPORTED, "tokenizer: '%s' holds more than %d bytes, at most %d "
                         "allowed", path, TOK_MAX_FILE_BYTES, TOK_MAX_FILE_BYTES);
            break;
        }
        if (cap - n < (1 << 16)) {
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                rc = cc_fail(CC_ERR_NOMEM, "tokenizer: out of memory reading '%s' (%zu bytes)", path, cap * 2);
                break;
            }
            b = nb;
            cap *= 2;
        }
        int got = gzread(f, b + n, (unsigned)(cap - n - 1)), zerr = Z_OK;
        const char *msg = gzerror(f, &zerr);
        /* A truncated stream reads as 0 bytes with Z_BUF_ERROR, not as -1. */
        if (got < 0 || (zerr != Z_OK && zerr != Z_STREAM_END)) {
            rc = cc_fail(CC_ERR_IO, "tokenizer: cannot read '%s': %s", path, msg);
        } else if (got == 0) {
            break;
        } else {
            n += (size_t)got;
        }
    }
    gzclose(f);
    if (rc) {
        free(b);
        return rc;
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    return CC_OK;
}

typedef struct merge_list { const char **left, **right; size_t *llen, *rlen; size_t n; int *line; } merge_list;

static void merges_free(merge_list *m)
{
    free(m->left); free(m->right); free(m->llen); free(m->rlen); free(m->line);
    memset(m, 0, sizeof *m);
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* Lines [1, 1 + TOK_MAX_MERGES) of buf, each "left right"; buf is cut in place. */
static int parse_merges(char *buf, size_t len, const char *path, merge_list *m)
{
    memset(m, 0, sizeof *m);
    size_t cap = TOK_MAX_MERGES;
    m->left = malloc(cap * sizeof *m->left);
    m->right = malloc(cap * sizeof *m->right);
    m->llen = malloc(cap * sizeof *m->llen);
    m->rlen = malloc(cap * sizeof *m->rlen);
    m->line = malloc(cap * sizeof *m->line);
    if (!m->left || !m->right || !m->llen || !m->rlen || !m->line) {
        merges_free(m);
        return cc_fail(CC_ERR_NOMEM, "tokenizer: out of memory for merges of '%s'", path);
    }
    if (len == 0) {
        merges_free(m);
        return cc_fail(CC_ERR_INVALID, "tokenizer: '%s' is empty (expected a header line, then \"left right\" lines)", path);
    }
    /* A header alone is a byte-level vocabulary without merges (a trainer's smallest). */
    char *p = memchr(buf, '\n', len);
    p = p ? p + 1 : buf + len;
    for (int line = 2; p < buf + len && m->n < cap; line++) {
        char *end = memchr(p, '\n', (size_t)(buf + len - p));
        if (!end)
            end = buf + len;
        char *f[3] = {0};
        size_t fl[3] = {0};
        int nf = 0;
        for (char *q = p; q < end;) {
            while (q < end && is_ws(*q))
                q++;
            if (q == end)
                break;
            char *s = q;
            while (q < end && !is_ws(*q))
                q++;
            if (nf < 3) {
                f[nf] = s;
                fl[nf] = (size_t)(q - s);
            }
            nf++;
        }
        if (nf == 0 && end == buf + len)
            break; /* the empty tail after a final newline */
        if (nf != 2) {
            merges_free(m);
            return cc_fail(CC_ERR_INVALID, "tokenizer: '%s' line %d: expected \"left right\", found %d field(s)", path, line, nf);
        }
        m->left[m->n] = f[0];
        m->right[m->n] = f[1];
        m->llen[m->n] = fl[0];
        m->rlen[m->n] = fl[1];
        m->line[m->n] = line;
        m->n++;
        p = end + 1;
    }
    return CC_OK;
}

static int32_t lookup(const tok_tokenizer *t, const char *s, size_t n)
{
    const tok_strmap_entry *e = tok_strmap_get(&t->vocab, s, n);
    return e ? e->a : -1;
}

/* Byte symbols, merge table and special ids, once the vocabulary is complete. */
static int finish(tok_tokenizer *t, const merge_list *m, const char *path)
{
    uint32_t cp[256];
    uint8_t order[256];
    tok_bytes_to_unicode(cp, order);
    for (int b = 0; b < 256; b++) {
        char s[8];
        size_t k = put_cp(s, cp[b]);
        memcpy(s + k, "</w>", 4);
        t->byte_id[b] = lookup(t, s, k);
        t->byte_end_id[b] = lookup(t, s, k + 4);
        if (t->byte_id[b] < 0 || t->byte_end_id[b] < 0)
            return cc_fail(CC_ERR_INVALID, "tokenizer: vocabulary of '%s' lacks the symbol of byte %d (or with </w>)", path, b);
    }
    char buf[1024];
    for (size_t r = 0; r < m->n; r++) {
        int32_t l = lookup(t, m->left[r], m->llen[r]), rr = lookup(t, m->right[r], m->rlen[r]);
        int32_t mg = -1;
        if (m->llen[r] + m->rlen[r] < sizeof buf) {
            memcpy(buf, m->left[r], m->llen[r]);
            memcpy(buf + m->llen[r], m->right[r], m->rlen[r]);
            mg = lookup(t, buf, m->llen[r] + m->rlen[r]);
        }
        if (l < 0 || rr < 0 || mg < 0)
            return cc_fail(CC_ERR_INVALID, "tokenizer: '%s' line %d: merge \"%.*s %.*s\" uses a symbol that is not in the vocabulary",
                           path, m->line[r], (int)m->llen[r], m->left[r], (int)m->rlen[r], m->right[r]);
        int rc = tok_pairmap_put(&t->merges, l, rr, (int32_t)r, mg);
        if (rc)
            return rc;
    }
    t->sot = lookup(t, "<|startoftext|>", 15);
    t->eot = lookup(t, "<|endoftext|>", 13);
    if (t->sot < 0 || t->eot < 0)
        return cc_fail(CC_ERR_INVALID, "tokenizer: vocabulary of '%s' lacks <|startoftext|> or <|endoftext|>", path);
    return tok_regex_init(t);
}

static int add_symbol(tok_tokenizer *t, const char *s, size_t n, int32_t id)
{
    int rc = tok_strmap_put(&t->vocab, s, n, id, 0);
    if (rc == CC_OK)
        t->sym_ent[id] = (uint32_t)(tok_strmap_get(&t->vocab, s, n) - t->vocab.ent);
    return rc;
}

/* The common end of both loaders: completes t when all went well so far, frees
 * the parse state, and hands t out or frees it. */
static int load_end(int rc, tok_tokenizer *t, merge_list *m, char *buf, const char *path,
                    tok_tokenizer **out)
{
    if (rc == CC_OK)
        rc = finish(t, m, path);
    merges_free(m);
    free(buf);
    if (rc) {
        tok_free(t);
        return rc;
    }
    *out = t;
    return CC_OK;
}

int tok_load_openai(const char *path, tok_tokenizer **out)
{
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    merge_list m;
    int rc = read_all(path, &buf, &len);
    if (rc)
        return rc;
    if ((rc = parse_merges(buf, len, path, &m))) {
        free(buf);
        return rc;
    }
    tok_tokenizer *t = calloc(1, sizeof *t);
    int32_t nv = (int32_t)(512 + m.n + 2);
    if (t)
        t->sym_ent = malloc((size_t)nv * sizeof *t->sym_ent);
    rc = (t && t->sym_ent) ? CC_OK : cc_fail(CC_ERR_NOMEM, "tokenizer: out of memory loading '%s'", path);
    if (rc == CC_OK) {
        t->n_vocab = nv;
        uint32_t cp[256];
        uint8_t order[256];
        tok_bytes_to_unicode(cp, order);
        char s[1024];
        for (int i = 0; rc == CC_OK && i < 256; i++) {
            size_t k = put_cp(s, cp[order[i]]);
            rc = add_symbol(t, s, k, i);
            memcpy(s + k, "</w>", 4);
            if (rc == CC_OK)
                rc = add_symbol(t, s, k + 4, 256 + i);
        }
        for (size_t r = 0; rc == CC_OK && r < m.n; r++) {
            if (m.llen[r] + m.rlen[r] >= sizeof s) {
                rc = cc_fail(CC_ERR_INVALID, "tokenizer: '%s' line %d: merge longer than %zu bytes", path, m.line[r], sizeof s);
                break;
            }
            memcpy(s, m.left[r], m.llen[r]);
            memcpy(s + m.llen[r], m.right[r], m.rlen[r]);
            rc = add_symbol(t, s, m.llen[r] + m.rlen[r], (int32_t)(512 + r));
        }
        if (rc == CC_OK)
            rc = add_symbol(t, "<|startoftext|>", 15, nv - 2);
        if (rc == CC_OK)
            rc = add_symbol(t, "<|endoftext|>", 13, nv - 1);
    }
    return load_end(rc, t, &m, buf, path, out);
}

static int load_hf_vocab(tok_tokenizer *t, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size > TOK_MAX_FILE_BYTES)
        return cc_fail(CC_ERR_UNSUPPORTED, "tokenizer: '%s' is %lld bytes, at most %d allowed", path,
                       (long long)st.st_size, TOK_MAX_FILE_BYTES);
    json_object *root = json_object_from_file(path);
    if (!root)
        return cc_fail(CC_ERR_IO, "tokenizer: cannot read JSON '%s': %s", path, cc_line(json_util_get_last_err(), "unknown"));
    int rc = CC_OK;
    int64_t max_id = -1;
    if (!json_object_is_type(root, json_type_object))
        rc = cc_fail(CC_ERR_INVALID, "tokenizer: '%s': expected a JSON object of symbol -> id", path);
    if (rc == CC_OK) {
        json_object_object_foreach(root, key, val) {
            int64_t id = json_object_get_int64(val);
            if (!json_object_is_type(val, json_type_int) || id < 0 || id >= (1 << 24)) {
                rc = cc_fail(CC_ERR_INVALID, "tokenizer: '%s': symbol \"%s\" has id %s, expected an integer in [0, 2^24)",
                             path, key, json_object_to_json_string(val));
                break;
            }
            if (id > max_id)
                max_id = id;
        }
    }
    if (rc == CC_OK && max_id < 0)
        rc = cc_fail(CC_ERR_INVALID, "tokenizer: '%s' holds no symbols", path);
    if (rc == CC_OK) {
        t->n_vocab = (int32_t)(max_id + 1);
        t->sym_ent = malloc((size_t)t->n_vocab * sizeof *t->sym_ent);
        if (!t->sym_ent)
            rc = cc_fail(CC_ERR_NOMEM, "tokenizer: out of memory for %d symbols", t->n_vocab);
        else
            memset(t->sym_ent, 0xFF, (size_t)t->n_vocab * sizeof *t->sym_ent);
    }
    if (rc == CC_OK) {
        json_object_object_foreach(root, key, val) {
            if ((rc = add_symbol(t, key, strlen(key), (int32_t)json_object_get_int64(val))))
                break;
        }
    }
    json_object_put(root);
    return rc;
}

int tok_load_hf(const char *vocab_json, const char *merges_txt, tok_tokenizer **out)
{
    *out = NULL;
    tok_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return cc_fail(CC_ERR_NOMEM, "tokenizer: out of memory loading '%s'", vocab_json);
    char *buf = NULL;
    size_t len = 0;
    merge_list m = {0};
    int rc = load_hf_vocab(t, vocab_json);
    if (rc == CC_OK)
        rc = read_all(merges_txt, &buf, &len);
    if (rc == CC_OK)
        rc = parse_merges(buf, len, merges_txt, &m);
    return load_end(rc, t, &m, buf, merges_txt, out);
}

void tok_free(tok_tokenizer *t)
{
    if (!t)
        return;
    tok_strmap_free(&t->vocab);
    tok_strmap_free(&t->cache);
    tok_pairmap_free(&t->merges);
    tok_regex_free(t);
    free(t->sym_ent);
    free(t->cache_ids);
    free(t);
}

int32_t tok_sot_id(const tok_tokenizer *t) { return t->sot; }
int32_t tok_eot_id(const tok_tokenizer *t) { return t->eot; }
int32_t tok_vocab_size(const tok_tokenizer *t) { return t->n_vocab; }

/* Merge the lowest-ranked adjacent pair, every occurrence left to right, until none is left. */
static size_t bpe(const tok_tokenizer *t, int32_t *w, size_t n)
{
    while (n > 1) {
        int32_t best = INT32_MAX, merged = -1;
        size_t at = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            int32_t mg;
            int32_t r = tok_pairmap_get(&t->merges, w[i], w[i + 1], &mg);
            if (r >= 0 && r < best) {
                best = r;
                merged = mg;
                at = i;
            }
        }
        if (merged < 0)
            break;
        int32_t first = w[at], second = w[at + 1];
        size_t j = 0;
        for (size_t i = 0; i < n;) {
            if (i + 1 < n && w[i] == first && w[i + 1] == second) {
                w[j++] = merged;
                i += 2;
            } else {
                w[j++] = w[i++];
            }
        }
        n = j;
    }
    return n;
}

int tok_bpe_word(tok_tokenizer *t, const unsigned char *bytes, size_t n, const int32_t **ids, size_t *nids)
{
    *ids = NULL;
    *nids = 0;
    if (n == 0)
        return CC_OK;
    const tok_strmap_entry *e = tok_strmap_get(&t->cache, (const char *)bytes, n);
    if (e) {
        *ids = t->cache_ids + e->a;
        *nids = (size_t)e->b;
        return CC_OK;
    }
    if (t->cache.n >= CACHE_MAX_WORDS || t->cache_n + n > CACHE_MAX_IDS) {
        tok_strmap_clear(&t->cache);
        t->cache_n = 0;
    }
    if (t->cache_n + n > t->cache_cap) {
        size_t cap = t->cache_cap ? t->cache_cap : 4096;
        while (cap < t->cache_n + n)
            cap *= 2;
        int32_t *p = realloc(t->cache_ids, cap * sizeof *p);
        if (!p)
            return cc_fail(CC_ERR_NOMEM, "tokenizer: out of memory for the word cache (%zu ids)", cap);
        t->cache_ids = p;
        t->cache_cap = cap;
    }
    int32_t *w = t->cache_ids + t->cache_n;
    for (size_t i = 0; i < n; i++)
        w[i] = t->byte_id[bytes[i]];
    w[n - 1] = t->byte_end_id[bytes[n - 1]];
    size_t k = bpe(t, w, n);
    int rc = tok_strmap_put(&t->cache, (const char *)bytes, n, (int32_t)t->cache_n, (int32_t)k);
    if (rc)
        return rc;
    *ids = w;
    *nids = k;
    t->cache_n += k;
    return CC_OK;
}
