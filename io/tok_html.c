/* HTML character references, two dialects: Python's html.unescape (used twice by
 * basic_clean) and ftfy's stricter unescape_html (run by ftfy.fix_text). */
#include "io/tok_tables.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"

static int is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static int is_hex(uint32_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static int is_alnum(uint32_t c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_charfix(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = ((const tok_charfix *)b)->cp;
    return (x > y) - (x < y);
}

/* Python's conversion of a numeric reference; digits saturate so that huge
 * numbers land in the "> 0x10FFFF" branch exactly as Python's bigints do. */
static int push_numeric(tok_u32 *out, const uint32_t *d, size_t n, int base)
{
    uint64_t num = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = d[i];
        uint32_t v = is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
        num = num * (uint64_t)base + v;
        if (num > 0x7FFFFFFF)
            num = 0x7FFFFFFF;
    }
    uint32_t cp = (uint32_t)num;
    const tok_charfix *f = bsearch(&cp, tok_invalid_charrefs, tok_invalid_charrefs_n, sizeof *f, cmp_charfix);
    if (f)
        return tok_u32_push_utf8(out, f->utf8);
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        return tok_u32_push(out, 0xFFFD);
    if (bsearch(&cp, tok_invalid_codepoints, tok_invalid_codepoints_n, sizeof cp, cmp_u32))
        return CC_OK;
    return tok_u32_push(out, cp);
}

static int push_range(tok_u32 *out, const uint32_t *v, size_t n)
{
    int rc = CC_OK;
    for (size_t i = 0; rc == CC_OK && i < n; i++)
        rc = tok_u32_push(out, v[i]);
    return rc;
}

/* Entity names are ASCII; a name with other characters can only match on an ASCII prefix. */
static const tok_entity *lookup_u32(const uint32_t *v, size_t n, int flag)
{
    char buf[40];
    if (n >= sizeof buf)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (v[i] >= 0x80)
            return NULL;
        buf[i] = (char)v[i];
    }
    const tok_entity *e = tok_entity_lookup(buf, n);
    return (e && (e->flags & flag)) ? e : NULL;
}

/* One reference starting at s[i] == '&'; returns how many chars it consumed (0 = none). */
static size_t html_ref(const uint32_t *s, size_t n, size_t i, tok_u32 *out, int *rc)
{
    size_t j = i + 1;
    if (j < n && s[j] == '#') {
        int hex = j + 1 < n && (s[j + 1] == 'x' || s[j + 1] == 'X');
        size_t k = j + 1 + (size_t)hex, start = k;
        while (k < n && (hex ? is_hex(s[k]) : is_digit(s[k])))
            k++;
        if (k == start)
            return 0;
        *rc = push_numeric(out, s + start, k - start, hex ? 16 : 10);
        return (k < n && s[k] == ';') ? k + 1 - i : k - i;
    }
    size_t k = j;
    while (k < n && k - j < 32 && s[k] != '\t' && s[k] != '\n' && s[k] != '\f' && s[k] != ' ' &&
           s[k] != '<' && s[k] != '&' && s[k] != '#' && s[k] != ';')
        k++;
    if (k == j)
        return 0;
    if (k < n && s[k] == ';')
        k++;
    size_t len = k - j;
    const tok_entity *e = lookup_u32(s + j, len, TOK_ENT_HTML);
    if (e) {
        *rc = tok_u32_push_utf8(out, e->utf8);
        return k - i;
    }
    /* The longest known prefix wins, the rest of the name stays as text. */
    for (size_t x = len - 1; x > 1; x--) {
        e = lookup_u32(s + j, x, TOK_ENT_HTML);
        if (e) {
            *rc = tok_u32_push_utf8(out, e->utf8);
            if (*rc == CC_OK)
                *rc = push_range(out, s + j + x, len - x);
            return k - i;
        }
    }
    *rc = push_range(out, s + i, k - i);
    return k - i;
}

/* ftfy: "&#?[0-9A-Za-z]{1,24};" and only references that consume their semicolon. */
static size_t ftfy_ref(const uint32_t *s, size_t n, size_t i, tok_u32 *out, int *rc)
{
    size_t j = i + 1;
    int num = j < n && s[j] == '#';
    size_t start = j + (size_t)num, k = start;
    while (k < n && is_alnum(s[k]))
        k++;
    if (k == start || k - start > 24 || k >= n || s[k] != ';')
        return 0;
    if (!num) {
        const tok_entity *e = lookup_u32(s + j, k + 1 - j, TOK_ENT_FTFY);
        if (!e)
            return 0;
        *rc = tok_u32_push_utf8(out, e->utf8);
        return k + 1 - i;
    }
    int hex = s[start] == 'x' || s[start] == 'X';
    size_t d = start + (size_t)hex;
    if (d == k)
        return 0;
    for (size_t q = d; q < k; q++)
        if (hex ? !is_hex(s[q]) : !is_digit(s[q]))
            return 0;
    *rc = push_numeric(out, s + d, k - d, hex ? 16 : 10);
    return k + 1 - i;
}

static int unescape(tok_u32 *s, size_t (*ref)(const uint32_t *, size_t, size_t, tok_u32 *, int *))
{
    tok_u32 out = {0};
    int rc = CC_OK;
    for (size_t i = 0; rc == CC_OK && i < s->n;) {
        size_t used = 0;
        if (s->v[i] == '&')
            used = ref(s->v, s->n, i, &out, &rc);
        if (used) {
            i += used;
        } else {
            rc = rc ? rc : tok_u32_push(&out, s->v[i]);
            i++;
        }
    }
    if (rc) {
        tok_u32_free(&out);
        return rc;
    }
    tok_u32_free(s);
    *s = out;
    return CC_OK;
}

int tok_html_unescape(tok_u32 *s) { return unescape(s, html_ref); }

int tok_ftfy_unescape(tok_u32 *s) { return unescape(s, ftfy_ref); }
