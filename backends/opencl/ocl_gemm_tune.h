/* The GEMM tuner: times own-kernel tiles of the device's search space
 * (runtime/gemm_space.h) and optionally CLBlast on a set of shapes, in a
 * way that survives a noisy machine:
 *
 *   - rounds interleave the candidates (each round in a rotated order), so
 *     a burst of load elsewhere hits every candidate rather than one;
 *   - each round gives a median of `runs` calls per (candidate, shape), and
 *     a candidate's time per shape is the minimum of its round medians;
 *   - when a leading candidate's round medians spread by more than 10 %,
 *     the leaders are measured again for two more rounds;
 *   - the 1-minute load average (/proc/loadavg) before and after is kept
 *     with the result.
 *
 * `clipcl tune` runs it in full; ocl_gemm_choose runs a bounded quick tune
 * on first use when the GEMM database has no entry for the device
 * (ocl_gemm_select.c). docs/gemm.md "Tuning". */
#ifndef CLIPCL_OCL_GEMM_TUNE_H
#define CLIPCL_OCL_GEMM_TUNE_H

#include "backends/opencl/ocl_gemm.h"
#include "runtime/gemm_space.h"

#define OCL_TUNE_MAX_CAND RT_GEMM_SPACE_MAX
#define OCL_TUNE_MAX_SHAPES 8
#define OCL_TUNE_SPREAD 0.10 /* round medians further apart than this: measure again */

typedef struct ocl_gemm_shape {
    int M, N, K;
} ocl_gemm_shape;

typedef struct ocl_gemm_tune_opts {
    const ocl_gemm_tile *cand; /* NULL: the device's search space */
    int n_cand;
    int wide;                  /* with cand NULL: the wide space (bench sweeps) */
    const ocl_gemm_shape *shapes; /* NULL: ocl_gemm_tune_shapes("vit-b-32") */
    int n_shapes;
    int rounds;                /* interleaved rounds (>= 1) */
    int runs;                  /* timed calls per round and shape (>= 1; the median counts) */
    double budget_s;           /* > 0: start no candidate that would end past it (the first always runs) */
    int clblast;               /* also time CLBlast, which may then be the choice */
    const char *source;        /* how the result came about, stored with it ("clipcl tune") */
    void (*progress)(void *user, int done, int total); /* may be NULL */
    void *user;
} ocl_gemm_tune_opts;

typedef struct ocl_gemm_tune_result {
    int n_cand, n_shapes;
    ocl_gemm_tile cand[OCL_TUNE_MAX_CAND];
    ocl_gemm_shape shapes[OCL_TUNE_MAX_SHAPES];
    int measured[OCL_TUNE_MAX_CAND];        /* 0: left out by the time budget */
    double t[OCL_TUNE_MAX_CAND][OCL_TUNE_MAX_SHAPES]; /* seconds, minimum of the round medians */
    double spread[OCL_TUNE_MAX_CAND];       /* largest max/min - 1 of the round medians over the shapes */
    int rounds[OCL_TUNE_MAX_CAND];          /* rounds the candidate was timed in */
    int clblast_timed;
    double clblast_t[OCL_TUNE_MAX_SHAPES];
    char clblast_error[256];                /* CLBlast failed: it cannot be the choice */
    int best;                               /* index into cand */
    ocl_gemm_tile tile;
    ocl_gemm_impl impl;
    int remeasured;                         /* leaders measured again for their spread */
    double load_before, load_after;         /* 1-minute load average; -1 when unknown */
    double seconds;
    char source[96];
} ocl_gemm_tune_result;

/* Shape sets by name: "vit-b-32" (ViT-B/32 fc1 at batch 1, fc1, fc2 and qkv
 * at batch 32), "all" (those plus the text tower's MLP at batch 32), or a
 * list "MxNxK,MxNxK". 0 and one line in err when malformed. */
int ocl_gemm_tune_shapes(const char *name, ocl_gemm_shape *out, int cap, int *n, char *err, size_t errlen);

int ocl_gemm_tune(rt_ctx *ctx, const ocl_gemm_tune_opts *o, ocl_gemm_tune_result *r);
/* Total seconds of candidate c over the shapes. */
double ocl_gemm_tune_total(const ocl_gemm_tune_result *r, int c);
/* The 1-minute load average from /proc/loadavg, -1 when unreadable. */
double ocl_gemm_load1(void);

/* Writes r as ctx's device cache entry (ocl_gemm_tuning_path) and makes it
 * what this process uses from now on. CC_ERR_IO when it cannot be written. */
int ocl_gemm_tune_store(rt_ctx *ctx, const ocl_gemm_tune_result *r);

#endif
