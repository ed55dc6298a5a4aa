/* SigLIP's SentencePiece tokenizer around libsentencepiece: the canonicalisation,
 * special-token handling, truncation and padding of transformers' SiglipTokenizer
 * and open_clip's HFTokenizer (io/spm_tokenizer.h lists the steps). */
#include "io/spm_tokenizer.h"
#include "io/spm_files.h"
#include "io/spm_model.h"
#include "io/tok_tables.h"
#include "io/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/grow.h"
#include "runtime/status.h"

#define SPM_MAX_SPECIALS 3
#define SPM_TOKEN_BYTES 64

/* U+2581 LOWER ONE EIGHTH BLOCK: SentencePiece's word-boundary mark. */
#define SPIECE_UNDERLINE 0x2581u
static const char spiece_underline_utf8[] = "\xe2\x96\x81";

struct spm_tokenizer {
    spm_model *model;
    spm_clean clean;
    int lower; /* do_lower_case */
    /* tokenizer_config.json names T5Tokenizer: the tokenizers library's path,
     * equal to SiglipTokenizer's only on text open_clip has canonicalised. */
    int t5;
    /* The special-token literals split out of the text: eos, unk, pad (once each). */
    char special[SPM_MAX_SPECIALS][SPM_TOKEN_BYTES];
    int32_t special_id[SPM_MAX_SPECIALS];
    int n_special;
    char unk[SPM_TOKEN_BYTES];
    int32_t eos_id, unk_id, pad_id;
    size_t unk_pieces; /* pieces of the unknown token's text alone */
};

/* ---- growable id list ---- */

typedef struct id_list {
    int32_t *v;
    size_t n, cap;
} id_list;

static int ids_push(id_list *l, int32_t id)
{
    int rc = cc_grow_size((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v, "the token ids");
    if (rc == CC_OK)
        l->v[l->n++] = id;
    return rc;
}

/* ---- text passes on code points ---- */

static int is_ascii_punctuation(uint32_t c)
{
    return c < 0x80 && c != 0 && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", (int)c) != NULL;
}

/* Python's string.punctuation removed (str.translate), in place. */
static void remove_punctuation(tok_u32 *s)
{
    size_t w = 0;
    for (size_t i = 0; i < s->n; i++)
        if (!is_ascii_punctuation(s->v[i]))
            s->v[w++] = s->v[i];
    s->n = w;
}

/* re.sub(r"\s+", " ", s).strip() == " ".join(s.split()), in place. */
static void collapse_whitespace(tok_u32 *s)
{
    size_t w = 0;
    int pending = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (tok_is_space(s->v[i])) {
            pending = w > 0;
            continue;
        }
        if (pending)
            s->v[w++] = ' ';
        pending = 0;
        s->v[w++] = s->v[i];
    }
    s->n = w;
}

static int lower_in_place(tok_u32 *s)
{
    tok_u32 t = {0};
    int rc = tok_lower_python(s, &t);
    if (rc == CC_OK) {
        tok_u32_free(s);
        *s = t;
    } else {
        tok_u32_free(&t);
    }
    return rc;
}

/* open_clip's clean function (tokenizer.py): basic_clean is the ftfy subset and
 * html.unescape of tok_clean, which also lowers and collapses whitespace; lowering
 * first changes nothing for canonicalize, whose punctuation is ASCII. */
static int open_clip_clean(spm_clean clean, const char *text, tok_u32 *out)
{
    if (clean == SPM_CLEAN_NONE)
        return tok_utf8_decode(text, strlen(text), out);
    char *cleaned = NULL;
    int rc = tok_clean(text, &cleaned);
    if (rc == CC_OK)
        rc = tok_utf8_decode(cleaned, strlen(cleaned), out);
    free(cleaned);
    if (rc == CC_OK && clean == SPM_CLEAN_CANONICALIZE) {
        for (size_t i = 0; i < out->n; i++)
            if (out->v[i] == '_')
                out->v[i] = ' ';
        remove_punctuation(out);
        collapse_whitespace(out);
    }
    return rc;
}

/* ---- SiglipTokenizer ---- */

/* SiglipTokenizer._tokenize: canonicalize_text, then the pieces of unk + text less
 * those of unk alone (so the model's dummy prefix goes to the unknown token's
 * text and the "▁" in front of the text decides the first piece). */
static int encode_chunk(const spm_tokenizer *t, tok_u32 *chunk, id_list *ids, int *first_bare)
{
    int rc = t->lower ? lower_in_place(chunk) : CC_OK;
    if (rc)
        return rc;
    remove_punctuation(chunk);
    collapse_whitespace(chunk);
    char *utf8 = NULL;
    size_t len = 0;
    rc = tok_utf8_encode(chunk->v, chunk->n, &utf8, &len);
    if (rc)
        return rc;
    size_t ulen = strlen(t->unk);
    char *buf = malloc(ulen + len + 1);
    if (!buf) {
        free(utf8);
        return cc_fail(CC_ERR_NOMEM, "out of memory for a text of %zu bytes", len);
    }
    memcpy(buf, t->unk, ulen);
    memcpy(buf + ulen, utf8, len + 1);
    free(utf8);
    spm_pieces p = {0};
    rc = spm_model_encode(t->model, buf, ulen + len, &p);
    free(buf);
    size_t from = p.n >= t->unk_pieces ? t->unk_pieces : 0;
    for (size_t i = from; rc == CC_OK && i < p.n; i++) {
        if (ids->n == 0)
            *first_bare = strcmp(p.buf + p.off[i], spiece_underline_utf8) == 0;
        rc = ids_push(ids, p.ids[i]);
    }
    spm_pieces_free(&p);
    return rc;
}

/* The special token whose literal starts at s[i] (the longest), or -1. */
static int special_at(const spm_tokenizer *t, const tok_u32 *lit, const tok_u32 *s, size_t i)
{
    int best = -1;
    size_t best_len = 0;
    for (int k = 0; k < t->n_special; k++) {
        size_t n = lit[k].n;
        if (n > best_len && n > 0 && i + n <= s->n && memcmp(s->v + i, lit[k].v, n * sizeof *s->v) == 0) {
            best = k;
            best_len = n;
        }
    }
    return best;
}

static int chunk_of(const tok_u32 *s, size_t from, size_t to, tok_u32 *out)
{
    int rc = CC_OK;
    out->n = 0;
    for (size_t i = from; rc == CC_OK && i < to; i++)
        rc = tok_u32_push(out, s->v[i]);
    return rc;
}

/* PreTrainedTokenizer.tokenize with SiglipTokenizer's overrides. The added
 * tokens' lstrip/rstrip make no difference: every chunk is stripped anyway. */
static int siglip_tokenize(const spm_tokenizer *t, const tok_u32 *text, id_list *ids)
{
    tok_u32 s = {0}, lit[SPM_MAX_SPECIALS] = {{0}}, chunk = {0};
    int rc = tok_u32_push(&s, SPIECE_UNDERLINE);
    for (size_t i = 0; rc == CC_OK && i < text->n; i++)
        rc = tok_u32_push(&s, text->v[i] == SPIECE_UNDERLINE ? ' ' : text->v[i]);
    for (int k = 0; rc == CC_OK && k < t->n_special; k++)
        rc = tok_utf8_decode(t->special[k], strlen(t->special[k]), &lit[k]);
    int first_bare = 0;
    int second_special = 0;
    size_t start = 0;
    for (size_t i = 0; rc == CC_OK && i <= s.n;) {
        int k = i < s.n ? special_at(t, lit, &s, i) : -1;
        if (k < 0 && i < s.n) {
            i++;
            continue;
        }
        if (i > start) {
            rc = chunk_of(&s, start, i, &chunk);
            if (rc == CC_OK)
                rc = encode_chunk(t, &chunk, ids, &first_bare);
        }
        if (rc || k < 0)
            break;
        if (ids->n == 1)
            second_special = 1;
        rc = ids_push(ids, t->special_id[k]);
        i += lit[k].n;
        start = i;
    }
    /* tokens[0] == "▁" followed by a special token: the "▁" is dropped. */
    if (rc == CC_OK && ids->n > 1 && first_bare && second_special) {
        memmove(ids->v, ids->v + 1, (ids->n - 1) * sizeof *ids->v);
        ids->n--;
    }
    tok_u32_free(&s);
    tok_u32_free(&chunk);
    for (int k = 0; k < SPM_MAX_SPECIALS; k++)
        tok_u32_free(&lit[k]);
    return rc;
}

int spm_encode_ids(const spm_tokenizer *t, const char *text, int32_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (!t || !text)
        return cc_fail(CC_ERR_INVALID, "spm_encode_ids: tokenizer or text is NULL");
    if (t->t5 && t->clean != SPM_CLEAN_CANONICALIZE)
        return cc_fail(CC_ERR_UNSUPPORTED, "tokenizer_class T5Tokenizer is supported after open_clip's clean "
                       "\"canonicalize\" only (this tokenizer cleans with \"%s\")", spm_clean_name(t->clean));
    tok_u32 s = {0};
    id_list l = {0};
    int rc = open_clip_clean(t->clean, text, &s);
    if (rc == CC_OK)
        rc = siglip_tokenize(t, &s, &l);
    tok_u32_free(&s);
    if (rc || l.n == 0) {
        free(l.v);
        return rc;
    }
    *ids = l.v;
    *n = l.n;
    return CC_OK;
}

int spm_encode_ctx(const spm_tokenizer *t, const char *text, int32_t *ids, size_t context_length,
                   int *truncated)
{
    if (truncated)
        *truncated = 0;
    if (context_length < 1)
        return cc_fail(CC_ERR_INVALID, "spm_encode_ctx: context length 0 (expected at least 1)");
    int32_t *v = NULL;
    size_t n = 0;
    int rc = spm_encode_ids(t, text, &v, &n);
    if (rc)
        return rc;
    /* transformers truncates to leave room for the one special token, then adds
     * </s> only when the ids do not already end with it. */
    size_t keep = n;
    if (keep > context_length - 1) {
        keep = context_length - 1;
        if (truncated)
            *truncated = 1;
    }
    if (keep) /* an empty text has no ids (v is NULL) */
        memcpy(ids, v, keep * sizeof *ids);
    free(v);
    if (keep == 0 || ids[keep - 1] != t->eos_id)
        ids[keep++] = t->eos_id;
    for (size_t i = keep; i < context_length; i++)
        ids[i] = t->pad_id;
    return CC_OK;
}

int spm_decode(const spm_tokenizer *t, const int32_t *ids, size_t n, char **text)
{
    *text = NULL;
    int32_t *kept = malloc((n ? n : 1) * sizeof *kept);
    if (!kept)
        return cc_fail(CC_ERR_NOMEM, "out of memory decoding %zu ids", n);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] != t->eos_id && ids[i] != t->unk_id && ids[i] != t->pad_id)
            kept[m++] = ids[i];
    char *s = NULL;
    int rc = spm_model_decode(t->model, kept, m, &s);
    free(kept);
    if (rc)
        return rc;
    /* Python's strip() of ASCII whitespace: the library's output has no other. */
    size_t a = 0, b = strlen(s);
    while (a < b && strchr(" \t\n\r\f\v", s[a]))
        a++;
    while (b > a && strchr(" \t\n\r\f\v", s[b - 1]))
        b--;
    memmove(s, s + a, b - a);
    s[b - a] = '\0';
    *text = s;
    return CC_OK;
}

/* ---- opening ---- */

static int add_special(spm_tokenizer *t, const char *lit)
{
    if (!*lit)
        return CC_OK;
    for (int k = 0; k < t->n_special; k++)
        if (strcmp(t->special[k], lit) == 0)
            return CC_OK;
    int32_t id = spm_model_piece_to_id(t->model, lit);
    char *back = NULL;
    int rc = spm_model_id_to_piece(t->model, id, &back);
    int known = rc == CC_OK && strcmp(back, lit) == 0;
    free(back);
    if (!known)
        return cc_fail(CC_ERR_INVALID, "special token \"%s\" is not a piece of the SentencePiece model", lit);
    snprintf(t->special[t->n_special], SPM_TOKEN_BYTES, "%s", lit);
    t->special_id[t->n_special++] = id;
    return CC_OK;
}

/* The classes whose ids this file reproduces (see t5 above); others are refused
 * by name rather than tokenised the SigLIP way. */
static int check_class(spm_tokenizer *t, const char *cls)
{
    if (!*cls || strcmp(cls, "SiglipTokenizer") == 0 || strcmp(cls, "SiglipTokenizerFast") == 0)
        return CC_OK;
    if (strcmp(cls, "T5Tokenizer") == 0 || strcmp(cls, "T5TokenizerFast") == 0) {
        t->t5 = 1;
        return CC_OK;
    }
    return cc_fail(CC_ERR_UNSUPPORTED, "tokenizer_class %s is not supported (SentencePiece tokenizers: "
                   "SiglipTokenizer, or T5Tokenizer after open_clip's canonicalize)", cls);
}

static int finish_open(spm_tokenizer *t, const spm_special_tokens *sp)
{
    int rc = check_class(t, sp->tokenizer_class);
    const char *lits[3] = {sp->eos, sp->unk, sp->pad};
    for (int k = 0; k < 3 && rc == CC_OK; k++)
        rc = add_special(t, lits[k]);
    if (rc)
        return rc;
    snprintf(t->unk, sizeof t->unk, "%s", sp->unk);
    t->lower = sp->do_lower_case;
    t->eos_id = spm_model_piece_to_id(t->model, sp->eos);
    t->unk_id = spm_model_piece_to_id(t->model, sp->unk);
    t->pad_id = spm_model_piece_to_id(t->model, sp->pad);
    spm_pieces p = {0};
    rc = spm_model_encode(t->model, t->unk, strlen(t->unk), &p);
    t->unk_pieces = p.n;
    spm_pieces_free(&p);
    return rc;
}

int spm_open(const char *path, spm_tokenizer **out)
{
    *out = NULL;
    if (!path)
        return cc_fail(CC_ERR_INVALID, "spm_open: path is NULL");
    spm_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return cc_fail(CC_ERR_NOMEM, "out of memory for a tokenizer");
    spm_special_tokens sp;
    int rc = spm_files_load(path, &t->model, &sp);
    if (rc == CC_OK)
        rc = finish_open(t, &sp);
    if (rc) {
        spm_free(t);
        return rc;
    }
    *out = t;
    return CC_OK;
}

void spm_free(spm_tokenizer *t)
{
    if (!t)
        return;
    spm_model_free(t->model);
    free(t);
}

static const char *const clean_names[] = {"none", "canonicalize", "lower", "whitespace"};

int spm_clean_from_name(const char *name, spm_clean *out)
{
    for (int i = 0; i < (int)(sizeof clean_names / sizeof clean_names[0]); i++)
        if (name && strcmp(name, clean_names[i]) == 0) {
            *out = (spm_clean)i;
            return CC_OK;
        }
    return cc_fail(CC_ERR_INVALID, "unknown clean function \"%s\" (expected canonicalize, lower, whitespace or none)",
                   name ? name : "(null)");
}

const char *spm_clean_name(spm_clean c)
{
    return (unsigned)c < sizeof clean_names / sizeof clean_names[0] ? clean_names[c] : "?";
}

void spm_set_clean(spm_tokenizer *t, spm_clean c) { t->clean = c; }
spm_clean spm_get_clean(const spm_tokenizer *t) { return t->clean; }
int32_t spm_vocab_size(const spm_tokenizer *t) { return spm_model_size(t->model); }
int32_t spm_eos_id(const spm_tokenizer *t) { return t->eos_id; }
int32_t spm_pad_id(const spm_tokenizer *t) { return t->pad_id; }
int32_t spm_unk_id(const spm_tokenizer *t) { return t->unk_id; }
