/* The result page of `clipcl search --html`: one self-contained HTML file
 * (no external file, script or font: thumbnails are PNG data URIs) showing
 * the query and the top K as a grid with rank, score, key and caption. All
 * text from the index is escaped. Written atomically (io/atomic_file.h). */
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC /* private copy, as in io/synth_write.c */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/atomic_file.h"
#include "io/dataset.h"
#include "io/image.h"
#include "tools/cmd.h"
#include "tools/cmd_search.h"

/* Longest thumbnail side: sharp on a high-DPI screen at the 200 px the grid
 * shows; smaller images are kept as they are and scaled by the browser. */
#define THUMB 320

/* ---- a growable text buffer ----------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int failed;
} sbuf;

static void sb_add(sbuf *b, const void *s, size_t n)
{
    if (b->failed)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) CC_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        b->failed = 1;
    else
        sb_add(b, tmp, (size_t)n);
}

/* Text as HTML: the five special characters as entities, control
 * characters other than tab and newline dropped. */
static void sb_esc(sbuf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '&': sb_str(b, "&amp;"); break;
        case '<': sb_str(b, "&lt;"); break;
        case '>': sb_str(b, "&gt;"); break;
        case '"': sb_str(b, "&quot;"); break;
        case '\'': sb_str(b, "&#39;"); break;
        default:
            if (*p >= 0x20 || *p == '\t' || *p == '\n')
                sb_add(b, p, 1);
        }
    }
}

static void sb_base64(sbuf *b, const unsigned char *d, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char out[4];
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        out[0] = tab[v >> 18 & 63];
        out[1] = tab[v >> 12 & 63];
        out[2] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        out[3] = i + 2 < n ? tab[v & 63] : '=';
        sb_add(b, out, 4);
    }
}

/* ---- reading an image: a file, or a member of a tar ------------------------ */

static int read_file_bytes(const char *path, int64_t offset, int64_t size, unsigned char **out,
                           size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cc_fail(CC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    if (size < 0) {
        struct stat st;
        if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
            fclose(f);
            return cc_fail(CC_ERR_IO, "%s: not a regular file", path);
        }
        size = st.st_size;
    }
    if (size > IMG_MAX_FILE_BYTES) {
        fclose(f);
        return cc_fail(CC_ERR_IO, "%s: %lld bytes, more than an image may have", path,
                       (long long)size);
    }
    unsigned char *d = malloc(size ? (size_t)size : 1);
    int ok = d && fseeko(f, (off_t)offset, SEEK_SET) == 0 && fread(d, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    if (!ok) {
        free(d);
        return cc_fail(CC_ERR_IO, "%s: read failed", path);
    }
    *out = d;
    *len = (size_t)size;
    return CC_OK;
}

/* What match_member returns to stop the walk: not a cc_code. */
#define FOUND 1000

typedef struct member_find {
    const char *name;
    int64_t offset, size;
} member_find;

static int match_member(void *user, const ds_tar_member *m)
{
    member_find *f = user;
    if (strcmp(m->path, f->name) != 0)
        return 0;
    f->offset = m->offset;
    f->size = m->size;
    return FOUND;
}

static int read_member(const char *tar, const char *member, unsigned char **out, size_t *len)
{
    member_find f = {member, 0, -1};
    int64_t bad = 0;
    int rc = ds_tar_scan(tar, match_member, &f, NULL, NULL, &bad);
    if (rc != CC_OK && rc != FOUND)
        return rc;
    if (f.size < 0)
        return cc_fail(CC_ERR_IO, "%s: no member %s", tar, member);
    return read_file_bytes(tar, f.offset, f.size, out, len);
}

/* ---- thumbnails ------------------------------------------------------------ */

static void png_append(void *ctx, void *data, int size)
{
    sbuf *b = ctx;
    sb_add(b, data, (size_t)size);
}

/* A PNG of the image at most THUMB px on its longer side, into png. */
static int thumbnail(const unsigned char *bytes, size_t len, const char *name, sbuf *png)
{
    img_u8 im = {0}, rgb = {0}, small = {0};
    int rc = img_decode(bytes, len, name, &im);
    if (rc == CC_OK)
        rc = img_to_rgb(&im, &rgb);
    const img_u8 *use = &rgb;
    if (rc == CC_OK && (rgb.w > THUMB || rgb.h > THUMB)) {
        int w = rgb.w >= rgb.h ? THUMB : (int)((int64_t)rgb.w * THUMB / rgb.h);
        int h = rgb.h > rgb.w ? THUMB : (int)((int64_t)rgb.h * THUMB / rgb.w);
        rc = img_resize(&rgb, w < 1 ? 1 : w, h < 1 ? 1 : h, &small);
        use = &small;
    }
    if (rc == CC_OK && !stbi_write_png_to_func(png_append, png, use->w, use->h, 3, use->px,
                                               use->w * 3))
        rc = cc_fail(CC_ERR_NOMEM, "%s: PNG encoding failed", name);
    if (rc == CC_OK && png->failed)
        rc = cc_fail(CC_ERR_NOMEM, "%s: out of memory for the thumbnail", name);
    img_free(&im);
    img_free(&rgb);
    img_free(&small);
    return rc;
}

/* An <img> of the file (or tar member), or a note saying why there is none. */
static void add_image(sbuf *b, const char *path, const char *member, const char *alt,
                      const char *what)
{
    unsigned char *bytes = NULL;
    size_t len = 0;
    int rc = member && member[0] ? read_member(path, member, &bytes, &len)
                                 : read_file_bytes(path, 0, -1, &bytes, &len);
    sbuf png = {0};
    if (rc == CC_OK)
        rc = thumbnail(bytes, len, member && member[0] ? member : path, &png);
    free(bytes);
    if (rc == CC_OK) {
        sb_str(b, "<img src=\"data:image/png;base64,");
        sb_base64(b, (const unsigned char *)png.p, png.n);
        sb_str(b, "\" alt=\"");
        sb_esc(b, alt);
        sb_str(b, "\">");
    } else {
        fprintf(stderr, "clipcl: warning: --html: cannot show %s: %s\n", what, cc_last_error());
        sb_str(b, "<div class=\"missing\">image not readable: ");
        sb_esc(b, cc_last_error());
        sb_str(b, "</div>");
    }
    free(png.p);
}

/* ---- the page ------------------------------------------------------------------ */

static const char style[] =
    "body{font:15px/1.35 system-ui,sans-serif;margin:24px;background:#fafafa;color:#222}"
    "h1{font-size:20px;margin:0 0 8px}"
    ".query{display:flex;gap:16px;align-items:center;margin-bottom:6px}"
    ".query img{width:120px;height:120px;object-fit:contain;background:#fff;border:1px solid #ccc}"
    ".qtext{font-size:22px;font-weight:600}"
    ".info{color:#666;font-size:13px;margin:0 0 18px}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:14px}"
    ".hit{margin:0;background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px}"
    ".hit img{display:block;width:100%;aspect-ratio:1;object-fit:contain;background:#f0f0f0}"
    ".missing{aspect-ratio:1;display:flex;align-items:center;justify-content:center;"
    "text-align:center;font-size:12px;color:#a00;background:#f6e8e8;padding:6px}"
    ".meta{margin-top:6px;font-size:13px}"
    ".rank{font-weight:700}.score{float:right;font-variant-numeric:tabular-nums;color:#236}"
    ".key{color:#555;font-family:monospace;overflow-wrap:anywhere}"
    ".caption{margin-top:3px;overflow-wrap:anywhere}";

static void add_hit(sbuf *b, const search_page *p, int i)
{
    const embidx_meta *m = &p->meta[i];
    sb_str(b, "<figure class=\"hit\">");
    if (p->kind == EMBIDX_IMAGE && m->path[0]) {
        char *file = search_resolve_path(m->path, p->root, p->data);
        char what[96];
        snprintf(what, sizeof what, "rank %d (row %lld)", i + 1, (long long)p->hits[i].row);
        add_image(b, file ? file : m->path, m->member, m->key, what);
        free(file);
    }
    sb_printf(b, "<figcaption class=\"meta\"><span class=\"rank\">#%d</span>"
                 "<span class=\"score\">%.4f</span><div class=\"key\">", i + 1,
              p->hits[i].score);
    sb_esc(b, m->key);
    sb_str(b, "</div><div class=\"caption\">");
    sb_esc(b, m->caption);
    sb_str(b, "</div></figcaption></figure>\n");
}

int search_write_html(const char *out, const search_page *p)
{
    sbuf b = {0};
    sb_str(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>clipcl "
               "search: ");
    sb_esc(&b, p->query_text ? p->query_text : p->query_image);
    sb_str(&b, "</title>\n<style>");
    sb_str(&b, style);
    sb_str(&b, "</style></head>\n<body>\n<h1>clipcl search</h1>\n<div class=\"query\">");
    if (p->query_image)
        add_image(&b, p->query_image, NULL, p->query_image, "the query image");
    sb_str(&b, "<span class=\"qtext\">");
    sb_esc(&b, p->query_text ? p->query_text : p->query_image);
    sb_str(&b, "</span></div>\n<p class=\"info\">");
    sb_printf(&b, "top %d of %lld %s rows in ", p->n, (long long)p->rows,
              p->kind == EMBIDX_TEXT ? "text" : "image");
    sb_esc(&b, p->index_dir);
    if (p->model) {
        sb_str(&b, " &middot; model ");
        sb_esc(&b, p->model);
    }
    if (p->seconds < 1)
        sb_printf(&b, " &middot; exact search in %.1f ms", p->seconds * 1e3);
    else
        sb_printf(&b, " &middot; exact search in %.2f s", p->seconds);
    sb_str(&b, "</p>\n<main class=\"grid\">\n");
    for (int i = 0; i < p->n; i++)
        add_hit(&b, p, i);
    sb_str(&b, "</main>\n</body></html>\n");
    if (b.failed) {
        free(b.p);
        return cmd_error("--html %s: out of memory building the page", out);
    }
    io_atomic a;
    int rc = io_atomic_open(&a, out);
    if (rc == CC_OK)
        rc = io_atomic_write(&a, b.p, b.n);
    if (rc == CC_OK)
        rc = io_atomic_commit(&a);
    else
        io_atomic_abort(&a);
    free(b.p);
    return rc == CC_OK ? 0 : cmd_error("--html: %s", cc_last_error());
}

/* ---- paths ------------------------------------------------------------------- */

static char *join2(const char *dir, const char *name)
{
    size_t a = strlen(dir), n = a + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", dir, a && dir[a - 1] != '/' ? "/" : "", name);
    return p;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

char *search_resolve_path(const char *path, const char *root, const char *data)
{
    if (path[0] == '/')
        return join2("", path);
    char *cand = NULL;
    if (root) {
        cand = join2(root, path);
        if (!cand || exists(cand))
            return cand;
        free(cand);
    }
    if (exists(path) || !data)
        return join2("", path);
    /* The SET is a folder (paths under it) or a file list/CSV/shard pattern
     * (paths under its folder). */
    struct stat st;
    if (stat(data, &st) == 0 && S_ISDIR(st.st_mode)) {
        cand = join2(data, path);
    } else {
        const char *slash = strrchr(data, '/');
        size_t n = slash ? (size_t)(slash - data) : 0;
        char *dir = malloc(n + 2);
        if (!dir)
            return NULL;
        memcpy(dir, slash ? data : ".", slash ? n : 1);
        dir[slash ? n : 1] = '\0';
        cand = join2(dir, path);
        free(dir);
    }
    if (cand && exists(cand))
        return cand;
    free(cand);
    return join2("", path);
}
