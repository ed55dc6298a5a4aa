/* attention.cl - fused multi-head attention: q [B,T,C], k/v [B,S,C], heads
 * of HD = C/heads channels (head i = channels [i*HD, (i+1)*HD)); per head
 * out = softmax(q k^T * scale [+ causal mask]) v, scale = 1/sqrt(HD).
 *
 * CPU-class variant: one work-item per (query row, head, batch), no local
 * memory. The softmax is computed online (running max and sum, the
 * accumulator rescaled when the max grows), so the S scores are never
 * stored and any S works in one pass over K and V.
 *
 * A variant with 4 query rows per work-item sharing each K/V load and the
 * scores in a private [4][S] array (two-pass softmax, no per-key branch) was
 * measured: the same CPU time as this one on the ViT and text shapes, so it
 * was not kept (docs/gemm.md).
 *
 * Build options: -DHD=<head dim> (the private row arrays are sized by it). */
#ifndef HD
#define HD 64
#endif

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
