/* clipcl info: what a checkpoint holds, as clipcl understood it, so a user
 * can check the inferred architecture before trusting any embedding. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tools/cmd.h"
#include "tools/cmd_clip.h"

const char cmd_info_usage[] =
    "usage: clipcl info [--model] MODEL\n\n"
    "Prints the architecture inferred from the tensor shapes (and the config\n"
    "file beside the weights, which overrides heads, activation and eps), the\n"
    "parameter count, the key naming, the storage dtype and the files used.\n"
    "Nothing runs on a device.\n\n"
    "  [--model] MODEL  a .safetensors file or a directory holding one\n"
    "  --allow-unused   show a model holding tensors clipcl does not use\n";

/* Each tower's status: usable, or why not (the other tower still works). */
static void print_towers(const clipcl_model *m)
{
    const char *img = clipcl_tower_unsupported(m, CLIPCL_TOWER_IMAGE);
    const char *txt = clipcl_tower_unsupported(m, CLIPCL_TOWER_TEXT);
    const char *tok = clipcl_text_tokenizer(m);
    printf("image status: %s%s\n", img[0] ? "unsupported: " : "supported", img);
    printf("text status:  %s%s", txt[0] ? "unsupported: " : "supported", txt);
    if (!txt[0] && tok[0])
        printf(" from token ids only (tokenizer '%s' is not CLIP's BPE)", tok);
    printf("\n");
}

static void print_info(const clipcl_info *f)
{
    printf("weights:      %s\n", f->weights_path);
    printf("naming:       %s\n", strcmp(f->naming, "openai") == 0 ? "openai (OpenAI / open_clip)"
                                                                   : "huggingface (CLIPModel "
                                                                     "or SiglipModel)");
    printf("dtype:        %s\n", f->dtype);
    printf("config:       %s\n", f->config_path[0] ? f->config_path
                                                   : "none (inferred from shapes only)");
    printf("tokenizer:    %s\n", f->tokenizer_path[0] ? f->tokenizer_path : "none found");
    printf("parameters:   %lld (%.2f M) in %d weight tensors\n", (long long)f->n_params,
           (double)f->n_params / 1e6, f->n_tensors);
    printf("embed dim:    %d\n", f->embed_dim);
    printf("logit scale:  %.6g (exp: %.6g)\n", (double)f->logit_scale,
           (double)expf(f->logit_scale));
    if (f->has_logit_bias)
        printf("logit bias:   %.6g (sigmoid zero-shot probabilities, SigLIP)\n",
               (double)f->logit_bias);
    if (f->is_vit)
        printf("image tower:  ViT, resolution %d, patch %d, width %d, layers %d, heads %d, "
               "%s, eps %g\n", f->image_size, f->patch_size, f->vision_width, f->vision_layers,
               f->vision_heads, f->vision_act, (double)f->vision_eps);
    else
        printf("image tower:  ModifiedResNet, resolution %d, width %d, layers (%d, %d, %d, %d), "
               "attention pool heads %d\n", f->image_size, f->vision_width, f->rn_layers[0],
               f->rn_layers[1], f->rn_layers[2], f->rn_layers[3], f->vision_heads);
    if (f->is_vit && f->vision_map_head)
        printf("image pool:   SigLIP's attention-pool (MAP) head, no class token\n");
    printf("text tower:   width %d, layers %d, heads %d, context %d, vocab %d, %s, eps %g\n",
           f->text_width, f->text_layers, f->text_heads, f->context_length, f->vocab_size,
           f->text_act, (double)f->text_eps);
}

int cmd_info(int argc, char **argv)
{
    cmd_model_opts mo = {0};
    const char *pos = NULL; /* MODEL without --model */
    for (int i = 1; i < argc; i++) {
        int r = cmd_model_option(argc, argv, &i, &mo);
        if (r == 2)
            return 2;
        if (r == 1)
            continue;
        if (argv[i][0] == '-' && strcmp(argv[i], "-") != 0)
            return cmd_usage_error(argv[0], "unknown option \"%s\"", argv[i]);
        if (pos)
            return cmd_usage_error(argv[0], "one MODEL only (got \"%s\" and \"%s\")", pos,
                                   argv[i]);
        pos = argv[i];
    }
    if (pos && mo.model)
        return cmd_usage_error(argv[0], "one MODEL only (got \"%s\" and --model \"%s\")", pos,
                               mo.model);
    if (pos)
        mo.model = pos;
    if (!mo.model)
        return cmd_usage_error(argv[0], "MODEL is required (clipcl info [--model] MODEL)");
    if (mo.device && strcmp(mo.device, "ref") != 0)
        return cmd_usage_error(argv[0], "--device: info runs nothing on a device");
    if (mo.dtype_flag)
        return cmd_usage_error(argv[0], "--dtype %s: info runs nothing on a device (`clipcl bench "
                                        "--dtype %s` prints the device memory of the weights)",
                               mo.dtype, mo.dtype);
    mo.device = "ref"; /* no OpenCL needed to read a checkpoint */
    clipcl_model *m = NULL;
    if (cmd_model_open(&mo, &m))
        return 1;
    clipcl_info f;
    int rc = clipcl_get_info(m, &f);
    if (rc)
        rc = cmd_lib_error(rc);
    else {
        print_info(&f);
        print_towers(m);
    }
    clipcl_free(m);
    return rc;
}
