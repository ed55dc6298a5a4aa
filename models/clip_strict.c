/* Strict loading: every tensor of a checkpoint is read by the graph clipcl
 * builds, or belongs to a tower marked unsupported, or the load fails naming
 * it -- the way PyTorch's load_state_dict(strict=True) refuses unexpected
 * keys. A tensor clipcl would silently skip means a computation it does not
 * do, so the features would be wrong without a word (docs/models.md,
 * "Strict loading"). */
#include "models/clip.h"

#include <stdio.h>
#include <string.h>

#include "runtime/status.h"

static int starts(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

int clip_tensor_tower(clip_naming naming, const char *n)
{
    if (strcmp(n, "logit_scale") == 0 || strcmp(n, "logit_bias") == 0)
        return -1;
    if (naming == CLIP_NAMING_HF) {
        if (starts(n, "vision_model.") || starts(n, "visual_projection."))
            return 0;
        if (starts(n, "text_model.") || starts(n, "text_projection."))
            return 1;
        return -2;
    }
    if (starts(n, "visual."))
        return 0;
    /* "text." is open_clip's CustomTextCLIP (custom_text) and its HF text
     * encoder; the rest is CLIP's own text tower. */
    if (starts(n, "text.") || starts(n, "token_embedding.") || strcmp(n, "positional_embedding") == 0 ||
        starts(n, "transformer.") || starts(n, "ln_final.") || starts(n, "text_projection"))
        return 1;
    return -2;
}

/* A tensor of an architecture clipcl does not implement, and what it means. */
typedef struct foreign {
    const char *pattern; /* a substring of the tensor name */
    int tower;           /* 0 image, 1 text, -1 either */
    const char *meaning;
} foreign;

static const foreign FOREIGN[] = {
    {"visual.trunk.", 0, "a timm image tower other than SigLIP's (open_clip timm_model_name: "
                         "ConvNeXt, EVA, MobileCLIP, ...)"},
    {"attn_pool.", 0, "an attentional pooler (open_clip attentional_pool, CoCa)"},
    {"vision_model.head.", 0, "SigLIP's attention-pool head (transformers SiglipModel)"},
    {"text_model.head.", 1, "SigLIP's text head (transformers SiglipModel)"},
    {"text.transformer.embeddings.", 1, "a Hugging Face text encoder (open_clip hf_model_name: "
                                        "xlm-roberta, nllb, mt5, roberta)"},
    {"text.transformer.encoder.", 1, "a Hugging Face text encoder (open_clip hf_model_name)"},
    {"text.transformer.shared.", 1, "a Hugging Face text encoder (open_clip hf_model_name)"},
    {"cls_emb", 1, "a class token appended to the text (open_clip embed_cls, CoCa)"},
    {".attn.ln_q.", -1, "a query/key LayerNorm (open_clip qk_norm, a custom attention block)"},
    {".attn.ln_k.", -1, "a query/key LayerNorm (open_clip qk_norm, a custom attention block)"},
    {".attn.logit_scale", -1, "scaled cosine attention (open_clip scaled_cosine_attn)"},
    {".attn.head_scale", -1, "per-head scales (open_clip scale_heads)"},
    {".attn.ln_inner.", -1, "a LayerNorm inside attention (open_clip scale_attn_inner)"},
    {".ln_attn.", -1, "a LayerNorm after attention (open_clip scale_attn)"},
    {".mlp.ln.", -1, "a LayerNorm inside the MLP (open_clip scale_fc)"},
};

/* Layer scale is a graph option (clip_*_cfg.layer_scale): its tensors are
 * foreign only while that option is off. */
static int layer_scale_refused(const char *n, int layer_scale)
{
    return !layer_scale && (strstr(n, ".ls_1.gamma") || strstr(n, ".ls_2.gamma"));
}

void clip_refuse_foreign_tensors(const clip_wmap *m, clip_config *cfg, int only)
{
    for (int i = 0; i < m->n; i++) {
        const char *n = m->w[i].name;
        int tower = clip_tensor_tower(cfg->naming, n);
        if (tower < 0 || (only >= 0 && tower != only))
            continue;
        char *why = tower ? cfg->text.unsupported : cfg->vision.unsupported;
        size_t len = tower ? sizeof cfg->text.unsupported : sizeof cfg->vision.unsupported;
        if (why[0])
            continue;
        const char *meaning = NULL;
        if (layer_scale_refused(n, tower ? cfg->text.layer_scale : cfg->vision.layer_scale))
            meaning = "layer scale (open_clip ls_init_value)";
        for (size_t k = 0; !meaning && k < sizeof FOREIGN / sizeof FOREIGN[0]; k++)
            if ((FOREIGN[k].tower < 0 || FOREIGN[k].tower == tower) && strstr(n, FOREIGN[k].pattern))
                meaning = FOREIGN[k].meaning;
        /* open_clip's own text tower under "text." is text.transformer.resblocks.*;
         * any other text.transformer.* is the HF encoder (nllb: embed_tokens, layers) */
        if (!meaning && tower == 1 && strncmp(n, "text.transformer.", 17) == 0 &&
            strncmp(n, "text.transformer.resblocks.", 27) != 0)
            meaning = "a Hugging Face text encoder (open_clip hf_model_name)";
        if (tower == 0 && strstr(n, "attn_pool.") && cfg->vision.attn_pool_queries)
            meaning = NULL; /* the graph implements the pooler it was configured with */
        if (tower == 0 && cfg->vision.map_head &&
            (strncmp(n, "visual.trunk.", 13) == 0 || strncmp(n, "vision_model.head.", 18) == 0))
            meaning = NULL; /* SigLIP's trunk and MAP head: models/clip_siglip.c */
        if (tower == 1 && cfg->siglip && strncmp(n, "text_model.head.", 16) == 0)
            meaning = NULL; /* SigLIP's text head: models/clip_text.c */
        if (meaning)
            snprintf(why, len, "tensor '%s' is %s, which clipcl does not implement", n, meaning);
    }
}

/* Builds a tower only to mark the tensors it reads. */
static int probe(clip_model *m, int text)
{
    clip_tower *t = NULL;
    int rc = text ? clip_build_text(m->w, &m->cfg, 1, &t) : clip_build_image(m->w, &m->cfg, 1, &t);
    clip_tower_free(t);
    return rc;
}

static void shape_text(const clip_weight *w, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < w->ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ", %lld" : "%lld", (long long)w->shape[i]);
    if (o < len)
        snprintf(buf + o, len - o, "]");
}

static void append(char *notes, size_t len, const char *line)
{
    if (!notes || !len)
        return;
    size_t o = strlen(notes);
    if (o + 1 < len)
        snprintf(notes + o, len - o, "%s\n", line);
}

int clip_model_check_tensors(clip_model *m, int allow_unused, char *notes, size_t notes_len)
{
    if (!m)
        return cc_fail(CC_ERR_INVALID, "clip_model_check_tensors: NULL model");
    const clip_config *c = &m->cfg;
    if (c->vision.unsupported[0] && c->text.unsupported[0])
        return cc_fail(CC_ERR_UNSUPPORTED, "clip model: neither tower can be built: image tower: "
                                           "%s; text tower: %s", c->vision.unsupported,
                       c->text.unsupported);
    for (int i = 0; i < m->w->n; i++)
        m->w->w[i].used = 0;
    int rc;
    if ((!c->vision.unsupported[0] && (rc = probe(m, 0))) ||
        (!c->text.unsupported[0] && (rc = probe(m, 1))))
        return rc;
    int unused = 0;
    for (int i = 0; i < m->w->n; i++) {
        clip_weight *w = &m->w->w[i];
        int tower = clip_tensor_tower(c->naming, w->name);
        if (tower == -1)
            w->used = 1; /* the logits' scale and (SigLIP-trained) bias */
        if (w->used || (tower == 0 && c->vision.unsupported[0]) ||
            (tower == 1 && c->text.unsupported[0]))
            continue;
        char shape[96];
        shape_text(w, shape, sizeof shape);
        if (!allow_unused)
            return cc_fail(CC_ERR_UNSUPPORTED, "clip %s weights: tensor '%s' %s is not used by the "
                                               "model clipcl builds: an unknown part of the "
                                               "architecture, which clipcl does not implement "
                                               "(--allow-unused loads the model without it)",
                           clip_naming_name(c->naming), w->name, shape);
        if (unused++ < 8) {
            char line[400];
            snprintf(line, sizeof line, "warning: tensor '%s' %s is not used (--allow-unused): "
                                        "the features may differ from the original model",
                     w->name, shape);
            append(notes, notes_len, line);
        }
    }
    if (unused > 8) {
        char line[96];
        snprintf(line, sizeof line, "warning: %d more unused tensors", unused - 8);
        append(notes, notes_len, line);
    }
    return CC_OK;
}
