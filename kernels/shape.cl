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
 * dims have size 1. */
__kernel void copy_nd(__global const uint *src, __global uint *dst, __constant long *meta,
                      const long soff, const long doff)
{
    long rem = get_global_id(0), is = soff, id = doff;
    for (int d = 5; d >= 0; d--) {
        long n = meta[d], k = rem % n;
        rem /= n;
        is += k * meta[6 + d];
        id += k * meta[12 + d];
    }
    dst[id] = src[is];
}
