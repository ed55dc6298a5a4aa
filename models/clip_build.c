/* Shared pieces of the tower builders: params from the weight map, Linear,
 * LayerNorm, the pre-LN residual attention block, host inputs. */
#include "models/clip_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"

const char *cb_key(const char *prefix, const char *suffix)
{
    static _Thread_local char buf[8][160];
    static _Thread_local int next;
    char *b = buf[next++ & 7];
    snprintf(b, sizeof buf[0], "%s%s", prefix, suffix);
    return b;
}

static const char *shape_str(int ndim, const int64_t *s, char *buf, size_t len)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int i = 0; i < ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ", %lld" : "%lld", (long long)s[i]);
    if (o < len)
        snprintf(buf + o, len - o, "]");
    return buf;
}

/* What a shape mismatch at a known key usually means: an open_clip option
 * this build of the graph does not implement, rather than a corrupt file. */
static const char *shape_hint(const char *key)
{
    if (strstr(key, "mlp.c_fc.") || strstr(key, "mlp.c_proj.") || strstr(key, "mlp.fc1.") ||
        strstr(key, "mlp.fc2."))
        return " (an MLP hidden width other than 4 x width: open_clip's mlp_ratio / HF's "
               "intermediate_size, which clipcl does not implement)";
    if (strstr(key, "ln_post.") || strstr(key, "post_layernorm."))
        return " (a final LayerNorm of another width: open_clip's attentional_pool, which clipcl "
               "does not implement)";
    return "";
}

int cb_begin(cb_ctx *c, const clip_wmap *m, const clip_config *cfg, int batch)
{
    memset(c, 0, sizeof *c);
    if (!m || !cfg || batch < 1)
        return c->rc = cc_fail(CC_ERR_INVALID, "clip build: NULL weights/config or batch %d < 1",
                               batch);
    c->m = m;
    c->cfg = cfg;
    c->t = calloc(1, sizeof *c->t);
    c->g = g_new();
    if (!c->t || !c->g) {
        free(c->t);
        g_free(c->g);
        c->t = NULL;
        c->g = NULL;
        return c->rc = cc_fail(CC_ERR_NOMEM, "clip build: out of memory");
    }
    c->t->g = c->g;
    c->t->batch = batch;
    c->t->input = -1;
    c->t->out = -1;
    return CC_OK;
}

int cb_ok(cb_ctx *c, int id)
{
    if (id < 0 && !c->rc)
        c->rc = CC_ERR_SHAPE; /* the builder recorded the message */
    return c->rc ? -1 : id;
}

int cb_end(cb_ctx *c, int out, clip_tower **result)
{
    *result = NULL;
    if (!c->t)
        return c->rc ? c->rc : CC_ERR_INVALID;
    if (out < 0 && !c->rc)
        c->rc = CC_ERR_SHAPE;
    if (c->rc) {
        clip_tower_free(c->t);
        return c->rc;
    }
    g_mark_output(c->g, out);
    c->t->out = out;
    *result = c->t;
    return CC_OK;
}

int cb_push_param(cb_ctx *c, int id, const float *data)
{
    clip_tower *t = c->t;
    if (t->n_params == t->cap_params) {
        int cap = t->cap_params ? 2 * t->cap_params : 64;
        int *ids = realloc(t->param_t, (size_t)cap * sizeof *ids);
        if (ids)
            t->param_t = ids;
        const float **d = realloc(t->param_data, (size_t)cap * sizeof *d);
        if (d)
            t->param_data = d;
        if (!ids || !d)
            return c->rc = cc_fail(CC_ERR_NOMEM, "clip build: out of memory");
        t->cap_params = cap;
    }
    t->param_t[t->n_params] = id;
    t->param_data[t->n_params] = data;
    t->n_params++;
    return CC_OK;
}

int cb_param(cb_ctx *c, const char *key, int part, int nparts, int ndim, const int64_t *shape)
{
    if (c->rc)
        return -1;
    int64_t full[CLIP_MAX_DIMS];
    memcpy(full, shape, (size_t)ndim * sizeof *full);
    full[0] *= nparts;
    char e[96], f[96];
    const clip_weight *w = clip_wmap_find(c->m, key);
    if (w) /* the map's array is not const: strict loading reads this mark */
        c->m->w[w - c->m->w].used = 1;
    if (!w) {
        c->rc = cc_fail(CC_ERR_INVALID, "clip %s weights: missing tensor '%s' (expected shape %s)",
                        clip_naming_name(c->cfg->naming), key, shape_str(ndim, full, e, sizeof e));
        return -1;
    }
    int same = w->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = w->shape[i] == full[i];
    if (!same) {
        c->rc = cc_fail(CC_ERR_SHAPE, "clip %s weights: tensor '%s': expected shape %s, found %s%s",
                        clip_naming_name(c->cfg->naming), key, shape_str(ndim, full, e, sizeof e),
                        shape_str(w->ndim, w->shape, f, sizeof f), shape_hint(key));
        return -1;
    }
    char name[G_NAME_LEN];
    if (nparts > 1)
        snprintf(name, sizeof name, "%s[%d/%d]", key, part, nparts);
    else
        snprintf(name, sizeof name, "%s", key);
    int id = cb_ok(c, g_param(c->g, name, ndim, shape));
    if (id < 0)
        return -1;
    int64_t block = w->numel / nparts;
    if (cb_push_param(c, id, w->data + (int64_t)part * block))
        return -1;
    return id;
}

int cb_param1(cb_ctx *c, const char *key, int64_t n)
{
    return cb_param(c, key, 0, 1, 1, &n);
}

int cb_param2(cb_ctx *c, const char *key, int64_t rows, int64_t cols)
{
    int64_t s[2] = {rows, cols};
    return cb_param(c, key, 0, 1, 2, s);
}

int cb_linear(cb_ctx *c, int x, const char *wkey, const char *bkey, int part, int nparts,
              int64_t in, int64_t out)
{
    int64_t ws[2] = {out, in};
    int w = cb_param(c, wkey, part, nparts, 2, ws);
    int b = cb_param(c, bkey, part, nparts, 1, &out);
    if (w < 0 || b < 0)
        return -1;
    return cb_ok(c, g_matmul(c->g, x, w, b, 0, 1));
}

int cb_layernorm(cb_ctx *c, int x, const char *wkey, const char *bkey, int64_t width, float eps)
{
    int w = cb_param1(c, wkey, width), b = cb_param1(c, bkey, width);
    if (w < 0 || b < 0)
        return -1;
    return cb_ok(c, g_layernorm(c->g, x, w, b, eps));
}

/* GELU's tanh form, 0.5x(1 + tanh(u)) with u = sqrt(2/pi)(x + 0.044715x^3),
 * written as x * sigmoid(2u) (the same function: 1 + tanh(u) = 2 sigmoid(2u))
 * from ops every backend and autodiff already have. */
static int gelu_tanh(cb_ctx *c, int x)
{
    graph *g = c->g;
    int x3 = cb_ok(c, g_mul(g, cb_ok(c, g_mul(g, x, x)), x));
    int u = cb_ok(c, g_add(g, x, cb_ok(c, g_scale(g, x3, 0.044715f))));
    int s = cb_ok(c, g_sigmoid(g, cb_ok(c, g_scale(g, u, (float)(2.0 * 0.7978845608028654)))));
    return cb_ok(c, g_mul(g, x, s));
}

int cb_activation(cb_ctx *c, int x, clip_act act)
{
    if (act == CLIP_ACT_GELU_TANH)
        return gelu_tanh(c, x);
    return cb_ok(c, act == CLIP_ACT_GELU ? g_gelu(c->g, x) : g_quickgelu(c->g, x));
}

/* open_clip's LayerScale: the branch times a learned per-channel gain. */
static int layer_scale(cb_ctx *c, int branch, const char *key, int64_t d)
{
    int gamma = cb_param1(c, key, d);
    if (gamma < 0)
        return -1;
    return cb_ok(c, g_mul(c->g, branch, gamma));
}

/* The tensor names of one pre-LN block under each naming. */
const cb_block_keys CB_BLOCK_OPENAI = {
    "ln_1.", "attn.in_proj_weight", "attn.in_proj_bias", {NULL, NULL, NULL}, {NULL, NULL, NULL},
    "attn.out_proj.", "ln_2.", "mlp.c_fc.", "mlp.c_proj.",
};
const cb_block_keys CB_BLOCK_HF = {
    "layer_norm1.", NULL, NULL,
    {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight"},
    {"self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias"},
    "self_attn.out_proj.", "layer_norm2.", "mlp.fc1.", "mlp.fc2.",
};
/* timm's VisionTransformer Block (open_clip's timm trunks). */
const cb_block_keys CB_BLOCK_TIMM = {
    "norm1.", "attn.qkv.weight", "attn.qkv.bias", {NULL, NULL, NULL}, {NULL, NULL, NULL},
    "attn.proj.", "norm2.", "mlp.fc1.", "mlp.fc2.",
};

/* "<p><module>weight" / "<p><module>bias" */
static const char *mkey(const char *p, const char *module, const char *what)
{
    char m[96];
    snprintf(m, sizeof m, "%s%s", module, what);
    return cb_key(p, m);
}

int cb_block(cb_ctx *c, int x, const char *p, int64_t d, int heads, clip_act act, float eps,
             int causal, int64_t mlp_width, int ls)
{
    const cb_block_keys *k = c->cfg->naming == CLIP_NAMING_HF ? &CB_BLOCK_HF : &CB_BLOCK_OPENAI;
    return cb_block_named(c, x, p, k, d, heads, act, eps, causal, mlp_width, ls);
}

/* The rows of x [B, T, d] that a pooled block keeps: row 0 (sel ==
 * CB_ROW0), or the row of a one-hot [B, 1, T] (exact: products with 1.0 and
 * 0.0); x itself for the full block (sel == CB_ALL_ROWS). */
enum { CB_ALL_ROWS = -2, CB_ROW0 = -1 };
static int pick_rows(cb_ctx *c, int x, int sel)
{
    if (sel == CB_ALL_ROWS)
        return x;
    if (sel == CB_ROW0)
        return cb_ok(c, g_slice(c->g, x, 1, 0, 1, 1));
    return cb_ok(c, g_matmul(c->g, sel, x, -1, 0, 0));
}

/* One pre-LN block; with sel != CB_ALL_ROWS only the selected row of its
 * output is computed ([B, 1, d]): the queries of that row alone when it is
 * row 0 of a non-causal block (K and V still from every row), else the full
 * attention and the row picked from its output; then the out projection,
 * residual and MLP of that one row. The tower's head reads only that row,
 * so the other rows' out projections and MLPs of the last block (a twelfth
 * of ViT-B/32's GEMM work) are skipped; the row's values are the same
 * products as in the full block. */
static int block_rows(cb_ctx *c, int x, const char *p, const cb_block_keys *k, int64_t d, int heads,
                      clip_act act, float eps, int causal, int64_t mlp_width, int ls, int sel)
{
    int64_t hidden = mlp_width > 0 ? mlp_width : 4 * d;
    int h = cb_layernorm(c, x, mkey(p, k->ln1, "weight"), mkey(p, k->ln1, "bias"), d, eps);
    /* queries of row 0 alone: non-causal only (a causal query row i sees keys <= i) */
    const int q_row0 = sel == CB_ROW0 && !causal;
    int qkv[3];
    for (int i = 0; i < 3; i++) {
        int hi = i == 0 && q_row0 ? pick_rows(c, h, CB_ROW0) : h;
        if (k->qkv_w) /* rows [i*d, (i+1)*d) of the packed projection: read in place */
            qkv[i] = cb_linear(c, hi, cb_key(p, k->qkv_w), cb_key(p, k->qkv_b), i, 3, d, d);
        else
            qkv[i] = cb_linear(c, hi, cb_key(p, k->sep_w[i]), cb_key(p, k->sep_b[i]), 0, 1, d, d);
    }
    int a = cb_ok(c, g_attention(c->g, qkv[0], qkv[1], qkv[2], heads, causal));
    if (!q_row0)
        a = pick_rows(c, a, sel);
    x = pick_rows(c, x, sel);
    a = cb_linear(c, a, mkey(p, k->out, "weight"), mkey(p, k->out, "bias"), 0, 1, d, d);
    if (ls)
        a = layer_scale(c, a, cb_key(p, "ls_1.gamma"), d);
    x = cb_ok(c, g_add(c->g, x, a));
    h = cb_layernorm(c, x, mkey(p, k->ln2, "weight"), mkey(p, k->ln2, "bias"), d, eps);
    h = cb_linear(c, h, mkey(p, k->fc1, "weight"), mkey(p, k->fc1, "bias"), 0, 1, d, hidden);
    h = cb_activation(c, h, act);
    h = cb_linear(c, h, mkey(p, k->fc2, "weight"), mkey(p, k->fc2, "bias"), 0, 1, hidden, d);
    if (ls)
        h = layer_scale(c, h, cb_key(p, "ls_2.gamma"), d);
    return cb_ok(c, g_add(c->g, x, h));
}

int cb_block_named(cb_ctx *c, int x, const char *p, const cb_block_keys *k, int64_t d, int heads,
                   clip_act act, float eps, int causal, int64_t mlp_width, int ls)
{
    return block_rows(c, x, p, k, d, heads, act, eps, causal, mlp_width, ls, CB_ALL_ROWS);
}

int cb_block_pooled(cb_ctx *c, int x, const char *p, int64_t d, int heads, clip_act act, float eps,
                    int causal, int64_t mlp_width, int ls, int onehot)
{
    const cb_block_keys *k = c->cfg->naming == CLIP_NAMING_HF ? &CB_BLOCK_HF : &CB_BLOCK_OPENAI;
    if (c->rc)
        return -1;
    if (onehot < 0 && causal) {
        c->rc = cc_fail(CC_ERR_INVALID, "clip build: a causal block pooled on row 0 needs a one-hot row");
        return -1;
    }
    return block_rows(c, x, p, k, d, heads, act, eps, causal, mlp_width, ls, onehot < 0 ? CB_ROW0 : onehot);
}

int cb_host_input(cb_ctx *c, const char *name, clip_host_kind kind, int ndim,
                  const int64_t *shape)
{
    if (c->rc)
        return -1;
    clip_tower *t = c->t;
    if (t->n_host == CLIP_MAX_HOST) {
        c->rc = cc_fail(CC_ERR_INVALID, "clip build: more than %d host inputs", CLIP_MAX_HOST);
        return -1;
    }
    int id = cb_ok(c, g_input(c->g, name, G_F32, ndim, shape));
    if (id < 0)
        return -1;
    float *buf = calloc((size_t)g_numel(c->g, id), sizeof *buf);
    if (!buf) {
        c->rc = cc_fail(CC_ERR_NOMEM, "clip build: out of memory for host input '%s'", name);
        return -1;
    }
    t->host_t[t->n_host] = id;
    t->host_kind[t->n_host] = kind;
    t->host_buf[t->n_host] = buf;
    t->n_host++;
    return id;
}
