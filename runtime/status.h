/* Status codes and the thread-local error message shared by every layer.
 *
 * Library code never exits or aborts on bad input: it returns a cc_code and
 * records one line (what, which file or tensor, expected vs found) that the
 * caller can print with cc_last_error(). Only tools/ decides to exit. */
#ifndef CLIPCL_STATUS_H
#define CLIPCL_STATUS_H

typedef enum cc_code {
    CC_OK = 0,
    CC_ERR_INVALID = 1,     /* bad argument or malformed input */
    CC_ERR_SHAPE = 2,       /* shapes do not agree */
    CC_ERR_IO = 3,          /* file missing, unreadable, truncated */
    CC_ERR_NOMEM = 4,
    CC_ERR_OPENCL = 5,      /* an OpenCL call failed */
    CC_ERR_NO_PLATFORM = 6, /* no OpenCL platform / ICD */
    CC_ERR_NO_DEVICE = 7,   /* device spec matched nothing */
    CC_ERR_BUILD = 8,       /* kernel compile error */
    CC_ERR_UNSUPPORTED = 9,
} cc_code;

#if defined(__GNUC__)
#define CC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CC_PRINTF(a, b)
#endif

/* Records the message (printf-style) for this thread and returns code. The
 * message is made one line (control characters replaced) except for
 * CC_ERR_BUILD, whose message ends with the compiler's log. */
int cc_fail(cc_code code, const char *fmt, ...) CC_PRINTF(2, 3);
/* The last message recorded on this thread ("" if none). */
const char *cc_last_error(void);
void cc_clear_error(void);
/* Puts context in front of the message already recorded on this thread:
 * "<context>: <previous message>", for a caller that adds where a failure of
 * a callee happened (which node, which file). Returns code. */
int cc_wrap(int code, const char *fmt, ...) CC_PRINTF(2, 3);

/* s without the line end some libraries put at the end of their messages
 * (json-c's json_util_get_last_err() ends in '\n'), for quoting inside a
 * cc_fail() line; fallback when s is NULL or empty. The result lives until
 * this thread's next call. */
const char *cc_line(const char *s, const char *fallback);

#endif
