/* attention_grad.cl - backward of fused multi-head attention (graph.h
 * G_OP_ATTENTION_GRAD). Layout as attention.cl: q, dout [B,T,C], k, v
 * [B,S,C], head h = channels [h*HD, (h+1)*HD). Per (batch, head), with
 * scores s = q k^T * scale (+ causal mask: key > row), P = softmax(s):
 *   dV = P^T dO,  dP = dO V^T,  dS = P * (dP - D),  D_t = sum_s dP_ts P_ts,
 *   dQ = dS K * scale,  dK = dS^T Q * scale.
 *
 * attng_stats stores per query row lse = log sum exp(s) and D, so the three
 * gradient kernels recompute any P_ts = exp(s_ts - lse_t) from one dot
 * product: no T x S matrix is stored and no row is normalised twice.
 * attng_dq: one work-item per (query row, head, batch), loops over keys;
 * attng_dk / attng_dv: one per (key row, head, batch), loops over queries.
 * Every sum runs in a fixed order: deterministic, no atomics.
 *
 * stats layout: lse [B][heads][T], then D [B][heads][T].
 *
 * attng_*_cpu (HD a multiple of 16, S <= SMAX): the CPU-class variant, as
 * attention.cl's attention_cpu: one work-item (work-group size 1) per tile
 * of TQ query rows or TK key rows, the head dim in float16 vectors, exp 16
 * scores at a time. One pass per attention: attng_rows_cpu computes P and
 * dS once and stores them (plan scratch, B*heads*T*S*2 floats), then dQ,
 * dK and dV are one sweep each over the stored matrices (the node that runs
 * first runs attng_rows_cpu, and when that is the dq node it also writes
 * dQ from the rows it holds). No stats pass, no score recomputed.
 *
 * The softmax statistics (online in attng_stats, two-pass over a tile in
 * attng_rows_tile) are attention_softmax.cl's, shared with the forward
 * kernels. q, k, v, dout and the gradients are STORE_T (common.cl; float
 * unless built with -DSTORE_HALF); stats and all arithmetic are float.
 *
 * Build options: -DHD=<head dim> (private rows are sized by it); for the
 * _cpu kernels also -DSMAX=<multiple of 16, >= S> -DTQ -DTK. */
#include "common.cl"
#include "attention_softmax.cl"

#ifndef HD
#define HD 64
#endif

/* The argument list every attng kernel has; the arguments of the macro
 * are its stats and output buffers. */
#define ATTNG_ARGS(...)                                                                                      \
    __global const STORE_T *restrict q, __global const STORE_T *restrict k,                                   \
        __global const STORE_T *restrict v, __global const STORE_T *restrict dout, __VA_ARGS__, const int T, \
        const int S, const int C, const int causal, const float scale

static inline float attng_dot(const float *a, __global const STORE_T *b)
{
    float s = 0.0f;
    for (int c = 0; c < HD; c++)
        s = fma(a[c], ST_LOAD(b, c), s);
    return s;
}

static inline void attng_load_row(float *dst, __global const STORE_T *src)
{
    for (int c = 0; c < HD; c++)
        dst[c] = ST_LOAD(src, c);
}

/* P_ts = exp(s_ts - lse_t) of one (query, key) pair, s = q.k * scale; one
 * of x, y is the query row, the other the key row. */
static inline float attng_prob(const float *x, __global const STORE_T *y, const float scale, const float lse)
{
    return exp(attng_dot(x, y) * scale - lse);
}

/* dS_ts = P_ts (dP_ts - D_t), dP_ts = dout_t . v_s; one of g, w is the dout
 * row, the other the v row. */
static inline float attng_dscore(const float p, const float *g, __global const STORE_T *w, const float D)
{
    return p * (attng_dot(g, w) - D);
}

/* Where this work-item's (batch, head) rows start in stats (grid dims 2
 * and 1), laid out as lse [B][heads][T] then D [B][heads][T]; *d_at is D's
 * offset from lse. */
static inline long attng_stats_at(const int T, long *d_at)
{
    const long heads = get_global_size(1);
    *d_at = (long)get_global_size(2) * heads * T;
    return ((long)get_global_id(2) * heads + get_global_id(1)) * T;
}

/* Online over the keys (attention_softmax.cl: running max; sum and D
 * rescaled when it grows), so any S works in one pass. Grid: (T, heads, B). */
__kernel void attng_stats(ATTNG_ARGS(__global float *restrict stats))
{
    const int t = get_global_id(0);
    const int h = get_global_id(1);
    const long b = get_global_id(2);
    __global const STORE_T *kb = k + b * S * C + h * HD;
    __global const STORE_T *vb = v + b * S * C + h * HD;
    float qs[HD], g[HD];
    attng_load_row(qs, q + (b * T + t) * C + h * HD);
    attng_load_row(g, dout + (b * T + t) * C + h * HD);
    const int lim = causal ? min(t + 1, S) : S;
    float mx = -INFINITY, sum = 0.0f, dsum = 0.0f;
    for (int s = 0; s < lim; s++) {
        const float sc = attng_dot(qs, kb + (long)s * C) * scale;
        const float dp = attng_dot(g, vb + (long)s * C);
        float corr, p;
        softmax_online_step(sc, &mx, &sum, &corr, &p);
        dsum = softmax_online_fold(dsum, corr, p, dp);
    }
    long bht;
    __global float *st = stats + attng_stats_at(T, &bht) + t;
    st[0] = mx + log(sum);
    st[bht] = dsum / sum;
}

/* Grid: (T, heads, B). */
__kernel void attng_dq(ATTNG_ARGS(__global const float *restrict stats, __global STORE_T *restrict dq))
{
    const int t = get_global_id(0);
    const int h = get_global_id(1);
    const long b = get_global_id(2);
    __global const STORE_T *kb = k + b * S * C + h * HD;
    __global const STORE_T *vb = v + b * S * C + h * HD;
    long bht;
    __global const float *st = stats + attng_stats_at(T, &bht) + t;
    const float lse = st[0], D = st[bht];
    float qs[HD], g[HD], acc[HD];
    attng_load_row(qs, q + (b * T + t) * C + h * HD);
    attng_load_row(g, dout + (b * T + t) * C + h * HD);
    for (int c = 0; c < HD; c++)
        acc[c] = 0.0f;
    const int lim = causal ? min(t + 1, S) : S;
    for (int s = 0; s < lim; s++) {
        __global const STORE_T *kr = kb + (long)s * C;
        const float ds = attng_dscore(attng_prob(qs, kr, scale, lse), g, vb + (long)s * C, D);
        for (int c = 0; c < HD; c++)
            acc[c] = fma(ds, ST_LOAD(kr, c), acc[c]);
    }
    __global STORE_T *o = dq + (b * T + t) * C + h * HD;
    for (int c = 0; c < HD; c++)
        ST_STORE(o, c, acc[c] * scale);
}

/* One key row over the queries that see it (t >= s when causal).
 * DK 1: dK row; DK 0: dV row. */
static inline void attng_key_row(ATTNG_ARGS(__global const float *restrict stats, __global STORE_T *restrict out),
                                 const int DK)
{
    const int s = get_global_id(0);
    const int h = get_global_id(1);
    const long b = get_global_id(2);
    __global const STORE_T *qb = q + b * T * C + h * HD;
    __global const STORE_T *gb = dout + b * T * C + h * HD;
    long bht;
    __global const float *st = stats + attng_stats_at(T, &bht);
    float ks[HD], vs[HD], acc[HD];
    attng_load_row(ks, k + (b * S + s) * C + h * HD);
    attng_load_row(vs, v + (b * S + s) * C + h * HD);
    for (int c = 0; c < HD; c++)
        acc[c] = 0.0f;
    for (int t = causal ? s : 0; t < T; t++) {
        __global const STORE_T *qt = qb + (long)t * C;
        __global const STORE_T *gt = gb + (long)t * C;
        const float p = attng_prob(ks, qt, scale, st[t]);
        if (DK) {
            const float ds = attng_dscore(p, vs, gt, st[bht + t]);
            for (int c = 0; c < HD; c++)
                acc[c] = fma(ds, ST_LOAD(qt, c), acc[c]);
        } else {
            for (int c = 0; c < HD; c++)
                acc[c] = fma(p, ST_LOAD(gt, c), acc[c]);
        }
    }
    __global STORE_T *o = out + (b * S + s) * C + h * HD;
    const float f = DK ? scale : 1.0f;
    for (int c = 0; c < HD; c++)
        ST_STORE(o, c, acc[c] * f);
}

/* dK and dV kernels from one key-row routine; DK as there. */
#define ATTNG_KEY_KERNEL(NAME, ROUTINE, DK)                                                                \
    __kernel void NAME(ATTNG_ARGS(__global const float *restrict stats, __global STORE_T *restrict out)) \
    {                                                                                                     \
        ROUTINE(q, k, v, dout, stats, out, T, S, C, causal, scale, DK);                                   \
    }

/* Grid: (S, heads, B). */
ATTNG_KEY_KERNEL(attng_dk, attng_key_row, 1)
ATTNG_KEY_KERNEL(attng_dv, attng_key_row, 0)

/* ---------------- CPU-class variant (HD % 16 == 0) ---------------- */
#if HD % 16 == 0
#ifndef SMAX
#define SMAX 16
#endif
#ifndef TQ
#define TQ 4
#endif
#ifndef TK
#define TK 4
#endif
#define NV16 (HD / 16)

static inline float attng_dot16(const float16 *a, const float16 *b)
{
    float16 p = a[0] * b[0];
#pragma unroll
    for (int j = 1; j < NV16; j++)
        p = fma(a[j], b[j], p);
    return hsum16(p);
}

/* TQ query rows from t0 (rows past T repeat the last valid one: computed,
 * never stored). On return sc holds P and dp holds dS for keys [0, lim),
 * both zero from each row's last visible key up to lim rounded up to 16;
 * lse and dd hold each row's log-sum-exp and D. Returns lim. */
static inline int attng_rows_tile(__global const STORE_T *restrict q, __global const STORE_T *restrict k,
                                  __global const STORE_T *restrict v, __global const STORE_T *restrict dout,
                                  const int T, const int S, const int C, const int causal, const float scale,
                                  const long b, const int h, const int t0, const int nr, float sc[TQ][SMAX],
                                  float dp[TQ][SMAX], float *lse, float *dd)
{
    __global const STORE_T *kb = k + b * S * C + h * HD;
    __global const STORE_T *vb = v + b * S * C + h * HD;
    const int lim = causal ? min(t0 + nr, S) : S; /* keys any row of the tile sees */
    /* scores, then dP in a second sweep: one set of TQ row vectors live at a
     * time keeps them in registers */
    for (int pass = 0; pass < 2; pass++) {
        __global const STORE_T *src = pass ? dout : q;
        __global const STORE_T *kvb = pass ? vb : kb;
        const float f = pass ? 1.0f : scale;
        float (*dst)[SMAX] = pass ? dp : sc;
        float16 xr[TQ][NV16];
#pragma unroll
        for (int r = 0; r < TQ; r++) {
            const long row = (b * T + t0 + min(r, nr - 1)) * C + h * HD;
#pragma unroll
            for (int j = 0; j < NV16; j++)
                xr[r][j] = ST_VLOAD(16, j, src + row) * f;
        }
        for (int s = 0; s < lim; s++) {
            float16 kv[NV16];
#pragma unroll
            for (int j = 0; j < NV16; j++)
                kv[j] = ST_VLOAD(16, j, kvb + (long)s * C);
#pragma unroll
            for (int r = 0; r < TQ; r++)
                dst[r][s] = attng_dot16(xr[r], kv);
        }
    }
    const int nch = (lim + 15) / 16;
#pragma unroll
    for (int r = 0; r < TQ; r++) {
        const int n = causal ? min(t0 + r + 1, lim) : lim;
        for (int s = n; s < nch * 16; s++) {
            sc[r][s] = -INFINITY;
            dp[r][s] = 0.0f;
        }
        /* the whole row as one block: the two-pass softmax */
        float mx = -INFINITY, z = 0.0f;
        softmax_block16(sc[r], nch, &mx, &z);
        const float inv = 1.0f / z;
        lse[r] = mx + log(z);
        float16 d16 = (float16)(0.0f);
        for (int c = 0; c < nch; c++) {
            const float16 p = vload16(c, sc[r]) * inv;
            vstore16(p, c, sc[r]);
            d16 = fma(p, vload16(c, dp[r]), d16);
        }
        const float D = hsum16(d16);
        dd[r] = D;
        for (int c = 0; c < nch; c++)
            vstore16(vload16(c, sc[r]) * (vload16(c, dp[r]) - D), c, dp[r]);
    }
    return lim;
}

/* The probability matrix P and dS of one attention, written once by
 * attng_rows_cpu and read by the dq, dk and dv nodes (each one GEMM-like
 * sweep, nothing recomputed): pd holds P [B][heads][T][SP] then dS in the
 * same layout, SP = S rounded up to 16. Row t is written for the keys its
 * tile sees, rounded up to 16 (zeros past the row's last visible key), so
 * a reader of row t stops there or at the causal bound. */
static inline __global float *attng_pd_at(__global float *pd, const int T, const int SP, const int DS)
{
    const long bh = (long)get_global_size(1) * get_global_size(2);
    return pd + (DS ? bh * T * SP : 0) + ((long)get_global_id(2) * get_global_size(1) + get_global_id(1)) * T * SP;
}

/* P and dS rows of TQ queries into pd; with want_dq also their dQ rows (the
 * node that runs this is the dq node, so dS is reused while in registers'
 * reach). Grid: (ceil(T/TQ), heads, B), local size 1. */
__kernel void attng_rows_cpu(ATTNG_ARGS(__global float *restrict pd, __global STORE_T *restrict dq),
                             const int want_dq)
{
    const int t0 = get_global_id(0) * TQ;
    const int h = get_global_id(1);
    const long b = get_global_id(2);
    const int nr = min(TQ, T - t0);
    const int SP = (S + 15) & ~15;
    float sc[TQ][SMAX], dp[TQ][SMAX], lse[TQ], dd[TQ];
    const int lim = attng_rows_tile(q, k, v, dout, T, S, C, causal, scale, b, h, t0, nr, sc, dp, lse, dd);
    const int nch = (lim + 15) / 16;
    __global float *P = attng_pd_at(pd, T, SP, 0) + (long)t0 * SP;
    __global float *DS = attng_pd_at(pd, T, SP, 1) + (long)t0 * SP;
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nch; c++) {
            vstore16(vload16(c, sc[r]), c, P + (long)r * SP);
            vstore16(vload16(c, dp[r]), c, DS + (long)r * SP);
        }
    if (!want_dq)
        return;
    __global const STORE_T *kb = k + b * S * C + h * HD;
    float16 acc[TQ][NV16];
#pragma unroll
    for (int r = 0; r < TQ; r++)
#pragma unroll
        for (int j = 0; j < NV16; j++)
            acc[r][j] = (float16)(0.0f);
    for (int s = 0; s < lim; s++) {
        float16 kv[NV16];
#pragma unroll
        for (int j = 0; j < NV16; j++)
            kv[j] = ST_VLOAD(16, j, kb + (long)s * C);
#pragma unroll
        for (int r = 0; r < TQ; r++)
#pragma unroll
            for (int j = 0; j < NV16; j++)
                acc[r][j] = fma((float16)(dp[r][s]), kv[j], acc[r][j]);
    }
    for (int r = 0; r < nr; r++) {
        __global STORE_T *o = dq + (b * T + t0 + r) * C + h * HD;
#pragma unroll
        for (int j = 0; j < NV16; j++)
            ST_VSTORE(16, acc[r][j] * scale, j, o);
    }
}

/* dQ = dS K * scale from the stored dS, for a dq node that did not run
 * attng_rows_cpu itself. Grid: (ceil(T/TQ), heads, B), local size 1. */
__kernel void attng_dq_pd_cpu(ATTNG_ARGS(__global const float *restrict pd, __global STORE_T *restrict dq))
{
    const int t0 = get_global_id(0) * TQ;
    const int h = get_global_id(1);
    const long b = get_global_id(2);
    const int nr = min(TQ, T - t0);
    const int SP = (S + 15) & ~15;
    __global const float *DS = attng_pd_at((__global float *)pd, T, SP, 1);
    __global const STORE_T *kb = k + b * S * C + h * HD;
    float16 acc[TQ][NV16];
#pragma unroll
    for (int r = 0; r < TQ; r++)
#pragma unroll
        for (int j = 0; j < NV16; j++)
            acc[r][j] = (float16)(0.0f);
    const int lim = causal ? min(t0 + nr, S) : S; /* row t is zero past t when causal */
    for (int s = 0; s < lim; s++) {
        float16 kv[NV16];
#pragma unroll
        for (int j = 0; j < NV16; j++)
            kv[j] = ST_VLOAD(16, j, kb + (long)s * C);
#pragma unroll
        for (int r = 0; r < TQ; r++) {
            const float d = DS[(long)(t0 + min(r, nr - 1)) * SP + s];
#pragma unroll
            for (int j = 0; j < NV16; j++)
                acc[r][j] = fma((float16)(d), kv[j], acc[r][j]);
        }
    }
    for (int r = 0; r < nr; r++) {
        __global STORE_T *o = dq + (b * T + t0 + r) * C + h * HD;
#pragma unroll
        for (int j = 0; j < NV16; j++)
            ST_VSTORE(16, acc[r][j] * scale, j, o);
    }
}

/* TK key rows from s0 over the queries that see them, from the stored
 * matrices: DK 1: dK = dS^T Q * scale; DK 0: dV = P^T dO. */
static inline void attng_keys_pd(ATTNG_ARGS(__global const float *restrict pd, __global STORE_T *restrict out),
                                 const int DK)
{
    const int s0 = get_global_id(0) * TK;
    const int h = get_global_id(1);
    const long b = get_global_id(2);
    const int nk = min(TK, S - s0);
    const int SP = (S + 15) & ~15;
    __global const float *M = attng_pd_at((__global float *)pd, T, SP, DK);
    __global const STORE_T *src = (DK ? q : dout) + b * T * C + h * HD;
    float16 acc[TK][NV16];
#pragma unroll
    for (int r = 0; r < TK; r++)
#pragma unroll
        for (int j = 0; j < NV16; j++)
            acc[r][j] = (float16)(0.0f);
    for (int t = causal ? s0 : 0; t < T; t++) {
        float16 row[NV16];
#pragma unroll
        for (int j = 0; j < NV16; j++)
            row[j] = ST_VLOAD(16, j, src + (long)t * C);
        __global const float *mr = M + (long)t * SP + s0;
#pragma unroll
        for (int r = 0; r < TK; r++) {
            /* past the key range or a key this query does not see: the
             * entry may be unwritten */
            const float w = (r >= nk || (causal && s0 + r > t)) ? 0.0f : mr[r];
#pragma unroll
            for (int j = 0; j < NV16; j++)
                acc[r][j] = fma((float16)(w), row[j], acc[r][j]);
        }
    }
    const float f = DK ? scale : 1.0f;
    for (int r = 0; r < nk; r++) {
        __global STORE_T *o = out + (b * S + s0 + r) * C + h * HD;
#pragma unroll
        for (int j = 0; j < NV16; j++)
            ST_VSTORE(16, acc[r][j] * f, j, o);
    }
}

/* Grid: (ceil(S/TK), heads, B), local size 1. */
ATTNG_KEY_KERNEL(attng_dk_pd_cpu, attng_keys_pd, 1)
ATTNG_KEY_KERNEL(attng_dv_pd_cpu, attng_keys_pd, 0)
#endif
