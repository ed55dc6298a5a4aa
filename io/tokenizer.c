/* Text -> ids: clean, pre-split with OpenAI's regex (PCRE2, UTF + UCP, caseless),
 * BPE each piece, pack [SOT] ids [EOT] into the context. And ids -> text. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "io/tok_bpe.h"
#include "io/tok_tables.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"

static const char PATTERN[] =
    "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

int tok_regex_init(tok_tokenizer *t)
{
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)PATTERN, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &err, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return cc_fail(CC_ERR_UNSUPPORTED, "tokenizer: PCRE2 rejects the pre-split pattern at %zu: %s", (size_t)off, (char *)msg);
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* the interpreter is the fallback */
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) {
        pcre2_code_free(re);
        return cc_fail(CC_ERR_NOMEM, "tokenizer: out of memory for PCRE2 match data");
    }
    t->re = re;
    t->md = md;
    return CC_OK;
}

void tok_regex_free(tok_tokenizer *t)
{
    pcre2_match_data_free((pcre2_match_data *)t->md);
    pcre2_code_free((pcre2_code *)t->re);
    t->md = t->re = NULL;
}

static int push_ids(int32_t **v, size_t *n, size_t *cap, const int32_t *ids, size_t k)
{
    if (*n + k > *cap) {
        size_t c = *cap ? *cap : 64;
        while (c < *n + k)
            c *= 2;
        int32_t *p = realloc(*v, c * sizeof *p);
        if (!p)
            return cc_fail(CC_ERR_NOMEM, "tokenizer: out of memory for %zu ids", c);
        *v = p;
        *cap = c;
    }
    memcpy(*v + *n, ids, k * sizeof *ids);
    *n += k;
    return CC_OK;
}

int tok_encode_ids(tok_tokenizer *t, const char *text, int32_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (!t || !text)
        return cc_fail(CC_ERR_INVALID, "tok_encode: tokenizer or text is NULL");
    char *clean = NULL;
    int rc = tok_clean(text, &clean);
    if (rc)
        return rc;
    size_t len = strlen(clean), cap = 0;
    pcre2_code *re = t->re;
    pcre2_match_data *md = t->md;
    for (size_t pos = 0; rc == CC_OK && pos < len;) {
        int m = pcre2_match(re, (PCRE2_SPTR)clean, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (m == PCRE2_ERROR_NOMATCH)
            break;
        if (m < 0) {
            rc = cc_fail(CC_ERR_INVALID, "tokenizer: PCRE2 match failed with code %d at byte %zu", m, pos);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        const char *piece = clean + s;
        size_t plen = e - s;
        if (plen == 15 && memcmp(piece, "<|startoftext|>", 15) == 0) {
            rc = push_ids(ids, n, &cap, &t->sot, 1);
        } else if (plen == 13 && memcmp(piece, "<|endoftext|>", 13) == 0) {
            rc = push_ids(ids, n, &cap, &t->eot, 1);
        } else {
            const int32_t *w;
            size_t k;
            rc = tok_bpe_word(t, (const unsigned char *)piece, plen, &w, &k);
            if (rc == CC_OK)
                rc = push_ids(ids, n, &cap, w, k);
        }
        pos = e > s ? e : e + 1; /* the pattern never matches empty; guard anyway */
    }
    free(clean);
    if (rc) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

int tok_encode_ctx(tok_tokenizer *t, const char *text, int32_t *out, size_t ctx, int *truncated)
{
    if (truncated)
        *truncated = 0;
    if (!out || ctx < 2)
        return cc_fail(CC_ERR_INVALID, "tok_encode: context length %zu, expected at least 2 (SOT and EOT)", ctx);
    int32_t *ids;
    size_t n;
    int rc = tok_encode_ids(t, text, &ids, &n);
    if (rc)
        return rc;
    memset(out, 0, ctx * sizeof *out);
    out[0] = t->sot;
    size_t keep = n + 2 > ctx ? ctx - 2 : n;
    if (keep)
        memcpy(out + 1, ids, keep * sizeof *ids);
    out[keep + 1] = t->eot;
    if (truncated)
        *truncated = keep < n;
    free(ids);
    return CC_OK;
}

int tok_encode(tok_tokenizer *t, const char *text, int32_t ids[TOK_CONTEXT_LENGTH], int *truncated)
{
    return tok_encode_ctx(t, text, ids, TOK_CONTEXT_LENGTH, truncated);
}

int tok_decode(const tok_tokenizer *t, const int32_t *ids, size_t n, char **text)
{
    *text = NULL;
    uint32_t cp_of_byte[256], byte_of_cp[324];
    uint8_t order[256];
    tok_bytes_to_unicode(cp_of_byte, order);
    memset(byte_of_cp, 0xFF, sizeof byte_of_cp);
    for (int b = 0; b < 256; b++)
        byte_of_cp[cp_of_byte[b]] = (uint32_t)b;
    size_t cap = 64, len = 0;
    char *out = malloc(cap);
    if (!out)
        return cc_fail(CC_ERR_NOMEM, "tok_decode: out of memory");
    tok_u32 sym = {0};
    int rc = CC_OK;
    for (size_t i = 0; rc == CC_OK && i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab || t->sym_ent[ids[i]] == UINT32_MAX) {
            rc = cc_fail(CC_ERR_INVALID, "tok_decode: id %d at position %zu is outside the vocabulary of %d", ids[i], i, t->n_vocab);
            break;
        }
        const tok_strmap_entry *e = &t->vocab.ent[t->sym_ent[ids[i]]];
        rc = tok_utf8_decode(tok_strmap_key(&t->vocab, e), e->len, &sym);
        if (rc == CC_OK && len + sym.n + 1 > cap) {
            while (len + sym.n + 1 > cap)
                cap *= 2;
            char *p = realloc(out, cap);
            if (!p)
                rc = cc_fail(CC_ERR_NOMEM, "tok_decode: out of memory");
            else
                out = p;
        }
        for (size_t k = 0; rc == CC_OK && k < sym.n; k++) {
            if (sym.v[k] >= 324 || byte_of_cp[sym.v[k]] == UINT32_MAX) {
                rc = cc_fail(CC_ERR_INVALID, "tok_decode: symbol of id %d holds U+%04X, not a byte symbol", ids[i], sym.v[k]);
                break;
            }
            out[len++] = (char)byte_of_cp[sym.v[k]];
        }
    }
    tok_u32_free(&sym);
    if (rc) {
        free(out);
        return rc;
    }
    /* "</w>" ends a word: read it as a space, as SimpleTokenizer.decode does. */
    size_t j = 0;
    for (size_t i = 0; i < len;) {
        if (i + 4 <= len && memcmp(out + i, "</w>", 4) == 0) {
            out[j++] = ' ';
            i += 4;
        } else {
            out[j++] = out[i++];
        }
    }
    out[j] = 0;
    *text = out;
    return CC_OK;
}
