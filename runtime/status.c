#include "runtime/status.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_message[4096];

int cc_fail(cc_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    return (int)code;
}

const char *cc_last_error(void) { return last_message; }

void cc_clear_error(void) { last_message[0] = '\0'; }
