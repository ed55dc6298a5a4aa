/* clipcl: the public C API. Load a CLIP checkpoint, encode images (files or
 * preprocessed pixels) and texts into the joint embedding space, on an
 * OpenCL device or the plain-C reference backend.
 *
 *   clipcl_model *m = NULL;
 *   if (clipcl_load("ViT-B-32/", NULL, &m) != CLIPCL_OK)
 *       fprintf(stderr, "%s\n", clipcl_last_error());
 *   float emb[2 * 512];
 *   const char *texts[] = {"a cat", "a dog"};
 *   clipcl_encode_texts(m, texts, 2, CLIPCL_NORMALIZE, emb, NULL);
 *   clipcl_free(m);
 *
 * Build against the installed library with `pkg-config --cflags --libs
 * clipcl` (docs/library.md).
 *
 * Status: every function that can fail returns CLIPCL_OK (0) or one of the
 * non-zero CLIPCL_ERR_* codes below, and then clipcl_last_error() holds one
 * line saying what failed (which file, tensor or argument, expected vs
 * found). The message is kept per thread: read it right after a call in the
 * same thread returned non-zero (after a success it may hold anything).
 * Nothing here prints, exits or aborts. The getters that cannot fail (clipcl_embed_dim, ...) return a value
 * and, given NULL, return 0 and record a message.
 *
 * Threads: one model may be used from several threads at once. Every call on
 * a model holds that model's lock while it touches the device, the cached
 * plans or the tokenizer, so concurrent calls on one model run one after the
 * other on the device (results are the same as if the calls had been made
 * in turn); decoding image files happens before the lock and so overlaps.
 * Different models never share a lock: threads that each have their own
 * model run side by side. clipcl_free must not overlap any other call on the same
 * model (free it after the other threads are done with it). clipcl_load,
 * clipcl_version and clipcl_last_error may be called from any thread at any
 * time.
 *
 * Device programs for a batch size are built once, weights uploaded once per
 * built plan, and the last plan of each tower is kept: encode in batches of a
 * steady size. */
#ifndef CLIPCL_H
#define CLIPCL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header. clipcl_version() gives the version of the
 * library actually loaded, which may be newer: the soname (libclipcl.so.0)
 * changes with the major version, so a program built against 0.x runs with
 * any later 0.y (docs/library.md, "Versions"). */
#define CLIPCL_VERSION_MAJOR 0
#define CLIPCL_VERSION_MINOR 1
#define CLIPCL_VERSION_PATCH 0
#define CLIPCL_VERSION_STRING "0.1.0"
/* e.g. #if CLIPCL_VERSION_NUMBER >= CLIPCL_MAKE_VERSION(0, 2, 0) */
#define CLIPCL_MAKE_VERSION(major, minor, patch) ((major) * 10000 + (minor) * 100 + (patch))
#define CLIPCL_VERSION_NUMBER \
    CLIPCL_MAKE_VERSION(CLIPCL_VERSION_MAJOR, CLIPCL_VERSION_MINOR, CLIPCL_VERSION_PATCH)

/* The loaded library's version, "MAJOR.MINOR.PATCH"; never NULL. */
const char *clipcl_version(void);

/* Status codes. The message of clipcl_last_error() says more; new codes may
 * be added in a minor version, so treat any other non-zero value as a
 * failure too. */
#define CLIPCL_OK 0
#define CLIPCL_ERR_INVALID 1     /* bad argument or malformed input */
#define CLIPCL_ERR_SHAPE 2       /* shapes or sizes do not agree */
#define CLIPCL_ERR_IO 3          /* file missing, unreadable, truncated */
#define CLIPCL_ERR_NOMEM 4       /* out of host or device memory */
#define CLIPCL_ERR_OPENCL 5      /* an OpenCL call failed */
#define CLIPCL_ERR_NO_PLATFORM 6 /* no OpenCL platform (ICD) installed */
#define CLIPCL_ERR_NO_DEVICE 7   /* the device asked for matched nothing */
#define CLIPCL_ERR_BUILD 8       /* a kernel failed to compile (the message ends with the log) */
#define CLIPCL_ERR_UNSUPPORTED 9 /* a checkpoint or request clipcl does not handle */

typedef struct clipcl_model clipcl_model;

/* MODEL: a .safetensors file (OpenAI/open_clip or Hugging Face naming), or a
 * directory holding one plus optionally open_clip_config.json / config.json
 * and the tokenizer (bpe_simple_vocab_16e6.txt.gz, or vocab.json +
 * merges.txt). device: NULL or "" for $CLIPCL_DEVICE, else the first GPU,
 * else the first CPU; "gpu", "cpu", "P:D", part of a device name; or "ref"
 * for the plain-C reference backend (slow, no OpenCL needed). An unknown
 * device fails here, before any work. */
int clipcl_load(const char *model, const char *device, clipcl_model **out);
/* Releases the model and its device memory; NULL does nothing. */
void clipcl_free(clipcl_model *m);
/* The calling thread's last failure message ("" if none yet); never NULL.
 * Valid until the next clipcl call in this thread. */
const char *clipcl_last_error(void);

/* Uses this tokenizer file instead of the one beside the weights:
 * bpe_simple_vocab_16e6.txt.gz (or .txt), or a vocab.json with merges.txt
 * beside it. */
int clipcl_set_vocab(clipcl_model *m, const char *path);
/* Largest batch one device run takes (default 16); more rows are split. */
int clipcl_set_max_batch(clipcl_model *m, int max_batch);

/* Getters: they cannot fail on a loaded model; given NULL they return 0
 * (0.0f) and record a message for clipcl_last_error(). */
int clipcl_embed_dim(const clipcl_model *m);
int clipcl_image_size(const clipcl_model *m);     /* input resolution R */
int clipcl_context_length(const clipcl_model *m); /* tokens per text (77) */
/* The checkpoint's logit_scale parameter (a log): logits are
 * exp(scale) * cos(image, text). */
float clipcl_logit_scale(const clipcl_model *m);

/* flags for the encoders; any other bit is an error (CLIPCL_ERR_INVALID) */
#define CLIPCL_NORMALIZE 1 /* rows scaled to unit L2 norm */

/* Each writes n rows of clipcl_embed_dim() floats into out (n x D, C order):
 * the projected features, unit-norm with CLIPCL_NORMALIZE. On failure the
 * contents of out are unspecified. */
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
    /* SigLIP: the image tower pools with the attention-pool (MAP) head and
     * has no class token; the model's learned logit_bias (else 0 / 0). */
    int vision_map_head;
    int has_logit_bias;
    float logit_bias;
} clipcl_info;

int clipcl_get_info(const clipcl_model *m, clipcl_info *out);

/* ---- Devices, preprocessing, tokens and zero-shot (what a language binding
 * needs: the Python package, python/) ---- */

/* One OpenCL device, as `clipcl devices` lists it. */
typedef struct clipcl_device {
    char spec[32];            /* "P:D" (platform:device), a clipcl_load device argument */
    char name[256];
    char platform[256];
    char type[8];             /* "gpu", "cpu", "accel", "custom" or "other" */
    int compute_units;
    int64_t global_mem_bytes;
    int is_default;           /* the one a NULL device argument selects now */
} clipcl_device;

/* Every OpenCL device: *n is set to their number and the first min(*n, cap)
 * are written to out (out may be NULL when cap is 0). No OpenCL platform is
 * an error (its message says how to install one); the reference backend
 * ("ref") needs none and is not listed. */
int clipcl_list_devices(clipcl_device *out, int cap, int *n);

/* Pixel layouts of clipcl_preprocess_pixels8, named after PIL's image modes.
 * The mode decides the resampling, as in CLIP's PIL pipeline: L and RGB
 * bicubic, LA and RGBA bicubic in premultiplied alpha (alpha then dropped),
 * P (a palette or 1-bit image already expanded to RGB) nearest-neighbour. */
#define CLIPCL_PIXELS_L 1    /* 1 byte per pixel */
#define CLIPCL_PIXELS_LA 2   /* 2 */
#define CLIPCL_PIXELS_RGB 3  /* 3 */
#define CLIPCL_PIXELS_RGBA 4 /* 4 */
#define CLIPCL_PIXELS_P 5    /* 3 */

/* Each writes the 3 x size x size float32 tensor CLIP's image tower sees
 * (resize short side to size, centre crop, RGB, CLIP's mean/std), bit for
 * bit what clipcl_encode_image_files and `clipcl preprocess` compute. */
/* An image file (JPEG, PNG, WebP, TIFF, BMP, GIF, TGA, PSD, PNM). */
int clipcl_preprocess_file(const char *path, int size, float *out);
/* Decoded pixels: height rows of width pixels in mode (CLIPCL_PIXELS_*),
 * row_stride bytes apart (>= width * bytes per pixel). A PNG read by any
 * lossless decoder gives what clipcl_preprocess_file gives for the file. */
int clipcl_preprocess_pixels8(const uint8_t *pixels, int width, int height, size_t row_stride,
                              int mode, int size, float *out);

/* The token ids clipcl_encode_texts feeds the text tower: n rows of
 * clipcl_context_length() int32 ids (zero-padded, <|endoftext|> kept last in
 * a text cut to fit; *n_truncated, may be NULL, counts those). */
int clipcl_tokenize(clipcl_model *m, const char *const *texts, int n, int32_t *ids,
                    int *n_truncated);

/* CLIP's zero-shot classifier with prompt ensembling, as `clipcl zeroshot`
 * builds it: per label, one prompt per template ({} replaced by the label,
 * every occurrence), encoded with CLIPCL_NORMALIZE in one call, averaged in
 * double and renormalised. templates NULL (n_templates 0) means the single
 * "a photo of a {}.". out: n_labels x clipcl_embed_dim() floats. *n_truncated
 * (may be NULL) counts prompts cut to the context length. */
int clipcl_zeroshot_classifier(clipcl_model *m, const char *const *labels, int n_labels,
                               const char *const *templates, int n_templates, float *out,
                               int *n_truncated);
/* probs[i][l]: softmax over l of exp(logit_scale) * dot(images[i], classifier[l]),
 * computed in double as `clipcl zeroshot` does (rows of both inputs are
 * expected unit-norm). images n_images x dim, classifier n_labels x dim. */
int clipcl_zeroshot_probs(const float *images, int n_images, const float *classifier,
                          int n_labels, int dim, float logit_scale, double *probs);

/* ---- Preprocessing as the model's config says ----
 * What clipcl_encode_image_files feeds the model: the transform of its
 * open_clip_config.json `preprocess_cfg` (mean, std, interpolation,
 * resize_mode, fill_color) or of the preprocessor_config.json beside a
 * Hugging Face config.json, OpenAI CLIP's without either (then the same bits
 * as clipcl_preprocess_file at clipcl_image_size()). out: 3 x R x R float32.
 * A config clipcl cannot follow makes these fail with its reason. */
int clipcl_preprocess_file_model(const clipcl_model *m, const char *path, float *out);
/* Decoded pixels as in clipcl_preprocess_pixels8. */
int clipcl_preprocess_pixels8_model(const clipcl_model *m, const uint8_t *pixels, int width,
                                    int height, size_t row_stride, int mode, float *out);
/* An encoded image file held in memory (len bytes; name for messages). */
int clipcl_preprocess_encoded_model(const clipcl_model *m, const void *bytes, size_t len,
                                    const char *name, float *out);
/* One line describing the model's preprocessing (where it comes from and its
 * settings) into buf (cap bytes, truncated). */
int clipcl_preprocess_describe(const clipcl_model *m, char *buf, size_t cap);
/* ---- Strict loading: unused tensors, unsupported towers, load notes ---- */

/* clipcl_load refuses a checkpoint holding a tensor the model clipcl builds
 * does not read (CLIPCL_ERR_UNSUPPORTED naming it): that tensor means a
 * computation clipcl would skip, so the features would silently differ from
 * the original model's. With this flag such tensors are loaded anyway and
 * listed by clipcl_load_notes as warnings. */
#define CLIPCL_LOAD_ALLOW_UNUSED 1
/* Half-precision storage (docs/library.md): the model's GEMM weights (every
 * matmul and convolution weight, packed once on the device) are stored in
 * 16 bits, f16 (IEEE half) or bf16 (bfloat16), both rounded to nearest even;
 * arithmetic and accumulation stay float32 and so do activations, the
 * token embedding and the small vectors (biases, norms, positional
 * embeddings). Features stay within cosine 0.9999 of float32. At most one
 * of the two; the reference device ("ref") refuses them. */
#define CLIPCL_LOAD_F16 2
#define CLIPCL_LOAD_BF16 4
/* "f32" (0), "f16" (CLIPCL_LOAD_F16) or "bf16" (CLIPCL_LOAD_BF16), any case
 * (also float32, float16, bfloat16) -> *flag; else CLIPCL_ERR_INVALID, the
 * message naming the value and the choices. */
int clipcl_dtype_flag(const char *dtype, int *flag);
/* clipcl_load with flags (CLIPCL_LOAD_*; any other bit is CLIPCL_ERR_INVALID). */
int clipcl_load_opts(const char *model, const char *device, int flags, clipcl_model **out);
/* Lines for the user about the loaded model, each ending in '\n' (a model
 * without a config file: what was assumed; unused tensors allowed by
 * CLIPCL_LOAD_ALLOW_UNUSED); "" when none; never NULL (NULL model: ""). */
const char *clipcl_load_notes(const clipcl_model *m);
/* towers for clipcl_tower_unsupported */
#define CLIPCL_TOWER_IMAGE 0
#define CLIPCL_TOWER_TEXT 1
/* "" when the tower can be used; else why not, one line naming the option or
 * tensor (encoding with that tower fails with CLIPCL_ERR_UNSUPPORTED and this
 * text, while the other tower works). NULL model or another tower: "". */
const char *clipcl_tower_unsupported(const clipcl_model *m, int tower);
/* The tokenizer the text tower was trained with when it is not CLIP's BPE
 * (open_clip hf_tokenizer_name, e.g. "timm/ViT-B-16-SigLIP"): then only
 * clipcl_encode_token_ids works for text. "" for CLIP's BPE or NULL. */
const char *clipcl_text_tokenizer(const clipcl_model *m);

/* ---- SigLIP: the sigmoid zero-shot probabilities ----
 * A model trained with SigLIP's sigmoid loss has a learned logit_bias b
 * (open_clip's ViT-*-SigLIP*, transformers' SiglipModel): each label is then
 * a yes/no question, p = sigmoid(exp(logit_scale) * cos(image, label) + b),
 * and the probabilities of one image do not sum to 1. */
/* 1 when the model holds a logit_bias (then clipcl_zeroshot_model_probs is
 * the sigmoid), else 0 (NULL model: 0). */
int clipcl_has_logit_bias(const clipcl_model *m);
/* The model's logit_bias; 0 when it has none or m is NULL. */
float clipcl_logit_bias(const clipcl_model *m);
/* probs[i][l] = sigmoid(exp(logit_scale) * dot(images[i], classifier[l]) +
 * logit_bias), in double (rows expected unit-norm, as for
 * clipcl_zeroshot_probs). */
int clipcl_zeroshot_probs_sigmoid(const float *images, int n_images, const float *classifier,
                                  int n_labels, int dim, float logit_scale, float logit_bias,
                                  double *probs);
/* The model's own zero-shot probabilities, as `clipcl zeroshot` prints
 * them: the sigmoid above with the model's scale and bias when it has a
 * logit_bias, else clipcl_zeroshot_probs' softmax. dim is
 * clipcl_embed_dim(m). */
int clipcl_zeroshot_model_probs(const clipcl_model *m, const float *images, int n_images,
                                const float *classifier, int n_labels, double *probs);

#ifdef __cplusplus
}
#endif

#endif
