/* UTF-8/UTF-32 conversion and look-ups in the generated tokenizer tables. */
#include "io/tok_tables.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/grow.h"
#include "runtime/status.h"

int tok_u32_push(tok_u32 *s, uint32_t c)
{
    int rc = cc_grow_size((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v, "a tokenizer string");
    if (rc)
        return rc;
    s->v[s->n++] = c;
    return CC_OK;
}

int tok_u32_push_utf8(tok_u32 *s, const char *utf8)
{
    tok_u32 t = {0};
    int rc = tok_utf8_decode(utf8, strlen(utf8), &t);
    for (size_t i = 0; rc == CC_OK && i < t.n; i++)
        rc = tok_u32_push(s, t.v[i]);
    tok_u32_free(&t);
    return rc;
}

void tok_u32_free(tok_u32 *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

int tok_utf8_decode(const char *str, size_t len, tok_u32 *out)
{
    const unsigned char *p = (const unsigned char *)str;
    out->n = 0;
    for (size_t i = 0; i < len;) {
        unsigned b = p[i];
        uint32_t c;
        size_t k;
        if (b < 0x80) { c = b; k = 1; }
        else if (b >= 0xC2 && b < 0xE0) { c = b & 0x1F; k = 2; }
        else if (b >= 0xE0 && b < 0xF0) { c = b & 0x0F; k = 3; }
        else if (b >= 0xF0 && b < 0xF5) { c = b & 0x07; k = 4; }
        else
            return cc_fail(CC_ERR_INVALID, "tokenizer: text is not valid UTF-8 (byte 0x%02X at offset %zu)", b, i);
        if (i + k > len)
            return cc_fail(CC_ERR_INVALID, "tokenizer: text is not valid UTF-8 (truncated sequence at offset %zu)", i);
        for (size_t j = 1; j < k; j++) {
            if ((p[i + j] & 0xC0) != 0x80)
                return cc_fail(CC_ERR_INVALID, "tokenizer: text is not valid UTF-8 (bad continuation at offset %zu)", i + j);
            c = (c << 6) | (p[i + j] & 0x3F);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are rejected like Python's decoder. */
        if ((k == 3 && c < 0x800) || (k == 4 && (c < 0x10000 || c > 0x10FFFF)) || (c >= 0xD800 && c <= 0xDFFF))
            return cc_fail(CC_ERR_INVALID, "tokenizer: text is not valid UTF-8 (bad code point at offset %zu)", i);
        int rc = tok_u32_push(out, c);
        if (rc)
            return rc;
        i += k;
    }
    return CC_OK;
}

int tok_utf8_encode(const uint32_t *v, size_t n, char **out, size_t *out_len)
{
    unsigned char *buf = malloc(n * 4 + 1), *q = buf;
    if (!buf)
        return cc_fail(CC_ERR_NOMEM, "tokenizer: out of memory encoding %zu chars", n);
    for (size_t i = 0; i < n; i++) {
        uint32_t c = v[i];
        if (c < 0x80) {
            *q++ = (unsigned char)c;
        } else if (c < 0x800) {
            *q++ = (unsigned char)(0xC0 | (c >> 6));
            *q++ = (unsigned char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            *q++ = (unsigned char)(0xE0 | (c >> 12));
            *q++ = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            *q++ = (unsigned char)(0x80 | (c & 0x3F));
        } else {
            *q++ = (unsigned char)(0xF0 | (c >> 18));
            *q++ = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
            *q++ = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            *q++ = (unsigned char)(0x80 | (c & 0x3F));
        }
    }
    *q = 0;
    *out = (char *)buf;
    if (out_len)
        *out_len = (size_t)(q - buf);
    return CC_OK;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int tok_is_space(uint32_t c)
{
    return bsearch(&c, tok_spaces, tok_spaces_n, sizeof c, cmp_u32) != NULL;
}

uint32_t tok_lower1(uint32_t c)
{
    if (c < 0x80)
        return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    size_t lo = 0, hi = tok_lower_runs_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const tok_lower_run *r = &tok_lower_runs[mid];
        if (c < r->first)
            hi = mid;
        else if (c > r->last)
            lo = mid + 1;
        else
            return ((c - r->first) % (uint32_t)r->stride) ? c : (uint32_t)((int32_t)c + r->delta);
    }
    return c;
}

static int cmp_charfix(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = ((const tok_charfix *)b)->cp;
    return (x > y) - (x < y);
}

const char *tok_charfix_lookup(uint32_t c)
{
    const tok_charfix *f = bsearch(&c, tok_charfixes, tok_charfixes_n, sizeof *f, cmp_charfix);
    return f ? f->utf8 : NULL;
}

uint32_t tok_compose_pair(uint32_t a, uint32_t b)
{
    /* Hangul syllables compose algorithmically (Unicode 3.12), not through the table. */
    if (a >= 0x1100 && a < 0x1113 && b >= 0x1161 && b < 0x1176)
        return 0xAC00 + ((a - 0x1100) * 21 + (b - 0x1161)) * 28;
    if (a >= 0xAC00 && a < 0xD7A4 && (a - 0xAC00) % 28 == 0 && b > 0x11A7 && b < 0x11C3)
        return a + (b - 0x11A7);
    size_t lo = 0, hi = tok_compositions_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const tok_compose *p = &tok_compositions[mid];
        if (a < p->first || (a == p->first && b < p->second))
            hi = mid;
        else if (a > p->first || b > p->second)
            lo = mid + 1;
        else
            return p->composite;
    }
    return 0;
}

const tok_entity *tok_entity_lookup(const char *name, size_t len)
{
    size_t lo = 0, hi = tok_entities_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *e = tok_entities[mid].name;
        size_t el = strlen(e);
        int c = memcmp(name, e, len < el ? len : el);
        if (c == 0)
            c = (len > el) - (len < el);
        if (c < 0)
            hi = mid;
        else if (c > 0)
            lo = mid + 1;
        else
            return &tok_entities[mid];
    }
    return NULL;
}
