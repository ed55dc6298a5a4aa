/* The database of GEMM defaults (gemm_db.h): parse, load, look up. */
#include "runtime/gemm_db.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rt.h"
#include "runtime/settings.h"

extern const char rt_gemm_defaults_text[]; /* generated from runtime/gemm_defaults.txt */

const char *rt_gemm_db_embedded(void) { return rt_gemm_defaults_text; }

static const char *const level_names[RT_DB_LEVELS] = {"device", "arch", "vendor", "class"};

const char *rt_gemm_db_level_name(rt_gemm_db_level l)
{
    return (int)l >= 0 && l < RT_DB_LEVELS ? level_names[l] : "?";
}

/* Copies the text between *s and the next '|' (or the end), trimmed, into
 * buf; moves *s past the '|'. 0 when the field does not fit. */
static int take_field(const char **s, char *buf, size_t len)
{
    const char *a = *s, *b = a;
    while (*b && *b != '|')
        b++;
    *s = *b ? b + 1 : b;
    while (a < b && isspace((unsigned char)*a))
        a++;
    while (b > a && isspace((unsigned char)b[-1]))
        b--;
    if ((size_t)(b - a) >= len)
        return 0;
    memcpy(buf, a, (size_t)(b - a));
    buf[b - a] = 0;
    return 1;
}

static int bad(char *err, size_t errlen, const char *origin, int line, const char *what, const char *found)
{
    snprintf(err, errlen, "%s:%d: %s, found \"%.60s\"", origin, line, what, found);
    return -1;
}

/* One entry line into e; -1 with err on a malformed one. */
static int parse_line(const char *s, const char *origin, int line, rt_gemm_db_entry *e, char *err, size_t errlen)
{
    char f[7][200];
    memset(e, 0, sizeof *e);
    e->line = line;
    int bars = 0;
    for (const char *c = s; *c; c++)
        bars += *c == '|';
    if (bars != 6)
        return bad(err, errlen, origin, line, "7 fields separated by '|'", s);
    for (int i = 0; i < 7; i++) {
        if (!take_field(&s, f[i], sizeof f[i]))
            return bad(err, errlen, origin, line, "a field of at most 199 characters", "");
    }
    int lv = -1;
    for (int i = 0; i < RT_DB_LEVELS; i++)
        if (!strcmp(f[0], level_names[i]))
            lv = i;
    if (lv < 0)
        return bad(err, errlen, origin, line, "level device, arch, vendor or class", f[0]);
    e->level = (rt_gemm_db_level)lv;
    if (!f[1][0] || strlen(f[1]) >= sizeof e->match)
        return bad(err, errlen, origin, line, "a match of 1 to 127 characters", f[1]);
    snprintf(e->match, sizeof e->match, "%s", f[1]);
    if (e->level == RT_DB_CLASS && rt_gemm_class_parse(e->match) < 0)
        return bad(err, errlen, origin, line, "a class name (cpu-avx512, cpu-avx2, cpu-128bit, gpu-nvidia, gpu-amd, "
                   "gpu-intel, gpu)", e->match);
    e->cls = !strcmp(f[2], "*") ? -1 : rt_gemm_class_parse(f[2]);
    if (e->cls < 0 && strcmp(f[2], "*"))
        return bad(err, errlen, origin, line, "a class name or *", f[2]);
    if (e->level == RT_DB_CLASS && e->cls >= 0 && e->cls != rt_gemm_class_parse(e->match))
        return bad(err, errlen, origin, line, "a class entry's class column equal to its match or *", f[2]);
    if (!rt_gemm_tile_parse(f[3], &e->tile))
        return bad(err, errlen, origin, line, "a tile TMxVWxNV (TM 1-32, VW 1/2/4/8/16, NV 1-8)", f[3]);
    if (!strcmp(f[4], "own"))
        e->impl = RT_GEMM_OWN;
    else if (!strcmp(f[4], "clblast"))
        e->impl = RT_GEMM_CLBLAST;
    else if (!strcmp(f[4], "measure"))
        e->impl = RT_GEMM_MEASURE;
    else
        return bad(err, errlen, origin, line, "impl own, clblast or measure", f[4]);
    if (strcmp(f[5], "measured") && strcmp(f[5], "guess"))
        return bad(err, errlen, origin, line, "status measured or guess", f[5]);
    e->guess = !strcmp(f[5], "guess");
    snprintf(e->note, sizeof e->note, "%s", f[6]);
    return 0;
}

int rt_gemm_db_parse(const char *text, const char *origin, rt_gemm_db *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int cap = 0, line = 0;
    for (const char *s = text; s && *s;) {
        const char *nl = strchr(s, '\n');
        const size_t n = nl ? (size_t)(nl - s) : strlen(s);
        line++;
        char buf[1024];
        if (n >= sizeof buf) {
            rt_gemm_db_free(out);
            return bad(err, errlen, origin, line, "a line of at most 1023 characters", "");
        }
        memcpy(buf, s, n);
        buf[n] = 0;
        s = nl ? nl + 1 : s + n;
        char *p = buf;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#')
            continue;
        if (out->n == cap) {
            cap = cap ? 2 * cap : 32;
            rt_gemm_db_entry *g = realloc(out->entries, (size_t)cap * sizeof *g);
            if (!g) {
                rt_gemm_db_free(out);
                snprintf(err, errlen, "%s: out of memory", origin);
                return -1;
            }
            out->entries = g;
        }
        if (parse_line(p, origin, line, &out->entries[out->n], err, errlen)) {
            rt_gemm_db_free(out);
            return -1;
        }
        out->n++;
    }
    return 0;
}

int rt_gemm_db_load(rt_gemm_db *out, char *err, size_t errlen)
{
    const char *path = rt_setting_value(RT_SET_GEMM_DB);
    if (!path || !*path)
        return rt_gemm_db_parse(rt_gemm_defaults_text, "runtime/gemm_defaults.txt", out, err, errlen);
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "CLIPCL_GEMM_DB: cannot read %.200s", path);
        return -1;
    }
    char *text = malloc((size_t)1 << 20);
    const size_t n = text ? fread(text, 1, ((size_t)1 << 20) - 1, f) : 0;
    const int too_big = text && n == ((size_t)1 << 20) - 1 && fgetc(f) != EOF;
    fclose(f);
    if (!text || too_big) {
        free(text);
        snprintf(err, errlen, "CLIPCL_GEMM_DB: %.200s: expected a text file under 1 MiB", path);
        return -1;
    }
    text[n] = 0;
    const int rc = rt_gemm_db_parse(text, path, out, err, errlen);
    free(text);
    return rc;
}

void rt_gemm_db_free(rt_gemm_db *db)
{
    if (!db)
        return;
    free(db->entries);
    db->entries = NULL;
    db->n = 0;
}

static int has_nocase(const char *hay, const char *needle)
{
    const size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return 0;
}

static int entry_fits(const rt_gemm_db_entry *e, const rt_device_info *d, int cls, const char *arch)
{
    if (e->cls >= 0 && e->cls != cls)
        return 0;
    switch (e->level) {
    case RT_DB_DEVICE: return has_nocase(d->device_name, e->match);
    case RT_DB_ARCH: return arch[0] && !strcmp(arch, e->match);
    case RT_DB_VENDOR: return has_nocase(d->vendor, e->match);
    case RT_DB_CLASS: return rt_gemm_class_parse(e->match) == cls;
    case RT_DB_LEVELS: break;
    }
    return 0;
}

const rt_gemm_db_entry *rt_gemm_db_lookup(const rt_gemm_db *db, const rt_device_info *d)
{
    char arch[128];
    rt_gemm_arch_of(d, arch, sizeof arch);
    const int cls = (int)rt_gemm_class_of(d);
    for (int lv = 0; lv < RT_DB_LEVELS; lv++)
        for (int i = 0; i < db->n; i++)
            if ((int)db->entries[i].level == lv && entry_fits(&db->entries[i], d, cls, arch))
                return &db->entries[i];
    /* a GPU of a known vendor without its own entry takes the generic one */
    if (rt_gemm_class_is_gpu((rt_gemm_class)cls))
        for (int i = 0; i < db->n; i++)
            if (db->entries[i].level == RT_DB_CLASS && !strcmp(db->entries[i].match, "gpu"))
                return &db->entries[i];
    return NULL;
}

void rt_gemm_db_entry_name(const rt_gemm_db_entry *e, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s%s", level_names[e->level], e->match, e->guess ? ", untuned guess" : "");
}
