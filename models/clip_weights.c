/* The in-memory weight map. Linear search is enough: a checkpoint has a few
 * hundred tensors and lookups happen only while a graph is built. */
#include "models/clip.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/grow.h"
#include "runtime/status.h"

clip_wmap *clip_wmap_new(void)
{
    return calloc(1, sizeof(clip_wmap));
}

void clip_wmap_free(clip_wmap *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n; i++) {
        free(m->w[i].name);
        if (m->w[i].owned)
            free(m->w[i].data);
    }
    free(m->w);
    if (m->map && m->unmap)
        m->unmap(m->map, m->map_len);
    free(m);
}

void clip_wmap_drop_pages(const clip_wmap *m, const void *data, size_t bytes)
{
    if (!m || !m->map || !data)
        return;
    const uintptr_t base = (uintptr_t)m->map, p = (uintptr_t)data;
    if (p < base || bytes > m->map_len || p - base > m->map_len - bytes)
        return;
    const long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0)
        return;
    const uintptr_t lo = (p + (uintptr_t)pg - 1) / (uintptr_t)pg * (uintptr_t)pg;
    const uintptr_t hi = (p + bytes) / (uintptr_t)pg * (uintptr_t)pg;
    if (hi > lo) /* a hint: a failure leaves the pages resident, nothing else */
        (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

int clip_wmap_add(clip_wmap *m, const char *name, int ndim, const int64_t *shape, float *data,
                  int owned)
{
    if (!m || !name || ndim < 0 || ndim > CLIP_MAX_DIMS || (ndim > 0 && !shape))
        return cc_fail(CC_ERR_INVALID, "clip_wmap_add: bad argument for tensor '%s'",
                       name ? name : "(null)");
    if (clip_wmap_find(m, name))
        return cc_fail(CC_ERR_INVALID, "clip_wmap_add: tensor '%s' added twice", name);
    if (cc_grow((void **)&m->w, &m->cap, m->n + 1, sizeof *m->w, "the weight map"))
        return cc_fail(CC_ERR_NOMEM, "clip_wmap_add: out of memory at tensor '%s'", name);
    clip_weight *w = &m->w[m->n];
    memset(w, 0, sizeof *w);
    w->name = strdup(name);
    if (!w->name)
        return cc_fail(CC_ERR_NOMEM, "clip_wmap_add: out of memory at tensor '%s'", name);
    w->ndim = ndim;
    w->numel = 1;
    for (int i = 0; i < ndim; i++) {
        w->shape[i] = shape[i];
        w->numel *= shape[i];
    }
    w->data = data;
    w->owned = owned;
    m->n++;
    return CC_OK;
}

const clip_weight *clip_wmap_find(const clip_wmap *m, const char *name)
{
    for (int i = 0; m && i < m->n; i++)
        if (strcmp(m->w[i].name, name) == 0)
            return &m->w[i];
    return NULL;
}
