/* Option parsing, model loading, text lists and feature output shared by the
 * CLIP subcommands, so all of them accept and report the same way. */
#include "tools/cmd_clip.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/npy.h"
#include "runtime/grow.h"
#include "tools/cmd.h"

/* A batch beyond this is surely a typo, and its plan would not fit anyway. */
#define MAX_BATCH 4096

int cmd_model_option(int argc, char **argv, int *i, cmd_model_opts *o)
{
    const char *v = NULL;
    int r;
    if ((r = cmd_option_value(argc, argv, i, "--model", &v)) != 0) {
        o->model = v;
        return r < 0 ? 2 : 1;
    }
    if ((r = cmd_option_value(argc, argv, i, "--device", &v)) != 0) {
        o->device = v;
        return r < 0 ? 2 : 1;
    }
    if ((r = cmd_option_value(argc, argv, i, "--vocab", &v)) != 0) {
        o->vocab = v;
        return r < 0 ? 2 : 1;
    }
    if ((r = cmd_option_value(argc, argv, i, "--dtype", &v)) != 0) {
        if (r < 0)
            return 2;
        if (clipcl_dtype_flag(v, &o->dtype_flag)) {
            cmd_usage_error(argv[0], "%s", clipcl_last_error());
            return 2;
        }
        o->dtype = v;
        return 1;
    }
    if (strcmp(argv[*i], "--allow-unused") == 0) {
        o->allow_unused = 1;
        return 1;
    }
    if ((r = cmd_option_value(argc, argv, i, "--batch", &v)) != 0) {
        if (r < 0)
            return 2;
        char *end = NULL;
        errno = 0;
        long b = strtol(v, &end, 10);
        if (!*v || *end || errno || b < 1 || b > MAX_BATCH) {
            cmd_usage_error(argv[0], "--batch \"%s\": expected an integer from 1 to %d", v,
                            MAX_BATCH);
            return 2;
        }
        o->batch = (int)b;
        return 1;
    }
    return 0;
}

/* The load's notes, one "clipcl: " line each, on stderr. */
static void print_notes(const char *notes)
{
    while (*notes) {
        const char *nl = strchr(notes, '\n');
        int len = nl ? (int)(nl - notes) : (int)strlen(notes);
        fprintf(stderr, "clipcl: %.*s\n", len, notes);
        notes += len + (nl ? 1 : 0);
    }
}

int cmd_model_tower_check(const clipcl_model *m, int tower)
{
    const char *why = clipcl_tower_unsupported(m, tower);
    if (!why[0])
        return 0;
    return cmd_error("this model's %s tower is not supported: %s",
                     tower == CLIPCL_TOWER_TEXT ? "text" : "image", why);
}

int cmd_model_open(const cmd_model_opts *o, clipcl_model **out)
{
    *out = NULL;
    clipcl_model *m = NULL;
    int rc = clipcl_load_opts(o->model, o->device,
                              (o->allow_unused ? CLIPCL_LOAD_ALLOW_UNUSED : 0) | o->dtype_flag, &m);
    if (!rc)
        print_notes(clipcl_load_notes(m));
    if (!rc && o->vocab)
        rc = clipcl_set_vocab(m, o->vocab);
    if (!rc && o->batch)
        rc = clipcl_set_max_batch(m, o->batch);
    if (rc) {
        clipcl_free(m);
        return cmd_lib_error(rc);
    }
    *out = m;
    return 0;
}

int cmd_strings_push(cmd_strings *l, const char *s, size_t len)
{
    if (cc_grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v, "a list of strings"))
        return cmd_lib_error(CC_ERR_NOMEM);
    char *t = malloc(len + 1);
    if (!t)
        return cmd_error("out of memory for a string of %zu bytes", len);
    memcpy(t, s, len);
    t[len] = '\0';
    l->v[l->n++] = t;
    return 0;
}

void cmd_strings_free(cmd_strings *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int slurp(FILE *f, const char *opt, const char *name, char **buf, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *nb = realloc(b, cap * 2);
        if (!nb)
            free(b);
        b = nb;
        cap *= 2;
    }
    if (!b)
        return cmd_error("%s %s: out of memory", opt, name);
    if (ferror(f)) {
        int e = errno;
        free(b);
        return cmd_error("%s %s: cannot read: %s", opt, name, strerror(e));
    }
    *buf = b;
    *len = n;
    return 0;
}

int cmd_strings_read_lines(const char *opt, const char *path, cmd_strings *l)
{
    int is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "stdin" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f)
        return cmd_error("%s %s: cannot open: %s", opt, path, strerror(errno));
    /* fopen accepts a directory on Linux; only the read would fail. */
    struct stat st;
    if (!is_stdin && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return cmd_error("%s %s: is a directory (expected a text file)", opt,
                         path);
    }
    char *buf = NULL;
    size_t len = 0;
    int rc = slurp(f, opt, name, &buf, &len);
    if (!is_stdin)
        fclose(f);
    if (rc)
        return rc;
    if (memchr(buf, '\0', len)) {
        free(buf);
        return cmd_error("%s %s: holds a NUL byte (expected UTF-8 text)", opt, name);
    }
    size_t start = 0;
    for (size_t i = 0; i <= len && rc == 0; i++) {
        if (i < len && buf[i] != '\n')
            continue;
        if (i == len && start == len)
            break;
        size_t e = i;
        if (e > start && buf[e - 1] == '\r')
            e--;
        rc = cmd_strings_push(l, buf + start, e - start);
        start = i + 1;
    }
    free(buf);
    return rc;
}

int cmd_write_features(const char *path, const float *x, int rows, int cols)
{
    int64_t shape[2] = {rows, cols};
    int rc = npy_write_f32(path, x, shape, 2);
    return rc ? cmd_lib_error(rc) : 0;
}
