/* Preprocessing settings read from a model's config, and the transform they
 * drive: open_clip's eval transform (`preprocess_cfg` in
 * open_clip_config.json) or Hugging Face's CLIPImageProcessor
 * (preprocessor_config.json). docs/preprocessing.md has the details; all
 * defaults give OpenAI CLIP's _transform, which is what img_clip_* compute. */
#ifndef CLIPCL_IO_PREPROCESS_CFG_H
#define CLIPCL_IO_PREPROCESS_CFG_H

#include <stddef.h>

#include "io/image.h"

struct json_object;

typedef enum img_resize_mode {
    IMG_RESIZE_SHORTEST = 0, /* short side to `resize`, long side int(resize * long / short) */
    IMG_RESIZE_LONGEST = 1,  /* open_clip ResizeKeepRatio(longest=1): long side to size, pad */
    IMG_RESIZE_SQUASH = 2,   /* both sides to resize_h x resize_w, aspect ignored */
} img_resize_mode;

typedef enum img_prep_style {
    IMG_PREP_OPEN_CLIP = 0, /* resize in the mode Pillow opened; torchvision CenterCrop
                             * (round-half-even offsets); x / 255 then (x - mean) / std */
    IMG_PREP_HF = 1,        /* CLIPImageProcessor: convert("RGB") first; offsets
                             * int(d / 2.0); (x - 255 mean) / (255 std) fused */
} img_prep_style;

typedef struct img_prep {
    int size;                   /* output side: the model's resolution */
    img_prep_style style;
    img_resize_mode resize_mode;
    int resize;                 /* SHORTEST: target short side (0 = size) */
    int resize_h, resize_w;     /* SQUASH: target size (0 = size) */
    int center_crop;            /* crop/pad to size x size after the resize */
    img_filter filter;
    int fill;                   /* pad value 0..255 (open_clip fill_color) */
    float mean[3], std[3];
    int normalize;              /* 0: HF do_normalize false, x * rescale only */
    double rescale;             /* HF rescale_factor (1/255) */
    char source[160];           /* where the settings came from, for messages and info */
    char refused[320];          /* non-empty: every transform fails with this line */
} img_prep;

/* OpenAI CLIP's transform at size (what img_clip_preprocess_file does). */
void img_prep_default(img_prep *p, int size);

/* open_clip: `preprocess_cfg` (may be NULL: defaults) from the config file
 * at path. Keys open_clip does not know are ignored as open_clip ignores
 * them; a known key with a value open_clip refuses or clipcl does not
 * implement is an error naming key and value. */
int img_prep_from_open_clip(img_prep *p, int size, const char *path,
                            struct json_object *preprocess_cfg);
/* Hugging Face preprocessor_config.json at path, or its parsed object
 * (path then only names it in messages). */
int img_prep_from_hf_file(img_prep *p, int size, const char *path);
int img_prep_from_hf_json(img_prep *p, int size, const char *path, struct json_object *obj);

/* The settings for a model whose config file is config_path ("" or NULL:
 * none): open_clip_config.json -> its preprocess_cfg; a Hugging Face
 * config.json -> preprocessor_config.json beside it when there is one;
 * otherwise OpenAI's defaults. */
int img_prep_for_model(img_prep *p, int size, const char *config_path);

/* Makes every transform with p fail with `why` (a config that could not be
 * followed: images are refused when used, the rest of the model works). */
void img_prep_refuse(img_prep *p, const char *why);

/* The transform on a decoded image: size x size RGB uint8, before
 * normalisation. */
int img_prep_rgb(const img_prep *p, const img_u8 *src, img_u8 *rgb);
/* rgb (size x size x 3) -> out[3][size][size] float32. */
void img_prep_normalize(const img_prep *p, const img_u8 *rgb, float *out_chw);
/* Decoded image / encoded bytes / file -> 3 x size x size floats. */
int img_prep_image(const img_prep *p, const img_u8 *src, float *out_chw);
int img_prep_encoded(const img_prep *p, const void *bytes, size_t len, const char *name,
                     float *out_chw);
int img_prep_file(const img_prep *p, const char *path, float *out_chw);

#endif
