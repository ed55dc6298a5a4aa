/* The self-check's result on disk (selfcheck_cache.h). The file is text so
 * that a person can read why a variant is off on their device; it holds the
 * items checked so far: the parts of the variants and the fusion patterns
 * the plans made so far use (selfcheck.c adds the others when a plan uses
 * them; clipcl devices --check all of them). */
#include "backends/selfcheck_cache.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "runtime/kernel_source.h"
#include "runtime/policy.h"
#include "runtime/status.h"
#include "runtime/fs.h"

/* Bump when the checks change: old results then stop matching. */
#define SC_FORMAT "clipcl-selfcheck-2" /* 2: variants in parts, "<variant>:<part>" */

void sc_key_of(const rt_ctx *ctx, char hex[17])
{
    XXH64_state_t *st = XXH64_createState();
    unsigned long long h = 0;
    if (st) {
        XXH64_reset(st, 0);
        const char *parts[] = {SC_FORMAT, ctx->dev.platform_name, ctx->dev.platform_version, ctx->dev.device_name,
                               ctx->dev.driver_version};
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
            XXH64_update(st, parts[i], strlen(parts[i]) + 1);
        /* every kernel file as this process would build it (overrides and
         * includes resolved): an edited kernel is a new thing to check */
        for (const rt_embedded_kernel *k = rt_embedded_kernels; k->name; k++) {
            size_t len = 0;
            const char *src = rt_kernel_source(k->name, &len, NULL);
            XXH64_update(st, k->name, strlen(k->name) + 1);
            if (src)
                XXH64_update(st, src, len);
        }
        cc_clear_error();
        h = (unsigned long long)XXH64_digest(st);
        XXH64_freeState(st);
    }
    snprintf(hex, 17, "%016llx", h);
}

int sc_cache_path(const char *hex, char *buf, size_t len)
{
    char cache[768];
    rt_cache_dir(cache, sizeof cache);
    if (!cache[0])
        return -1;
    const int w = snprintf(buf, len, "%s/tuning/selfcheck-%s.txt", cache, hex);
    return (w < 0 || (size_t)w >= len) ? -1 : 0;
}

void sc_add_item(sc_report *r, const char *name, int disabled, const char *why, double seconds, int now)
{
    if (r->n_items >= SC_MAX_ITEMS)
        return;
    sc_item *it = &r->item[r->n_items++];
    snprintf(it->name, sizeof it->name, "%s", name);
    it->disabled = disabled;
    snprintf(it->why, sizeof it->why, "%s", disabled ? why : "");
    it->seconds = seconds;
    it->now = now;
}

void sc_summarise(sc_report *r)
{
    r->disabled = 0;
    r->fusion_off[0] = 0;
    for (int i = 0; i < r->n_items; i++) {
        const sc_item *it = &r->item[i];
        if (!it->disabled)
            continue;
        for (int v = 0; v < RT_VAR_COUNT; v++) { /* the variant itself, or one of its parts */
            const char *vn = rt_variant_name((rt_variant)v);
            const size_t n = strlen(vn);
            if (!strncmp(it->name, vn, n) && (it->name[n] == 0 || it->name[n] == ':'))
                r->disabled |= 1u << v;
        }
        if (!strncmp(it->name, "fusion=", 7)) {
            const size_t n = strlen(r->fusion_off);
            snprintf(r->fusion_off + n, sizeof r->fusion_off - n, "%s%s", n ? "," : "", it->name + 7);
        }
    }
}

int sc_read_cache(const char *file, sc_report *r)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return 0;
    char line[600];
    int complete = 0;
    r->n_items = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char name[48], state[16];
        int used = 0;
        if (sscanf(line, "variant %47s %15s %n", name, state, &used) >= 2) {
            const int dis = !strcmp(state, "disabled");
            if (dis || !strcmp(state, "ok"))
                sc_add_item(r, name, dis, used ? line + used : "", 0.0, 0);
        } else if (!strcmp(line, "end")) {
            complete = 1;
        }
    }
    fclose(f);
    if (!complete || r->n_items == 0)
        return 0;
    sc_summarise(r);
    return 1;
}

void sc_write_cache(const rt_ctx *ctx, const char *file, const sc_report *r)
{
    char tmp[1100];
    char dir[1000];
    snprintf(dir, sizeof dir, "%s", file);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (rt_make_dirs(dir) != CC_OK)
            cc_clear_error(); /* the cache is optional: without its folder the write is skipped */
    }
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", file, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    time_t now = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&now));
    fprintf(f, "# clipcl device self-check of the kernel variants checked so far against the reference backend, %s\n", when);
    fprintf(f, "# delete this file (or run clipcl devices --check) to check again\n");
    fprintf(f, "device %s\nplatform %s %s\ndriver %s\nseconds %.2f\n", ctx->dev.device_name, ctx->dev.platform_name,
            ctx->dev.platform_version, ctx->dev.driver_version, r->seconds);
    for (int i = 0; i < r->n_items; i++)
        fprintf(f, "variant %s %s%s%s\n", r->item[i].name, r->item[i].disabled ? "disabled" : "ok",
                r->item[i].disabled ? " " : "", r->item[i].why);
    fprintf(f, "end\n");
    const int bad = fclose(f) != 0;
    if (bad || rename(tmp, file))
        remove(tmp);
}

int sc_has_item(const sc_report *r, const char *name)
{
    for (int i = 0; i < r->n_items; i++)
        if (!strcmp(r->item[i].name, name))
            return 1;
    return 0;
}
