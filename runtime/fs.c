/* runtime/fs.h */
#include "runtime/fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/status.h"

int rt_make_dirs(const char *dir)
{
    size_t n = strlen(dir);
    char *p = malloc(n + 1);
    if (!p)
        return cc_fail(CC_ERR_NOMEM, "out of memory for the path %s", dir);
    memcpy(p, dir, n + 1);
    int rc = CC_OK;
    for (size_t i = 1; i <= n && rc == CC_OK; i++) {
        if (i < n && p[i] != '/')
            continue;
        char c = p[i];
        p[i] = '\0';
        struct stat sb;
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            rc = cc_fail(CC_ERR_IO, "cannot create directory %s: %s", p, strerror(errno));
        else if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))
            rc = cc_fail(CC_ERR_IO, "%s exists and is not a directory", p);
        p[i] = c;
    }
    free(p);
    return rc;
}

char *rt_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p)
        snprintf(p, a + b + 2, "%s%s%s", dir, a && dir[a - 1] == '/' ? "" : "/", name);
    return p;
}

char *rt_path_dir(const char *file)
{
    const char *slash = strrchr(file, '/');
    if (!slash)
        return strdup(".");
    size_t n = slash == file ? 1 : (size_t)(slash - file);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, file, n);
        d[n] = '\0';
    }
    return d;
}
