/* The database of GEMM defaults: data kept in the repository
 * (runtime/gemm_defaults.txt, embedded at build time; CLIPCL_GEMM_DB=FILE
 * replaces it), one entry per line:
 *
 *   level | match | class | tile | impl | status | note
 *
 * level   device, arch, vendor or class (most specific first);
 * match   device: part of the device name; arch: the architecture as
 *         rt_gemm_arch_of gives it ("pthread-haswell"); vendor: part of the
 *         vendor string; class: a class name (runtime/gemm_space.h);
 * class   the entry applies only to devices of this class ("*": any);
 * tile    TMxVWxNV of the CPU-style own GEMM;
 * impl    own, clblast, or measure (own vs CLBlast timed once at first use);
 * status  measured, or guess (an untuned guess, shown as such);
 * note    free text: where the number came from.
 *
 * Lookup falls back device -> arch -> vendor -> class -> (for gpu-* classes)
 * gpu; the per-device cache of `clipcl tune` overlays whatever it gives
 * (backends/opencl/ocl_gemm_select.c). docs/gemm.md "Database". */
#ifndef CLIPCL_RUNTIME_GEMM_DB_H
#define CLIPCL_RUNTIME_GEMM_DB_H

#include <stddef.h>

#include "runtime/gemm_space.h"
#include "runtime/policy.h"

typedef enum rt_gemm_db_level {
    RT_DB_DEVICE = 0,
    RT_DB_ARCH,
    RT_DB_VENDOR,
    RT_DB_CLASS,
    RT_DB_LEVELS
} rt_gemm_db_level;

typedef struct rt_gemm_db_entry {
    rt_gemm_db_level level;
    char match[128];
    int cls;                  /* rt_gemm_class, or -1 for "*" */
    rt_gemm_tile tile;
    rt_gemm_impl_choice impl; /* RT_GEMM_MEASURE, OWN or CLBLAST */
    int guess;                /* 1: untuned guess */
    char note[200];
    int line;                 /* in its file, for messages */
} rt_gemm_db_entry;

typedef struct rt_gemm_db {
    int n;
    rt_gemm_db_entry *entries;
} rt_gemm_db;

/* Parses text; origin names it in errors. On a malformed line: -1 and one
 * line in err naming origin, line and what was expected (out stays empty). */
int rt_gemm_db_parse(const char *text, const char *origin, rt_gemm_db *out, char *err, size_t errlen);
/* The embedded database, or the file named by CLIPCL_GEMM_DB. -1 with err as
 * rt_gemm_db_parse, or when the file cannot be read. */
int rt_gemm_db_load(rt_gemm_db *out, char *err, size_t errlen);
void rt_gemm_db_free(rt_gemm_db *db);
/* The embedded text (runtime/gemm_defaults.txt). */
const char *rt_gemm_db_embedded(void);

/* The entry for d along the fallback chain; NULL when none fits. */
const rt_gemm_db_entry *rt_gemm_db_lookup(const rt_gemm_db *db, const rt_device_info *d);
/* "arch pthread-haswell", "class gpu-amd, untuned guess". */
void rt_gemm_db_entry_name(const rt_gemm_db_entry *e, char *buf, size_t len);
const char *rt_gemm_db_level_name(rt_gemm_db_level l);

#endif
