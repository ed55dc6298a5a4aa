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
 * attention_cpu.cl: one work-item (work-group size 1) per tile of TQ query
 * rows or TK key rows, the head dim in float16 vectors, exp 16 scores at a
 * time. attng_dq_cpu needs no stats pass: it holds its rows' P and dP.
 *
 * Build options: -DHD=<head dim> (private rows are sized by it); for the
 * _cpu kernels also -DSMAX=<multiple of 16, >= S> -DTQ -DTK. */
#ifndef HD
#define HD 64
#endif

static inline float attng_dot(const float *a, __global const float *b)
{
    float s = 0.0f;
    for (int c = 0; c < HD; c++)
        s = fma(a[c], b[c], s);
    return s;
}

/* Online over the keys (running max; sum and D rescaled when it grows), so
 * any S works in one pass. Grid: (T, heads, B). */
__kernel void attng_stats(__global const float *restrict q, __global const float *restrict k,
                          __global const float *restrict v, __global const float *restrict dout,
                          __global float *restrict stats, const int T, const int S, const int C,
                          const int causal, const float scale)
{
    const int t = get_global_id(0);
    const int h = get_global_id(1);
    const long b = get_global_id(2);
    const int heads = get_global_size(1);
    __global const float *qr = q + (b * T + t) * C + h * HD;
    __global const float *gr = dout + (b * T + t) * C + h * HD;
    __global const float *kb = k + b * S * C + h * HD;
    __global const float *vb = v + b * S * C + h * HD;
    float qs[HD], g[HD];
    for (int c = 0; c < HD; c++) {
        qs[c] = qr[c];
        g[c] = gr[c];
    }
    const int lim = causal ? min(t + 1, S) : S;
    float mx = -INFINITY, sum = 0.0f, dsum = 0.0f;
    for (int s = 0; s < lim; s++) {
        const float sc = attng_dot(qs, kb + (long)s * C) * scale;
        const float dp = attng_dot(g, vb + (long)s * C);
        if (sc > mx) {
            const float corr = exp(mx - sc); /* 0 on the first key: mx = -inf */
            sum = fma(sum, corr, 1.0f);
            dsum = fma(dsum, corr, dp);
            mx = sc;
        } else {
            const float p = exp(sc - mx);
            sum += p;
            dsum = fma(p, dp, dsum);
        }
    }
    const long bht = (long)get_global_size(2) * heads * T;
    __global float *st = stats + (b * heads + h) * T + t;
    st[0] = mx + log(sum);
    st[bht] = dsum / sum;
}

/* Grid: (T, heads, B). */
__kernel void attng_dq(__global const float *restrict q, __global const float *restrict k,
                       __global const float *restrict v, __global const float *restrict dout,
                       __global const float *restrict stats, __global float *restrict dq, const int T,
                       const int S, const int C, const int causal, const float scale)
{
    const int t = get_global_id(0);
    const int h = get_global_id(1);
    const long b = get_global_id(2);
    const int heads = get_global_size(1);
    __global const float *qr = q + (b * T + t) * C + h * HD;
    __global const float *gr = dout + (b * T + t) * C + h * HD;
    __global const float *kb = k + b * S * C + h * HD;
    __global const float *vb = v + b * S * C + h * HD;
    const long bht = (long)get_global_size(2) * heads * T;
    __global const float *st = stats + (b * heads + h) * T + t;
    const float lse = st[0], D = st[bht];
    float qs[HD], g[HD], acc[HD];
    for (int c = 0; c < HD; c++) {
        qs[c] = qr[c];
        g[c] = gr[c];
        acc[c] = 0.0f;
    }
    const int lim = causal ? min(t + 1, S) : S;
    for (int s = 0; s < lim; s++) {
        __global const float *kr = kb + (long)s * C;
        const float p = exp(attng_dot(qs, kr) * scale - lse);
        const float ds = p * (attng_dot(g, vb + (long)s * C) - D);
        for (int c = 0; c < HD; c++)
            acc[c] = fma(ds, kr[c], acc[c]);
    }
    __global float *o = dq + (b * T + t) * C + h * HD;
    for (int c = 0; c < HD; c++)
        o[c] = acc[c] * scale;
}

/* One key row over the queries that see it (t >= s when causal).
 * DK 1: dK row; DK 0: dV row. */
static inline void attng_key_row(__global const float *restrict q, __global const float *restrict k,
                                 __global const float *restrict v, __global const float *restrict dout,
                                 __global const float *restrict stats, __global float *restrict out,
                                 const int T, const int S, const int C, const int causal, const float scale,
                                 const int DK)
{
    const int s = get_global_id(0);
    const int h = get_global_id(1);
    const long b = get_global_id(2);
    const int heads = get_global_size(1);
    __global const float *kr = k + (b * S + s) * C + h * HD;
    __global const float *vr = v + (b * S + s) * C + h * HD;
    __global const float *qb = q + b * T * C + h * HD;
    __global const float *gb = dout + b * T * C + h * HD;
    const long bht = (long)get_global_size(2) * heads * T;
    __global const float *st = stats + (b * heads + h) * T;
    float ks[HD], vs[HD], acc[HD];
    for (int c = 0; c < HD; c++) {
        ks[c] = kr[c];
        vs[c] = vr[c];
        acc[c] = 0.0f;
    }
    for (int t = causal ? s : 0; t < T; t++) {
        __global const float *qt = qb + (long)t * C;
        __global const float *gt = gb + (long)t * C;
        const float p = exp(attng_dot(ks, qt) * scale - st[t]);
        if (DK) {
            const float ds = p * (attng_dot(vs, gt) - st[bht + t]);
            for (int c = 0; c < HD; c++)
                acc[c] = fma(ds, qt[c], acc[c]);
        } else {
            for (int c = 0; c < HD; c++)
                acc[c] = fma(p, gt[c], acc[c]);
        }
    }
    __global float *o = out + (b * S + s) * C + h * HD;
    const float f = DK ? scale : 1.0f;
    for (int c = 0; c < HD; c++)
        o[c] = acc[c] * f;
}

/* Grid: (S, heads, B). */
__kernel void attng_dk(__global const float *restrict q, __global const float *restrict k,
                       __global const float *restrict v, __global const float *restrict dout,
                       __global const float *restrict stats, __global float *restrict dk, const int T,
                       const int S, const int C, const int causal, const float scale)
{
    attng_key_row(q, k, v, dout, stats, dk, T, S, C, causal, scale, 1);
}

/* Grid: (S, heads, B). */
__kernel void attng_dv(__global const float *restrict q, __global const float *restrict k,
                       __global const float *restrict v, __global const float *restrict dout,
                       __global const float *restrict stats, __global float *restrict dv, const int T,
                       const int S, const int C, const int causal, const float scale)
{
    attng_key_row(q, k, v, dout, stats, dv, T, S, C, causal, scale, 0);
}

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

static inline float attng_hsum16(float16 v)
{
    float8 a = v.lo + v.hi;
    float4 b = a.lo + a.hi;
    float2 c = b.lo + b.hi;
    return c.x + c.y;
}

static inline float attng_dot16(const float16 *a, const float16 *b)
{
    float16 p = a[0] * b[0];
#pragma unroll
    for (int j = 1; j < NV16; j++)
        p = fma(a[j], b[j], p);
    return attng_hsum16(p);
}

/* TQ query rows from t0 (rows past T repeat the last valid one: computed,
 * never stored). On return sc holds P and dp holds dS for keys [0, lim),
 * both zero from each row's last visible key up to lim rounded up to 16;
 * lse and dd hold each row's log-sum-exp and D. Returns lim. */
static inline int attng_rows_tile(__global const float *restrict q, __global const float *restrict k,
                                  __global const float *restrict v, __global const float *restrict dout,
                                  const int T, const int S, const int C, const int causal, const float scale,
                                  const long b, const int h, const int t0, const int nr, float sc[TQ][SMAX],
                                  float dp[TQ][SMAX], float *lse, float *dd)
{
    __global const float *kb = k + b * S * C + h * HD;
    __global const float *vb = v + b * S * C + h * HD;
    const int lim = causal ? min(t0 + nr, S) : S; /* keys any row of the tile sees */
    /* scores, then dP in a second sweep: one set of TQ row vectors live at a
     * time keeps them in registers */
    for (int pass = 0; pass < 2; pass++) {
        __global const float *src = pass ? dout : q;
        __global const float *kvb = pass ? vb : kb;
        const float f = pass ? 1.0f : scale;
        float (*dst)[SMAX] = pass ? dp : sc;
        float16 xr[TQ][NV16];
#pragma unroll
        for (int r = 0; r < TQ; r++) {
            const long row = (b * T + t0 + min(r, nr - 1)) * C + h * HD;
#pragma unroll
            for (int j = 0; j < NV16; j++)
                xr[r][j] = vload16(j, src + row) * f;
        }
        for (int s = 0; s < lim; s++) {
            float16 kv[NV16];
#pragma unroll
            for (int j = 0; j < NV16; j++)
                kv[j] = vload16(j, kvb + (long)s * C);
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
        float16 m16 = vload16(0, sc[r]);
        for (int c = 1; c < nch; c++)
            m16 = fmax(m16, vload16(c, sc[r]));
        const float8 m8 = fmax(m16.lo, m16.hi);
        const float4 m4 = fmax(m8.lo, m8.hi);
        const float2 m2 = fmax(m4.lo, m4.hi);
        const float mx = fmax(m2.x, m2.y);
        float16 sum = (float16)(0.0f);
        for (int c = 0; c < nch; c++) {
            const float16 e = exp(vload16(c, sc[r]) - mx);
            vstore16(e, c, sc[r]);
            sum += e;
        }
        const float z = attng_hsum16(sum), inv = 1.0f / z;
        lse[r] = mx + log(z);
        float16 d16 = (float16)(0.0f);
        for (int c = 0; c < nch; c++) {
            const float16 p = vload16(c, sc[r]) * inv;
            vstore16(p, c, sc[r]);
            d16 = fma(p, vload16(c, dp[r]), d16);
        }
        const float D = attng_hsum16(d16);
        dd[r] = D;
        for (int c = 0; c < nch; c++)
            vstore16(vload16(c, sc[r]) * (vload16(c, dp[r]) - D), c, dp[r]);
    }
    return lim;
}

/* Grid: (ceil(T/TQ), heads, B), local size 1. */
__kernel void attng_stats_cpu(__global const float *restrict q, __global const float *restrict k,
                              __global const float *restrict v, __global const float *restrict dout,
                              __global float *restrict stats, const int T, const int S, const int C,
                              const int causal, const float scale)
{
    const int t0 = get_global_id(0) * TQ;
    const int h = get_global_id(1);
    const long b = get_global_id(2);
    const int heads = get_global_size(1);
    const int nr = min(TQ, T - t0);
    float sc[TQ][SMAX], dp[TQ][SMAX], lse[TQ], dd[TQ];
    attng_rows_tile(q, k, v, dout, T, S, C, causal, scale, b, h, t0, nr, sc, dp, lse, dd);
    const long bht = (long)get_global_size(2) * heads * T;
    __global float *st = stats + (b * heads + h) * T + t0;
    for (int r = 0; r < nr; r++) {
        st[r] = lse[r];
        st[bht + r] = dd[r];
    }
}

/* dQ = dS K * scale for TQ rows; no stats needed. Grid: (ceil(T/TQ), heads, B),
 * local size 1. */
__kernel void attng_dq_cpu(__global const float *restrict q, __global const float *restrict k,
                           __global const float *restrict v, __global const float *restrict dout,
                           __global float *restrict dq, const int T, const int S, const int C,
                           const int causal, const float scale)
{
    const int t0 = get_global_id(0) * TQ;
    const int h = get_global_id(1);
    const long b = get_global_id(2);
    const int nr = min(TQ, T - t0);
    float sc[TQ][SMAX], dp[TQ][SMAX], lse[TQ], dd[TQ];
    const int lim = attng_rows_tile(q, k, v, dout, T, S, C, causal, scale, b, h, t0, nr, sc, dp, lse, dd);
    __global const float *kb = k + b * S * C + h * HD;
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
            kv[j] = vload16(j, kb + (long)s * C);
#pragma unroll
        for (int r = 0; r < TQ; r++)
#pragma unroll
            for (int j = 0; j < NV16; j++)
                acc[r][j] = fma((float16)(dp[r][s]), kv[j], acc[r][j]);
    }
    for (int r = 0; r < nr; r++) {
        __global float *o = dq + (b * T + t0 + r) * C + h * HD;
#pragma unroll
        for (int j = 0; j < NV16; j++)
            vstore16(acc[r][j] * scale, j, o);
    }
}

/* TK key rows from s0 over the queries that see them, 16 queries at a time
 * (the probabilities of a block come from one vector exp). DK 1: dK rows,
 * DK 0: dV rows. */
static inline void attng_keys_tile(__global const float *restrict q, __global const float *restrict k,
                                   __global const float *restrict v, __global const float *restrict dout,
                                   __global const float *restrict stats, __global float *restrict out,
                                   const int T, const int S, const int C, const int causal, const float scale,
                                   const int DK)
{
    const int s0 = get_global_id(0) * TK;
    const int h = get_global_id(1);
    const long b = get_global_id(2);
    const int heads = get_global_size(1);
    const int nk = min(TK, S - s0);
    const long bht = (long)get_global_size(2) * heads * T;
    __global const float *st = stats + (b * heads + h) * T;
    __global const float *qb = q + b * T * C + h * HD;
    __global const float *gb = dout + b * T * C + h * HD;
    float16 ks[TK][NV16], vs[TK][NV16], acc[TK][NV16];
#pragma unroll
    for (int r = 0; r < TK; r++) {
        const long row = (b * S + s0 + min(r, nk - 1)) * C + h * HD;
#pragma unroll
        for (int j = 0; j < NV16; j++) {
            ks[r][j] = vload16(j, k + row);
            vs[r][j] = vload16(j, v + row);
            acc[r][j] = (float16)(0.0f);
        }
    }
    for (int tc = causal ? s0 : 0; tc < T; tc += 16) {
        const int nt = min(16, T - tc);
        float sc[TK][16], dpv[TK][16], l16[16], d16[16];
        /* scores, then (dK) dP: one operand set live per sweep */
        for (int tt = 0; tt < 16; tt++) {
            const int t = tc + tt;
            float16 qv[NV16];
#pragma unroll
            for (int j = 0; j < NV16; j++)
                qv[j] = vload16(j, qb + (long)min(t, T - 1) * C) * scale;
#pragma unroll
            for (int r = 0; r < TK; r++)
                sc[r][tt] = (tt >= nt || (causal && s0 + r > t)) ? -INFINITY : attng_dot16(qv, ks[r]);
            l16[tt] = tt < nt ? st[t] : 0.0f;
            d16[tt] = tt < nt ? st[bht + t] : 0.0f;
        }
        if (DK) {
            for (int tt = 0; tt < 16; tt++) {
                float16 gv[NV16];
#pragma unroll
                for (int j = 0; j < NV16; j++)
                    gv[j] = vload16(j, gb + (long)min(tc + tt, T - 1) * C);
#pragma unroll
                for (int r = 0; r < TK; r++)
                    dpv[r][tt] = attng_dot16(gv, vs[r]);
            }
        }
        const float16 lv = vload16(0, l16), dv = vload16(0, d16);
#pragma unroll
        for (int r = 0; r < TK; r++) {
            const float16 p = exp(vload16(0, sc[r]) - lv);
            vstore16(DK ? p * (vload16(0, dpv[r]) - dv) : p, 0, sc[r]);
        }
        for (int tt = 0; tt < nt; tt++) {
            __global const float *src = (DK ? qb : gb) + (long)(tc + tt) * C;
            float16 row[NV16];
#pragma unroll
            for (int j = 0; j < NV16; j++)
                row[j] = vload16(j, src);
#pragma unroll
            for (int r = 0; r < TK; r++)
#pragma unroll
                for (int j = 0; j < NV16; j++)
                    acc[r][j] = fma((float16)(sc[r][tt]), row[j], acc[r][j]);
        }
    }
    const float f = DK ? scale : 1.0f;
    for (int r = 0; r < nk; r++) {
        __global float *o = out + (b * S + s0 + r) * C + h * HD;
#pragma unroll
        for (int j = 0; j < NV16; j++)
            vstore16(acc[r][j] * f, j, o);
    }
}

/* Grid: (ceil(S/TK), heads, B), local size 1. */
__kernel void attng_dk_cpu(__global const float *restrict q, __global const float *restrict k,
                           __global const float *restrict v, __global const float *restrict dout,
                           __global const float *restrict stats, __global float *restrict dk, const int T,
                           const int S, const int C, const int causal, const float scale)
{
    attng_keys_tile(q, k, v, dout, stats, dk, T, S, C, causal, scale, 1);
}

/* Grid: (ceil(S/TK), heads, B), local size 1. */
__kernel void attng_dv_cpu(__global const float *restrict q, __global const float *restrict k,
                           __global const float *restrict v, __global const float *restrict dout,
                           __global const float *restrict stats, __global float *restrict dv, const int T,
                           const int S, const int C, const int causal, const float scale)
{
    attng_keys_tile(q, k, v, dout, stats, dv, T, S, C, causal, scale, 0);
}
#endif
