/* Weight storage types: names, sizes and the one parser every front end
 * (the clipcl tool, the C API, Python) goes through. */
#include "runtime/dtype.h"

#include <strings.h>

#include "runtime/status.h"

int rt_dtype_parse(const char *text, rt_dtype *out)
{
    static const struct { const char *name; rt_dtype dt; } names[] = {
        {"f32", RT_DTYPE_F32},  {"float32", RT_DTYPE_F32}, {"fp32", RT_DTYPE_F32},
        {"f16", RT_DTYPE_F16},  {"float16", RT_DTYPE_F16}, {"fp16", RT_DTYPE_F16},
        {"half", RT_DTYPE_F16}, {"bf16", RT_DTYPE_BF16},   {"bfloat16", RT_DTYPE_BF16},
    };
    for (size_t i = 0; text && i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(text, names[i].name) == 0) {
            *out = names[i].dt;
            return CC_OK;
        }
    return cc_fail(CC_ERR_INVALID, "dtype \"%s\": expected " RT_DTYPE_CHOICES, text ? text : "(null)");
}

const char *rt_dtype_name(rt_dtype dt)
{
    switch (dt) {
    case RT_DTYPE_F32: return "f32";
    case RT_DTYPE_F16: return "f16";
    case RT_DTYPE_BF16: return "bf16";
    }
    return "?";
}

size_t rt_dtype_bytes(rt_dtype dt) { return dt == RT_DTYPE_F32 ? 4 : 2; }
