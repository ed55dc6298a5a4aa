/* Warnings of the OpenCL backend (the library prints nothing): one line
 * each, handed to a sink that backends/backend.c connects to the tool's
 * (backend_set_warning_sink). NULL, the default, drops them. */
#ifndef CLIPCL_OCL_WARN_H
#define CLIPCL_OCL_WARN_H

#include "runtime/status.h"

typedef void (*ocl_warning_fn)(const char *line);
void ocl_set_warning_sink(ocl_warning_fn fn);
/* Formats one line and hands it to the sink, if any. */
void ocl_warn(const char *fmt, ...) CC_PRINTF(1, 2);

#endif
