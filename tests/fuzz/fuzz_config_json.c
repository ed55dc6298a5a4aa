/* Model configs: open_clip's open_clip_config.json / HF's config.json applied
 * on top of an inferred config (models/clip_config_json.c), and the training
 * model config that a run or checkpoint carries (train/trainer_config.c). */
#include <stdlib.h>
#include <string.h>

#include "models/clip.h"
#include "tests/fuzz/fuzz_util.h"
#include "train/trainer.h"

/* What clip_config_infer gives for a small ViT-B-like model. */
static void base_config(clip_config *c)
{
    memset(c, 0, sizeof *c);
    c->naming = CLIP_NAMING_OPENAI;
    c->embed_dim = 64;
    c->vision = (clip_vision_cfg){.is_vit = 1, .width = 128, .layers = 2, .heads = 2, .patch = 16,
                                  .resolution = 64, .act = CLIP_ACT_QUICKGELU, .eps = 1e-5f};
    c->text = (clip_text_cfg){.width = 64, .layers = 2, .heads = 1, .context = 77, .vocab = 49408,
                              .act = CLIP_ACT_QUICKGELU, .eps = 1e-5f};
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    fz_write(path, sizeof path, "config.json", data, size);
    clip_config c;
    base_config(&c);
    fz_check_error(clip_config_apply_json(&c, path), "clip_config_apply_json");
    base_config(&c);
    c.naming = CLIP_NAMING_HF;
    fz_check_error(clip_config_apply_json(&c, path), "clip_config_apply_json (HF)");
    char *text = fz_strndup(data, size);
    clip_config t;
    memset(&t, 0, sizeof t);
    fz_check_error(train_config_from_json_text(text, "fuzz input", &t), "train_config_from_json_text");
    free(text);
    return 0;
}
