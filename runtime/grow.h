/* The one growable array of the project: a realloc'd block of elements with a
 * capacity that doubles, so appends are amortised O(1). Callers keep the
 * pointer, the count and the capacity in their own struct and hold indices,
 * never pointers, across a grow. */
#ifndef CLIPCL_RUNTIME_GROW_H
#define CLIPCL_RUNTIME_GROW_H

#include <stddef.h>

/* Makes *arr (capacity *cap elements of elem bytes) hold at least need
 * elements: doubles from 16, copies the contents, updates *arr and *cap.
 * Returns CC_OK, or CC_ERR_NOMEM naming `what` with *arr left as it was. */
int cc_grow(void **arr, int *cap, int need, size_t elem, const char *what);
/* The same for size_t counts (byte buffers, large tables). */
int cc_grow_size(void **arr, size_t *cap, size_t need, size_t elem, const char *what);

#endif
