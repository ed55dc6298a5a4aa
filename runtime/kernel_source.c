/* Kernel sources: the copy embedded at build time, or an edited copy in
 * $CLIPCL_KERNEL_DIR. The override file is re-read on every call so an edit
 * takes effect without a rebuild or restart.
 *
 * `#include "name.cl"` lines (the prelude common.cl, attention_softmax.cl)
 * are resolved here, textually, each name looked up the same way (override
 * dir first): so an edited common.cl in $CLIPCL_KERNEL_DIR reaches every
 * kernel file, and the program caches, keyed by a hash of the text returned,
 * see the change. The compiler never sees an include it would have to find
 * on disk (the embedded files have no disk path). */
#include "runtime/kernel_source.h"
#include "runtime/rt.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/settings.h"

/* Every distinct override or resolved text ever returned stays alive until
 * exit: callers may hold the pointer (e.g. while compiling) when another
 * thread or a later call sees an edited file. Edits are made by hand and
 * each kernel file resolves to one text per prelude version, so the list
 * stays small. */
typedef struct override_text {
    struct override_text *next;
    char *name;
    char *text;
    size_t len;
} override_text;

static override_text *overrides;
static pthread_mutex_t overrides_lock = PTHREAD_MUTEX_INITIALIZER;

static char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *g = realloc(buf, cap * 2);
            if (!g) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = g;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static const char *remember_text(const char *file, char *text, size_t len)
{
    pthread_mutex_lock(&overrides_lock);
    for (override_text *o = overrides; o; o = o->next) {
        if (o->len == len && strcmp(o->name, file) == 0 && memcmp(o->text, text, len) == 0) {
            pthread_mutex_unlock(&overrides_lock);
            free(text);
            return o->text;
        }
    }
    override_text *o = calloc(1, sizeof *o);
    char *name = strdup(file);
    if (!o || !name) {
        pthread_mutex_unlock(&overrides_lock);
        free(o);
        free(name);
        free(text);
        return NULL;
    }
    o->name = name;
    o->text = text;
    o->len = len;
    o->next = overrides;
    overrides = o;
    pthread_mutex_unlock(&overrides_lock);
    return text;
}

static const char *from_dir(const char *file, size_t *len)
{
    const char *dir = rt_setting_value(RT_SET_KERNEL_DIR);
    if (!dir || !*dir)
        return NULL;
    char path[4096];
    int w = snprintf(path, sizeof path, "%s/%s", dir, file);
    if (w < 0 || (size_t)w >= sizeof path)
        return NULL;
    size_t n = 0;
    char *text = read_whole(path, &n);
    if (!text)
        return NULL;
    const char *kept = remember_text(file, text, n);
    if (kept)
        *len = n;
    return kept;
}

/* One file as stored, includes not resolved: override dir, then embedded. */
static const char *raw_source(const char *file, size_t *len, int *from_override)
{
    *from_override = 0;
    if (!file || !*file || strchr(file, '/')) /* a spec must not reach outside the kernel dir */
        return NULL;
    const char *o = from_dir(file, len);
    if (o) {
        *from_override = 1;
        return o;
    }
    for (const rt_embedded_kernel *k = rt_embedded_kernels; k->name; k++) {
        if (strcmp(k->name, file) == 0) {
            *len = k->length;
            return k->source;
        }
    }
    return NULL;
}

/* ---- include resolution ---- */

#define MAX_INCLUDES 16 /* distinct files one kernel source may pull in */
#define MAX_INCLUDE_NAME 128

typedef struct text_buf {
    char *p;
    size_t n, cap;
    int nomem;
} text_buf;

static void put(text_buf *b, const char *s, size_t n)
{
    if (b->nomem)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (b->n + n + 1 > cap)
            cap *= 2;
        char *g = realloc(b->p, cap);
        if (!g) {
            b->nomem = 1;
            return;
        }
        b->p = g;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

/* `#line N "file"`: the compiler's messages then name the file a line came
 * from. A name a C string cannot hold as is, or a long one, gets the line
 * number alone. */
static void put_line_marker(text_buf *b, long line, const char *file)
{
    char m[MAX_INCLUDE_NAME + 32];
    int w = strlen(file) < MAX_INCLUDE_NAME && !strpbrk(file, "\"\\\n")
                ? snprintf(m, sizeof m, "#line %ld \"%s\"\n", line, file)
                : snprintf(m, sizeof m, "#line %ld\n", line);
    put(b, m, (size_t)w);
}

/* If [s, e) is `#include "name"` (spaces allowed around '#'), copies name
 * into out and returns 1; 0 for any other line. A name too long or with a
 * '/' is returned as is and refused by the lookup. */
static int include_name(const char *s, const char *e, char out[MAX_INCLUDE_NAME])
{
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    if (s == e || *s++ != '#')
        return 0;
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    if ((size_t)(e - s) < 8 || strncmp(s, "include", 7) != 0 || isalnum((unsigned char)s[7]) || s[7] == '_')
        return 0;
    s += 7;
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    if (s == e || *s++ != '"')
        return 0;
    const char *q = memchr(s, '"', (size_t)(e - s));
    if (!q || q == s || (size_t)(q - s) >= MAX_INCLUDE_NAME)
        return 0;
    memcpy(out, s, (size_t)(q - s));
    out[q - s] = '\0';
    return 1;
}

typedef struct resolver {
    text_buf out;
    char *seen[MAX_INCLUDES]; /* each file is pulled in once (as #pragma once), the first is the kernel file */
    int n_seen;
    int from_override;
} resolver;

/* Appends file's text with its includes expanded; #line markers keep the
 * compiler's messages pointing at the right file and line. */
static int expand(resolver *r, const char *file, const char *text, size_t len)
{
    const char *s = text, *end = text + len;
    long line = 1;
    while (s < end) {
        const char *e = memchr(s, '\n', (size_t)(end - s));
        const char *next = e ? e + 1 : end;
        if (!e)
            e = end;
        char name[MAX_INCLUDE_NAME];
        if (!include_name(s, e, name)) {
            put(&r->out, s, (size_t)(next - s));
            if (next == end && e == end)
                put(&r->out, "\n", 1);
        } else {
            int seen = 0;
            for (int i = 0; i < r->n_seen; i++)
                seen |= strcmp(r->seen[i], name) == 0;
            if (!seen) {
                size_t ilen = 0;
                int io = 0;
                const char *inc = raw_source(name, &ilen, &io);
                if (!inc) {
                    const char *dir = rt_setting_value(RT_SET_KERNEL_DIR);
                    return cc_fail(CC_ERR_IO, "kernel source %s line %ld: #include \"%s\" not found: not embedded "
                                   "and not in $CLIPCL_KERNEL_DIR (%s)",
                                   file, line, name, dir && *dir ? dir : "unset");
                }
                if (r->n_seen == MAX_INCLUDES)
                    return cc_fail(CC_ERR_INVALID, "kernel source %s line %ld: more than %d included files",
                                   file, line, MAX_INCLUDES);
                char *kept = strdup(name);
                if (!kept)
                    return cc_fail(CC_ERR_NOMEM, "kernel source %s: out of memory", file);
                r->seen[r->n_seen++] = kept;
                r->from_override |= io;
                put_line_marker(&r->out, 1, kept);
                int rc = expand(r, kept, inc, ilen);
                if (rc != CC_OK)
                    return rc;
                put_line_marker(&r->out, line + 1, file);
            } else {
                put(&r->out, "\n", 1); /* keeps the line count */
            }
        }
        s = next;
        line++;
    }
    return CC_OK;
}

static int has_include(const char *text, size_t len)
{
    const char *s = text, *end = text + len;
    while (s < end) {
        const char *e = memchr(s, '\n', (size_t)(end - s));
        char name[MAX_INCLUDE_NAME];
        if (include_name(s, e ? e : end, name))
            return 1;
        s = e ? e + 1 : end;
    }
    return 0;
}

int rt_kernel_text(const char *file, const char **src, size_t *len, int *from_override)
{
    size_t dummy_len;
    int dummy_from;
    if (!len)
        len = &dummy_len;
    if (!from_override)
        from_override = &dummy_from;
    *src = NULL;
    *from_override = 0;
    size_t n = 0;
    int io = 0;
    const char *text = raw_source(file, &n, &io);
    if (!text) {
        const char *dir = rt_setting_value(RT_SET_KERNEL_DIR);
        return cc_fail(CC_ERR_IO, "kernel source %s not found: not embedded and not in $CLIPCL_KERNEL_DIR (%s)",
                       file ? file : "(null)", dir && *dir ? dir : "unset");
    }
    if (!has_include(text, n)) {
        *src = text;
        *len = n;
        *from_override = io;
        return CC_OK;
    }
    resolver r;
    memset(&r, 0, sizeof r);
    r.seen[r.n_seen++] = strdup(file);
    r.from_override = io;
    int rc = r.seen[0] ? CC_OK : cc_fail(CC_ERR_NOMEM, "kernel source %s: out of memory", file);
    if (rc == CC_OK) {
        put_line_marker(&r.out, 1, file);
        rc = expand(&r, file, text, n);
    }
    if (rc == CC_OK && r.out.nomem)
        rc = cc_fail(CC_ERR_NOMEM, "kernel source %s: out of memory resolving includes", file);
    for (int i = 0; i < r.n_seen; i++)
        free(r.seen[i]);
    if (rc != CC_OK) {
        free(r.out.p);
        return rc;
    }
    size_t out_len = r.out.n;
    const char *kept = remember_text(file, r.out.p, out_len);
    if (!kept)
        return cc_fail(CC_ERR_NOMEM, "kernel source %s: out of memory", file);
    *src = kept;
    *len = out_len;
    *from_override = r.from_override;
    return CC_OK;
}

const char *rt_kernel_source(const char *file, size_t *len, int *from_override)
{
    const char *src = NULL;
    if (from_override)
        *from_override = 0;
    return rt_kernel_text(file, &src, len, from_override) == CC_OK ? src : NULL;
}
