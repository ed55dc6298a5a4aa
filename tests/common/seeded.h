/* Seeded values in [-1, 1) (xorshift32) for the backend tests' inputs and
 * weights: the same numbers on every run and every machine. Include after
 * cmocka.h. */
#ifndef CLIPCL_TESTS_COMMON_SEEDED_H
#define CLIPCL_TESTS_COMMON_SEEDED_H

#include <stdint.h>
#include <stdlib.h>

/* n floats, malloc'd (the caller frees). */
static inline float *seeded(int64_t n, uint32_t seed)
{
    float *v = malloc((size_t)n * sizeof *v);
    assert_non_null(v);
    for (int64_t i = 0; i < n; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        v[i] = (float)(seed >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
    }
    return v;
}

#endif
