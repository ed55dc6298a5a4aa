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
 * stats layout: [B][heads][T][2] = (lse, D).
 * Build options: -DHD=<head dim> (private rows are sized by it). */
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
    __global float *st = stats + (((b * heads + h) * T) + t) * 2;
    st[0] = mx + log(sum);
    st[1] = dsum / sum;
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
    __global const float *st = stats + (((b * heads + h) * T) + t) * 2;
    const float lse = st[0], D = st[1];
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
    __global const float *st = stats + (b * heads + h) * T * 2;
    float ks[HD], vs[HD], acc[HD];
    for (int c = 0; c < HD; c++) {
        ks[c] = kr[c];
        vs[c] = vr[c];
        acc[c] = 0.0f;
    }
    for (int t = causal ? s : 0; t < T; t++) {
        __global const float *qt = qb + (long)t * C;
        __global const float *gt = gb + (long)t * C;
        const float p = exp(attng_dot(ks, qt) * scale - st[2 * t]);
        if (DK) {
            const float ds = p * (attng_dot(vs, gt) - st[2 * t + 1]);
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
