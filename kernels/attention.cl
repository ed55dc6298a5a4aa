/* attention.cl - fused multi-head attention: q [B,T,C], k/v [B,S,C], heads
 * of HD = C/heads channels (head i = channels [i*HD, (i+1)*HD)); per head
 * out = softmax(q k^T * scale [+ causal mask]) v, scale = 1/sqrt(HD).
 *
 * CPU-class variant: one work-item per (query row, head, batch), no local
 * memory. The softmax is computed online (running max and sum, the
 * accumulator rescaled when the max grows), so the S scores are never
 * stored and any S works in one pass over K and V.
 *
 * attention_block (S <= SMAX known at build time, the usual CLIP case): QR
 * query rows per work-item share every K and V row load; the scores sit in a
 * private [QR][SMAX] array, so the softmax is two plain passes with no
 * per-key branch. attention_rows (any S): one row per work-item with the
 * online softmax, which never stores the scores.
 *
 * Build options: -DHD=<head dim> (the private row arrays are sized by it);
 * attention_block also -DSMAX=<S> -DQR=<rows per work-item>. */
#ifndef HD
#define HD 64
#endif
#ifndef SMAX
#define SMAX 1
#endif
#ifndef QR
#define QR 4
#endif

/* Grid: (ceil(T/QR), heads, batch). Rows past T are clamped on load and not
 * stored. */
__kernel void attention_block(__global const float *restrict q, __global const float *restrict k,
                              __global const float *restrict v, __global float *restrict out,
                              const int T, const int S, const int C, const int causal, const float scale)
{
    const int t0 = get_global_id(0) * QR;
    const int h = get_global_id(1);
    const long b = get_global_id(2);
    __global const float *kb = k + b * S * C + h * HD;
    __global const float *vb = v + b * S * C + h * HD;
    float qs[QR][HD], sc[QR][SMAX], acc[QR][HD], sum[QR];
    _Pragma("unroll")
    for (int r = 0; r < QR; r++) {
        __global const float *qr = q + (b * T + min(t0 + r, T - 1)) * C + h * HD;
        for (int c = 0; c < HD; c++) {
            qs[r][c] = qr[c] * scale;
            acc[r][c] = 0.0f;
        }
    }
    /* keys past the last row of the block are masked for every row in it */
    const int lim = causal ? min(t0 + QR, S) : S;
    for (int s = 0; s < lim; s++) {
        __global const float *kr = kb + (long)s * C;
        float d[QR];
        _Pragma("unroll")
        for (int r = 0; r < QR; r++) d[r] = 0.0f;
        for (int c = 0; c < HD; c++) {
            const float kc = kr[c];
            _Pragma("unroll")
            for (int r = 0; r < QR; r++) d[r] = fma(qs[r][c], kc, d[r]);
        }
        _Pragma("unroll")
        for (int r = 0; r < QR; r++) sc[r][s] = (causal && s > t0 + r) ? -INFINITY : d[r];
    }
    _Pragma("unroll")
    for (int r = 0; r < QR; r++) {
        float mx = sc[r][0]; /* key 0 is never masked */
        for (int s = 1; s < lim; s++) mx = fmax(mx, sc[r][s]);
        float z = 0.0f;
        for (int s = 0; s < lim; s++) {
            const float e = exp(sc[r][s] - mx);
            sc[r][s] = e;
            z += e;
        }
        sum[r] = z;
    }
    for (int s = 0; s < lim; s++) {
        __global const float *vr = vb + (long)s * C;
        for (int c = 0; c < HD; c++) {
            const float vc = vr[c];
            _Pragma("unroll")
            for (int r = 0; r < QR; r++) acc[r][c] = fma(sc[r][s], vc, acc[r][c]);
        }
    }
    _Pragma("unroll")
    for (int r = 0; r < QR; r++) {
        if (t0 + r < T) {
            __global float *o = out + (b * T + t0 + r) * C + h * HD;
            const float inv = 1.0f / sum[r];
            for (int c = 0; c < HD; c++) o[c] = acc[r][c] * inv;
        }
    }
}

__kernel void attention_rows(__global const float *restrict q, __global const float *restrict k,
                             __global const float *restrict v, __global float *restrict out,
                             const int T, const int S, const int C, const int causal, const float scale)
{
    const int t = get_global_id(0);
    const int h = get_global_id(1);
    const long b = get_global_id(2);
    __global const float *qr = q + (b * T + t) * C + h * HD;
    __global const float *kb = k + b * S * C + h * HD;
    __global const float *vb = v + b * S * C + h * HD;
    float qs[HD], acc[HD];
    /* fold the scale into q once instead of into every score */
    for (int c = 0; c < HD; c++) {
        qs[c] = qr[c] * scale;
        acc[c] = 0.0f;
    }
    const int lim = causal ? min(t + 1, S) : S;
    float mx = -INFINITY, sum = 0.0f;
    for (int s = 0; s < lim; s++) {
        __global const float *kr = kb + (long)s * C;
        float sc = 0.0f;
        for (int c = 0; c < HD; c++)
            sc = fma(qs[c], kr[c], sc);
        __global const float *vr = vb + (long)s * C;
        if (sc > mx) {
            const float corr = exp(mx - sc); /* 0 on the first key: mx = -inf */
            sum = sum * corr + 1.0f;
            for (int c = 0; c < HD; c++)
                acc[c] = fma(acc[c], corr, vr[c]);
            mx = sc;
        } else {
            const float p = exp(sc - mx);
            sum += p;
            for (int c = 0; c < HD; c++)
                acc[c] = fma(p, vr[c], acc[c]);
        }
    }
    __global float *o = out + (b * T + t) * C + h * HD;
    const float inv = 1.0f / sum;
    for (int c = 0; c < HD; c++)
        o[c] = acc[c] * inv;
}
