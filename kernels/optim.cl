/* Optimizer kernels (train/optim.c): gradient accumulation, the global
 * gradient norm and the AdamW update. One launch per parameter tensor; the
 * optimizer state (m, v, accumulators) lives in one arena addressed by
 * element offsets, so a tensor's state needs no sub-buffer of its own.
 *
 * The per-step clip/average factor is read from a device buffer (stats[1])
 * written by optim_finalize, so a step never waits for the host. */

/* acc[i] = first ? g[i] : acc[i] + g[i]. `first` overwrites instead of
 * scaling by zero so that stale NaNs in a fresh arena never leak in. */
__kernel void optim_accumulate(__global float *acc, const long acc_off, __global const float *g,
                               const long n, const int first)
{
    const long i = get_global_id(0);
    if (i >= n)
        return;
    __global float *a = acc + acc_off;
    a[i] = first ? g[i] : a[i] + g[i];
}

/* Kahan-compensated sum of squares of src[off + j] for j = i, i + parts, ...
 * into partials[part_off + i]; consecutive work-items read consecutive
 * elements (coalesced on GPUs). */
__kernel void optim_sumsq(__global const float *src, const long src_off, const long n,
                          __global float *partials, const long part_off, const int parts)
{
    const int i = (int)get_global_id(0);
    if (i >= parts)
        return;
    __global const float *s = src + src_off;
    float sum = 0.0f, comp = 0.0f;
    for (long j = i; j < n; j += parts) {
        const float y = s[j] * s[j] - comp;
        const float t = sum + y;
        comp = (t - sum) - y;
        sum = t;
    }
    partials[part_off + i] = sum;
}

/* One work-group (power-of-two size) sums every partial: stats[0] = global
 * norm of the averaged gradient (sqrt(sum of squares) * inv_k), stats[1] =
 * the factor every gradient is multiplied by: inv_k * min(1, max_norm /
 * (norm + 1e-6)) as torch.nn.utils.clip_grad_norm_ computes it, or inv_k
 * when max_norm <= 0. The order of additions is fixed, so a step is
 * reproducible (resume equality). */
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
 * PyTorch does with Python scalars. */
__kernel void optim_adamw(__global float *param, __global const float *src, const long src_off,
                          __global float *state, const long m_off, const long v_off, const long n,
                          __global const float *stats, const float decay_mul, const float w1,
                          const float b2, const float w2, const float neg_step, const float bc2_sqrt,
                          const float eps, const float lo, const float hi)
{
    const long i = get_global_id(0);
    if (i >= n)
        return;
    const float g = src[src_off + i] * stats[1];
    __global float *m = state + m_off;
    __global float *v = state + v_off;
    float p = param[i] * decay_mul;
    /* torch's lerp for weight < 0.5: self + weight * (end - self) */
    const float mi = m[i] + w1 * (g - m[i]);
    const float vi = v[i] * b2 + w2 * g * g;
    const float denom = sqrt(vi) / bc2_sqrt + eps;
    p = p + neg_step * (mi / denom);
    p = fmin(fmax(p, lo), hi);
    m[i] = mi;
    v[i] = vi;
    param[i] = p;
}
