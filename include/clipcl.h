/* clipcl: the public C API. Load a CLIP checkpoint, encode images (files or
 * preprocessed pixels) and texts into the joint embedding space, on an
 * OpenCL device or the plain-C reference backend.
 *
 *   clipcl_model *m = NULL;
 *   if (clipcl_load("ViT-B-32/", NULL, &m) != CLIPCL_OK)
 *       fprintf(stderr, "%s\n", clipcl_last_error());
 *   float emb[2 * 512];
 *   const char *texts[] = {"a cat", "a dog"};
 *   clipcl_encode_texts(m, texts, 2, CLIPCL_NORMALIZE, emb);
 *   clipcl_free(m);
 *
 * Every function returns CLIPCL_OK (0) or a non-zero status; the one-line
 * message (what, which file or tensor, expected vs found) is then in
 * clipcl_last_error(), kept per thread. Nothing here prints or exits.
 *
 * A model is not thread-safe: use one per thread. Device programs for a batch
 * size are built once, weights uploaded once per built plan, and the last plan
 * of each tower is kept: encode in batches of a steady size. */
#ifndef CLIPCL_H
#define CLIPCL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLIPCL_OK 0

typedef struct clipcl_model clipcl_model;

/* MODEL: a .safetensors file (OpenAI/open_clip or Hugging Face naming), or a
 * directory holding one plus optionally open_clip_config.json / config.json
 * and the tokenizer (bpe_simple_vocab_16e6.txt.gz, or vocab.json +
 * merges.txt). device: NULL or "" for $CLIPCL_DEVICE, else the first GPU,
 * else the first CPU; "gpu", "cpu", "P:D", part of a device name; or "ref"
 * for the plain-C reference backend (slow, no OpenCL needed). An unknown
 * device fails here, before any work. */
int clipcl_load(const char *model, const char *device, clipcl_model **out);
void clipcl_free(clipcl_model *m);
const char *clipcl_last_error(void);

/* Uses this tokenizer file instead of the one beside the weights:
 * bpe_simple_vocab_16e6.txt.gz (or .txt), or a vocab.json with merges.txt
 * beside it. */
int clipcl_set_vocab(clipcl_model *m, const char *path);
/* Largest batch one device run takes (default 16); more rows are split. */
int clipcl_set_max_batch(clipcl_model *m, int max_batch);

int clipcl_embed_dim(const clipcl_model *m);
int clipcl_image_size(const clipcl_model *m);     /* input resolution R */
int clipcl_context_length(const clipcl_model *m); /* tokens per text (77) */
/* The checkpoint's logit_scale parameter (a log): logits are
 * exp(scale) * cos(image, text). */
float clipcl_logit_scale(const clipcl_model *m);

/* flags for the encoders */
#define CLIPCL_NORMALIZE 1 /* rows scaled to unit L2 norm */

/* Each writes n rows of clipcl_embed_dim() floats into out (n x D, C order):
 * the projected features, unit-norm with CLIPCL_NORMALIZE. */
/* Images decoded and preprocessed as CLIP's reference pipeline does, at the
 * model's resolution; an undecodable file is an error naming it. */
int clipcl_encode_image_files(clipcl_model *m, const char *const *paths, int n, int flags,
                              float *out);
/* pixels: n x 3 x R x R float32, already preprocessed (normalised). */
int clipcl_encode_image_pixels(clipcl_model *m, const float *pixels, int n, int flags,
                               float *out);
/* UTF-8 texts, tokenized with the model's tokenizer; a text longer than the
 * context is cut with <|endoftext|> kept last (*n_truncated, may be NULL,
 * counts them). */
int clipcl_encode_texts(clipcl_model *m, const char *const *texts, int n, int flags,
                        float *out, int *n_truncated);
/* ids: n x clipcl_context_length() token ids, each in [0, vocab). */
int clipcl_encode_token_ids(clipcl_model *m, const int32_t *ids, int n, int flags, float *out);

/* What a checkpoint holds, as `clipcl info` prints it. */
typedef struct clipcl_info {
    char naming[16];          /* "openai" or "huggingface" */
    int is_vit;
    int image_size, patch_size;      /* patch 0 for a ResNet */
    int vision_width, vision_layers, vision_heads;
    int rn_layers[4];                /* ResNet stages, else 0 */
    char vision_act[16];
    float vision_eps;
    int text_width, text_layers, text_heads, context_length, vocab_size;
    char text_act[16];
    float text_eps;
    int embed_dim;
    float logit_scale;
    int64_t n_params;                /* excluding BatchNorm running statistics */
    int n_tensors;
    char dtype[64];                  /* storage dtype(s) in the file, e.g. "F16" */
    char weights_path[1024];
    char config_path[1024];          /* "" when none was applied */
    char tokenizer_path[1024];       /* "" when none was found */
    char device[256];                /* "reference backend (plain C)" or the device name */
} clipcl_info;

int clipcl_get_info(const clipcl_model *m, clipcl_info *out);

#ifdef __cplusplus
}
#endif

#endif
