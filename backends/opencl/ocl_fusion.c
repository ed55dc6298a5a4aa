/* The fusion table, the CLIPCL_FUSION switch, the can-fuse check and the
 * walk that claims runs of the schedule (see ocl_fusion.h). The patterns
 * themselves live in ocl_fusion_<family>.c. */
#include "backends/opencl/ocl_fusion.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"

/* Tried in this order at every schedule position. conv_batchnorm_add_relu
 * and conv_batchnorm_relu come before conv_batchnorm so the longer run wins; the matmul rows come before
 * add_layernorm, so in a transformer block the residual add of a projection
 * goes into the GEMM epilogue (one launch either way). */
static const ocl_fusion_pattern k_patterns[] = {
    {"matmul_gelu", ocl_fusion_match_matmul_gelu, ocl_fusion_lower_matmul_gelu,
     ocl_fusion_example_matmul_gelu, "matmul(+bias) -> gelu: GEMM epilogue"},
    {"matmul_quickgelu", ocl_fusion_match_matmul_quickgelu, ocl_fusion_lower_matmul_quickgelu,
     ocl_fusion_example_matmul_quickgelu, "matmul(+bias) -> quickgelu: GEMM epilogue"},
    {"matmul_residual", ocl_fusion_match_matmul_residual, ocl_fusion_lower_matmul_residual,
     ocl_fusion_example_matmul_residual, "matmul(+bias) -> add of a same-shape tensor: GEMM epilogue"},
    {"add_layernorm", ocl_fusion_match_add_layernorm, ocl_fusion_lower_add_layernorm,
     ocl_fusion_example_add_layernorm, "add -> layernorm: writes the sum and the normalised rows"},
    {"conv_batchnorm_add_relu", ocl_fusion_match_conv_bn_add_relu, ocl_fusion_lower_conv_bn,
     ocl_fusion_example_conv_bn_add_relu,
     "conv2d -> batchnorm -> add of a same-shape tensor -> relu: BN folded, residual in the conv's store"},
    {"conv_batchnorm_relu", ocl_fusion_match_conv_bn_relu, ocl_fusion_lower_conv_bn,
     ocl_fusion_example_conv_bn_relu, "conv2d -> batchnorm -> relu: BN folded into the weights"},
    {"conv_batchnorm", ocl_fusion_match_conv_bn, ocl_fusion_lower_conv_bn, ocl_fusion_example_conv_bn,
     "conv2d -> batchnorm: BN folded into the weights"},
    {"silu_mul", ocl_fusion_match_silu_mul, ocl_fusion_lower_silu_mul, ocl_fusion_example_silu_mul,
     "sigmoid -> mul -> mul: (a * sigmoid(a)) * b in one launch"},
};

_Static_assert(sizeof k_patterns / sizeof k_patterns[0] <= OCL_FUSION_MAX_PATTERNS,
               "the fusion table outgrew OCL_FUSION_MAX_PATTERNS");

int ocl_fusion_count(void) { return (int)(sizeof k_patterns / sizeof k_patterns[0]); }

const ocl_fusion_pattern *ocl_fusion_get(int i)
{
    return i >= 0 && i < ocl_fusion_count() ? &k_patterns[i] : NULL;
}

int ocl_fusion_find(const char *name)
{
    for (int i = 0; name && i < ocl_fusion_count(); i++)
        if (!strcmp(k_patterns[i].name, name))
            return i;
    return -1;
}

/* Whether pattern `name` may fire: the context's policy decides
 * (CLIPCL_FUSION, parsed once in runtime/policy.c). The policy does not know
 * the pattern table, so a name it holds that no row has is refused here: a
 * typo must not silently turn a fusion off. */
int ocl_fusion_on(const rt_policy *p, const char *name, int *on)
{
    const char *s = p->fusion_patterns; /* ",name,-name," or empty */
    while (*s) {
        if (*s == ',') {
            s++;
            continue;
        }
        const size_t n = strcspn(s, ",");
        const int neg = s[0] == '-';
        char tok[64];
        const size_t tn = n - (size_t)neg;
        if (tn == 0 || tn >= sizeof tok)
            return cc_fail(CC_ERR_INVALID, "CLIPCL_FUSION: an empty or overlong entry; expected 0, 1, or a "
                                           "comma-separated list of fusion names, each optionally prefixed with '-'");
        memcpy(tok, s + neg, tn);
        tok[tn] = '\0';
        if (ocl_fusion_find(tok) < 0)
            return cc_fail(CC_ERR_INVALID, "CLIPCL_FUSION: unknown fusion \"%s\" (docs/fused-kernels.md lists them)",
                           tok);
        s += n;
    }
    *on = rt_policy_fusion_on(p, name);
    return CC_OK;
}

int ocl_fusion_at(const ocl_fusion_view *v, int pos)
{
    return pos >= 0 && pos < v->n_order ? v->order[pos] : -1;
}

static int in_list(int x, const int *list, int n)
{
    for (int i = 0; i < n; i++)
        if (list[i] == x)
            return 1;
    return 0;
}

int ocl_fusion_can_fuse(const ocl_fusion_view *v, const int *nodes, int n, const g_op *ops, const int *kept,
                        int n_kept)
{
    const graph *g = v->g;
    if (n < 2 || n > OCL_FUSION_MAX_RUN)
        return 0;
    for (int k = 0; k < n; k++) {
        if (nodes[k] < 0 || nodes[k] >= g->n_nodes)
            return 0;
        const g_node *nd = &g->nodes[nodes[k]];
        if (nd->dead || nd->op != ops[k])
            return 0;
    }
    for (int k = 0; k < n - 1; k++) { /* the last node's output is the run's result */
        const int t = g->nodes[nodes[k]].out;
        if (in_list(t, kept, n_kept))
            continue; /* the fused kernel writes it: other readers are fine */
        if (g->tensors[t].is_output)
            return 0;
        /* every reader of t must be a node of the run */
        int inside = 0;
        for (int j = 0; j < n; j++) {
            const g_node *nj = &g->nodes[nodes[j]];
            for (int q = 0; q < nj->n_in; q++)
                inside += nj->in[q] == t;
        }
        if (inside != v->readers[t])
            return 0;
    }
    return 1;
}

/* Arena tensors (activations, gradients; views by their root) that the
 * nodes of a run read, excluding tensors the run produces. Returns how many,
 * or -1 when more than cap. */
static int run_inputs(const graph *g, const int *nodes, int n, int *out, int cap)
{
    int m = 0;
    for (int k = 0; k < n; k++) {
        const g_node *nd = &g->nodes[nodes[k]];
        for (int q = 0; q < nd->n_in; q++) {
            const int t = nd->in[q];
            if (t < 0)
                continue;
            const g_role r = g->tensors[t].role;
            if (r != G_ROLE_ACT && r != G_ROLE_GRAD)
                continue;
            int produced = 0;
            for (int j = 0; j < n; j++)
                produced |= g->nodes[nodes[j]].out == t;
            if (produced || in_list(t, out, m))
                continue;
            if (m == cap)
                return -1;
            out[m++] = t;
        }
    }
    return m;
}

void ocl_fusion_claims_free(ocl_fusion_claims *c)
{
    if (!c)
        return;
    free(c->pattern);
    free(c->len);
    free(c->nodes);
    memset(c, 0, sizeof *c);
}

int ocl_fusion_claim(ocl_lower *lc, const graph *g, const int *order, int n_order, ocl_fusion_claims *out)
{
    memset(out, 0, sizeof *out);
    const size_t n = (size_t)(n_order > 0 ? n_order : 1);
    out->pattern = malloc(n * sizeof(int));
    out->len = malloc(n * sizeof(int));
    out->nodes = malloc(n * OCL_FUSION_MAX_RUN * sizeof(int));
    int *readers = calloc((size_t)g->n_tensors + 1, sizeof(int));
    int rc = CC_OK;
    if (!out->pattern || !out->len || !out->nodes || !readers) {
        rc = cc_fail(CC_ERR_NOMEM, "ocl fusion: out of host memory for %d schedule steps", n_order);
        goto done;
    }
    out->n_order = n_order;
    for (int i = 0; i < n_order; i++) {
        out->pattern[i] = -1;
        out->len[i] = 1;
        out->nodes[(size_t)i * OCL_FUSION_MAX_RUN] = order[i];
    }
    /* readers over the whole graph: every live node, scheduled or not */
    for (int id = 0; id < g->n_nodes; id++) {
        const g_node *nd = &g->nodes[id];
        if (nd->dead)
            continue;
        for (int q = 0; q < nd->n_in; q++)
            if (nd->in[q] >= 0 && nd->in[q] < g->n_tensors)
                readers[nd->in[q]]++;
    }
    int enabled[OCL_FUSION_MAX_PATTERNS];
    for (int r = 0; r < ocl_fusion_count(); r++)
        if ((rc = ocl_fusion_on(&ocl_lower_ctx(lc)->policy, k_patterns[r].name, &enabled[r])))
            goto done;
    const ocl_fusion_view v = {lc, g, order, n_order, readers};
    for (int i = 0; i < n_order; i++) {
        for (int r = 0; r < ocl_fusion_count(); r++) {
            if (!enabled[r])
                continue;
            int run[OCL_FUSION_MAX_RUN];
            const int len = k_patterns[r].match(&v, i, run);
            if (len < 2)
                continue;
            int ok = len <= OCL_FUSION_MAX_RUN && i + len <= n_order;
            for (int k = 0; ok && k < len; k++)
                ok = run[k] == order[i + k];
            if (!ok) {
                rc = cc_fail(CC_ERR_INVALID, "ocl fusion '%s' at schedule position %d: claimed %d nodes that "
                                             "are not the next %d scheduled ones", k_patterns[r].name, i, len,
                                             len);
                goto done;
            }
            int ins[G_MAX_INPUTS];
            if (run_inputs(g, run, len, ins, G_MAX_INPUTS) < 0)
                continue; /* the liveness stand-in could not hold its inputs */
            out->pattern[i] = r;
            out->len[i] = len;
            memcpy(&out->nodes[(size_t)i * OCL_FUSION_MAX_RUN], run, sizeof(int) * (size_t)len);
            for (int k = 1; k < len; k++)
                out->pattern[i + k] = -2;
            out->fired[r]++;
            i += len - 1;
            break;
        }
    }
done:
    free(readers);
    if (rc)
        ocl_fusion_claims_free(out);
    return rc;
}

int ocl_fusion_plan_memory(const graph *g, const ocl_fusion_claims *c, const int *order, int n_order,
                           size_t align, g_memplan *out)
{
    int any = 0;
    for (int i = 0; c && i < n_order && i < c->n_order; i++)
        any |= c->pattern[i] >= 0;
    if (!any)
        return g_plan_memory(g, order, n_order, align, out);
    /* A copy of the graph whose nodes differ only where a run ends: the last
     * node of each run reads every arena input of the run. */
    graph pg = *g;
    pg.nodes = malloc(sizeof(g_node) * (size_t)(g->n_nodes ? g->n_nodes : 1));
    if (!pg.nodes)
        return cc_fail(CC_ERR_NOMEM, "ocl fusion: out of host memory copying %d nodes", g->n_nodes);
    memcpy(pg.nodes, g->nodes, sizeof(g_node) * (size_t)g->n_nodes);
    for (int i = 0; i < n_order; i++) {
        if (c->pattern[i] < 0)
            continue;
        const int *run = &c->nodes[(size_t)i * OCL_FUSION_MAX_RUN];
        const int len = c->len[i];
        g_node *last = &pg.nodes[run[len - 1]];
        int ins[G_MAX_INPUTS];
        const int m = run_inputs(g, run, len, ins, G_MAX_INPUTS);
        /* m >= 0: ocl_fusion_claim only keeps runs whose inputs fit */
        last->n_in = m;
        memcpy(last->in, ins, sizeof(int) * (size_t)(m > 0 ? m : 0));
    }
    int rc = g_plan_memory(&pg, order, n_order, align, out);
    free(pg.nodes);
    return rc;
}

int ocl_fusion_lower_run(ocl_lower *lc, const ocl_fusion_claims *c, int i)
{
    const ocl_fusion_pattern *pat = ocl_fusion_get(c->pattern[i]);
    const int *run = &c->nodes[(size_t)i * OCL_FUSION_MAX_RUN];
    int rc = pat->lower(lc, run, c->len[i]);
    if (rc) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", cc_last_error());
        rc = cc_fail((cc_code)rc, "lowering fusion %s at node %d: %s", pat->name, run[0], msg);
    }
    return rc;
}

int ocl_plan_fusion_stats(const ocl_plan *p, ocl_fusion_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!p)
        return cc_fail(CC_ERR_INVALID, "ocl_plan_fusion_stats: plan is NULL");
    const ocl_fusion_claims *c;
    ocl_plan_launch_counts(p, &out->n_launches, &out->n_static, &c);
    out->n_patterns = ocl_fusion_count();
    for (int r = 0; r < out->n_patterns; r++) {
        out->name[r] = k_patterns[r].name;
        out->fired[r] = c->fired[r];
    }
    for (int i = 0; i < c->n_order; i++)
        if (c->pattern[i] >= 0)
            out->nodes_fused += c->len[i];
    return CC_OK;
}
