/* open_clip's clean='lower': whitespace_clean(basic_clean(text)).lower(), where
 * basic_clean = ftfy.fix_text, html.unescape twice, strip. The ftfy part is the subset
 * that does not need statistics (see docs/tokenizer.md): its HTML unescape, per-character
 * fixes, terminal escapes and NFC composition, looped to a fixed point like fix_text. */
#include "io/tokenizer.h"
#include "io/tok_tables.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"

/* ftfy's ANSI_RE: ESC '[' [0-9;]* [A-Za-z]. */
static size_t ansi_len(const uint32_t *s, size_t n, size_t i)
{
    if (s[i] != 0x1B || i + 1 >= n || s[i + 1] != '[')
        return 0;
    size_t k = i + 2;
    while (k < n && ((s[k] >= '0' && s[k] <= '9') || s[k] == ';'))
        k++;
    if (k < n && ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z')))
        return k + 1 - i;
    return 0;
}

/* Terminal escapes, per-character fixes, then NFC composition of adjacent pairs. */
static int char_pass(tok_u32 *s)
{
    tok_u32 out = {0};
    int rc = CC_OK;
    for (size_t i = 0; rc == CC_OK && i < s->n;) {
        size_t a = ansi_len(s->v, s->n, i);
        if (a) {
            i += a;
            continue;
        }
        const char *fix = tok_charfix_lookup(s->v[i]);
        size_t before = out.n;
        rc = fix ? tok_u32_push_utf8(&out, fix) : tok_u32_push(&out, s->v[i]);
        i++;
        for (size_t k = before; rc == CC_OK && k < out.n; k++) {
            uint32_t c = k > 0 ? tok_compose_pair(out.v[k - 1], out.v[k]) : 0;
            if (c) {
                out.v[k - 1] = c;
                memmove(out.v + k, out.v + k + 1, (out.n - k - 1) * sizeof *out.v);
                out.n--;
                k--;
            }
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

static int fix_segment(tok_u32 *seg, int unescape)
{
    /* fix_text repeats its fixers until the text stops changing. */
    for (int iter = 0; iter < 32; iter++) {
        tok_u32 before = {0};
        int rc = CC_OK;
        for (size_t i = 0; rc == CC_OK && i < seg->n; i++)
            rc = tok_u32_push(&before, seg->v[i]);
        if (rc == CC_OK && unescape)
            rc = tok_ftfy_unescape(seg);
        if (rc == CC_OK)
            rc = char_pass(seg);
        int same = rc == CC_OK && before.n == seg->n &&
                   (seg->n == 0 || memcmp(before.v, seg->v, seg->n * sizeof *seg->v) == 0);
        tok_u32_free(&before);
        if (rc || same)
            return rc;
    }
    return CC_OK;
}

/* fix_text works line by line; once a line holds '<' it stops unescaping for the rest. */
static int ftfy_fix(tok_u32 *s)
{
    tok_u32 out = {0};
    int unescape = 1, rc = CC_OK;
    for (size_t pos = 0; rc == CC_OK && pos < s->n;) {
        size_t end = pos;
        while (end < s->n && s->v[end] != '\n')
            end++;
        if (end < s->n)
            end++;
        tok_u32 seg = {0};
        for (size_t i = pos; rc == CC_OK && i < end; i++) {
            if (s->v[i] == '<')
                unescape = 0;
            rc = tok_u32_push(&seg, s->v[i]);
        }
        if (rc == CC_OK)
            rc = fix_segment(&seg, unescape);
        for (size_t i = 0; rc == CC_OK && i < seg.n; i++)
            rc = tok_u32_push(&out, seg.v[i]);
        tok_u32_free(&seg);
        pos = end;
    }
    if (rc) {
        tok_u32_free(&out);
        return rc;
    }
    tok_u32_free(s);
    *s = out;
    return CC_OK;
}

/* Python's Final_Sigma context, with "cased" approximated by letters that have a lower
 * case, the Latin, Greek and Cyrillic letter blocks, Roman numerals and circled letters,
 * and "case-ignorable" by apostrophes, dots and combining marks. */
static int is_cased(uint32_t c)
{
    return tok_lower1(c) != c || (c >= 'a' && c <= 'z') || (c >= 0x2160 && c <= 0x217F) ||
           (c >= 0x24B6 && c <= 0x24E9) ||
           (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) ||
           (c >= 0x370 && c <= 0x3FF && c != 0x37E && c != 0x387) || (c >= 0x400 && c <= 0x52F) ||
           (c >= 0x1E00 && c <= 0x1FFF);
}

static int is_case_ignorable(uint32_t c)
{
    return c == '\'' || c == '.' || c == ':' || c == 0xB7 || c == 0x2019 || (c >= 0x300 && c <= 0x36F);
}

static int final_sigma(const uint32_t *v, size_t n, size_t i)
{
    size_t j = i;
    while (j > 0 && is_case_ignorable(v[j - 1]))
        j--;
    if (j == 0 || !is_cased(v[j - 1]))
        return 0;
    j = i + 1;
    while (j < n && is_case_ignorable(v[j]))
        j++;
    return !(j < n && is_cased(v[j]));
}

/* " ".join(text.split()) then str.lower(). */
static int collapse_and_lower(const tok_u32 *s, tok_u32 *out)
{
    int rc = CC_OK, pending_space = 0;
    out->n = 0;
    for (size_t i = 0; rc == CC_OK && i < s->n; i++) {
        uint32_t c = s->v[i];
        if (tok_is_space(c)) {
            pending_space = out->n > 0;
            continue;
        }
        if (pending_space)
            rc = tok_u32_push(out, ' ');
        pending_space = 0;
        if (rc)
            break;
        if (c == 0x130) { /* the one code point whose lower case is two */
            rc = tok_u32_push(out, 'i');
            if (rc == CC_OK)
                rc = tok_u32_push(out, 0x307);
        } else if (c == 0x3A3) {
            rc = tok_u32_push(out, final_sigma(s->v, s->n, i) ? 0x3C2 : 0x3C3);
        } else {
            rc = tok_u32_push(out, tok_lower1(c));
        }
    }
    return rc;
}

/* Python's str.lower() of s into out (replaced): the one-to-two mapping of U+0130
 * and the final sigma as collapse_and_lower does them. The SentencePiece tokenizer
 * lowers without collapsing whitespace (io/spm_tokenizer.c). */
int tok_lower_python(const tok_u32 *s, tok_u32 *out)
{
    int rc = CC_OK;
    out->n = 0;
    for (size_t i = 0; rc == CC_OK && i < s->n; i++) {
        uint32_t c = s->v[i];
        if (c == 0x130) {
            rc = tok_u32_push(out, 'i');
            if (rc == CC_OK)
                rc = tok_u32_push(out, 0x307);
        } else if (c == 0x3A3) {
            rc = tok_u32_push(out, final_sigma(s->v, s->n, i) ? 0x3C2 : 0x3C3);
        } else {
            rc = tok_u32_push(out, tok_lower1(c));
        }
    }
    return rc;
}

int tok_clean(const char *text, char **out)
{
    *out = NULL;
    if (!text)
        return cc_fail(CC_ERR_INVALID, "tok_clean: text is NULL");
    tok_u32 s = {0}, t = {0};
    int rc = tok_utf8_decode(text, strlen(text), &s);
    if (rc == CC_OK)
        rc = ftfy_fix(&s);
    if (rc == CC_OK)
        rc = tok_html_unescape(&s);
    if (rc == CC_OK)
        rc = tok_html_unescape(&s);
    if (rc == CC_OK)
        rc = collapse_and_lower(&s, &t);
    if (rc == CC_OK)
        rc = tok_utf8_encode(t.v, t.n, out, NULL);
    tok_u32_free(&s);
    tok_u32_free(&t);
    return rc;
}
