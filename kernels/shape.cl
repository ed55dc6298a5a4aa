/* Data movement for permute, slice, concat (and a reshape that cannot be a
 * view). Every op is a strided copy of 32-bit elements (f32 and i32 alike)
 * over an iteration shape, with element strides and offsets for source and
 * destination. The host collapses dims first, so most copies take the 2-D
 * kernel. */

__kernel void copy_2d(__global const uint *src, __global uint *dst, const long ncols,
                      const long soff, const long srs, const long scs,
                      const long doff, const long drs, const long dcs)
{
    long c = get_global_id(0), r = get_global_id(1);
    dst[doff + r * drs + c * dcs] = src[soff + r * srs + c * scs];
}

/* meta: shape[6], source strides[6], destination strides[6]; unused leading
 * dims have size 1. A 3-D launch over dims 5, 4, 3; each work-item loops over
 * the outer dims 0..2, so no element pays for a division. */
__kernel void copy_nd(__global const uint *src, __global uint *dst, __constant long *meta,
                      const long soff, const long doff)
{
    long c = get_global_id(0), r = get_global_id(1), q = get_global_id(2);
    long is = soff + c * meta[11] + r * meta[10] + q * meta[9];
    long id = doff + c * meta[17] + r * meta[16] + q * meta[15];
    for (long i0 = 0; i0 < meta[0]; i0++)
        for (long i1 = 0; i1 < meta[1]; i1++)
            for (long i2 = 0; i2 < meta[2]; i2++)
                dst[id + i0 * meta[12] + i1 * meta[13] + i2 * meta[14]] =
                    src[is + i0 * meta[6] + i1 * meta[7] + i2 * meta[8]];
}

/* A (batched) transpose, the common permute of ViT patches and of their
 * gradients: dst[doff + b*dbs + r*drs + c] = src[soff + b*sbs + c*scs + r].
 * copy_2d/copy_nd would read with stride scs for every element; here a
 * work-item moves a TT x TT tile: TT contiguous loads of TT along r, TT
 * contiguous stores of TT along c. Partial tiles at the edges take a scalar
 * loop. Grid: (ceil(C/TT), ceil(R/TT), B). */
#ifndef TT
#define TT 16
#endif
__kernel void copy_t(__global const uint *src, __global uint *dst, const long R, const long C,
                     const long soff, const long sbs, const long scs,
                     const long doff, const long dbs, const long drs)
{
    const long c0 = get_global_id(0) * TT, r0 = get_global_id(1) * TT, b = get_global_id(2);
    __global const uint *s = src + soff + b * sbs;
    __global uint *d = dst + doff + b * dbs;
    if (r0 + TT <= R && c0 + TT <= C) {
        uint t[TT][TT];
#pragma unroll
        for (int i = 0; i < TT; i++)
            vstore16(vload16(0, s + (c0 + i) * scs + r0), 0, t[i]);
#pragma unroll
        for (int j = 0; j < TT; j++) {
            uint row[TT];
#pragma unroll
            for (int i = 0; i < TT; i++)
                row[i] = t[i][j];
            vstore16(vload16(0, row), 0, d + (r0 + j) * drs + c0);
        }
        return;
    }
    const long nr = min((long)TT, R - r0), nc = min((long)TT, C - c0);
    for (long j = 0; j < nr; j++)
        for (long i = 0; i < nc; i++)
            d[(r0 + j) * drs + c0 + i] = s[(c0 + i) * scs + r0 + j];
}
