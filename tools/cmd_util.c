/* Error printing and option helpers shared by every subcommand, so all of
 * them report errors the same way ("clipcl: ..." on stderr). */
#include "tools/cmd.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cmd_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("clipcl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cmd_lib_error(int code)
{
    const char *msg = cc_last_error();
    if (msg && *msg)
        return cmd_error("%s", msg);
    return cmd_error("failed with status %d", code);
}

int cmd_usage_error(const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "clipcl %s: ", name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see `clipcl %s --help`)\n", name);
    va_end(ap);
    return 2;
}

int cmd_option_value(int argc, char **argv, int *i, const char *opt, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(opt);
    if (strncmp(a, opt, n) != 0)
        return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        cmd_usage_error(argv[0], "option %s needs a value", opt);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}
