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
