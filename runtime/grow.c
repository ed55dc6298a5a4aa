#include "runtime/grow.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include "runtime/status.h"

int cc_grow_size(void **arr, size_t *cap, size_t need, size_t elem, const char *what)
{
    if (need <= *cap)
        return CC_OK;
    size_t nc = *cap ? *cap : 16;
    while (nc < need)
        nc *= 2;
    void *p = elem && nc <= SIZE_MAX / elem ? realloc(*arr, nc * elem) : NULL;
    if (!p)
        return cc_fail(CC_ERR_NOMEM, "out of memory growing %s to %zu entries", what ? what : "a list", nc);
    *arr = p;
    *cap = nc;
    return CC_OK;
}

int cc_grow(void **arr, int *cap, int need, size_t elem, const char *what)
{
    if (need <= *cap)
        return CC_OK;
    if (need < 0 || need > INT_MAX / 2)
        return cc_fail(CC_ERR_NOMEM, "%s: %d entries is more than a list holds", what ? what : "a list", need);
    size_t c = (size_t)*cap;
    int rc = cc_grow_size(arr, &c, (size_t)need, elem, what);
    if (!rc)
        *cap = (int)c;
    return rc;
}
