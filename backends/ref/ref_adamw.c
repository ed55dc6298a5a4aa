/* AdamW on the host, the reference backend's optimizer (`--device ref`):
 * the same math as kernels/optim.cl
 * (torch.optim.AdamW's single-tensor path, factors formed in double and
 * rounded to float once, float arithmetic per element, the gradient scaled
 * by 1/K and the clip factor of the global norm), so the plain-C backend
 * trains without any OpenCL device. The global norm is summed in double in
 * a fixed order, so a step is reproducible (resume equality). */
#include "backends/ref/ref_adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"

typedef struct host_param {
    float *p, *acc, *m, *v;
    int64_t numel;
    int decays;
    float lo, hi;
} host_param;

struct ref_adamw {
    adamw_cfg cfg;
    host_param *q;
    int n;
    int n_accum;
    int64_t t;
};

int ref_adamw_create(const adamw_cfg *cfg, int n, ref_adamw **out)
{
    *out = NULL;
    ref_adamw *o = calloc(1, sizeof *o);
    if (!o || !(o->q = calloc((size_t)(n > 0 ? n : 1), sizeof *o->q))) {
        free(o);
        return cc_fail(CC_ERR_NOMEM, "ref AdamW: out of memory");
    }
    o->cfg = cfg ? *cfg : adamw_defaults();
    if (o->cfg.accum_steps < 1)
        o->cfg.accum_steps = 1;
    o->n = n;
    *out = o;
    return CC_OK;
}

void ref_adamw_free(ref_adamw *o)
{
    if (!o)
        return;
    for (int i = 0; i < o->n; i++) {
        free(o->q[i].acc);
        free(o->q[i].m);
        free(o->q[i].v);
    }
    free(o->q);
    free(o);
}

int ref_adamw_add(ref_adamw *o, int i, const char *name, int ndim, float *param, int64_t numel)
{
    if (i < 0 || i >= o->n)
        return cc_fail(CC_ERR_INVALID, "ref AdamW: parameter index %d out of 0..%d", i, o->n - 1);
    host_param *q = &o->q[i];
    size_t b = (size_t)(numel > 0 ? numel : 1) * sizeof(float);
    q->p = param;
    q->numel = numel;
    q->decays = adamw_param_decays(name, ndim);
    q->lo = -INFINITY;
    q->hi = INFINITY;
    q->acc = calloc(1, b);
    q->m = calloc(1, b);
    q->v = calloc(1, b);
    if (!q->acc || !q->m || !q->v)
        return cc_fail(CC_ERR_NOMEM, "ref AdamW: out of memory for '%s'", name);
    return CC_OK;
}

void ref_adamw_accumulate(ref_adamw *o, int i, const float *grad)
{
    host_param *q = &o->q[i];
    if (o->n_accum == 0)
        memcpy(q->acc, grad, (size_t)q->numel * sizeof *grad);
    else
        for (int64_t j = 0; j < q->numel; j++)
            q->acc[j] += grad[j];
    if (i == o->n - 1)
        o->n_accum++;
}

int ref_adamw_step(ref_adamw *o, double lr, float *grad_norm)
{
    const adamw_cfg *c = &o->cfg;
    if (o->n_accum != c->accum_steps)
        return cc_fail(CC_ERR_INVALID, "ref AdamW: %d of %d micro-batches accumulated",
                       o->n_accum, c->accum_steps);
    double s2 = 0;
    for (int i = 0; i < o->n; i++)
        for (int64_t j = 0; j < o->q[i].numel; j++)
            s2 += (double)o->q[i].acc[j] * o->q[i].acc[j];
    float inv_k = (float)(1.0 / c->accum_steps);
    float norm = (float)sqrt(s2) * inv_k, scale = inv_k;
    if (c->clip_norm > 0) {
        float coef = (float)c->clip_norm / (norm + 1e-6f);
        scale = inv_k * (coef < 1.0f ? coef : 1.0f);
    }
    if (grad_norm)
        *grad_norm = norm;
    o->t++;
    double bc1 = 1.0 - pow(c->beta1, (double)o->t), bc2 = 1.0 - pow(c->beta2, (double)o->t);
    float w1 = (float)(1.0 - c->beta1), b2 = (float)c->beta2, w2 = (float)(1.0 - c->beta2);
    float neg_step = (float)(-(lr / bc1)), bc2_sqrt = (float)sqrt(bc2), eps = (float)c->eps;
    for (int i = 0; i < o->n; i++) {
        host_param *q = &o->q[i];
        float decay_mul = (float)(1.0 - lr * (q->decays ? c->weight_decay : 0.0));
        for (int64_t j = 0; j < q->numel; j++) {
            float g = q->acc[j] * scale;
            float p = q->p[j] * decay_mul;
            float mi = q->m[j] + w1 * (g - q->m[j]);
            float vi = q->v[j] * b2 + w2 * g * g;
            float denom = sqrtf(vi) / bc2_sqrt + eps;
            p = p + neg_step * (mi / denom);
            p = fminf(fmaxf(p, q->lo), q->hi);
            q->m[j] = mi;
            q->v[j] = vi;
            q->p[j] = p;
        }
    }
    o->n_accum = 0;
    return CC_OK;
}

static int check_index(const ref_adamw *o, int i, const char *fn)
{
    if (i < 0 || i >= o->n || !o->q[i].m)
        return cc_fail(CC_ERR_INVALID, "%s: parameter index %d out of 0..%d or not added", fn, i, o->n - 1);
    return CC_OK;
}

int ref_adamw_set_clamp(ref_adamw *o, int i, float lo, float hi)
{
    int rc = check_index(o, i, "ref_adamw_set_clamp");
    if (rc)
        return rc;
    if (!(lo <= hi))
        return cc_fail(CC_ERR_INVALID, "ref_adamw_set_clamp: need lo <= hi, found [%g, %g]", lo, hi);
    o->q[i].lo = lo;
    o->q[i].hi = hi;
    return CC_OK;
}

int64_t ref_adamw_steps(const ref_adamw *o) { return o->t; }
void ref_adamw_set_steps(ref_adamw *o, int64_t t) { o->t = t; }

int ref_adamw_get_state(const ref_adamw *o, int i, float *m, float *v)
{
    int rc = check_index(o, i, "ref_adamw_get_state");
    if (rc)
        return rc;
    size_t b = (size_t)o->q[i].numel * sizeof(float);
    memcpy(m, o->q[i].m, b);
    memcpy(v, o->q[i].v, b);
    return CC_OK;
}

int ref_adamw_set_state(ref_adamw *o, int i, const float *m, const float *v)
{
    int rc = check_index(o, i, "ref_adamw_set_state");
    if (rc)
        return rc;
    size_t b = (size_t)o->q[i].numel * sizeof(float);
    memcpy(o->q[i].m, m, b);
    memcpy(o->q[i].v, v, b);
    return CC_OK;
}

int ref_adamw_grad(ref_adamw *o, int i, float *g, int write)
{
    if (i < 0 || i >= o->n)
        return cc_fail(CC_ERR_INVALID, "ref AdamW: parameter index %d out of 0..%d", i, o->n - 1);
    host_param *q = &o->q[i];
    size_t b = (size_t)q->numel * sizeof(float);
    if (write)
        memcpy(q->acc, g, b);
    else
        memcpy(g, q->acc, b);
    return CC_OK;
}
