/* The AdamW configuration shared by both backends' optimizers. */
#include "backends/adamw.h"

#include <math.h>
#include <string.h>

#include "runtime/status.h"

adamw_cfg adamw_defaults(void)
{
    adamw_cfg c = {.beta1 = 0.9, .beta2 = 0.98, .eps = 1e-6, .weight_decay = 0.2,
                   .clip_norm = 0.0, .accum_steps = 1, .track_grad_norm = 1};
    return c;
}

int adamw_param_decays(const char *name, int ndim)
{
    static const char *const no_decay[] = {
        "bn", "ln", "bias", "logit_scale", "token_embedding", "positional_embedding",
        "position_embedding", "class_embedding",
    };
    if (ndim < 2)
        return 0;
    for (size_t i = 0; name && i < sizeof no_decay / sizeof no_decay[0]; i++)
        if (strstr(name, no_decay[i]))
            return 0;
    return 1;
}

int adamw_cfg_check(const adamw_cfg *c, const char *who)
{
    if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
        return cc_fail(CC_ERR_INVALID, "%s: betas must lie in [0, 1), found %g and %g", who, c->beta1,
                       c->beta2);
    if (!(c->eps > 0) || !(c->weight_decay >= 0))
        return cc_fail(CC_ERR_INVALID, "%s: eps must be > 0 and weight decay >= 0, found %g and %g", who,
                       c->eps, c->weight_decay);
    if (c->accum_steps < 1)
        return cc_fail(CC_ERR_INVALID, "%s: accum_steps must be >= 1, found %d", who, c->accum_steps);
    if (isnan(c->clip_norm))
        return cc_fail(CC_ERR_INVALID, "%s: clip_norm is NaN", who);
    return CC_OK;
}
