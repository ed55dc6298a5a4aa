/* `clipcl embed-image/embed-text --data SET --out DIR`: bulk embedding into
 * the sharded folder of io/emb_shards.h (docs/bulk-embedding.md).
 *
 * tools/cmd_embed_bulk.c parses the options and checks DIR and a resumed
 * run's manifest; tools/embed_run.c drives the device and writes shards. */
#ifndef CLIPCL_TOOLS_EMBED_BULK_H
#define CLIPCL_TOOLS_EMBED_BULK_H

#include <stdint.h>

#include "clipcl.h"
#include "io/emb_shards.h"
#include "tools/embed_set.h"

/* Called by embed-image / embed-text when --data is among the arguments. */
int cmd_embed_bulk(int argc, char **argv, int text);

/* One skipped input (owned strings). */
typedef struct bulk_failure {
    char *path, *member, *error;
} bulk_failure;

typedef struct bulk_run {
    const char *label;   /* command name, for the progress bar */
    const char *dir;
    const bulk_set *set;
    clipcl_model *model;
    es_manifest *man;    /* fresh or read back; shards get appended */
    bulk_failure *failed;
    int64_t n_failed;    /* == man->failed */
    int failed_cap;
    int batch, workers;
    int64_t begin;       /* first input to process */
} bulk_run;

/* Processes inputs begin..end of the set, committing each shard; returns
 * the command's exit status (0, or 1 after printing the error). */
int bulk_run_images(bulk_run *r);
int bulk_run_texts(bulk_run *r);
void bulk_failures_free(bulk_run *r);

#endif
