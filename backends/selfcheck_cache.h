/* The self-check's result on disk (selfcheck_cache.c): the key of a device,
 * driver and kernel sources, the cache file under rt_cache_dir()/tuning/, and
 * the report's items. Internal to backends/selfcheck.c. */
#ifndef CLIPCL_BACKEND_SELFCHECK_CACHE_H
#define CLIPCL_BACKEND_SELFCHECK_CACHE_H

#include <stddef.h>

#include "backends/selfcheck.h"

/* The key: platform, device, driver and every kernel file as this process
 * would build it (overrides and includes resolved), 16 hex digits. */
void sc_key_of(const rt_ctx *ctx, char hex[17]);

/* rt_cache_dir()/tuning/selfcheck-<hex>.txt; -1 without a cache folder. */
int sc_cache_path(const char *hex, char *buf, size_t len);

/* 1 when the file holds a whole result (its items replace r's; the items
 * checked so far, which need not be every variant). */
int sc_read_cache(const char *file, sc_report *r);

/* Best effort: a cache that cannot be written costs a check next time. */
void sc_write_cache(const rt_ctx *ctx, const char *file, const sc_report *r);

/* Appends an item (now: checked by this call). */
void sc_add_item(sc_report *r, const char *name, int disabled, const char *why, double seconds, int now);

/* 1 when r holds an item of that name. */
int sc_has_item(const sc_report *r, const char *name);

/* The summary fields (disabled bits, fusion_off) from the items. */
void sc_summarise(sc_report *r);

#endif
