/* Error printing and option helpers shared by every subcommand, so all of
 * them report errors the same way ("clipcl: ..." on stderr). */
#include "tools/cmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static void option_hint(const char *msg, char *buf, size_t size);

int cmd_usage_error(const char *name, const char *fmt, ...)
{
    char msg[1024], hint[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    option_hint(msg, hint, sizeof hint);
    fprintf(stderr, "clipcl %s: %s%s\n(see `clipcl %s --help`)\n", name, msg, hint, name);
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

/* ---- near-miss hints ---- */

/* The running command's usage text (set by the dispatcher): the options it
 * lists are the candidates for an unknown option's hint. */
static const char *current_usage;

void cmd_set_usage(const char *usage)
{
    current_usage = usage;
}

/* Edit distance counting a swap of neighbours as one edit ("--dto" is one
 * from "--dot"); long words are never near anything we know. */
static int edit_distance(const char *a, size_t na, const char *b, size_t nb)
{
    int d[3][64]; /* rows i-2, i-1, i of the usual table, by i % 3 */
    if (na >= 64 || nb >= 64)
        return 99;
    for (size_t j = 0; j <= nb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int *cur = d[i % 3], *up = d[(i - 1) % 3], *up2 = d[(i + 1) % 3];
        cur[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int best = up[j - 1] + (a[i - 1] != b[j - 1]);
            if (up[j] + 1 < best)
                best = up[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && up2[j - 2] + 1 < best)
                best = up2[j - 2] + 1;
            cur[j] = best;
        }
    }
    return d[na % 3][nb];
}

/* Leading dashes are not part of the name: "-model" is near "--model". */
static const char *core(const char *s, size_t *len)
{
    while (*s == '-')
        s++;
    size_t n = strcspn(s, "=");
    *len = n;
    return s;
}

/* 0..2: that many edits away (never more than half the name), 3: the word
 * starts the name (3+ characters), -1: not near. */
static int nearness(const char *word, const char *name)
{
    size_t nw, nn;
    const char *w = core(word, &nw), *c = core(name, &nn);
    int d = edit_distance(w, nw, c, nn);
    if (d <= 2 && (size_t)(2 * d) <= nn)
        return d;
    if (nw >= 3 && nw < nn && strncmp(w, c, nw) == 0)
        return 3;
    return -1;
}

void cmd_suggest(const char *word, const char *const *names, int n, char *buf, size_t size)
{
    int best = 99, picked[3], n_picked = 0;
    if (size)
        buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        int d = nearness(word, names[i]);
        if (d >= 0 && d < best) {
            best = d;
            n_picked = 0;
        }
        if (d < 0 || d != best || n_picked == 3)
            continue;
        int dup = 0;
        for (int k = 0; k < n_picked; k++)
            dup |= strcmp(names[picked[k]], names[i]) == 0;
        if (!dup)
            picked[n_picked++] = i;
    }
    if (!n_picked || !size)
        return;
    size_t u = (size_t)snprintf(buf, size, " (did you mean ");
    for (int k = 0; k < n_picked && u < size; k++)
        u += (size_t)snprintf(buf + u, size - u, "%s%s", k == 0 ? "" : k == n_picked - 1 ? " or " : ", ",
                              names[picked[k]]);
    if (u < size)
        snprintf(buf + u, size - u, "?)");
}

/* The options a usage text names: "--word" after a space, '[', '(', '|' or
 * ',' and not inside `...` (which quotes another command's line). */
static int usage_options(const char *usage, char names[][32], int max)
{
    int n = 0, tick = 0;
    for (const char *p = usage; *p && n < max; p++) {
        if (*p == '`')
            tick = !tick;
        if (tick || p[0] != '-' || p[1] != '-' || !((p[2] >= 'a' && p[2] <= 'z') || (p[2] >= '0' && p[2] <= '9')))
            continue;
        if (p > usage && !strchr(" \n[(|,", p[-1]))
            continue;
        size_t len = 2 + strspn(p + 2, "abcdefghijklmnopqrstuvwxyz0123456789-");
        if (len < 32) {
            memcpy(names[n], p, len);
            names[n++][len] = '\0';
        }
        p += len - 1;
    }
    return n;
}

/* For a message 'unknown option "X"' (or argument, or 'unexpected
 * argument', either quote) with X an option: the hint for X, else "". */
static void option_hint(const char *msg, char *buf, size_t size)
{
    static const char *const heads[] = {"unknown option ", "unknown argument ", "unexpected argument "};
    buf[0] = '\0';
    if (!current_usage)
        return;
    const char *p = NULL;
    for (size_t k = 0; k < sizeof heads / sizeof heads[0] && !p; k++)
        if (strncmp(msg, heads[k], strlen(heads[k])) == 0)
            p = msg + strlen(heads[k]);
    if (!p || (*p != '"' && *p != '\'') || p[1] != '-')
        return;
    const char *end = strchr(p + 1, *p);
    char word[64], names[64][32];
    const char *list[64];
    if (!end || (size_t)(end - p - 1) >= sizeof word)
        return;
    memcpy(word, p + 1, (size_t)(end - p - 1));
    word[end - p - 1] = '\0';
    int n = usage_options(current_usage, names, 64);
    for (int i = 0; i < n; i++)
        list[i] = names[i];
    cmd_suggest(word, list, n, buf, size);
}

int cmd_check_out(const char *opt, const char *path)
{
    struct stat st;
    if (!*path)
        return cmd_error("%s: empty path (expected a .npy file path)", opt);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return cmd_error("%s %s: is a directory (expected a .npy file path)", opt, path);
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return 0; /* too long to check here; the write will say */
    if (stat(dir, &st) != 0)
        return cmd_error("%s %s: folder %s: %s", opt, path, dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cmd_error("%s %s: %s is not a folder", opt, path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return cmd_error("%s %s: folder %s is not writable: %s", opt, path, dir, strerror(errno));
    return 0;
}
