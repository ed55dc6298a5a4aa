/* BPE training, part 1: the trainer, and counting the words of a corpus with the
 * encoder's own cleaning and pre-split, so that training sees exactly the pre-tokens
 * that tok_encode will later split. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "io/tok_train_impl.h"

#include <errno.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "runtime/grow.h"
#include "runtime/status.h"

int tt_add_symbol(tok_trainer *tr, const char *s, size_t n)
{
    if (tr->n_sym == tr->sym_cap) {
        size_t cap = (size_t)tr->sym_cap;
        int rc = cc_grow_size((void **)&tr->sym_ent, &cap, cap + 1, sizeof *tr->sym_ent, "symbols");
        if (rc)
            return rc;
        tr->sym_cap = (int32_t)cap;
    }
    int rc = tok_strmap_put(&tr->vocab, s, n, tr->n_sym, 0);
    if (rc)
        return rc;
    tr->sym_ent[tr->n_sym] = (uint32_t)(tok_strmap_get(&tr->vocab, s, n) - tr->vocab.ent);
    tr->n_sym++;
    return CC_OK;
}

static size_t put_cp(char *q, uint32_t c)
{
    if (c < 0x80) {
        q[0] = (char)c;
        return 1;
    }
    q[0] = (char)(0xC0 | (c >> 6));
    q[1] = (char)(0x80 | (c & 0x3F));
    return 2; /* byte symbols are all below U+0800 */
}

int tok_trainer_new(tok_trainer **out)
{
    *out = NULL;
    tok_trainer *tr = calloc(1, sizeof *tr);
    if (!tr)
        return cc_fail(CC_ERR_NOMEM, "tokenizer training: out of memory");
    uint32_t cp[256];
    uint8_t order[256];
    tok_bytes_to_unicode(cp, order);
    int rc = CC_OK;
    char s[8];
    /* Same ids as tok_load_openai: byte symbols first, then the same with "</w>". */
    for (int i = 0; rc == CC_OK && i < 256; i++) {
        size_t k = put_cp(s, cp[order[i]]);
        rc = tt_add_symbol(tr, s, k);
        tr->byte_id[order[i]] = i;
    }
    for (int i = 0; rc == CC_OK && i < 256; i++) {
        size_t k = put_cp(s, cp[order[i]]);
        memcpy(s + k, "</w>", 4);
        rc = tt_add_symbol(tr, s, k + 4);
        tr->byte_end_id[order[i]] = 256 + i;
    }
    if (rc == CC_OK) {
        tr->rx = calloc(1, sizeof *tr->rx);
        rc = tr->rx ? tok_regex_init(tr->rx) : cc_fail(CC_ERR_NOMEM, "tokenizer training: out of memory");
    }
    if (rc) {
        tok_trainer_free(tr);
        return rc;
    }
    *out = tr;
    return CC_OK;
}

void tok_trainer_free(tok_trainer *tr)
{
    if (!tr)
        return;
    tok_strmap_free(&tr->words);
    tok_strmap_free(&tr->vocab);
    free(tr->wcount);
    free(tr->woff);
    free(tr->wlen);
    free(tr->syms);
    free(tr->sym_ent);
    free(tr->merge_l);
    free(tr->merge_r);
    if (tr->rx && tr->rx->re)
        tok_regex_free(tr->rx);
    free(tr->rx);
    free(tr);
}

void tok_trainer_set_progress(tok_trainer *tr, tok_train_progress_fn fn, void *user)
{
    tr->progress = fn;
    tr->progress_user = user;
}

void tok_trainer_stats(const tok_trainer *tr, tok_train_stats *st) { *st = tr->st; }

int tok_trainer_merge(const tok_trainer *tr, int32_t i, const char **left, size_t *left_len,
                      const char **right, size_t *right_len)
{
    if (tr->learned != 1 || i < 0 || i >= tr->st.merges)
        return cc_fail(CC_ERR_INVALID, "tokenizer training: merge %d requested, %d learned", i, tr->learned == 1 ? tr->st.merges : 0);
    *left = tt_sym(tr, tr->merge_l[i], left_len);
    *right = tt_sym(tr, tr->merge_r[i], right_len);
    return CC_OK;
}

static int count_word(tok_trainer *tr, const unsigned char *b, size_t n)
{
    const tok_strmap_entry *e = tok_strmap_get(&tr->words, (const char *)b, n);
    if (e) {
        tr->wcount[e->a]++;
        return CC_OK;
    }
    if (tr->nw >= INT32_MAX)
        return cc_fail(CC_ERR_UNSUPPORTED, "tokenizer training: more than %d distinct words", INT32_MAX);
    size_t cap = tr->wcap;
    int rc = cc_grow_size((void **)&tr->wcount, &cap, tr->nw + 1, sizeof *tr->wcount, "words");
    if (rc == CC_OK && cap != tr->wcap) {
        size_t c2 = tr->wcap;
        rc = cc_grow_size((void **)&tr->woff, &c2, cap, sizeof *tr->woff, "words");
        c2 = tr->wcap;
        if (rc == CC_OK)
            rc = cc_grow_size((void **)&tr->wlen, &c2, cap, sizeof *tr->wlen, "words");
        if (rc == CC_OK)
            tr->wcap = cap;
    }
    if (rc == CC_OK)
        rc = cc_grow_size((void **)&tr->syms, &tr->syms_cap, tr->syms_n + n, sizeof *tr->syms, "symbols");
    if (rc == CC_OK)
        rc = tok_strmap_put(&tr->words, (const char *)b, n, (int32_t)tr->nw, 0);
    if (rc)
        return rc;
    int32_t *s = tr->syms + tr->syms_n;
    for (size_t i = 0; i < n; i++)
        s[i] = tr->byte_id[b[i]];
    s[n - 1] = tr->byte_end_id[b[n - 1]];
    tr->wcount[tr->nw] = 1;
    tr->woff[tr->nw] = tr->syms_n;
    tr->wlen[tr->nw] = (uint32_t)n;
    tr->syms_n += n;
    tr->nw++;
    tr->st.distinct_words++;
    return CC_OK;
}

int tok_trainer_add_text(tok_trainer *tr, const char *text)
{
    if (!tr || !text)
        return cc_fail(CC_ERR_INVALID, "tok_trainer_add_text: trainer or text is NULL");
    if (tr->learned)
        return cc_fail(CC_ERR_INVALID, "tok_trainer_add_text: merges are already learned; add texts before tok_trainer_learn");
    char *clean = NULL;
    int rc = tok_clean(text, &clean);
    if (rc)
        return rc;
    tr->st.lines++;
    size_t len = strlen(clean);
    pcre2_code *re = tr->rx->re;
    pcre2_match_data *md = tr->rx->md;
    for (size_t pos = 0; rc == CC_OK && pos < len;) {
        int m = pcre2_match(re, (PCRE2_SPTR)clean, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (m == PCRE2_ERROR_NOMATCH)
            break;
        if (m < 0) {
            rc = cc_fail(CC_ERR_INVALID, "tokenizer training: PCRE2 match failed with code %d at byte %zu", m, pos);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        int special = (e - s == 15 && memcmp(clean + s, "<|startoftext|>", 15) == 0) ||
                      (e - s == 13 && memcmp(clean + s, "<|endoftext|>", 13) == 0);
        if (e > s && !special) {
            rc = count_word(tr, (const unsigned char *)clean + s, e - s);
            tr->st.words++;
        }
        pos = e > s ? e : e + 1;
    }
    free(clean);
    return rc;
}

/* One line of a file: skipped (and counted) when it is not text, so one bad caption does
 * not end a long run. */
static int add_line(tok_trainer *tr, char *line, size_t n, int64_t lineno)
{
    if (n && line[n - 1] == '\r')
        n--;
    line[n] = '\0';
    int rc = memchr(line, '\0', n) ? CC_ERR_INVALID : tok_trainer_add_text(tr, line);
    if (rc != CC_ERR_INVALID)
        return rc;
    cc_clear_error();
    tr->st.lines++;
    tr->st.skipped_lines++;
    if (!tr->st.first_skipped)
        tr->st.first_skipped = lineno;
    return CC_OK;
}

static int64_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

int tok_trainer_add_file(tok_trainer *tr, const char *path)
{
    if (!tr || !path)
        return cc_fail(CC_ERR_INVALID, "tok_trainer_add_file: trainer or path is NULL");
    if (tr->learned)
        return cc_fail(CC_ERR_INVALID, "tok_trainer_add_file: merges are already learned; add texts before tok_trainer_learn");
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return cc_fail(CC_ERR_IO, "tokenizer training: corpus '%s' is a directory (expected a text file, one caption per line)", path);
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return cc_fail(CC_ERR_IO, "tokenizer training: cannot open corpus '%s': %s", path, strerror(errno ? errno : ENOENT));
    int64_t total = file_size(path), words0 = tr->st.words, skipped0 = tr->st.skipped_lines, lineno = 0;
    tr->st.first_skipped = 0;
    size_t cap = 1 << 16, have = 0;
    char *buf = malloc(cap + 1);
    int rc = buf ? CC_OK : cc_fail(CC_ERR_NOMEM, "tokenizer training: out of memory reading '%s'", path);
    int eof = 0;
    while (rc == CC_OK && !eof) {
        if (have == cap) {
            char *nb = realloc(buf, cap * 2 + 1); /* a line longer than the buffer */
            if (!nb) {
                rc = cc_fail(CC_ERR_NOMEM, "tokenizer training: out of memory for a line of '%s' over %zu bytes", path, cap);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        int got = gzread(f, buf + have, (unsigned)(cap - have)), zerr = Z_OK;
        const char *msg = gzerror(f, &zerr);
        if (got < 0 || (zerr != Z_OK && zerr != Z_STREAM_END)) {
            rc = cc_fail(CC_ERR_IO, "tokenizer training: cannot read corpus '%s': %s", path, msg);
            break;
        }
        eof = got == 0;
        have += (size_t)got;
        size_t start = 0;
        for (size_t i = 0; rc == CC_OK && i < have; i++) {
            if (buf[i] != '\n')
                continue;
            rc = add_line(tr, buf + start, i - start, ++lineno);
            start = i + 1;
        }
        if (rc == CC_OK && eof && start < have) /* a last line without a newline */
            rc = add_line(tr, buf + start, have - start, ++lineno);
        else
            memmove(buf, buf + start, have - start);
        have = eof ? 0 : have - start;
        if (tr->progress && total > 0)
            tr->progress(tr->progress_user, (int64_t)gzoffset(f), total);
    }
    gzclose(f);
    free(buf);
    if (rc == CC_OK && tr->st.words == words0)
        rc = cc_fail(CC_ERR_INVALID, "tokenizer training: corpus '%s' holds no words (%lld lines, %lld skipped as not UTF-8)",
                     path, (long long)lineno, (long long)(tr->st.skipped_lines - skipped0));
    return rc;
}
