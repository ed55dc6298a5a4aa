/* ocl_warn.h: the OpenCL backend's warning sink. */
#include "backends/opencl/ocl_warn.h"

#include <stdarg.h>
#include <stdio.h>

static ocl_warning_fn sink;

void ocl_set_warning_sink(ocl_warning_fn fn) { sink = fn; }

void ocl_warn(const char *fmt, ...)
{
    if (!sink)
        return;
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    sink(line);
}
