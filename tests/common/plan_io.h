/* What the backend-plan tests do around a plan: write a tensor of seeded
 * values, read a tensor into a new buffer, open a backend whose GEMMs are
 * the own kernels in one style (the packed-weight paths under test; CLBlast
 * packs nothing of ours). Include after cmocka.h. */
#ifndef CLIPCL_TESTS_COMMON_PLAN_IO_H
#define CLIPCL_TESTS_COMMON_PLAN_IO_H

#include <stdint.h>
#include <stdlib.h>

#include "backends/backend.h"
#include "runtime/status.h"
#include "tests/common/seeded.h"

static inline void plan_write_seeded(backend_plan *p, const graph *g, int t, uint32_t seed)
{
    const int64_t n = g_numel(g, t);
    float *v = seeded(n, seed);
    assert_int_equal(backend_plan_write(p, t, v, (size_t)n * sizeof *v), CC_OK);
    free(v);
}

/* Tensor t, malloc'd (the caller frees). */
static inline float *plan_read_new(backend_plan *p, const graph *g, int t)
{
    float *v = malloc(g_nbytes(g, t));
    assert_non_null(v);
    assert_int_equal(backend_plan_read(p, t, v, g_nbytes(g, t)), CC_OK);
    return v;
}

/* variant: "cpu" or "gpu" (CLIPCL_FORCE_VARIANT); close with close_own(). */
static inline backend *open_own(const char *variant)
{
    setenv("CLIPCL_GEMM", "own", 1);
    setenv("CLIPCL_FORCE_VARIANT", variant, 1);
    backend *be = NULL;
    assert_int_equal(backend_open(NULL, 0, &be), CC_OK);
    return be;
}

static inline void close_own(backend *be)
{
    backend_close(be);
    unsetenv("CLIPCL_GEMM");
    unsetenv("CLIPCL_FORCE_VARIANT");
}

#endif
