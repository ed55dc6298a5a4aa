/* The on-disk cache of compiled program binaries, one file per key:
 * <cache>/programs/<hex>.bin = 32-byte header + the driver's binary.
 * Header (little endian): "CLIPCLPB", u32 format, u32 header size,
 * u64 payload length, u64 XXH64(payload). Anything that does not check out is
 * reported corrupt so the caller rebuilds; the cache is never trusted. */
#include "runtime/program_cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include "runtime/settings.h"
#include "runtime/fs.h"

const char *rt_cache_dir(char *buf, size_t len)
{
    const char *env = rt_setting_value(RT_SET_CACHE_DIR);
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int w;
    if (env && *env)
        w = snprintf(buf, len, "%s", env);
    else if (xdg && *xdg)
        w = snprintf(buf, len, "%s/clipcl", xdg);
    else if (home && *home)
        w = snprintf(buf, len, "%s/.cache/clipcl", home);
    else
        w = -1;
    /* An empty string means "no cache": callers then build every time. */
    if (len > 0 && (w < 0 || (size_t)w >= len))
        buf[0] = '\0';
    return buf;
}

static void hash_field(XXH3_state_t *st, const void *data, size_t n)
{
    /* Length-prefixed so ("ab","c") and ("a","bc") hash differently. */
    uint64_t len = n;
    XXH3_128bits_update(st, &len, sizeof len);
    if (n)
        XXH3_128bits_update(st, data, n);
}

void rt_pcache_key(const rt_device_info *dev, const char *options, const char *source,
                   size_t source_len, char hex[33])
{
    XXH3_state_t *st = XXH3_createState();
    XXH128_hash_t h = {0, 0};
    if (st) {
        uint32_t fmt = RT_PCACHE_FORMAT;
        const char *opt = options ? options : "";
        XXH3_128bits_reset(st);
        hash_field(st, &fmt, sizeof fmt);
        hash_field(st, dev->device_name, strlen(dev->device_name));
        hash_field(st, dev->driver_version, strlen(dev->driver_version));
        hash_field(st, dev->platform_version, strlen(dev->platform_version));
        hash_field(st, dev->device_version, strlen(dev->device_version));
        hash_field(st, opt, strlen(opt));
        hash_field(st, source, source_len);
        h = XXH3_128bits_digest(st);
        XXH3_freeState(st);
    }
    snprintf(hex, 33, "%016llx%016llx", (unsigned long long)h.high64, (unsigned long long)h.low64);
}

static int programs_dir(char *buf, size_t len)
{
    char root[3072];
    rt_cache_dir(root, sizeof root);
    if (!root[0])
        return -1;
    int w = snprintf(buf, len, "%s/programs", root);
    return (w < 0 || (size_t)w >= len) ? -1 : 0;
}

int rt_pcache_entry_path(const char *hex, char *buf, size_t len)
{
    char dir[3200];
    if (programs_dir(dir, sizeof dir) != 0)
        return -1;
    int w = snprintf(buf, len, "%s/%s.bin", dir, hex);
    return (w < 0 || (size_t)w >= len) ? -1 : 0;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

int rt_pcache_load(const char *hex, unsigned char **payload, size_t *len)
{
    char path[3300];
    *payload = NULL;
    *len = 0;
    if (rt_pcache_entry_path(hex, path, sizeof path) != 0)
        return RT_PCACHE_MISSING;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? RT_PCACHE_MISSING : RT_PCACHE_CORRUPT;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || sb.st_size < (off_t)RT_PCACHE_HEADER_BYTES + 1) {
        fclose(f);
        return RT_PCACHE_CORRUPT;
    }
    unsigned char hdr[RT_PCACHE_HEADER_BYTES];
    if (fread(hdr, 1, sizeof hdr, f) != sizeof hdr || memcmp(hdr, RT_PCACHE_MAGIC, 8) != 0 ||
        get_u32(hdr + 8) != RT_PCACHE_FORMAT || get_u32(hdr + 12) != RT_PCACHE_HEADER_BYTES) {
        fclose(f);
        return RT_PCACHE_CORRUPT;
    }
    uint64_t plen = get_u64(hdr + 16);
    uint64_t sum = get_u64(hdr + 24);
    if (plen != (uint64_t)sb.st_size - RT_PCACHE_HEADER_BYTES) {
        fclose(f);
        return RT_PCACHE_CORRUPT;
    }
    unsigned char *buf = malloc((size_t)plen);
    if (!buf || fread(buf, 1, (size_t)plen, f) != plen || XXH64(buf, (size_t)plen, 0) != sum) {
        free(buf);
        fclose(f);
        return RT_PCACHE_CORRUPT;
    }
    fclose(f);
    *payload = buf;
    *len = (size_t)plen;
    return RT_PCACHE_LOADED;
}

int rt_pcache_store(const char *hex, const unsigned char *payload, size_t len)
{
    char dir[3200], path[3300], tmp[3300];
    if (!payload || len == 0 || programs_dir(dir, sizeof dir) != 0)
        return -1;
    if (rt_make_dirs(dir) != CC_OK) {
        cc_clear_error(); /* an unwritable cache is not an error of the caller's */
        return -1;
    }
    int w1 = snprintf(path, sizeof path, "%s/%s.bin", dir, hex);
    int w2 = snprintf(tmp, sizeof tmp, "%s/.%s.tmp.XXXXXX", dir, hex);
    if (w1 < 0 || (size_t)w1 >= sizeof path || w2 < 0 || (size_t)w2 >= sizeof tmp)
        return -1;
    /* A unique temp name in the same dir: concurrent writers never see each
     * other's half-written file, and rename() replaces the entry atomically. */
    int fd = mkstemp(tmp);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    unsigned char hdr[RT_PCACHE_HEADER_BYTES];
    memcpy(hdr, RT_PCACHE_MAGIC, 8);
    put_u32(hdr + 8, RT_PCACHE_FORMAT);
    put_u32(hdr + 12, RT_PCACHE_HEADER_BYTES);
    put_u64(hdr + 16, (uint64_t)len);
    put_u64(hdr + 24, XXH64(payload, len, 0));
    int ok = fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr && fwrite(payload, 1, len, f) == len &&
             fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}
