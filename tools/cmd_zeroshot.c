/* clipcl zeroshot: classify images against label names, CLIP's way: each
 * label's text embedding is the renormalised mean of its normalised prompt
 * embeddings (one per template), and probabilities are a softmax over
 * exp(logit_scale) * cos(image, label) -- or, for a SigLIP model (one with a
 * logit_bias), sigmoid(exp(logit_scale) * cos + logit_bias) per label. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/npy.h"
#include "tools/cmd.h"
#include "tools/cmd_clip.h"
#include "tools/cmd_progress.h"
#include "train/eval_run.h"

#define DEFAULT_TEMPLATE "a photo of a {}."
#define DEFAULT_TOP 5

const char cmd_zeroshot_usage[] =
    "usage: clipcl zeroshot --model MODEL --labels \"cat,dog,...\" [--template T]...\n"
    "                       [--top K] [--json] [--batch N] [--device D]\n"
    "                       [--dtype T] [--] IMAGE...\n\n"
    "Prints, per image, the K most probable labels with their probabilities: a\n"
    "softmax over exp(logit_scale) * cosine(image, label). A label's embedding\n"
    "is the mean of its normalised prompt embeddings, one per template,\n"
    "renormalised (CLIP's prompt ensembling). A SigLIP model (one with a\n"
    "logit_bias) scores each label on its own: sigmoid(exp(logit_scale) *\n"
    "cosine + logit_bias), so an image's probabilities need not sum to 1.\n\n"
    "  --model MODEL     a model directory (weights + tokenizer files)\n"
    "  --labels LIST     comma-separated label names (spaces around them trimmed)\n"
    "  --template T      a prompt with {} where the label goes; repeat to\n"
    "                    ensemble (default \"" DEFAULT_TEMPLATE "\")\n"
    "  --top K           labels printed per image (default 5, at most all)\n"
    "  --json            one JSON document: per image the top labels and the\n"
    "                    probabilities of every label, in --labels order\n"
    "  --batch N         images per device run (default 16)\n"
    "  --device D        as for embed-image\n"
    "  --dtype T         as for embed-image\n"
    "  --allow-unused    as for embed-image\n"
    "  --vocab FILE      the tokenizer file to use instead of the model's\n"
    "  --label-ids FILE  int32 L x T token ids, one prompt per label in --labels\n"
    "                    order (T the model's context), instead of tokenizing\n"
    "                    the templates: for a tokenizer clipcl does not have\n"
    "  --                every later argument is an image\n";

typedef struct zs_args {
    cmd_model_opts mo;
    const char *labels_arg;
    const char *label_ids;  /* --label-ids: the prompts as token ids */
    cmd_strings labels, templates, images;
    int top, json;
} zs_args;

static void zs_free(zs_args *a)
{
    cmd_strings_free(&a->labels);
    cmd_strings_free(&a->templates);
    cmd_strings_free(&a->images);
}

static int split_labels(const char *cmd, const char *s, cmd_strings *out)
{
    for (const char *p = s;;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        const char *b = p;
        while (n && (*b == ' ' || *b == '\t'))
            b++, n--;
        while (n && (b[n - 1] == ' ' || b[n - 1] == '\t'))
            n--;
        if (n == 0)
            return cmd_usage_error(cmd, "--labels \"%s\": label %d is empty", s, out->n + 1);
        if (cmd_strings_push(out, b, n))
            return 1;
        if (!e)
            return 0;
        p = e + 1;
    }
}

static int parse(int argc, char **argv, zs_args *a)
{
    memset(a, 0, sizeof *a);
    a->top = DEFAULT_TOP;
    int rest = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = NULL;
        if (rest || s[0] != '-' || strcmp(s, "-") == 0) {
            if (cmd_strings_push(&a->images, s, strlen(s)))
                return 1;
            continue;
        }
        if (strcmp(s, "--") == 0) {
            rest = 1;
            continue;
        }
        if (strcmp(s, "--json") == 0) {
            a->json = 1;
            continue;
        }
        int r = cmd_model_option(argc, argv, &i, &a->mo);
        if (r == 2)
            return 2;
        if (r == 1)
            continue;
        if ((r = cmd_option_value(argc, argv, &i, "--labels", &v)) != 0) {
            if (r < 0 || split_labels(argv[0], v, &a->labels))
                return 2;
            a->labels_arg = v;
        } else if ((r = cmd_option_value(argc, argv, &i, "--template", &v)) != 0) {
            if (r < 0)
                return 2;
            if (!strstr(v, "{}"))
                return cmd_usage_error(argv[0], "--template \"%s\": expected {} where the "
                                                "label goes", v);
            if (cmd_strings_push(&a->templates, v, strlen(v)))
                return 1;
        } else if ((r = cmd_option_value(argc, argv, &i, "--label-ids", &v)) != 0) {
            if (r < 0)
                return 2;
            a->label_ids = v;
        } else if ((r = cmd_option_value(argc, argv, &i, "--top", &v)) != 0) {
            if (r < 0)
                return 2;
            char *end = NULL;
            long k = strtol(v, &end, 10);
            if (!*v || *end || k < 1 || k > 1000000)
                return cmd_usage_error(argv[0], "--top \"%s\": expected a positive integer", v);
            a->top = (int)k;
        } else {
            return cmd_usage_error(argv[0], "unknown option \"%s\"", s);
        }
    }
    if (!a->mo.model)
        return cmd_usage_error(argv[0], "--model MODEL is required");
    if (!a->labels_arg)
        return cmd_usage_error(argv[0], "--labels \"a,b,...\" is required");
    if (a->images.n == 0)
        return cmd_usage_error(argv[0], "no images given");
    if (a->templates.n == 0 && cmd_strings_push(&a->templates, DEFAULT_TEMPLATE,
                                                strlen(DEFAULT_TEMPLATE)))
        return 1;
    if (a->top > a->labels.n)
        a->top = a->labels.n;
    return 0;
}

/* --label-ids: one row of token ids per label, encoded and normalised. */
static int label_embeddings_from_ids(clipcl_model *m, const zs_args *a, float *cls)
{
    npy_array ids;
    int T = clipcl_context_length(m);
    if (npy_read(a->label_ids, NPY_I32, &ids))
        return cmd_error("--label-ids: %s (expected int32 token ids, %d x %d)", cc_last_error(),
                         a->labels.n, T);
    int rc = 0;
    if (ids.ndim != 2 || ids.shape[0] != a->labels.n || ids.shape[1] != T)
        rc = cmd_error("--label-ids %s: shape (%lld, %lld): expected int32 (%d, %d), one row "
                       "per label", a->label_ids, ids.ndim >= 1 ? (long long)ids.shape[0] : 0,
                       ids.ndim >= 2 ? (long long)ids.shape[1] : 0, a->labels.n, T);
    int e = rc ? 0 : clipcl_encode_token_ids(m, ids.data, a->labels.n, CLIPCL_NORMALIZE, cls);
    if (e)
        rc = cmd_lib_error(e);
    npy_free(&ids);
    return rc;
}

/* cls[L x D]: the ensembled, normalised label embeddings. */
static int label_embeddings(clipcl_model *m, const zs_args *a, float *cls)
{
    if (a->label_ids)
        return label_embeddings_from_ids(m, a, cls);
    int truncated = 0;
    int rc = clipcl_zeroshot_classifier(m, (const char *const *)a->labels.v, a->labels.n,
                                        (const char *const *)a->templates.v, a->templates.n, cls,
                                        &truncated);
    if (rc)
        return cmd_lib_error(rc);
    if (truncated)
        fprintf(stderr, "clipcl: warning: %d prompt%s cut to the context length\n", truncated,
                truncated == 1 ? "" : "s");
    return 0;
}

static void json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

/* Indices of the k largest probabilities, largest first (ties: label order). */
static void top_k(const double *p, int n, int k, int *idx)
{
    for (int i = 0; i < k; i++) {
        int best = -1;
        for (int j = 0; j < n; j++) {
            int used = 0;
            for (int u = 0; u < i; u++)
                used |= idx[u] == j;
            if (!used && (best < 0 || p[j] > p[best]))
                best = j;
        }
        idx[i] = best;
    }
}

static void print_image(const zs_args *a, int i, const double *p, const int *idx)
{
    if (!a->json) {
        printf("%s\n", a->images.v[i]);
        for (int k = 0; k < a->top; k++)
            printf("  %.4f  %s\n", p[idx[k]], a->labels.v[idx[k]]);
        return;
    }
    printf("%s\n    {\"image\": ", i ? "," : "");
    json_str(a->images.v[i]);
    printf(", \"top\": [");
    for (int k = 0; k < a->top; k++) {
        printf("%s{\"label\": ", k ? ", " : "");
        json_str(a->labels.v[idx[k]]);
        printf(", \"prob\": %.9g}", p[idx[k]]);
    }
    printf("],\n     \"probs\": [");
    for (int l = 0; l < a->labels.n; l++)
        printf("%s%.9g", l ? ", " : "", p[l]);
    printf("]}");
}

/* The model's probabilities for every image (clipcl_zeroshot_model_probs:
 * CLIP's softmax or SigLIP's sigmoid, as the library computes them), then
 * printed. */
static int classify(const zs_args *a, const clipcl_model *m, const float *img, const float *cls)
{
    float scale = clipcl_logit_scale(m);
    int L = a->labels.n;
    double *p = malloc((size_t)a->images.n * L * sizeof *p);
    int *idx = malloc((size_t)a->top * sizeof *idx);
    if (!p || !idx) {
        free(p);
        free(idx);
        return cmd_error("out of memory for %d labels", L);
    }
    if (clipcl_zeroshot_model_probs(m, img, a->images.n, cls, L, p) != CLIPCL_OK) {
        free(p);
        free(idx);
        return cmd_error("%s", clipcl_last_error());
    }
    if (a->json) {
        printf("{\"labels\": [");
        for (int l = 0; l < L; l++) {
            printf("%s", l ? ", " : "");
            json_str(a->labels.v[l]);
        }
        printf("],\n \"templates\": [");
        for (int t = 0; t < a->templates.n && !a->label_ids; t++) { /* ids: no templates */
            printf("%s", t ? ", " : "");
            json_str(a->templates.v[t]);
        }
        printf("],\n \"logit_scale\": %.9g,", (double)scale);
        if (clipcl_has_logit_bias(m)) /* SigLIP: independent per label */
            printf("\n \"logit_bias\": %.9g,\n \"probabilities\": \"sigmoid\",",
                   (double)clipcl_logit_bias(m));
        printf("\n \"results\": [");
    }
    for (int i = 0; i < a->images.n; i++) {
        const double *pi = p + (size_t)i * L;
        top_k(pi, L, a->top, idx);
        print_image(a, i, pi, idx);
    }
    if (a->json)
        printf("\n ]}\n");
    free(p);
    free(idx);
    return 0;
}

static int image_embeddings(clipcl_model *m, const zs_args *a, float *img)
{
    int n = a->images.n, D = clipcl_embed_dim(m);
    int b = a->mo.batch ? a->mo.batch : 16;
    progress bar;
    cmd_progress_start(&bar, "zeroshot", "img", n);
    for (int i = 0; i < n; i += b) {
        int c = n - i < b ? n - i : b;
        int rc = clipcl_encode_image_files(m, (const char *const *)a->images.v + i, c,
                                           CLIPCL_NORMALIZE, img + (size_t)i * D);
        if (rc) {
            progress_abort(&bar);
            return cmd_lib_error(rc);
        }
        progress_update(&bar, i + c);
    }
    progress_finish(&bar);
    return 0;
}

int cmd_zeroshot(int argc, char **argv)
{
    zs_args a;
    int rc = parse(argc, argv, &a);
    clipcl_model *m = NULL;
    if (!rc)
        rc = cmd_model_open(&a.mo, &m);
    if (!rc) /* zero-shot needs both towers */
        rc = cmd_model_tower_check(m, CLIPCL_TOWER_IMAGE) ||
             cmd_model_tower_check(m, CLIPCL_TOWER_TEXT);
    float *cls = NULL, *img = NULL;
    if (!rc) {
        size_t D = (size_t)clipcl_embed_dim(m);
        cls = malloc((size_t)a.labels.n * D * sizeof *cls);
        img = malloc((size_t)a.images.n * D * sizeof *img);
        if (!cls || !img)
            rc = cmd_error("out of memory for %d labels and %d images", a.labels.n, a.images.n);
    }
    /* Texts first: a missing tokenizer fails before any image is decoded. */
    if (!rc)
        rc = label_embeddings(m, &a, cls);
    if (!rc)
        rc = image_embeddings(m, &a, img);
    if (!rc)
        rc = classify(&a, m, img, cls);
    free(cls);
    free(img);
    clipcl_free(m);
    zs_free(&a);
    return rc;
}
