/* Embedding gather: y[r, :] = table[ids[r], :]. An id outside [0, V) is
 * clamped into range so the kernel never reads out of bounds; the ref
 * backend reports such ids as an error, and callers that need the check
 * validate ids on the host (tokenizer output is always in range). */
__kernel void embedding_gather(__global const float *table, __global const int *ids, __global float *y,
                               const int V, const long D)
{
    long c = get_global_id(0), r = get_global_id(1);
    int id = clamp(ids[r], 0, V - 1);
    y[r * D + c] = table[(long)id * D + c];
}
