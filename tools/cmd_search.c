/* clipcl search: the K rows of an embedding folder nearest to a text or an
 * image, by exact inner product over every row (io/emb_search.h), printed as
 * a table, as JSON, or shown as an HTML page (tools/cmd_search_html.c). */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/emb_index.h"
#include "io/emb_search.h"
#include "runtime/clock.h"
#include "tools/cmd.h"
#include "tools/cmd_clip.h"
#include "tools/cmd_search.h"

#define DEFAULT_TOP 10

const char cmd_search_usage[] =
    "usage: clipcl search --index DIR (--text TEXT | --image IMAGE) [--top K]\n"
    "                     [--model MODEL] [--device D] [--dtype T] [--html OUT.html]\n"
    "                     [--json]\n"
    "                     [--kind image|text] [--threads N] [--root DIR]\n\n"
    "Embeds the query with the index's model and prints the K rows of the\n"
    "index with the largest inner product (cosine, as the rows and the query\n"
    "are unit length): rank, score, key, image (path, or tar:member for a\n"
    "webdataset) and caption. The search is exact: every row of every shard is\n"
    "scored, shard by shard (memory-mapped), on all cores; equal scores are\n"
    "ordered by row. DIR is the output folder of `clipcl embed-image --data`\n"
    "(img_emb_NNNN.npy + metadata_NNNN.csv) or `embed-text --data`\n"
    "(text_emb_NNNN.npy + text_metadata_NNNN.csv); docs/search.md.\n\n"
    "  --index DIR      the embedding folder\n"
    "  --text TEXT      find the rows nearest to this text\n"
    "  --image IMAGE    find the rows nearest to this image file\n"
    "  --top K          how many rows (default 10, or all of a smaller index; at\n"
    "                   most the index's rows)\n"
    "  --model MODEL    the model that embeds the query (default: the one\n"
    "                   DIR/manifest.json records); it must be the model, or at\n"
    "                   least the embedding width, the index was made with\n"
    "  --device D       as for embed-image\n"
    "  --dtype T        as for embed-image\n"
    "  --allow-unused   as for embed-image\n"
    "  --html OUT.html  also write a page that shows the query and the K images\n"
    "                   as a grid (thumbnails inlined: one file to open or send)\n"
    "  --json           one JSON document instead of the table\n"
    "  --kind KIND      image or text: which shards of DIR to search when it\n"
    "                   holds both (default: the manifest's kind, else image)\n"
    "  --threads N      threads that score rows (default: the cores online)\n"
    "  --root DIR       folder the metadata's relative image paths are under, for\n"
    "                   the page; tried first, then the current folder, then the\n"
    "                   folder of the set the manifest records as \"data\"\n"
    "  --vocab FILE     the tokenizer file to use instead of the model's\n";

typedef struct search_args {
    cmd_model_opts mo;
    const char *index, *text, *image, *html, *root, *kind_arg;
    int top, top_given, threads, json, kind;
} search_args;

static int parse_int(const char *cmd, const char *opt, const char *v, long lo, long hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi)
        return cmd_usage_error(cmd, "%s \"%s\": expected an integer from %ld to %ld", opt, v, lo,
                               hi);
    *out = (int)x;
    return 0;
}

static int parse(int argc, char **argv, search_args *a)
{
    memset(a, 0, sizeof *a);
    a->top = DEFAULT_TOP;
    a->kind = EMBIDX_AUTO;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    a->threads = cores < 1 ? 1 : cores > 64 ? 64 : (int)cores;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = NULL;
        if (strcmp(s, "--json") == 0) {
            a->json = 1;
            continue;
        }
        int r = cmd_model_option(argc, argv, &i, &a->mo);
        if (r == 2)
            return 2;
        if (r == 1)
            continue;
        if ((r = cmd_option_value(argc, argv, &i, "--index", &a->index)) ||
            (r = cmd_option_value(argc, argv, &i, "--text", &a->text)) ||
            (r = cmd_option_value(argc, argv, &i, "--image", &a->image)) ||
            (r = cmd_option_value(argc, argv, &i, "--html", &a->html)) ||
            (r = cmd_option_value(argc, argv, &i, "--root", &a->root)) ||
            (r = cmd_option_value(argc, argv, &i, "--kind", &a->kind_arg))) {
            if (r < 0)
                return 2;
            continue;
        }
        if ((r = cmd_option_value(argc, argv, &i, "--top", &v)) != 0) {
            if (r < 0 || parse_int(argv[0], "--top", v, 1, EMBIDX_MAX_K, &a->top))
                return 2;
            a->top_given = 1;
            continue;
        }
        if ((r = cmd_option_value(argc, argv, &i, "--threads", &v)) != 0) {
            if (r < 0 || parse_int(argv[0], "--threads", v, 1, 1024, &a->threads))
                return 2;
            continue;
        }
        if (s[0] == '-')
            return cmd_usage_error(argv[0], "unknown option \"%s\"", s);
        return cmd_usage_error(argv[0], "unexpected argument \"%s\" (the query goes after --text "
                                        "or --image)", s);
    }
    if (!a->index)
        return cmd_usage_error(argv[0], "--index DIR is required");
    if (!a->text == !a->image)
        return cmd_usage_error(argv[0], a->text ? "give --text or --image, not both"
                                                : "a query is required: --text TEXT or --image "
                                                  "IMAGE");
    if (a->kind_arg) {
        if (strcmp(a->kind_arg, "image") == 0)
            a->kind = EMBIDX_IMAGE;
        else if (strcmp(a->kind_arg, "text") == 0)
            a->kind = EMBIDX_TEXT;
        else
            return cmd_usage_error(argv[0], "--kind \"%s\": expected image or text", a->kind_arg);
    }
    /* Before the model loads and the index is read, not at the rename. */
    return a->html ? cmd_check_out("--html", a->html) : 0;
}

/* The manifest's model: as recorded, or inside the index folder when it was
 * recorded relative to where the index was made and is not found from here. */
static char *model_path(const embidx *ix)
{
    struct stat st;
    size_t n = strlen(ix->dir) + strlen(ix->model) + 2;
    char *p = malloc(n);
    if (!p)
        return NULL;
    if (ix->model[0] == '/' || stat(ix->model, &st) == 0)
        snprintf(p, n, "%s", ix->model);
    else
        snprintf(p, n, "%s/%s", ix->dir, ix->model);
    if (stat(p, &st) != 0)
        snprintf(p, n, "%s", ix->model); /* the loader's error names the recorded path */
    return p;
}

static int embed_query(const search_args *a, const embidx *ix, float **q)
{
    *q = NULL;
    cmd_model_opts mo = a->mo;
    char *from_manifest = NULL;
    if (!mo.model) {
        if (!ix->model)
            return cmd_error("index %s records no model (no \"model\" in its manifest.json): "
                             "give --model MODEL", ix->dir);
        from_manifest = model_path(ix);
        if (!from_manifest)
            return cmd_error("out of memory");
        mo.model = from_manifest;
    }
    clipcl_model *m = NULL;
    int rc = cmd_model_open(&mo, &m);
    if (!rc && clipcl_embed_dim(m) != ix->dim)
        rc = cmd_error("model %s embeds to %d dimensions, but index %s has %d (%s shards): give "
                       "the --model the index was made with", mo.model, clipcl_embed_dim(m),
                       ix->dir, ix->dim, es_npy_prefix(ix->kind));
    if (!rc) {
        *q = malloc((size_t)ix->dim * sizeof **q);
        if (!*q)
            rc = cmd_error("out of memory");
    }
    if (!rc) {
        int truncated = 0, lrc;
        if (a->text)
            lrc = clipcl_encode_texts(m, &a->text, 1, CLIPCL_NORMALIZE, *q, &truncated);
        else
            lrc = clipcl_encode_image_files(m, &a->image, 1, CLIPCL_NORMALIZE, *q);
        if (lrc)
            rc = cmd_lib_error(lrc);
        else if (truncated)
            fprintf(stderr, "clipcl: warning: the query text is longer than %d tokens; cut to "
                            "fit, with the end-of-text token kept last.\n", clipcl_context_length(m));
    }
    if (rc) {
        free(*q);
        *q = NULL;
    }
    clipcl_free(m);
    free(from_manifest);
    return rc;
}

/* ---- output ---------------------------------------------------------------- */

/* A field for the table: control characters (a caption's newline or tab)
 * as spaces, so one result stays one line. */
static void put_field(const char *s, int width)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
        putchar(*p < 0x20 || *p == 0x7f ? ' ' : *p);
    for (; n < width; n++)
        putchar(' ');
}

static int cap_width(size_t n, int cap) { return n > (size_t)cap ? cap : (int)n; }

static void print_table(const search_args *a, const embidx *ix, const embidx_hit *h,
                        const embidx_meta *m, int n)
{
    int kw = 3, pw = 5;
    for (int i = 0; i < n; i++) {
        size_t p = strlen(m[i].path) + (m[i].member[0] ? strlen(m[i].member) + 1 : 0);
        kw = cap_width(strlen(m[i].key) > (size_t)kw ? strlen(m[i].key) : (size_t)kw, 40);
        pw = cap_width(p > (size_t)pw ? p : (size_t)pw, 80);
    }
    printf("%s ", a->text ? "text" : "image");
    put_field(a->text ? a->text : a->image, 0);
    printf("  ->  %lld %s rows in %s\n", (long long)ix->rows,
           ix->kind == EMBIDX_TEXT ? "text" : "image", ix->dir);
    printf("rank  score      ");
    put_field("key", kw);
    printf("  ");
    put_field(ix->kind == EMBIDX_TEXT ? "path" : "image", pw);
    printf("  caption\n");
    for (int i = 0; i < n; i++) {
        printf("%4d  %9.6f  ", i + 1, h[i].score);
        put_field(m[i].key, kw);
        printf("  ");
        size_t pl = strlen(m[i].path);
        put_field(m[i].path, 0);
        int used = (int)pl;
        if (m[i].member[0]) {
            putchar(':');
            put_field(m[i].member, 0);
            used += 1 + (int)strlen(m[i].member);
        }
        put_field("", pw - used);
        printf("  ");
        put_field(m[i].caption, 0);
        putchar('\n');
    }
}

static int print_json(const search_args *a, const embidx *ix, const embidx_hit *h,
                      const embidx_meta *m, int n, double seconds)
{
    struct json_object *root = json_object_new_object(), *q = json_object_new_object(),
                       *res = json_object_new_array();
    json_object_object_add(q, a->text ? "text" : "image", json_object_new_string(a->text ? a->text
                                                                                         : a->image));
    json_object_object_add(root, "query", q);
    json_object_object_add(root, "index", json_object_new_string(ix->dir));
    json_object_object_add(root, "kind", json_object_new_string(ix->kind == EMBIDX_TEXT ? "text"
                                                                                        : "image"));
    json_object_object_add(root, "rows", json_object_new_int64(ix->rows));
    json_object_object_add(root, "search_seconds", json_object_new_double(seconds));
    for (int i = 0; i < n; i++) {
        struct json_object *r = json_object_new_object();
        json_object_object_add(r, "rank", json_object_new_int(i + 1));
        json_object_object_add(r, "score", json_object_new_double(h[i].score));
        json_object_object_add(r, "row", json_object_new_int64(h[i].row));
        json_object_object_add(r, "key", json_object_new_string(m[i].key));
        json_object_object_add(r, "path", json_object_new_string(m[i].path));
        json_object_object_add(r, "member", json_object_new_string(m[i].member));
        json_object_object_add(r, "caption", json_object_new_string(m[i].caption));
        json_object_array_add(res, r);
    }
    json_object_object_add(root, "results", res);
    const char *s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE);
    int rc = s ? 0 : cmd_error("out of memory writing JSON");
    if (s)
        printf("%s\n", s);
    json_object_put(root);
    return rc;
}

int cmd_search(int argc, char **argv)
{
    search_args a;
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc;
    embidx ix;
    if (embidx_open(&ix, a.index, a.kind) != CC_OK)
        return cmd_error("%s", cc_last_error());
    if (!a.top_given && (int64_t)a.top > ix.rows)
        a.top = (int)ix.rows;
    if ((int64_t)a.top > ix.rows) {
        rc = cmd_usage_error(argv[0], "--top %d: index %s has only %lld rows", a.top, ix.dir,
                             (long long)ix.rows);
        embidx_close(&ix);
        return rc;
    }
    float *q = NULL;
    rc = embed_query(&a, &ix, &q);
    embidx_hit *hits = rc ? NULL : malloc((size_t)a.top * sizeof *hits);
    embidx_meta *meta = rc ? NULL : calloc((size_t)a.top, sizeof *meta);
    int64_t *rows = rc ? NULL : malloc((size_t)a.top * sizeof *rows);
    if (!rc && (!hits || !meta || !rows))
        rc = cmd_error("out of memory for %d results", a.top);
    int n = 0;
    double t0 = cc_now_s(), seconds = 0;
    if (!rc && embidx_search(&ix, q, a.top, a.threads, hits, &n) != CC_OK)
        rc = cmd_error("%s", cc_last_error());
    seconds = cc_now_s() - t0;
    for (int i = 0; i < n; i++)
        rows[i] = hits[i].row;
    if (!rc && embidx_metadata(&ix, rows, n, meta) != CC_OK)
        rc = cmd_error("%s", cc_last_error());
    if (!rc && a.html) {
        search_page p = {a.text, a.image, ix.dir, a.mo.model ? a.mo.model : ix.model, ix.kind,
                         ix.rows, seconds, n, hits, meta, a.root, ix.data};
        rc = search_write_html(a.html, &p);
    }
    if (!rc && a.json)
        rc = print_json(&a, &ix, hits, meta, n, seconds);
    else if (!rc)
        print_table(&a, &ix, hits, meta, n);
    if (meta)
        embidx_meta_free(meta, n);
    free(meta);
    free(rows);
    free(hits);
    free(q);
    embidx_close(&ix);
    return rc;
}
