/* Internals shared by program.c and program_cache.c: the in-memory program
 * entry and the on-disk binary cache. Not part of the public runtime API. */
#ifndef CLIPCL_PROGRAM_CACHE_H
#define CLIPCL_PROGRAM_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/rt.h"

/* Bump when the key recipe or the entry layout changes: old entries then
 * simply stop matching (different key) or fail the header check. */
#define RT_PCACHE_FORMAT 1u
#define RT_PCACHE_MAGIC "CLIPCLPB"
#define RT_PCACHE_HEADER_BYTES 32u

struct rt_program_entry {
    char *file;
    char *options;
    uint64_t source_hash; /* so an edited override file gets its own program */
    cl_program program;
};

/* 32 lowercase hex digits of XXH3-128 over format, device name, driver,
 * platform and device version, options and source. */
void rt_pcache_key(const rt_device_info *dev, const char *options, const char *source,
                   size_t source_len, char hex[33]);

enum { RT_PCACHE_MISSING = 0, RT_PCACHE_LOADED = 1, RT_PCACHE_CORRUPT = -1 };
/* Reads <cache>/programs/<hex>.bin; on RT_PCACHE_LOADED *payload is malloc'd. */
int rt_pcache_load(const char *hex, unsigned char **payload, size_t *len);
/* Atomically writes the entry; returns 0, or -1 when it could not be stored
 * (no cache dir, unwritable, disk full). Never fatal. */
int rt_pcache_store(const char *hex, const unsigned char *payload, size_t len);
/* Path of the entry file for hex, or -1 if there is no cache dir. */
int rt_pcache_entry_path(const char *hex, char *buf, size_t len);

#endif
