/* A tar reader written for webdataset shards: ustar/GNU/pax headers walked
 * with their checksums verified, data seeked over (images are read later by
 * offset). Only what shards use is interpreted: regular files, pax `path`
 * and `size` records, GNU long names; everything else is skipped by size.
 * Written here rather than with libarchive because random access by offset,
 * which a seeded shuffle over shards needs, is not what libarchive offers. */
#include "io/dataset.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/atomic_file.h"
#include "runtime/status.h"

#define BLOCK 512
#define MAX_META (1 << 20) /* pax / long-name data larger than this is corrupt */

typedef struct scan {
    const char *path;
    FILE *f;
    int64_t file_size;
    ds_warn_fn warn;
    void *warn_user;
    int64_t *bad;
    char *long_name;   /* from 'L' or pax path, for the next member */
    int64_t pax_size;  /* from pax size, -1 if none */
} scan;

static void warnf(scan *s, const char *fmt, ...) CC_PRINTF(2, 3);
static void warnf(scan *s, const char *fmt, ...)
{
    ++*s->bad;
    va_list ap;
    va_start(ap, fmt);
    ds_vwarn(s->warn, s->warn_user, fmt, ap);
    va_end(ap);
}

/* Octal field (leading spaces, ending at NUL or space) or GNU base-256. */
static int parse_num(const unsigned char *p, int n, int64_t *out)
{
    if (p[0] & 0x80) {
        if (p[0] != 0x80)
            return -1; /* negative or beyond 63 bits */
        uint64_t v = 0;
        for (int i = 1; i < n; i++) {
            if (v >> 55)
                return -1;
            v = v << 8 | p[i];
        }
        *out = (int64_t)v;
        return 0;
    }
    int i = 0;
    while (i < n && p[i] == ' ')
        i++;
    int64_t v = 0;
    int digits = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '7'; i++, digits++) {
        if (v >> 60)
            return -1;
        v = v * 8 + (p[i] - '0');
    }
    if (i < n && p[i] != '\0' && p[i] != ' ')
        return -1;
    *out = v;
    return digits ? 0 : -1;
}

/* POSIX: sum of the header bytes with the checksum field read as spaces;
 * some old writers summed signed chars, so both are accepted. */
static int checksum_ok(const unsigned char *h)
{
    int64_t want;
    if (parse_num(h + 148, 8, &want) != 0)
        return 0;
    int64_t u = 0, sg = 0;
    for (int i = 0; i < BLOCK; i++) {
        int c = i >= 148 && i < 156 ? ' ' : h[i];
        u += c;
        sg += i >= 148 && i < 156 ? ' ' : (signed char)h[i];
    }
    return want == u || want == sg;
}

static int all_zero(const unsigned char *h)
{
    for (int i = 0; i < BLOCK; i++)
        if (h[i])
            return 0;
    return 1;
}

static int read_at(scan *s, int64_t pos, void *buf, size_t n)
{
    if (fseeko(s->f, (off_t)pos, SEEK_SET) != 0)
        return -1;
    return fread(buf, 1, n, s->f) == n ? 0 : -1;
}

static int read_meta(scan *s, int64_t pos, int64_t size, char **out)
{
    *out = NULL;
    if (size < 0 || size > MAX_META)
        return -1;
    char *d = malloc((size_t)size + 1);
    if (!d)
        return -1;
    if (read_at(s, pos, d, (size_t)size) != 0) {
        free(d);
        return -1;
    }
    d[size] = '\0';
    *out = d;
    return 0;
}

/* "LEN key=value\n" records; only path and size matter here. */
static void apply_pax(scan *s, const char *d, int64_t n)
{
    int64_t i = 0;
    while (i < n) {
        char *end;
        long len = strtol(d + i, &end, 10);
        /* len is compared with what is left, never added to i: a hostile
         * length near LONG_MAX would overflow the sum. */
        if (len <= 0 || len > n - i || *end != ' ')
            return;
        const char *kv = end + 1, *stop = d + i + len - 1; /* stop at the '\n' */
        if (kv > stop || *stop != '\n')
            return; /* the length ends inside "LEN " or the record lacks its newline */
        const char *eq = memchr(kv, '=', (size_t)(stop - kv));
        if (eq && eq - kv == 4 && memcmp(kv, "path", 4) == 0) {
            free(s->long_name);
            s->long_name = malloc((size_t)(stop - eq));
            if (s->long_name) {
                memcpy(s->long_name, eq + 1, (size_t)(stop - eq - 1));
                s->long_name[stop - eq - 1] = '\0';
            }
        } else if (eq && eq - kv == 4 && memcmp(kv, "size", 4) == 0) {
            s->pax_size = strtoll(eq + 1, NULL, 10);
        }
        i += len;
    }
}

static void member_name(scan *s, const unsigned char *h, char *buf, size_t cap)
{
    size_t nl = strnlen((const char *)h, 100);
    size_t pl = memcmp(h + 257, "ustar", 5) == 0 ? strnlen((const char *)h + 345, 155) : 0;
    if (s->long_name) {
        snprintf(buf, cap, "%s", s->long_name);
    } else if (pl) {
        snprintf(buf, cap, "%.*s/%.*s", (int)pl, (const char *)h + 345, (int)nl, (const char *)h);
    } else {
        snprintf(buf, cap, "%.*s", (int)nl, (const char *)h);
    }
}

/* After a bad header: the next block, past pos, that is a valid header. */
static int64_t resync(scan *s, int64_t pos)
{
    unsigned char h[BLOCK];
    for (pos += BLOCK; pos + BLOCK <= s->file_size; pos += BLOCK) {
        if (read_at(s, pos, h, BLOCK) != 0)
            return -1;
        if (!all_zero(h) && checksum_ok(h))
            return pos;
    }
    return -1;
}

static int walk(scan *s, ds_tar_fn fn, void *user)
{
    unsigned char h[BLOCK];
    char name[4096 + 256];
    int64_t pos = 0;
    while (pos < s->file_size) {
        if (pos + BLOCK > s->file_size || read_at(s, pos, h, BLOCK) != 0) {
            warnf(s, "%s: truncated tar (partial header at offset %" PRId64 ")", s->path, pos);
            return 0;
        }
        if (all_zero(h))
            return 0; /* end-of-archive marker */
        int64_t size;
        if (!checksum_ok(h) || parse_num(h + 124, 12, &size) != 0 || size < 0) {
            int64_t next = resync(s, pos);
            warnf(s, "%s: corrupt tar header at offset %" PRId64 " (bad checksum or size), "
                  "%s", s->path, pos, next < 0 ? "rest of the shard skipped" : "skipped to the next header");
            free(s->long_name);
            s->long_name = NULL;
            s->pax_size = -1;
            if (next < 0)
                return 0;
            pos = next;
            continue;
        }
        char type = (char)h[156];
        int regular = type == '0' || type == '\0' || type == '7';
        if (regular && s->pax_size >= 0)
            size = s->pax_size;
        int64_t data = pos + BLOCK;
        if (size > s->file_size - data) { /* not data + size: size may be near INT64_MAX */
            member_name(s, h, name, sizeof name);
            warnf(s, "%s: member %s truncated (%" PRId64 " bytes, %" PRId64 " left in the file)",
                  s->path, name, size, s->file_size - data);
            return 0;
        }
        if (type == 'x' || type == 'L') {
            char *meta;
            if (read_meta(s, data, size, &meta) != 0) {
                warnf(s, "%s: unreadable %s header at offset %" PRId64, s->path,
                      type == 'x' ? "pax" : "long-name", pos);
            } else if (type == 'x') {
                apply_pax(s, meta, size);
                free(meta);
            } else {
                free(s->long_name);
                s->long_name = meta;
            }
        } else {
            if (regular) {
                member_name(s, h, name, sizeof name);
                ds_tar_member m = {name, data, size};
                int r = fn(user, &m);
                if (r)
                    return r;
            }
            free(s->long_name);
            s->long_name = NULL;
            s->pax_size = -1;
        }
        pos = data + (size + BLOCK - 1) / BLOCK * BLOCK;
    }
    return 0;
}

int ds_tar_scan(const char *path, ds_tar_fn fn, void *user, ds_warn_fn warn, void *warn_user,
                int64_t *bad)
{
    int64_t dummy = 0;
    scan s = {path, NULL, 0, warn, warn_user, bad ? bad : &dummy, NULL, -1};
    s.f = fopen(path, "rb");
    if (!s.f)
        return cc_fail(CC_ERR_IO, "cannot open tar shard %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(s.f), &st) != 0 || !S_ISREG(st.st_mode)) {
        const char *why = io_not_regular(fileno(s.f));
        fclose(s.f);
        return cc_fail(CC_ERR_IO, "tar shard %s: %s (expected a .tar file)", path, why);
    }
    s.file_size = (int64_t)st.st_size;
    int rc = walk(&s, fn, user);
    free(s.long_name);
    fclose(s.f);
    return rc;
}
