/* The machine's single-precision FMA peak, measured: the ceiling the GEMM
 * numbers in docs/gemm.md are compared with (a GEMM at 90% of a peak
 * computed from a data sheet may be at 60% of what the cores really issue,
 * or above "100%" when the guess of the vector units is wrong).
 *
 *   bench_fma_peak [--threads N] [--seconds S]
 *
 * Each thread runs independent chains of vector FMAs on registers (no
 * memory traffic), at the widest width the CPU supports (AVX-512F, AVX2+FMA,
 * else plain C), and the best of five timed bursts is reported as GFLOP/s
 * per thread and in all (2 flops per lane per FMA). Chains: 12 independent
 * accumulators per thread, enough to cover an FMA latency of 4 cycles on two
 * pipes (the usual case) and up to 6 on two. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/clock.h"

#define CHAINS 12

typedef double (*kernel_fn)(long iters, float seed); /* returns a sum so the work is kept */

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>

__attribute__((target("avx512f"))) static double fma_avx512(long iters, float seed)
{
    __m512 acc[CHAINS];
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++)
        acc[c] = _mm512_set1_ps(seed + (float)c);
    for (long i = 0; i < iters; i++)
        for (int c = 0; c < CHAINS; c++)
            acc[c] = _mm512_fmadd_ps(acc[c], a, b);
    __m512 s = acc[0];
    for (int c = 1; c < CHAINS; c++)
        s = _mm512_add_ps(s, acc[c]);
    return (double)_mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static double fma_avx2(long iters, float seed)
{
    __m256 acc[CHAINS];
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++)
        acc[c] = _mm256_set1_ps(seed + (float)c);
    for (long i = 0; i < iters; i++)
        for (int c = 0; c < CHAINS; c++)
            acc[c] = _mm256_fmadd_ps(acc[c], a, b);
    __m256 s = acc[0];
    for (int c = 1; c < CHAINS; c++)
        s = _mm256_add_ps(s, acc[c]);
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    double t = 0;
    for (int l = 0; l < 8; l++)
        t += lanes[l];
    return t;
}
#define HAVE_X86 1
#endif

static double fma_scalar(long iters, float seed)
{
    float acc[CHAINS];
    for (int c = 0; c < CHAINS; c++)
        acc[c] = seed + (float)c;
    for (long i = 0; i < iters; i++)
        for (int c = 0; c < CHAINS; c++)
            acc[c] = acc[c] * 0.999999f + 1e-7f;
    double t = 0;
    for (int c = 0; c < CHAINS; c++)
        t += acc[c];
    return t;
}

typedef struct job {
    kernel_fn fn;
    long iters;
    double seconds, sink;
    pthread_barrier_t *start;
} job;

static void *run(void *arg)
{
    job *j = arg;
    pthread_barrier_wait(j->start);
    double t0 = cc_now_s();
    j->sink = j->fn(j->iters, 1.0f);
    j->seconds = cc_now_s() - t0;
    return NULL;
}

/* Wall seconds of one burst of `iters` on every thread at once. */
static double burst(kernel_fn fn, long iters, int threads, double *sink)
{
    pthread_t tid[256];
    job jobs[256];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job){.fn = fn, .iters = iters, .start = &start};
        pthread_create(&tid[t], NULL, run, &jobs[t]);
    }
    double slowest = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        if (jobs[t].seconds > slowest)
            slowest = jobs[t].seconds;
        *sink += jobs[t].sink;
    }
    pthread_barrier_destroy(&start);
    return slowest;
}

int main(int argc, char **argv)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = ncpu > 0 ? (int)ncpu : 1;
    double seconds = 0.5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_fma_peak [--threads N] [--seconds S] (unknown \"%s\")\n",
                    argv[i]);
            return 2;
        }
    }
    if (threads < 1 || threads > 256 || !(seconds > 0 && seconds <= 60)) {
        fprintf(stderr, "bench_fma_peak: --threads 1..256 and --seconds in (0, 60] expected\n");
        return 2;
    }

    kernel_fn fn = fma_scalar;
    int lanes = 1;
    const char *isa = "scalar C";
#ifdef HAVE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        fn = fma_avx512, lanes = 16, isa = "AVX-512F";
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        fn = fma_avx2, lanes = 8, isa = "AVX2+FMA";
    }
#endif
    double sink = 0;
    /* Calibrate on one thread to about `seconds` per burst. */
    long iters = 1 << 16;
    for (;;) {
        double t = burst(fn, iters, 1, &sink);
        if (t >= seconds / 4 || iters > (1L << 40))
            break;
        iters *= 2;
    }
    iters = (long)((double)iters * seconds / burst(fn, iters, 1, &sink));
    if (iters < 1)
        iters = 1;

    double flops_per_thread = 2.0 * lanes * CHAINS * (double)iters;
    for (int pass = 0; pass < 2; pass++) {
        int n = pass == 0 ? 1 : threads;
        double best = 1e30;
        for (int r = 0; r < 5; r++) {
            double t = burst(fn, iters, n, &sink);
            if (t < best)
                best = t;
        }
        printf("%-9s %2d thread%s: %8.1f GFLOP/s (%.1f per thread)\n", isa, n, n == 1 ? " " : "s",
               flops_per_thread * n / best / 1e9, flops_per_thread / best / 1e9);
        if (threads == 1)
            break;
    }
    /* The sum keeps the chains from being optimised away; it is never 0. */
    return sink == 0;
}
