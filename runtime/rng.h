/* The one seeded random number generator of the project: splitmix64.
 *
 * Small, fast, and the same stream on every platform and C library, so seeded
 * tests, the procedural synth dataset, random init, data augmentation and
 * training resume reproduce exactly. A state is one uint64_t; callers that
 * need independent streams derive the state from several keys with
 * cc_rng_init. Header-only because the draws sit in pixel and weight loops. */
#ifndef CLIPCL_RUNTIME_RNG_H
#define CLIPCL_RUNTIME_RNG_H

#include <stdint.h>

/* splitmix64's output function: a bijective 64-bit mix. */
static inline uint64_t cc_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
/* A stream state from up to three keys, so (seed, epoch, position) streams
 * are independent of one another. */
static inline uint64_t cc_rng_init(uint64_t a, uint64_t b, uint64_t c)
{
    return cc_mix64(cc_mix64(cc_mix64(a + 0x9e3779b97f4a7c15ULL) ^ b) + c);
}
static inline uint64_t cc_rng_next(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ULL;
    return cc_mix64(*s);
}
/* Uniform in [0, 1) with 53 bits. */
static inline double cc_rng_uniform(uint64_t *s)
{
    return (double)(cc_rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}
/* Uniform in (0, 1) with 53 bits (the midpoint of each cell), for draws that
 * go into log() such as Box-Muller. */
static inline double cc_rng_uniform_open(uint64_t *s)
{
    return ((double)(cc_rng_next(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
/* Uniform integer in [0, n) without modulo bias (n >= 1). */
static inline uint64_t cc_rng_below(uint64_t *s, uint64_t n)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do
        v = cc_rng_next(s);
    while (v >= lim);
    return v % n;
}

#endif
