/* Shared by tools/cmd_search.c and its page writer tools/cmd_search_html.c. */
#ifndef CLIPCL_TOOLS_CMD_SEARCH_H
#define CLIPCL_TOOLS_CMD_SEARCH_H

#include "io/emb_index.h"
#include "io/emb_search.h"

/* What a result page shows. */
typedef struct search_page {
    const char *query_text;  /* one of the two is set */
    const char *query_image;
    const char *index_dir, *model;
    int kind;                /* EMBIDX_IMAGE or EMBIDX_TEXT */
    int64_t rows;            /* rows searched */
    double seconds;          /* search time (without the model) */
    int n;
    const embidx_hit *hits;
    const embidx_meta *meta;
    const char *root;        /* --root, or NULL */
    const char *data;        /* the manifest's "data", or NULL */
} search_page;

/* The file a metadata path names: path itself when absolute; else the
 * first that exists of root/path (when root is given), path from here, and
 * path under the SET the manifest records (data: a folder, or a file whose
 * folder). Returns a malloc'd path (the path as given when none exists). */
char *search_resolve_path(const char *path, const char *root, const char *data);

/* Writes the page atomically; images that cannot be read get a note in the
 * page and one warning line on stderr each. Prints its own error; returns
 * 0 or 1. */
int search_write_html(const char *out, const search_page *p);

#endif
