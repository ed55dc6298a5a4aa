/* Strict loading in the public API (include/clipcl.h, "Strict loading"):
 * load flags, the notes a load leaves for the user, and each tower's
 * status. */
#include <stdio.h>
#include <string.h>

#include "clipcl.h"
#include "models/clip_api_internal.h"
#include "runtime/dtype.h"
#include "runtime/status.h"

int clipcl_load_opts(const char *model, const char *device, int flags, clipcl_model **out)
{
    if (out)
        *out = NULL;
    if (flags & ~(CLIPCL_LOAD_ALLOW_UNUSED | CLIPCL_LOAD_F16 | CLIPCL_LOAD_BF16))
        return cc_fail(CC_ERR_INVALID, "clipcl_load_opts: unknown flags 0x%x", (unsigned)flags);
    if ((flags & CLIPCL_LOAD_F16) && (flags & CLIPCL_LOAD_BF16))
        return cc_fail(CC_ERR_INVALID, "clipcl_load_opts: CLIPCL_LOAD_F16 and CLIPCL_LOAD_BF16 together: "
                                       "expected at most one storage type");
    return clip_api_load(model, device, flags, out);
}

int clipcl_dtype_flag(const char *dtype, int *flag)
{
    rt_dtype dt;
    int rc = rt_dtype_parse(dtype, &dt);
    if (rc)
        return rc;
    if (flag)
        *flag = dt == RT_DTYPE_F16 ? CLIPCL_LOAD_F16 : dt == RT_DTYPE_BF16 ? CLIPCL_LOAD_BF16 : 0;
    return CC_OK;
}

const char *clipcl_load_notes(const clipcl_model *m)
{
    return m ? m->notes : "";
}

const char *clipcl_tower_unsupported(const clipcl_model *m, int tower)
{
    if (!m)
        return "";
    if (tower == CLIPCL_TOWER_IMAGE)
        return m->m->cfg.vision.unsupported;
    if (tower == CLIPCL_TOWER_TEXT)
        return m->m->cfg.text.unsupported;
    return "";
}

const char *clipcl_text_tokenizer(const clipcl_model *m)
{
    return m ? m->m->cfg.text.tokenizer : "";
}

void clip_api_note_assumptions(clipcl_model *cm, const char *model)
{
    if (cm->m->config_path[0])
        return;
    const clip_config *c = &cm->m->cfg;
    size_t o = strlen(cm->notes);
    if (c->siglip) { /* clip_siglip_defaults */
        snprintf(cm->notes + o, sizeof cm->notes - o,
                 "note: '%s' has no open_clip_config.json or config.json: assuming SigLIP's "
                 "defaults (%s activation, LayerNorm eps %g, 64-wide attention heads%s); put the "
                 "model's config beside the weights if it was built otherwise\n",
                 model, clip_act_name(c->vision.act), (double)c->vision.eps,
                 c->naming == CLIP_NAMING_HF ? ", text pooled at the last token"
                                             : "; the text tower as OpenAI's CLIP's");
        return;
    }
    /* What clip_config_infer assumes, as OpenAI's build_model does. */
    snprintf(cm->notes + o, sizeof cm->notes - o,
             "note: '%s' has no open_clip_config.json or config.json: assuming OpenAI's CLIP "
             "(%s activation, LayerNorm eps %g, 64-wide attention heads, text pooled at the "
             "largest token id); put "
             "the model's config beside the weights if it was built otherwise\n",
             model, clip_act_name(c->text.act), (double)c->text.eps);
}

int clip_api_text_tokenizer_ok(const clipcl_model *cm)
{
    const clip_text_cfg *t = &cm->m->cfg.text;
    if (t->unsupported[0])
        return cc_fail(CC_ERR_UNSUPPORTED, "this model's text tower is not supported: %s",
                       t->unsupported);
    if (t->tokenizer[0])
        return cc_fail(CC_ERR_UNSUPPORTED, "this model's text tower uses the tokenizer '%s' "
                                           "(open_clip hf_tokenizer_name), not CLIP's BPE, and "
                                           "clipcl does not implement it: give token ids instead "
                                           "(embed-text --ids, clipcl_encode_token_ids)",
                       t->tokenizer);
    return CC_OK;
}
