/* Helpers shared by the harnesses (fuzz_util.h). */
#include "tests/fuzz/fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/status.h"

static char g_dir[256];

static void cleanup(void)
{
    /* Only the files the harnesses write live here; nothing nested but
     * "programs/" of the program-cache harness. */
    char cmd[300];
    if (g_dir[0] && snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir) < (int)sizeof cmd &&
        system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", g_dir);
}

const char *fz_dir(void)
{
    if (!g_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(g_dir, sizeof g_dir, "%s/clipcl-fuzz-XXXXXX", t && t[0] ? t : "/tmp");
        if (!mkdtemp(g_dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(cleanup);
    }
    return g_dir;
}

void fz_path(char *buf, size_t len, const char *name)
{
    if (snprintf(buf, len, "%s/%s", fz_dir(), name) >= (int)len)
        abort();
}

const char *fz_write(char *buf, size_t len, const char *name, const void *data, size_t n)
{
    fz_path(buf, len, name);
    FILE *f = fopen(buf, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(buf);
        abort();
    }
    return buf;
}

void fz_remove(const char *name)
{
    char p[512];
    fz_path(p, sizeof p, name);
    if (unlink(p) != 0)
        rmdir(p);
}

int fz_split(const uint8_t *data, size_t size, const uint8_t **part, size_t *len, int max)
{
    const size_t sl = sizeof FZ_SEP - 1;
    int n = 0;
    size_t start = 0, i = 0;
    while (n < max - 1 && i + sl <= size) {
        if (memcmp(data + i, FZ_SEP, sl) == 0) {
            part[n] = data + start;
            len[n++] = i - start;
            i += sl;
            start = i;
        } else {
            i++;
        }
    }
    part[n] = data + start;
    len[n++] = size - start;
    return n;
}

char *fz_strndup(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

void fz_check_error(int rc, const char *what)
{
    if (rc == CC_OK)
        return;
    const char *e = cc_last_error();
    /* FUZZ_VERBOSE=1: why each input is refused (to check that a seed gets
     * as far as it should); a fuzzing run leaves it unset. */
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("FUZZ_VERBOSE") && getenv("FUZZ_VERBOSE")[0] == '1';
    if (verbose)
        fprintf(stderr, "fuzz: %s: %s\n", what, e);
    if (!e[0] || strchr(e, '\n')) {
        fprintf(stderr, "fuzz: %s failed (%d) with %s error message: \"%s\"\n", what, rc,
                e[0] ? "a multi-line" : "no", e);
        abort();
    }
    cc_clear_error();
}
