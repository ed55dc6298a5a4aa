/* clipcl embed-image / embed-text: CLIP features of images or texts as a
 * float32 N x D .npy, written only when every input succeeded. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/npy.h"
#include "tools/cmd.h"
#include "tools/cmd_clip.h"
#include "tools/cmd_progress.h"
#include "tools/embed_bulk.h"

#define DEFAULT_BATCH 16

const char cmd_embed_image_usage[] =
    "usage: clipcl embed-image --model MODEL --out OUT.npy [--normalize] [--batch N]\n"
    "                          [--device D] [--dtype T] [--] IMAGE...\n"
    "       clipcl embed-image --model MODEL --out OUT.npy [--normalize] --pixels IN.npy\n\n"
    "Writes the projected image features, float32 of shape (images, embed dim),\n"
    "C order. Images are decoded and preprocessed as CLIP's reference pipeline\n"
    "does, at the model's resolution. OUT is replaced atomically and only when\n"
    "every image succeeded.\n\n"
    "  --model MODEL   a .safetensors file or a directory holding one (and its\n"
    "                  open_clip_config.json or config.json)\n"
    "  --out FILE      the .npy file to write\n"
    "  --normalize     scale each row to unit length\n"
    "  --pixels FILE   float32 N x 3 x R x R already preprocessed (as written by\n"
    "                  `clipcl preprocess --size R`) instead of image files\n"
    "  --batch N       images per device run (default 16)\n"
    "  --device D      gpu, cpu, P:D, part of a device name, or ref (the plain-C\n"
    "                  reference backend); default $CLIPCL_DEVICE, else a GPU\n"
    "  --dtype T       weight storage on the device: f32 (default), f16 or bf16\n"
    "                  (the GEMM weights in 16 bits, fp32 arithmetic; docs/cli.md)\n"
    "  --allow-unused  load a model holding tensors clipcl does not use (each\n"
    "                  listed as a warning; the features may then differ from the\n"
    "                  original model's), instead of refusing it\n"
    "  --              every later argument is an image, even one starting with -\n\n"
    "Bulk form (docs/bulk-embedding.md):\n"
    "       clipcl embed-image --model MODEL --data SET --out DIR [--batch N]\n"
    "                          [--shard-size N] [--resume] [--workers N]\n"
    "                          [--no-normalize] [--device D] [--dtype T]\n\n"
    "Embeds every image of SET into DIR/img_emb_0000.npy, ... (float32, --shard-size\n"
    "rows each but the last, unit-length rows unless --no-normalize) with\n"
    "DIR/metadata_0000.csv, ... (key,path,member,caption per row, in input order),\n"
    "DIR/manifest.json (rewritten after each shard) and DIR/failed.csv (inputs that\n"
    "could not be read or decoded: skipped, listed, not fatal). Host threads decode\n"
    "while the device computes.\n\n"
    "  --data SET         a folder (every image below it, sorted; or the .tar files\n"
    "                     at its top), webdataset shards (X.tar, a brace pattern\n"
    "                     shard-{0000..0009}.tar, a glob, several joined by ::),\n"
    "                     a .csv/.tsv (columns --csv-img-key, default filepath, and\n"
    "                     --csv-caption-key, default title) or a .txt list (one\n"
    "                     image path per line); relative paths in a CSV or list are\n"
    "                     relative to its folder\n"
    "  --out DIR          the output folder; must be missing or empty unless --resume\n"
    "  --batch N          images per device run (default 64 here)\n"
    "  --shard-size N     rows per shard (default 10000)\n"
    "  --resume           continue the run recorded in DIR/manifest.json (same model,\n"
    "                     SET, shard size and normalisation), skipping its shards\n"
    "  --workers N        decoding threads (default: the number of cores)\n"
    "  --no-normalize     keep the raw projected features\n";

const char cmd_embed_text_usage[] =
    "usage: clipcl embed-text --model MODEL --out OUT.npy [--normalize] [--batch N]\n"
    "                         [--device D] [--dtype T] [--vocab FILE] [--texts FILE]\n"
    "                         [--] TEXT...\n"
    "       clipcl embed-text --model MODEL --out OUT.npy [--normalize] --ids IN.npy\n\n"
    "Writes the projected text features, float32 of shape (texts, embed dim),\n"
    "C order. Texts are tokenized with the model's tokenizer (the vocabulary\n"
    "files beside the weights); a text longer than the context is cut with\n"
    "<|endoftext|> kept last, with a warning. OUT is replaced atomically.\n\n"
    "  --model MODEL   a .safetensors file or a directory holding one plus\n"
    "                  bpe_simple_vocab_16e6.txt.gz or vocab.json + merges.txt\n"
    "  --out FILE      the .npy file to write\n"
    "  --normalize     scale each row to unit length\n"
    "  --texts FILE    read texts from FILE, one per line (\"-\": stdin); they come\n"
    "                  before the TEXT arguments\n"
    "  --ids FILE      int32 N x T token ids, T the model's context (as `clipcl\n"
    "                  tokenize --model MODEL` prints them) instead of texts\n"
    "  --vocab FILE    the tokenizer file to use instead of the model's\n"
    "  --batch N       texts per device run (default 16)\n"
    "  --device D      as for embed-image\n"
    "  --dtype T       as for embed-image\n"
    "  --allow-unused  as for embed-image\n"
    "  --              every later argument is a text, even one starting with -\n\n"
    "Bulk form (docs/bulk-embedding.md):\n"
    "       clipcl embed-text --model MODEL --data SET --out DIR [--batch N]\n"
    "                         [--shard-size N] [--resume] [--no-normalize]\n"
    "                         [--device D] [--dtype T]\n\n"
    "As embed-image's bulk form, into DIR/text_emb_0000.npy, ... and\n"
    "DIR/text_metadata_0000.csv, ...; SET is a .csv/.tsv (the texts in column\n"
    "--csv-caption-key, default title; --csv-img-key, default filepath, optional,\n"
    "gives each row's path and key), a .txt with one text per line (keys are the\n"
    "line numbers from 000000000), or webdataset shards (each sample's .txt, with\n"
    "the key and image member its image row has).\n";

typedef struct embed_args {
    cmd_model_opts mo;
    const char *out, *pixels, *ids, *texts;
    int normalize;
    cmd_strings inputs;
} embed_args;

/* Shared by both commands; text selects which extra options exist. */
static int parse(int argc, char **argv, int text, embed_args *a)
{
    memset(a, 0, sizeof *a);
    int rest = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (rest || s[0] != '-' || strcmp(s, "-") == 0) {
            if (cmd_strings_push(&a->inputs, s, strlen(s)))
                return 1;
            continue;
        }
        if (strcmp(s, "--") == 0) {
            rest = 1;
            continue;
        }
        if (strcmp(s, "--normalize") == 0) {
            a->normalize = 1;
            continue;
        }
        int r = cmd_model_option(argc, argv, &i, &a->mo);
        if (r == 0) {
            const char *opt = text ? "--ids" : "--pixels";
            const char **slot = text ? &a->ids : &a->pixels;
            r = cmd_option_value(argc, argv, &i, "--out", &a->out);
            if (r == 0)
                r = cmd_option_value(argc, argv, &i, opt, slot);
            if (r == 0 && text)
                r = cmd_option_value(argc, argv, &i, "--texts", &a->texts);
            if (r == 0)
                return cmd_usage_error(argv[0], "unknown option \"%s\"", s);
            r = r < 0 ? 2 : 1;
        }
        if (r == 2)
            return 2;
    }
    if (!a->mo.model)
        return cmd_usage_error(argv[0], "--model MODEL is required");
    if (!a->out)
        return cmd_usage_error(argv[0], "--out OUT.npy is required");
    const char *file_in = text ? a->ids : a->pixels;
    if (file_in && (a->inputs.n || a->texts))
        return cmd_usage_error(argv[0], "%s replaces the %s: give one or the other",
                               text ? "--ids" : "--pixels", text ? "texts" : "image files");
    /* Before the model loads and every input is encoded, not at the rename. */
    return cmd_check_out("--out", a->out);
}

/* One chunk of inputs: files, pixel rows, texts or id rows. */
typedef struct chunk_src {
    int kind; /* 0 files, 1 pixels, 2 texts, 3 ids */
    const char *const *strings;
    const void *rows;
    size_t row_elems;
    int flags;
    int truncated;
} chunk_src;

static int enc_chunk(clipcl_model *m, chunk_src *s, int first, int count, float *out)
{
    int tr = 0, rc;
    switch (s->kind) {
    case 0:
        return clipcl_encode_image_files(m, s->strings + first, count, s->flags, out);
    case 1:
        return clipcl_encode_image_pixels(m, (const float *)s->rows + (size_t)first * s->row_elems,
                                          count, s->flags, out);
    case 2:
        rc = clipcl_encode_texts(m, s->strings + first, count, s->flags, out, &tr);
        s->truncated += tr;
        return rc;
    default:
        return clipcl_encode_token_ids(m, (const int32_t *)s->rows + (size_t)first * s->row_elems,
                                       count, s->flags, out);
    }
}

/* Encodes n inputs in chunks of batch so the bar moves, then writes out. */
static int run_chunks(clipcl_model *m, int n, int batch, chunk_src *s, const char *label,
                      const char *unit, const char *out_path)
{
    int D = clipcl_embed_dim(m);
    float *out = malloc((size_t)n * (size_t)D * sizeof *out);
    if (!out)
        return cmd_error("out of memory for %d x %d features", n, D);
    progress bar;
    cmd_progress_start(&bar, label, unit, n);
    int rc = 0;
    for (int i = 0; i < n && !rc; i += batch) {
        int count = n - i < batch ? n - i : batch;
        rc = enc_chunk(m, s, i, count, out + (size_t)i * D);
        if (rc) {
            progress_abort(&bar);
            rc = cmd_lib_error(rc);
        } else {
            progress_update(&bar, i + count);
        }
    }
    if (!rc) {
        progress_finish(&bar);
        rc = cmd_write_features(out_path, out, n, D);
    }
    free(out);
    return rc;
}

/* --pixels: N x 3 x R x R at the model's resolution. */
static int read_pixels(const char *path, int R, npy_array *a)
{
    int rc = npy_read(path, NPY_F32, a);
    if (rc)
        return cmd_error("--pixels: %s (expected float32 N x 3 x %d x %d)", cc_last_error(), R, R);
    int ok = a->ndim == 4 && a->shape[0] >= 1 && a->shape[1] == 3 && a->shape[2] == R &&
             a->shape[3] == R;
    if (!ok) {
        char got[128] = "";
        size_t u = 0;
        for (int d = 0; d < a->ndim && u < sizeof got - 24; d++)
            u += (size_t)snprintf(got + u, sizeof got - u, "%s%lld", d ? ", " : "",
                                  (long long)a->shape[d]);
        npy_free(a);
        return cmd_error("--pixels %s: shape (%s): expected (N, 3, %d, %d) for this model's "
                         "resolution %d", path, got, R, R, R);
    }
    return 0;
}

/* --ids: int32 N x T with T the model's context. */
static int read_ids(const char *path, int T, npy_array *a)
{
    int rc = npy_read(path, NPY_I32, a);
    if (rc)
        return cmd_error("--ids: %s (expected int32 token ids, N x %d)", cc_last_error(), T);
    if (a->ndim != 2 || a->shape[0] < 1 || a->shape[1] != T) {
        long long r = a->ndim >= 1 ? (long long)a->shape[0] : 0;
        long long c = a->ndim >= 2 ? (long long)a->shape[1] : 0;
        int nd = a->ndim;
        npy_free(a);
        return cmd_error("--ids %s: %d dims (%lld x %lld): expected int32 (N, %d)", path, nd, r, c,
                         T);
    }
    return 0;
}

/* The --texts lines, then the TEXT arguments already in *args. */
static int with_file_texts(const char *path, cmd_strings *args)
{
    cmd_strings all = {0};
    int rc = cmd_strings_read_lines("--texts", path, &all);
    for (int i = 0; i < args->n && !rc; i++)
        rc = cmd_strings_push(&all, args->v[i], strlen(args->v[i]));
    cmd_strings_free(args);
    *args = all;
    return rc;
}

/* --data before any "--" selects the bulk form (tools/cmd_embed_bulk.c). */
static int wants_bulk(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--data") == 0 || strncmp(argv[i], "--data=", 7) == 0)
            return 1;
    return 0;
}

static int embed_main(int argc, char **argv, int text)
{
    if (wants_bulk(argc, argv))
        return cmd_embed_bulk(argc, argv, text);
    embed_args a;
    int rc = parse(argc, argv, text, &a);
    if (!rc && text && a.texts)
        rc = with_file_texts(a.texts, &a.inputs);
    if (!rc && !a.pixels && !a.ids && a.inputs.n == 0) {
        if (a.texts)
            rc = cmd_error("--texts %s: no texts to embed (the file is empty)", a.texts);
        else
            rc = cmd_usage_error(argv[0], text ? "no texts given (TEXT..., --texts FILE or --ids "
                                                 "IN.npy)"
                                               : "no images given (IMAGE... or --pixels IN.npy)");
    }
    clipcl_model *m = NULL;
    if (!rc)
        rc = cmd_model_open(&a.mo, &m);
    if (!rc) /* before the input is checked against that tower's sizes */
        rc = cmd_model_tower_check(m, text ? CLIPCL_TOWER_TEXT : CLIPCL_TOWER_IMAGE);
    npy_array arr = {0};
    chunk_src s = {0};
    s.flags = a.normalize ? CLIPCL_NORMALIZE : 0;
    s.strings = (const char *const *)a.inputs.v;
    int n = a.inputs.n;
    if (!rc && a.pixels) {
        s.kind = 1;
        rc = read_pixels(a.pixels, clipcl_image_size(m), &arr);
        s.row_elems = (size_t)3 * (size_t)clipcl_image_size(m) * (size_t)clipcl_image_size(m);
    } else if (!rc && a.ids) {
        s.kind = 3;
        rc = read_ids(a.ids, clipcl_context_length(m), &arr);
        s.row_elems = (size_t)clipcl_context_length(m);
    } else {
        s.kind = text ? 2 : 0;
    }
    if (!rc && (a.pixels || a.ids)) {
        s.rows = arr.data;
        n = (int)arr.shape[0];
    }
    int batch = a.mo.batch ? a.mo.batch : DEFAULT_BATCH;
    if (!rc)
        rc = run_chunks(m, n, batch, &s, argv[0], text ? "text" : "img", a.out);
    if (!rc && s.truncated)
        fprintf(stderr, "clipcl: warning: %d text%s longer than %d tokens; cut to fit, with "
                        "the end-of-text token kept last.\n", s.truncated, s.truncated == 1 ? " was" : "s were",
                clipcl_context_length(m));
    npy_free(&arr);
    clipcl_free(m);
    cmd_strings_free(&a.inputs);
    return rc;
}

int cmd_embed_image(int argc, char **argv) { return embed_main(argc, argv, 0); }
int cmd_embed_text(int argc, char **argv) { return embed_main(argc, argv, 1); }
