/* The device-memory budget of a plan (ocl_plan_mem.h). */
#include "backends/opencl/ocl_plan_mem.h"

#include <stdio.h>
#include <stdlib.h>

#include "runtime/settings.h"
#include "runtime/status.h"

void ocl_mem_need_of(const graph *g, ocl_mem_need *need)
{
    need->params = need->inputs = need->arena = need->scratch = need->derived = need->largest = 0;
    for (int t = 0; t < g->n_tensors; t++) {
        const g_tensor *T = &g->tensors[t];
        if (T->alias_of >= 0 || (T->role != G_ROLE_INPUT && T->role != G_ROLE_PARAM))
            continue;
        const size_t b = g_nbytes(g, t);
        if (T->role == G_ROLE_PARAM)
            need->params += b;
        else
            need->inputs += b;
        if (b > need->largest)
            need->largest = b;
    }
}

void ocl_mem_limits(const rt_ctx *ctx, uint64_t *global, uint64_t *per_buffer, int *limited)
{
    *global = ctx->dev.global_mem_bytes;
    *per_buffer = ctx->dev.max_alloc_bytes ? ctx->dev.max_alloc_bytes : ctx->dev.global_mem_bytes;
    *limited = 0;
    const char *v = rt_setting_value(RT_SET_DEVICE_MEM_LIMIT);
    if (!v || !*v)
        return;
    char *end = NULL;
    const unsigned long long lim = strtoull(v, &end, 10);
    if (!end || *end || lim == 0) /* malformed: ignored like the policy variables */
        return;
    if (lim < *global || *global == 0) {
        *global = lim;
        *limited = 1;
    }
    if (lim < *per_buffer || *per_buffer == 0) {
        *per_buffer = lim;
        *limited = 1;
    }
}

/* The leading dim of the first input with two or more dims: the batch of a
 * CLIP tower ([B, 3, H, W] pixels, [B, T] ids); 0 when there is none. */
static int64_t batch_of(const graph *g)
{
    for (int t = 0; t < g->n_tensors; t++) {
        const g_tensor *T = &g->tensors[t];
        if (T->role == G_ROLE_INPUT && T->alias_of < 0 && T->ndim >= 2 && T->shape[0] > 1)
            return T->shape[0];
    }
    return 0;
}

/* The largest batch below B whose plan would fit, assuming activations,
 * inputs and scratch scale with the batch and params (and what derives from
 * them) do not; 0 when none. */
static int64_t batch_that_fits(int64_t B, const ocl_mem_need *n, uint64_t global, uint64_t per_buffer)
{
    const double per_item = (double)(n->inputs + n->arena + n->scratch) / (double)B;
    const double arena_item = (double)n->arena / (double)B;
    const double fixed = (double)n->params + (double)n->derived;
    if (per_item <= 0 || fixed >= (double)global)
        return 0;
    double fit = ((double)global - fixed) / per_item;
    if (arena_item > 0 && (double)per_buffer / arena_item < fit)
        fit = (double)per_buffer / arena_item;
    int64_t b = (int64_t)fit;
    return b >= B ? B - 1 : b;
}

int ocl_mem_check(const rt_ctx *ctx, const graph *g, const ocl_mem_need *need, size_t extra)
{
    uint64_t global, per_buffer;
    int limited;
    ocl_mem_limits(ctx, &global, &per_buffer, &limited);
    const uint64_t total =
        (uint64_t)need->params + need->inputs + need->arena + need->scratch + need->derived + extra;
    uint64_t largest = need->largest > need->arena ? need->largest : need->arena;
    if (extra > largest)
        largest = extra;
    if ((global == 0 || total <= global) && (per_buffer == 0 || largest <= per_buffer))
        return CC_OK;
    char fit[160] = "";
    const int64_t B = batch_of(g);
    ocl_mem_need grown = *need;
    grown.scratch += extra;
    const int64_t b = B > 1 ? batch_that_fits(B, &grown, global, per_buffer) : 0;
    if (b >= 1)
        snprintf(fit, sizeof fit, "a smaller --batch would fit: at most %lld (this plan has %lld)", (long long)b,
                 (long long)B);
    else if ((uint64_t)need->params >= global)
        snprintf(fit, sizeof fit, "the parameters alone (%zu bytes) do not fit: use a device with more memory",
                 need->params);
    else
        snprintf(fit, sizeof fit, "%s", B > 1 ? "no batch fits: use a device with more memory"
                                              : "use a device with more memory");
    return cc_fail(CC_ERR_NOMEM,
                   "device memory: the plan needs %llu bytes (params %zu, inputs %zu, activations %zu, scratch %zu; "
                   "packed weights %zu; largest buffer %llu) but %s has %llu bytes of global memory and allocates at most %llu bytes "
                   "per buffer%s; %s",
                   (unsigned long long)total, need->params, need->inputs, need->arena, need->scratch + extra,
                   need->derived, (unsigned long long)largest, ctx->dev.device_name, (unsigned long long)global,
                   (unsigned long long)per_buffer, limited ? " (lowered by CLIPCL_DEVICE_MEM_LIMIT)" : "", fit);
}
