#include "io/atomic_file.h"

#include <errno.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/status.h"

static void release(io_atomic *a)
{
    free(a->tmp_path);
    free(a->path);
    a->tmp_path = NULL;
    a->path = NULL;
    a->fp = NULL;
}

int io_atomic_open(io_atomic *a, const char *path)
{
    memset(a, 0, sizeof *a);
    if (!path || !*path)
        return cc_fail(CC_ERR_INVALID, "atomic write: empty destination path");
    size_t n = strlen(path);
    a->path = malloc(n + 1);
    a->tmp_path = malloc(n + 16);
    if (!a->path || !a->tmp_path) {
        release(a);
        return cc_fail(CC_ERR_NOMEM, "atomic write %s: out of memory", path);
    }
    memcpy(a->path, path, n + 1);
    /* Same directory as the destination so rename() stays on one filesystem. */
    snprintf(a->tmp_path, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(a->tmp_path);
    if (fd < 0) {
        int e = errno;
        release(a);
        return cc_fail(CC_ERR_IO, "cannot create temporary file for %s: %s", path, strerror(e));
    }
    /* mkstemp makes 0600 files; the result should get the usual 0666 & ~umask. */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    a->fp = fdopen(fd, "wb");
    if (!a->fp) {
        int e = errno;
        close(fd);
        unlink(a->tmp_path);
        release(a);
        return cc_fail(CC_ERR_IO, "cannot open temporary file for %s: %s", path, strerror(e));
    }
    return CC_OK;
}

int io_atomic_write(io_atomic *a, const void *buf, size_t n)
{
    if (n && fwrite(buf, 1, n, a->fp) != n)
        return cc_fail(CC_ERR_IO, "writing %s: short write (%s)", a->path, strerror(errno));
    return CC_OK;
}

static void sync_parent_dir(const char *path)
{
    /* Makes the rename itself durable; failure here is not fatal (some
     * filesystems refuse fsync on directories). */
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) {
        strcpy(dir, ".");
    } else {
        size_t n = (size_t)(slash - path);
        if (n == 0)
            n = 1;
        if (n >= sizeof dir)
            return;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int io_atomic_commit(io_atomic *a)
{
    if (!a->fp)
        return cc_fail(CC_ERR_INVALID, "atomic commit without an open file");
    int rc = CC_OK;
    if (fflush(a->fp) != 0 || fsync(fileno(a->fp)) != 0)
        rc = cc_fail(CC_ERR_IO, "flushing %s: %s", a->path, strerror(errno));
    if (fclose(a->fp) != 0 && rc == CC_OK)
        rc = cc_fail(CC_ERR_IO, "closing %s: %s", a->path, strerror(errno));
    a->fp = NULL;
    if (rc == CC_OK && rename(a->tmp_path, a->path) != 0)
        rc = cc_fail(CC_ERR_IO, "renaming temporary onto %s: %s", a->path, strerror(errno));
    if (rc != CC_OK) {
        unlink(a->tmp_path);
    } else {
        sync_parent_dir(a->path);
    }
    release(a);
    return rc;
}

void io_atomic_abort(io_atomic *a)
{
    if (a->fp)
        fclose(a->fp);
    if (a->tmp_path)
        unlink(a->tmp_path);
    release(a);
}

const char *io_not_regular(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file";
}
