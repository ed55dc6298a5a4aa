/* ocl_lower_attention.c: to be written (temporary stub from the lead so the library links). */
#include "backends/opencl/ocl_backend.h"

int ocl_lower_attention(ocl_lower *lc, int node)
{
    (void)lc;
    return cc_fail(CC_ERR_UNSUPPORTED, "ocl_lower_attention: node %d: not implemented yet", node);
}
