/* Optimizer kernels (backends/opencl/ocl_optim.c): gradient accumulation, the global
 * gradient norm and the AdamW update. One launch per parameter tensor (the
 * caller's params and grads are separate buffers); the optimizer state
 * (m, v, accumulators) lives in one arena addressed by element offsets, so a
 * tensor's state needs no sub-buffer of its own.
 *
 * Work split: work-item i owns the contiguous elements [i*8*vpi, (i+1)*8*vpi)
 * of a tensor and walks them as float8 (vload8/vstore8 only need float
 * alignment, so any element offset works); the last item finishes the tail
 * (n not a multiple of 8) with the same arithmetic in scalars. On CPU
 * devices (PoCL) vpi is large, so one work-item streams a few hundred
 * elements with AVX vectors instead of paying the per-item overhead per
 * element; on GPUs the host passes vpi = 1.
 *
 * The per-step gradient factor comes either from a device buffer (stats[1],
 * written by optim_finalize after the clipping norm, so a step never waits
 * for the host) or, with clipping off, from a kernel argument. */

/* acc = first ? g : acc + g. `first` overwrites instead of scaling by zero
 * so that stale NaNs in a fresh arena never leak in. */
__kernel void optim_accumulate(__global float *acc, const long acc_off, __global const float *g,
                               const long n, const int vpi, const int first)
{
    const long lo = (long)get_global_id(0) * 8 * vpi;
    if (lo >= n)
        return;
    const long hi = min(lo + 8L * vpi, n);
    __global float *a = acc + acc_off;
    long e = lo;
    for (; e + 8 <= hi; e += 8) {
        const float8 gv = vload8(0, g + e);
        vstore8(first ? gv : vload8(0, a + e) + gv, 0, a + e);
    }
    for (; e < hi; e++)
        a[e] = first ? g[e] : a[e] + g[e];
}

/* Kahan step for the sum of squares, lane by lane. */
#define KAHAN8(sum, comp, x)                                                                   \
    do {                                                                                       \
        const float8 y_ = (x) * (x) - (comp);                                                  \
        const float8 t_ = (sum) + y_;                                                          \
        (comp) = (t_ - (sum)) - y_;                                                            \
        (sum) = t_;                                                                            \
    } while (0)

/* Folds the eight Kahan lanes and the scalar tail sum into one partial, in a
 * fixed order (so a step is reproducible, which resume equality needs). */
static float fold8(const float8 sum, const float8 comp, const float tail)
{
    float s = 0.0f, c = 0.0f;
    const float l[9] = {sum.s0, sum.s1, sum.s2, sum.s3, sum.s4, sum.s5, sum.s6, sum.s7, tail};
    const float k[9] = {comp.s0, comp.s1, comp.s2, comp.s3, comp.s4, comp.s5, comp.s6, comp.s7, 0.0f};
    for (int j = 0; j < 9; j++) {
        const float y = (l[j] - k[j]) - c;
        const float t = s + y;
        c = (t - s) - y;
        s = t;
    }
    return s;
}

/* Kahan-compensated sum of squares of this item's chunk of src[off..off+n)
 * into partials[part_off + item]. Used before the update when clipping
 * needs the norm first. */
__kernel void optim_sumsq(__global const float *src, const long src_off, const long n, const int vpi,
                          __global float *partials, const long part_off)
{
    const long item = get_global_id(0);
    const long lo = item * 8 * vpi;
    if (lo >= n)
        return;
    const long hi = min(lo + 8L * vpi, n);
    __global const float *s = src + src_off;
    float8 sum = 0.0f, comp = 0.0f;
    long e = lo;
    for (; e + 8 <= hi; e += 8) {
        const float8 x = vload8(0, s + e);
        KAHAN8(sum, comp, x);
    }
    float ts = 0.0f;
    for (; e < hi; e++)
        ts += s[e] * s[e];
    partials[part_off + item] = fold8(sum, comp, ts);
}

/* One work-group (power-of-two size) sums every partial: stats[0] = global
 * norm of the averaged gradient (sqrt(sum of squares) * inv_k), stats[1] =
 * the factor every gradient is multiplied by: inv_k * min(1, max_norm /
 * (norm + 1e-6)) as torch.nn.utils.clip_grad_norm_ computes it, or inv_k
 * when max_norm <= 0. The order of additions is fixed. */
__kernel void optim_finalize(__global const float *partials, const int count, __global float *stats,
                             const float inv_k, const float max_norm, __local float *scratch)
{
    const int lid = (int)get_local_id(0), L = (int)get_local_size(0);
    float sum = 0.0f, comp = 0.0f;
    for (int j = lid; j < count; j += L) {
        const float y = partials[j] - comp;
        const float t = sum + y;
        comp = (t - sum) - y;
        sum = t;
    }
    scratch[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = L / 2; s > 0; s >>= 1) {
        if (lid < s)
            scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid != 0)
        return;
    sum = scratch[0];
    const float norm = sqrt(sum) * inv_k;
    float scale = inv_k;
    if (max_norm > 0.0f) {
        const float coef = max_norm / (norm + 1e-6f);
        scale = inv_k * (coef < 1.0f ? coef : 1.0f);
    }
    stats[0] = norm;
    stats[1] = scale;
}

/* torch.optim.AdamW (single-tensor path), element by element:
 *   p *= 1 - lr*wd;  m = lerp(m, g, 1 - b1);  v = v*b2 + (1 - b2)*g*g
 *   p += -(lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
 * followed by an optional clamp of p to [lo, hi] (the temperature). The
 * host passes every factor already computed in double and rounded once, as
 * PyTorch does with Python scalars. T is float or float8: the vector body
 * and the scalar tail run the very same expression. */
#define ADAMW_BODY(T, graw, pin, min_, vin, pout, mout, vout)                                  \
    do {                                                                                       \
        const T g_ = (graw) * gscale;                                                          \
        T p_ = (pin) * decay_mul;                                                              \
        /* torch's lerp for weight < 0.5: self + weight * (end - self) */                      \
        const T m_ = (min_) + w1 * (g_ - (min_));                                              \
        const T v_ = (vin) * b2 + w2 * g_ * g_;                                                \
        const T d_ = sqrt(v_) / bc2_sqrt + eps;                                                \
        p_ = p_ + neg_step * (m_ / d_);                                                        \
        (pout) = fmin(fmax(p_, (T)lo), (T)hi);                                                 \
        (mout) = m_;                                                                           \
        (vout) = v_;                                                                           \
    } while (0)

/* use_stats: the gradient factor is stats[1] (clipping on) else gscale_arg.
 * part_off >= 0: also writes the item's Kahan sum of squares of the raw
 * gradient to partials[part_off + item], so the norm for the log costs no
 * second pass over the gradients when clipping is off. */
__kernel void optim_adamw(__global float *param, __global const float *src, const long src_off,
                          __global float *state, const long m_off, const long v_off, const long n,
                          const int vpi, __global const float *stats, const int use_stats,
                          const float gscale_arg, __global float *partials, const long part_off,
                          const float decay_mul, const float w1, const float b2, const float w2,
                          const float neg_step, const float bc2_sqrt, const float eps, const float lo,
                          const float hi)
{
    const long item = get_global_id(0);
    const long first = item * 8 * vpi;
    if (first >= n)
        return;
    const long last = min(first + 8L * vpi, n);
    const float gscale = use_stats ? stats[1] : gscale_arg;
    __global const float *g = src + src_off;
    __global float *m = state + m_off;
    __global float *v = state + v_off;
    float8 sum = 0.0f, comp = 0.0f;
    long e = first;
    for (; e + 8 <= last; e += 8) {
        const float8 gr = vload8(0, g + e);
        float8 po, mo, vo;
        ADAMW_BODY(float8, gr, vload8(0, param + e), vload8(0, m + e), vload8(0, v + e), po, mo, vo);
        vstore8(po, 0, param + e);
        vstore8(mo, 0, m + e);
        vstore8(vo, 0, v + e);
        KAHAN8(sum, comp, gr);
    }
    float ts = 0.0f;
    for (; e < last; e++) {
        const float gr = g[e];
        ADAMW_BODY(float, gr, param[e], m[e], v[e], param[e], m[e], v[e]);
        ts += gr * gr;
    }
    if (part_off >= 0)
        partials[part_off + item] = fold8(sum, comp, ts);
}
