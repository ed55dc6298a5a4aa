#include "runtime/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_message[4096];

/* The message is one line even when it quotes bytes of a hostile input (a
 * PNG chunk name, an .npy header key, a tar member name): line ends and tabs
 * become spaces and other control characters '?', so that nothing a file
 * holds can add lines to, or send terminal escapes through, what the tools
 * print. A kernel build failure is the one multi-line message: it carries
 * the compiler's log, which comes from our own sources. */
static void one_line(int code)
{
    if (code == CC_ERR_BUILD)
        return;
    for (unsigned char *p = (unsigned char *)last_message; *p; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
        else if (*p < 0x20 || *p == 0x7f)
            *p = '?';
    }
}

int cc_fail(cc_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    one_line((int)code);
    return (int)code;
}

const char *cc_last_error(void) { return last_message; }

void cc_clear_error(void) { last_message[0] = '\0'; }

int cc_wrap(int code, const char *fmt, ...)
{
    /* Copied first: the context is formatted into the buffer it came from. */
    char previous[sizeof last_message];
    memcpy(previous, last_message, sizeof previous);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof last_message)
        snprintf(last_message + n, sizeof last_message - (size_t)n, ": %s", previous);
    one_line(code);
    return code;
}

const char *cc_line(const char *s, const char *fallback)
{
    /* Its own buffer: s may be formatted into last_message by the caller. */
    static _Thread_local char line[512];
    if (!s || !s[0])
        return fallback;
    snprintf(line, sizeof line, "%s", s);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}
