/* Backward and loss ops (the twins of backends/ref/ref_grad_{elem,norm,shape}.c).
 *
 *   elementwise : log and the activation derivatives dx = dy * f'(x); a
 *                 one-element kernel and a 16-wide one for sizes that are
 *                 multiples of 16 (PoCL's vector exp, as elementwise.cl).
 *   rows        : softmax, layernorm (dx) and l2norm backward, and the
 *                 layernorm row statistics for the gamma gradient, in the two
 *                 variants of reduce.cl (*_rows: a work-item per row, float8
 *                 along it; *_wg: a work-group of WG per row, local-memory
 *                 tree sums).
 *   reductions  : sum_to and the layernorm gamma gradient, one work-item per
 *                 output element (8 adjacent ones as a float8 on CPU-class
 *                 devices when the innermost dim is kept), and per chunk of
 *                 the outermost reduced dim when outputs alone are too few to
 *                 fill the device; partial sums added by a second kernel in
 *                 a fixed order.
 *   data        : broadcast_to, slice backward and the embedding scatter-add.
 *
 * Every result is deterministic: no float atomics anywhere; the embedding
 * gradient uses int atomic_min/max only to find each id's first and last
 * position, then sums its rows in position order. */
#ifndef WG
#define WG 64
#endif
#include "common.cl" /* wg_sum, hsum8, erf_fast, erf_fast16 */
#include "layernorm_stats.cl"

/* ---- elementwise ------------------------------------------------------ */

__kernel void gr_log(__global const float *x, __global float *y)
{
    size_t i = get_global_id(0);
    y[i] = log(x[i]);
}

__kernel void gr16_log(__global const float *x, __global float *y)
{
    size_t i = get_global_id(0);
    vstore16(log(vload16(i, x)), i, y);
}

/* v = x (for sigmoid: its output y), d = dy. gelu' = Phi(v) + v phi(v). */
#define GRAD_EW(NAME, BODY)                                                    \
    __kernel void gr_##NAME(__global const float *x, __global const float *dy, \
                            __global float *dx)                                \
    {                                                                          \
        size_t i = get_global_id(0);                                           \
        float v = x[i], d = dy[i], r;                                          \
        BODY;                                                                  \
        dx[i] = r;                                                             \
    }

GRAD_EW(gelu_grad, r = d * (0.5f * (1.0f + erf_fast(v * 0.70710678118654752f)) +
                            v * 0.39894228040143268f * exp(-0.5f * v * v)))
GRAD_EW(quickgelu_grad, float s = 1.0f / (1.0f + exp(-1.702f * v)); r = d * (s + 1.702f * v * s * (1.0f - s)))
GRAD_EW(relu_grad, r = v > 0.0f ? d : 0.0f)
GRAD_EW(sigmoid_grad, r = d * v * (1.0f - v))

#define GRAD_EW16(NAME, BODY)                                                  \
    __kernel void gr16_##NAME(__global const float *x, __global const float *dy, \
                              __global float *dx)                              \
    {                                                                          \
        size_t i = get_global_id(0);                                           \
        float16 v = vload16(i, x), d = vload16(i, dy), r;                      \
        BODY;                                                                  \
        vstore16(r, i, dx);                                                    \
    }

GRAD_EW16(gelu_grad, r = d * (0.5f * (1.0f + erf_fast16(v * 0.70710678118654752f)) +
                              v * 0.39894228040143268f * exp(-0.5f * v * v)))
GRAD_EW16(quickgelu_grad, float16 s = 1.0f / (1.0f + exp(-1.702f * v)); r = d * (s + 1.702f * v * s * (1.0f - s)))
GRAD_EW16(relu_grad, r = select((float16)(0.0f), d, v > (float16)(0.0f)))
GRAD_EW16(sigmoid_grad, r = d * v * (1.0f - v))

/* ---- rows: softmax backward, dx = y * (dy - sum(dy * y)) ---------------- */

__kernel void softmax_grad_rows(__global const float *y, __global const float *dy, __global float *dx,
                                const int ncols)
{
    long r = get_global_id(0);
    __global const float *yr = y + r * ncols, *dr = dy + r * ncols;
    __global float *xr = dx + r * ncols;
    float8 s8 = (float8)(0.0f);
    int c = 0;
    for (; c + 8 <= ncols; c += 8)
        s8 += vload8(0, yr + c) * vload8(0, dr + c);
    float s = hsum8(s8);
    for (; c < ncols; c++)
        s += yr[c] * dr[c];
    for (c = 0; c + 8 <= ncols; c += 8)
        vstore8(vload8(0, yr + c) * (vload8(0, dr + c) - s), 0, xr + c);
    for (; c < ncols; c++)
        xr[c] = yr[c] * (dr[c] - s);
}

__kernel void softmax_grad_wg(__global const float *y, __global const float *dy, __global float *dx,
                              const int ncols)
{
    __local float buf[WG];
    long r = get_group_id(0);
    int l = get_local_id(0);
    __global const float *yr = y + r * ncols, *dr = dy + r * ncols;
    __global float *xr = dx + r * ncols;
    float s = 0.0f;
    for (int c = l; c < ncols; c += WG)
        s += yr[c] * dr[c];
    s = wg_sum(buf, s);
    for (int c = l; c < ncols; c += WG)
        xr[c] = yr[c] * (dr[c] - s);
}

/* ---- rows: layernorm ----
 * The row statistics are the forward kernel's own (layernorm_stats.cl), so
 * xhat here is the forward's to the bit. */

/* dx = rstd * (g dy - mean(g dy) - xhat * mean(g dy xhat)), g = gamma (or 1
 * when has_gamma is 0; gamma then points at any valid buffer). */
__kernel void ln_grad_x_rows(__global const float *x, __global const float *gamma, __global const float *dy,
                             __global float *dx, const int ncols, const float eps, const int has_gamma)
{
    long r = get_global_id(0);
    __global const float *xr = x + r * ncols, *dr = dy + r * ncols;
    __global float *xo = dx + r * ncols;
    float3 st = layernorm_stats_item(xr, ncols, eps);
    float k = st.x, m = st.y, rstd = st.z;
    float8 a8 = (float8)(0.0f), b8 = (float8)(0.0f);
    int c = 0;
    for (; c + 8 <= ncols; c += 8) {
        float8 gd = vload8(0, dr + c) * (has_gamma ? vload8(0, gamma + c) : (float8)(1.0f));
        a8 += gd;
        b8 += gd * (((vload8(0, xr + c) - k) - m) * rstd);
    }
    float a = hsum8(a8), b = hsum8(b8);
    for (; c < ncols; c++) {
        float gd = dr[c] * (has_gamma ? gamma[c] : 1.0f);
        a += gd;
        b += gd * (((xr[c] - k) - m) * rstd);
    }
    a /= (float)ncols;
    b /= (float)ncols;
    for (c = 0; c + 8 <= ncols; c += 8) {
        float8 gd = vload8(0, dr + c) * (has_gamma ? vload8(0, gamma + c) : (float8)(1.0f));
        float8 xh = ((vload8(0, xr + c) - k) - m) * rstd;
        vstore8(rstd * (gd - a - xh * b), 0, xo + c);
    }
    for (; c < ncols; c++) {
        float gd = dr[c] * (has_gamma ? gamma[c] : 1.0f);
        float xh = ((xr[c] - k) - m) * rstd;
        xo[c] = rstd * (gd - a - xh * b);
    }
}

__kernel void ln_grad_x_wg(__global const float *x, __global const float *gamma, __global const float *dy,
                           __global float *dx, const int ncols, const float eps, const int has_gamma)
{
    __local float buf[WG];
    long r = get_group_id(0);
    int l = get_local_id(0);
    __global const float *xr = x + r * ncols, *dr = dy + r * ncols;
    __global float *xo = dx + r * ncols;
    float3 st = layernorm_stats_group(buf, xr, ncols, eps);
    float k = st.x, m = st.y, rstd = st.z;
    float a = 0.0f, b = 0.0f;
    for (int c = l; c < ncols; c += WG) {
        float gd = dr[c] * (has_gamma ? gamma[c] : 1.0f);
        a += gd;
        b += gd * (((xr[c] - k) - m) * rstd);
    }
    a = wg_sum(buf, a) / (float)ncols;
    b = wg_sum(buf, b) / (float)ncols;
    for (int c = l; c < ncols; c += WG) {
        float gd = dr[c] * (has_gamma ? gamma[c] : 1.0f);
        float xh = ((xr[c] - k) - m) * rstd;
        xo[c] = rstd * (gd - a - xh * b);
    }
}

/* Per-row (k, m, rstd, 0) for the gamma gradient. */
__kernel void ln_stats_rows(__global const float *x, __global float4 *stats, const int ncols, const float eps)
{
    long r = get_global_id(0);
    stats[r] = (float4)(layernorm_stats_item(x + r * ncols, ncols, eps), 0.0f);
}

__kernel void ln_stats_wg(__global const float *x, __global float4 *stats, const int ncols, const float eps)
{
    __local float buf[WG];
    long r = get_group_id(0);
    float3 st = layernorm_stats_group(buf, x + r * ncols, ncols, eps);
    if (get_local_id(0) == 0)
        stats[r] = (float4)(st, 0.0f);
}

/* dgamma[c] = sum_r dy[r, c] * xhat[r, c]: work-item (c, p) sums the rows of
 * chunk p; adjacent work-items read adjacent columns. part is [P, ncols]. */
__kernel void ln_grad_gamma_cols(__global const float *x, __global const float *dy,
                                 __global const float4 *stats, __global float *part, const long nrows,
                                 const long ncols, const long chunk)
{
    long c = get_global_id(0), p = get_global_id(1);
    long r0 = p * chunk, r1 = min(nrows, r0 + chunk);
    float acc = 0.0f;
    for (long r = r0; r < r1; r++) {
        float4 st = stats[r];
        acc += dy[r * ncols + c] * (((x[r * ncols + c] - st.x) - st.y) * st.z);
    }
    part[p * ncols + c] = acc;
}

/* The same for CPU-class devices when ncols is a multiple of 8: work-item
 * (c8, p) takes 8 adjacent columns as one float8, so each row is one
 * contiguous load instead of 8 work-items striding by ncols (PoCL, 2 cores,
 * [2464, 512]: the whole node went from ~98 ms to ~3.4 ms with the split). */
__kernel void ln_grad_gamma_cols8(__global const float *x, __global const float *dy,
                                  __global const float4 *stats, __global float *part, const long nrows,
                                  const long ncols, const long chunk)
{
    long c = get_global_id(0) * 8, p = get_global_id(1);
    long r0 = p * chunk, r1 = min(nrows, r0 + chunk);
    float8 acc = (float8)(0.0f);
    for (long r = r0; r < r1; r++) {
        float4 st = stats[r];
        acc += vload8(0, dy + r * ncols + c) * (((vload8(0, x + r * ncols + c) - st.x) - st.y) * st.z);
    }
    vstore8(acc, 0, part + p * ncols + c);
}

/* ---- rows: l2norm backward ----
 * Above the clamp dx = dy/|x| - x (x.dy)/|x|^3, below it dx = dy/eps; a zero
 * row gets dy/eps with no second term (PyTorch's masked norm backward). */
static void l2g_out(__global const float *xr, __global const float *dr, __global float *xo, int c0, int cstep,
                    const int ncols, float ss, float dot, const float eps)
{
    float nrm = sqrt(ss);
    int active = nrm >= eps;
    float den = active ? nrm : eps;
    float inv = 1.0f / nrm;
    float k = active && nrm > 0.0f ? dot * inv * inv * inv : 0.0f;
    float id = 1.0f / den;
    for (int c = c0; c < ncols; c += cstep)
        xo[c] = dr[c] * id - xr[c] * k;
}

__kernel void l2norm_grad_rows(__global const float *x, __global const float *dy, __global float *dx,
                               const int ncols, const float eps)
{
    long r = get_global_id(0);
    __global const float *xr = x + r * ncols, *dr = dy + r * ncols;
    float8 s8 = (float8)(0.0f), d8 = (float8)(0.0f);
    int c = 0;
    for (; c + 8 <= ncols; c += 8) {
        float8 xv = vload8(0, xr + c);
        s8 += xv * xv;
        d8 += xv * vload8(0, dr + c);
    }
    float ss = hsum8(s8), dot = hsum8(d8);
    for (; c < ncols; c++) {
        ss += xr[c] * xr[c];
        dot += xr[c] * dr[c];
    }
    l2g_out(xr, dr, dx + r * ncols, 0, 1, ncols, ss, dot, eps);
}

__kernel void l2norm_grad_wg(__global const float *x, __global const float *dy, __global float *dx,
                             const int ncols, const float eps)
{
    __local float buf[WG];
    long r = get_group_id(0);
    int l = get_local_id(0);
    __global const float *xr = x + r * ncols, *dr = dy + r * ncols;
    float ss = 0.0f, dot = 0.0f;
    for (int c = l; c < ncols; c += WG) {
        ss += xr[c] * xr[c];
        dot += xr[c] * dr[c];
    }
    ss = wg_sum(buf, ss);
    dot = wg_sum(buf, dot);
    l2g_out(xr, dr, dx + r * ncols, l, WG, ncols, ss, dot, eps);
}

/* ---- sum_to ----
 * meta (dims collapsed on the host, so kept and reduced dims alternate and
 * there are at most three of each; unused leading dims have size 1):
 *   [0..2] kept shape, [3..5] their x strides (the output is contiguous in
 *   them), [6..8] reduced shape, [9..11] their x strides.
 * Work-item (o, p) sums chunk p of reduced dim sd (the outermost real one)
 * and every other reduced dim for output o into part[p * n_out + o]. */
__kernel void sum_to_nd(__global const float *x, __global float *part, __constant long *meta, const int sd,
                        const long chunk, const long n_out)
{
    long o = get_global_id(0), p = get_global_id(1);
    long k2 = o % meta[2], t = o / meta[2];
    long base = (t / meta[1]) * meta[3] + (t % meta[1]) * meta[4] + k2 * meta[5];
    long lo[3] = { 0, 0, 0 }, hi[3] = { meta[6], meta[7], meta[8] };
    lo[sd] = p * chunk;
    hi[sd] = min(hi[sd], lo[sd] + chunk);
    const long s0 = meta[9], s1 = meta[10], s2 = meta[11];
    float acc = 0.0f;
    for (long i0 = lo[0]; i0 < hi[0]; i0++)
        for (long i1 = lo[1]; i1 < hi[1]; i1++) {
            __global const float *xr = x + base + i0 * s0 + i1 * s1;
            long i2 = lo[2];
            if (s2 == 1) {
                /* a contiguous innermost reduction (a row sum): 8 lanes */
                float8 a8 = (float8)(0.0f);
                for (; i2 + 8 <= hi[2]; i2 += 8)
                    a8 += vload8(0, xr + i2);
                acc += hsum8(a8);
            }
            for (; i2 < hi[2]; i2++)
                acc += xr[i2 * s2];
        }
    part[p * n_out + o] = acc;
}

/* sum_to_nd for CPU-class devices when the innermost dim is kept, contiguous
 * in x, and a multiple of 8 long (bias gradients [N, C] -> [C] and the
 * like): work-item (o8, p) computes outputs 8 * o8 .. 8 * o8 + 7 as one
 * float8, one contiguous load per reduced index ([2464, 512] -> [512] on
 * PoCL, 2 cores: 13.3 ms with sum_to_nd, 0.55 ms with this). */
__kernel void sum_to_nd8(__global const float *x, __global float *part, __constant long *meta, const int sd,
                         const long chunk, const long n_out)
{
    long o = get_global_id(0) * 8, p = get_global_id(1);
    long k2 = o % meta[2], t = o / meta[2];
    long base = (t / meta[1]) * meta[3] + (t % meta[1]) * meta[4] + k2;
    long lo[3] = { 0, 0, 0 }, hi[3] = { meta[6], meta[7], meta[8] };
    lo[sd] = p * chunk;
    hi[sd] = min(hi[sd], lo[sd] + chunk);
    const long s0 = meta[9], s1 = meta[10], s2 = meta[11];
    float8 acc = (float8)(0.0f);
    for (long i0 = lo[0]; i0 < hi[0]; i0++)
        for (long i1 = lo[1]; i1 < hi[1]; i1++)
            for (long i2 = lo[2]; i2 < hi[2]; i2++)
                acc += vload8(0, x + base + i0 * s0 + i1 * s1 + i2 * s2);
    vstore8(acc, 0, part + p * n_out + o);
}

/* y[o] = sum over p of part[p * n_out + o], in order p = 0, 1, ... */
__kernel void sum_partials(__global const float *part, __global float *y, const long n_out, const int P)
{
    long o = get_global_id(0);
    float acc = 0.0f;
    for (int p = 0; p < P; p++)
        acc += part[p * n_out + o];
    y[o] = acc;
}

/* ---- data movement (32-bit elements, so f32 and i32 alike) ------------ */

/* broadcast_to over a collapsed 2-D walk: src strides 0 on broadcast dims;
 * the destination is contiguous. */
__kernel void bcast_2d(__global const uint *src, __global uint *dst, const long ncols, const long srs,
                       const long scs)
{
    long c = get_global_id(0), r = get_global_id(1);
    dst[r * ncols + c] = src[r * srs + c * scs];
}

/* meta: shape[6], source strides[6] (0 = broadcast); a 3-D launch over dims
 * 5, 4, 3, each work-item looping over dims 0..2; the destination is
 * contiguous. */
__kernel void bcast_nd(__global const uint *src, __global uint *dst, __constant long *meta)
{
    long c = get_global_id(0), r = get_global_id(1), q = get_global_id(2);
    long is = c * meta[11] + r * meta[10] + q * meta[9];
    long inner = meta[3] * meta[4] * meta[5];
    long id = (q * meta[4] + r) * meta[5] + c;
    for (long i0 = 0; i0 < meta[0]; i0++)
        for (long i1 = 0; i1 < meta[1]; i1++)
            for (long i2 = 0; i2 < meta[2]; i2++)
                dst[((i0 * meta[1] + i1) * meta[2] + i2) * inner + id] =
                    src[is + i0 * meta[6] + i1 * meta[7] + i2 * meta[8]];
}

/* Slice backward: x viewed as [outer, dim, inner], dy as [outer, len, inner];
 * every element of dx is written (the arena hands over dirty bytes): dy's
 * element where the axis index is start + j * step, j < len, else 0. */
__kernel void slice_grad(__global const uint *dy, __global uint *dx, const long dim, const long start,
                         const long step, const long len, const long inner)
{
    long i = get_global_id(0), a = get_global_id(1), o = get_global_id(2);
    long rel = a - start;
    uint v = 0;
    if (rel >= 0 && rel % step == 0 && rel / step < len)
        v = dy[(o * len + rel / step) * inner + i];
    dx[(o * dim + a) * inner + i] = v;
}

/* ---- embedding backward: dtable[v, :] = sum of dy rows whose id is v ----
 * Ids are clamped into [0, V) as the forward gather clamps them, so the
 * gradient goes where the forward read. Three launches:
 *   emb_grad_init  : first[v] = INT_MAX, last[v] = -1;
 *   emb_grad_range : first/last position of each id (int atomics: the
 *                    result does not depend on their order);
 *   emb_grad_rows  : work-item (c, v) sums column c of the dy rows with id v
 *                    in position order, scanning only [first[v], last[v]];
 *                    rows of ids that never occur get 0. */
__kernel void emb_grad_init(__global int *first, __global int *last)
{
    size_t v = get_global_id(0);
    first[v] = INT_MAX;
    last[v] = -1;
}

__kernel void emb_grad_range(__global const int *ids, __global int *first, __global int *last, const int V)
{
    int i = (int)get_global_id(0);
    int v = clamp(ids[i], 0, V - 1);
    atomic_min(first + v, i);
    atomic_max(last + v, i);
}

__kernel void emb_grad_rows(__global const int *ids, __global const float *dy, __global const int *first,
                            __global const int *last, __global float *dtable, const int V, const long D)
{
    long c = get_global_id(0);
    int v = (int)get_global_id(1);
    int j0 = first[v], j1 = last[v];
    float acc = 0.0f;
    for (int j = j0; j <= j1; j++)
        if (clamp(ids[j], 0, V - 1) == v)
            acc += dy[(long)j * D + c];
    dtable[(long)v * D + c] = acc;
}

/* emb_grad_rows for CPU-class devices: one work-item per table row, 16
 * columns at a time. The (c, v) grid is V * D work-items, 25M for CLIP's
 * text tower: ~179 ms on PoCL (2 cores) against ~45 ms for this, which is
 * mostly writing the 101 MB table. */
__kernel void emb_grad_rows_cpu(__global const int *ids, __global const float *dy, __global const int *first,
                                __global const int *last, __global float *dtable, const int V, const long D)
{
    int v = (int)get_global_id(0);
    int j0 = first[v], j1 = last[v];
    __global float *row = dtable + (long)v * D;
    long c = 0;
    for (; c + 16 <= D; c += 16) {
        float16 acc = (float16)(0.0f);
        for (int j = j0; j <= j1; j++)
            if (clamp(ids[j], 0, V - 1) == v)
                acc += vload16(0, dy + (long)j * D + c);
        vstore16(acc, 0, row + c);
    }
    for (; c < D; c++) {
        float acc = 0.0f;
        for (int j = j0; j <= j1; j++)
            if (clamp(ids[j], 0, V - 1) == v)
                acc += dy[(long)j * D + c];
        row[c] = acc;
    }
}
