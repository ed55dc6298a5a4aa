/* Storage types of weights on the device (docs/gemm.md "Half-precision
 * storage"): the bulk of a model's weights, kept in packed GEMM panels, may
 * be stored in 16 bits; arithmetic and accumulation stay fp32. */
#ifndef CLIPCL_RUNTIME_DTYPE_H
#define CLIPCL_RUNTIME_DTYPE_H

#include <stddef.h>

/* The numbers are kernels/panel.cl's DT build option. */
typedef enum rt_dtype {
    RT_DTYPE_F32 = 0,
    RT_DTYPE_F16 = 1,  /* IEEE half, round to nearest even */
    RT_DTYPE_BF16 = 2, /* the upper 16 bits of the float, round to nearest even */
} rt_dtype;

/* "f32", "f16", "bf16" (also "float32", "float16", "bfloat16", any case) ->
 * *out. Otherwise CC_ERR_INVALID with one line naming the value and the
 * choices. */
int rt_dtype_parse(const char *text, rt_dtype *out);
/* "f32", "f16", "bf16" ("?" for anything else). */
const char *rt_dtype_name(rt_dtype dt);
/* Bytes of one element stored as dt (4 or 2). */
size_t rt_dtype_bytes(rt_dtype dt);
/* The choices, for messages and help texts: "f32, f16 or bf16". */
#define RT_DTYPE_CHOICES "f32, f16 or bf16"

#endif
