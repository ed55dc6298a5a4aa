/* Kernel sources: the copy embedded at build time, or an edited copy in
 * $CLIPCL_KERNEL_DIR. The override file is re-read on every call so an edit
 * takes effect without a rebuild or restart. */
#include "runtime/kernel_source.h"
#include "runtime/rt.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/settings.h"

/* Every distinct override text ever returned stays alive until exit: callers
 * may hold the pointer (e.g. while compiling) when another thread or a later
 * call sees an edited file. Edits are made by hand, so the list stays tiny. */
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

static const char *remember_override(const char *file, char *text, size_t len)
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
    const char *kept = remember_override(file, text, n);
    if (kept)
        *len = n;
    return kept;
}

const char *rt_kernel_source(const char *file, size_t *len, int *from_override)
{
    size_t dummy_len;
    if (!len)
        len = &dummy_len;
    if (from_override)
        *from_override = 0;
    /* Only plain file names: a spec must not reach outside the kernel dir. */
    if (!file || !*file || strchr(file, '/'))
        return NULL;
    const char *o = from_dir(file, len);
    if (o) {
        if (from_override)
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
