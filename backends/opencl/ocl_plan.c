/* The OpenCL plan: storage for every tensor (one arena carved into
 * sub-buffers, own buffers for inputs and params) and a flat list of
 * pre-bound launches. ocl_plan_run() is a loop over that list: no allocation,
 * no string work, one clFinish at the end. */
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_backend.h"
#include "backends/opencl/ocl_fusion.h"
#include "backends/opencl/ocl_lower_ops.h"
#include "backends/opencl/ocl_plan_internal.h"
#include "backends/opencl/ocl_plan_mem.h"
#include "backends/opencl/ocl_shared_scratch.h"
#include "runtime/grow.h"

typedef struct ocl_memo {
    int key[OCL_MEMO_MAX_KEY];
    int n;
    cl_mem mem; /* not owned: a plan scratch buffer */
} ocl_memo;

typedef struct ocl_launch {
    int node;
    cl_kernel k;            /* NULL for a host call */
    cl_uint dims;
    size_t gws[3], lws[3];
    int has_lws;
    ocl_host_call fn;
    void *data;
    int once;               /* reads params only: skipped while no param changed */
} ocl_launch;

struct ocl_plan {
    rt_ctx *ctx;
    int n_tensors, n_nodes;
    size_t *nbytes;         /* per tensor */
    cl_mem *mem;            /* per tensor; NULL where the tensor has no storage */
    unsigned char *owned;   /* mem[t] is released by the plan */
    cl_mem arena;
    size_t arena_bytes;
    ocl_launch *launches;
    int n_launches, cap_launches;
    cl_kernel *kernels;     /* every kernel made by ocl_lower_kernel */
    int n_kernels, cap_kernels;
    ocl_uses uses;          /* each (kernel name, options) once: what the self-check checks */
    cl_mem *scratch;
    int n_scratch, cap_scratch;
    size_t scratch_bytes;   /* private scratch (ocl_lower_scratch) */
    ocl_shared_scratch ss;  /* transient scratch shared by all nodes */
    cl_event *events;       /* one per launch when profiling */
    double *node_seconds;   /* per node, from the last profiled run */
    int ran;
    int last_run_launches;  /* enqueued by the last run */
    int params_dirty;       /* a param may have changed since the last run */
    int static_done;        /* while dirty: the static launches before this index are current */
    int *sched_pos;         /* per node: its position in the schedule (n_sched: not scheduled) */
    int n_sched;
    unsigned char *is_param; /* per tensor: G_ROLE_PARAM */
    ocl_memo *memo;         /* derived buffers shared between nodes */
    int n_memo, cap_memo;
    ocl_fusion_claims fusion; /* runs of the schedule lowered as one (ocl_fusion.h) */
    const graph *g;
    ocl_mem_need need;      /* device memory so far, checked before each allocation */
    int keep_weights;       /* weight copies (packed panels) persist; 0 on a tight device */
    size_t weight_copy_bytes; /* weight copies asked for (one that did not fit included) */
    int *packed_reads;      /* (node, param) pairs: that node reads the param via its packed copy only */
    int n_packed_reads, cap_packed_reads;
    unsigned char *droppable; /* per tensor: a param only packed copies read (after lowering) */
    int release_originals;  /* ocl_plan_release_originals() asked for it */
    int frozen;             /* originals released: params can no longer change */
    size_t released_bytes;
};

struct ocl_lower {
    ocl_plan *p;
    const graph *g;
};

static _Thread_local cl_event *tl_event_slot;

cl_event *ocl_lower_event_slot(void) { return tl_event_slot; }

/* ---- lowering helpers --------------------------------------------------- */

rt_ctx *ocl_lower_ctx(ocl_lower *lc) { return lc->p->ctx; }
const graph *ocl_lower_graph(ocl_lower *lc) { return lc->g; }

cl_mem ocl_lower_mem(ocl_lower *lc, int tensor)
{
    if (tensor < 0 || tensor >= lc->p->n_tensors)
        return NULL;
    return lc->p->mem[tensor];
}

static int private_scratch(ocl_lower *lc, size_t bytes, int derived, cl_mem *out)
{
    ocl_plan *p = lc->p;
    int rc = cc_grow((void **)&p->scratch, &p->cap_scratch, p->n_scratch + 1, sizeof(cl_mem), "plan scratch buffers");
    if (rc)
        return rc;
    const size_t b = bytes ? bytes : 4;
    p->need.scratch = p->scratch_bytes + p->ss.bytes;
    ocl_mem_need want = p->need;
    if (derived) { /* named as such in the message, and kept out of the batch estimate */
        want.derived += b;
        if (b > want.largest)
            want.largest = b;
    }
    if ((rc = ocl_mem_check(p->ctx, p->g, &want, derived ? 0 : b)))
        return rc;
    rc = rt_alloc(p->ctx, b, out);
    if (rc)
        return rc;
    p->scratch[p->n_scratch++] = *out;
    if (derived)
        p->need.derived += b;
    else
        p->scratch_bytes += b;
    return 0;
}

int ocl_lower_scratch(ocl_lower *lc, size_t bytes, cl_mem *out) { return private_scratch(lc, bytes, 0, out); }

int ocl_lower_derived_scratch(ocl_lower *lc, size_t bytes, cl_mem *out)
{
    return private_scratch(lc, bytes, 1, out);
}

int ocl_lower_shared_scratch(ocl_lower *lc, size_t bytes, cl_mem *out)
{
    return ocl_ss_request(&lc->p->ss, lc->p->ctx, bytes, out);
}

int ocl_lower_kernel(ocl_lower *lc, const char *file, const char *name, const char *options, cl_kernel *out)
{
    ocl_plan *p = lc->p;
    int rc = cc_grow((void **)&p->kernels, &p->cap_kernels, p->n_kernels + 1, sizeof(cl_kernel), "plan kernels");
    if (rc)
        return rc;
    rc = rt_kernel(p->ctx, file, options ? options : "", name, out);
    if (rc)
        return rc;
    p->kernels[p->n_kernels++] = *out;
    return ocl_uses_note(&p->uses, name, options);
}

int ocl_lower_note_use(ocl_lower *lc, const char *name, const char *options)
{
    return ocl_uses_note(&lc->p->uses, name, options);
}

const ocl_kernel_use *ocl_plan_kernel_uses(const ocl_plan *p, int *n)
{
    *n = p->uses.n;
    return p->uses.u;
}

int ocl_lower_launch(ocl_lower *lc, int node, cl_kernel k, cl_uint dims, const size_t *gws, const size_t *lws)
{
    ocl_plan *p = lc->p;
    if (!k || dims < 1 || dims > 3)
        return cc_fail(CC_ERR_INVALID, "ocl launch for node %d: expected a kernel and 1..3 dims, found %s and %u",
                       node, k ? "a kernel" : "NULL", dims);
    for (cl_uint d = 0; d < dims; d++) {
        /* An empty tensor means no work; OpenCL 1.2 rejects a zero size. */
        if (gws[d] == 0)
            return 0;
        if (lws && (lws[d] == 0 || gws[d] % lws[d] != 0))
            return cc_fail(CC_ERR_INVALID,
                           "ocl launch for node %d: global size %zu in dim %u is not a multiple of local size %zu",
                           node, gws[d], d, lws[d]);
    }
    int rc = cc_grow((void **)&p->launches, &p->cap_launches, p->n_launches + 1, sizeof(ocl_launch), "plan launches");
    if (rc)
        return rc;
    ocl_launch *L = &p->launches[p->n_launches++];
    memset(L, 0, sizeof *L);
    L->node = node;
    L->k = k;
    L->dims = dims;
    for (cl_uint d = 0; d < dims; d++) {
        L->gws[d] = gws[d];
        L->lws[d] = lws ? lws[d] : 0;
    }
    L->has_lws = lws != NULL;
    return 0;
}

int ocl_lower_launch_static(ocl_lower *lc, int node, cl_kernel k, cl_uint dims, const size_t *gws,
                            const size_t *lws)
{
    int before = lc->p->n_launches;
    int rc = ocl_lower_launch(lc, node, k, dims, gws, lws);
    if (!rc && lc->p->n_launches > before)
        lc->p->launches[lc->p->n_launches - 1].once = 1;
    return rc;
}

int ocl_lower_weight_copy(ocl_lower *lc, const int *key, int n_key, size_t bytes, cl_mem *out, int *found)
{
    *out = NULL;
    *found = 0;
    if (!lc->p->keep_weights)
        return CC_OK;
    if ((*found = ocl_lower_memo_get(lc, key, n_key, out)))
        return CC_OK;
    lc->p->weight_copy_bytes += bytes; /* before: a copy that does not fit counts too */
    int rc = ocl_lower_derived_scratch(lc, bytes, out);
    return rc ? rc : ocl_lower_memo_put(lc, key, n_key, *out);
}

int ocl_lower_memo_get(ocl_lower *lc, const int *key, int n, cl_mem *out)
{
    const ocl_plan *p = lc->p;
    for (int i = 0; i < p->n_memo; i++)
        if (p->memo[i].n == n && !memcmp(p->memo[i].key, key, sizeof(int) * (size_t)n)) {
            *out = p->memo[i].mem;
            return 1;
        }
    return 0;
}

int ocl_lower_memo_put(ocl_lower *lc, const int *key, int n, cl_mem mem)
{
    ocl_plan *p = lc->p;
    if (n < 1 || n > OCL_MEMO_MAX_KEY || !mem)
        return cc_fail(CC_ERR_INVALID, "ocl_lower_memo_put: expected 1..%d key ints and a buffer, found %d and %s",
                       OCL_MEMO_MAX_KEY, n, mem ? "a buffer" : "NULL");
    int rc = cc_grow((void **)&p->memo, &p->cap_memo, p->n_memo + 1, sizeof(ocl_memo), "plan memo entries");
    if (rc)
        return rc;
    ocl_memo *m = &p->memo[p->n_memo++];
    memset(m, 0, sizeof *m);
    memcpy(m->key, key, sizeof(int) * (size_t)n);
    m->n = n;
    m->mem = mem;
    return 0;
}

int ocl_lower_is_param(ocl_lower *lc, int tensor)
{
    return tensor >= 0 && tensor < lc->g->n_tensors && lc->g->tensors[tensor].role == G_ROLE_PARAM;
}

int ocl_lower_is_param_data(ocl_lower *lc, int tensor)
{
    if (tensor < 0 || tensor >= lc->g->n_tensors)
        return 0;
    return ocl_lower_is_param(lc, g_storage_root(lc->g, tensor));
}

int ocl_lower_note_packed_read(ocl_lower *lc, int node, cl_mem src)
{
    ocl_plan *p = lc->p;
    for (int t = 0; t < p->n_tensors; t++) {
        if (!src || p->mem[t] != src || !p->is_param[t] || lc->g->tensors[t].alias_of >= 0)
            continue;
        int rc = cc_grow((void **)&p->packed_reads, &p->cap_packed_reads, 2 * p->n_packed_reads + 2,
                         sizeof(int), "plan packed reads");
        if (rc)
            return rc;
        p->packed_reads[2 * p->n_packed_reads] = node;
        p->packed_reads[2 * p->n_packed_reads + 1] = t;
        p->n_packed_reads++;
    }
    return CC_OK;
}

/* Which params no launch reads but the packing ones: every node that reads
 * one (through any view of it; a view node itself reads nothing) noted a
 * packed-only read of it. A param that is an output, or has an unnoted
 * reader, stays. */
static int find_droppable(ocl_plan *p, const graph *g)
{
    p->droppable = calloc((size_t)g->n_tensors + 1, 1);
    unsigned char *needed = calloc((size_t)g->n_tensors + 1, 1);
    if (!p->droppable || !needed) {
        free(needed);
        return cc_fail(CC_ERR_NOMEM, "ocl_plan_create: out of host memory");
    }
    for (int i = 0; i < p->n_packed_reads; i++)
        p->droppable[p->packed_reads[2 * i + 1]] = 1;
    for (int n = 0; n < g->n_nodes; n++) {
        const g_node *N = &g->nodes[n];
        if (N->dead || (N->out >= 0 && g->tensors[N->out].alias_of >= 0))
            continue;
        for (int j = 0; j < N->n_in; j++) {
            const int r = g_storage_root(g, N->in[j]);
            if (r < 0 || r >= g->n_tensors || !p->is_param[r])
                continue;
            int noted = 0;
            for (int i = 0; i < p->n_packed_reads && !noted; i++)
                noted = p->packed_reads[2 * i] == n && p->packed_reads[2 * i + 1] == r;
            if (!noted)
                needed[r] = 1;
        }
    }
    for (int t = 0; t < g->n_tensors; t++)
        if (needed[t] || g->tensors[t].is_output || !p->owned[t])
            p->droppable[t] = 0;
    free(needed);
    return CC_OK;
}

int ocl_lower_call(ocl_lower *lc, int node, ocl_host_call fn, void *data)
{
    ocl_plan *p = lc->p;
    if (!fn) {
        free(data);
        return cc_fail(CC_ERR_INVALID, "ocl host call for node %d: expected a function, found NULL", node);
    }
    int rc = cc_grow((void **)&p->launches, &p->cap_launches, p->n_launches + 1, sizeof(ocl_launch), "plan launches");
    if (rc) {
        free(data);
        return rc;
    }
    ocl_launch *L = &p->launches[p->n_launches++];
    memset(L, 0, sizeof *L);
    L->node = node;
    L->fn = fn;
    L->data = data;
    return 0;
}

int ocl_set_args(cl_kernel k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cl_int err = CL_SUCCESS;
    cl_uint i = 0;
    for (; fmt[i] && err == CL_SUCCESS; i++) {
        switch (fmt[i]) {
        case 'm': { cl_mem v = va_arg(ap, cl_mem); err = clSetKernelArg(k, i, sizeof v, &v); ocl_ss_note_arg(k, i, v); break; }
        case 'i': { cl_int v = va_arg(ap, int); err = clSetKernelArg(k, i, sizeof v, &v); break; }
        case 'u': { cl_uint v = va_arg(ap, unsigned); err = clSetKernelArg(k, i, sizeof v, &v); break; }
        case 'l': { cl_long v = va_arg(ap, int64_t); err = clSetKernelArg(k, i, sizeof v, &v); break; }
        case 'f': { cl_float v = (cl_float)va_arg(ap, double); err = clSetKernelArg(k, i, sizeof v, &v); break; }
        default:
            va_end(ap);
            return cc_fail(CC_ERR_INVALID, "ocl_set_args: unknown format letter '%c' at arg %u (expected m i u l f)",
                           fmt[i], i);
        }
    }
    va_end(ap);
    if (err != CL_SUCCESS) {
        char name[128] = "?";
        clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
        return cc_fail(CC_ERR_OPENCL, "clSetKernelArg(%s, arg %u, '%c') failed: %s", name, i - 1, fmt[i - 1],
                       rt_cl_error_string(err));
    }
    return 0;
}

int ocl_lower_gpu_rows(ocl_lower *lc)
{
    return lc->p->ctx->policy.row_variant == RT_STYLE_GPU; /* runtime/policy.h */
}

size_t ocl_lower_row_wg(ocl_lower *lc)
{
    return (size_t)lc->p->ctx->policy.row_wg;
}

/* ---- create ------------------------------------------------------------ */

static int lower_node(ocl_lower *lc, int node)
{
    const g_node *n = &lc->g->nodes[node];
    ocl_lower_fn lower = ocl_op_lowering(n->op);
    if (!lower)
        return cc_fail(CC_ERR_UNSUPPORTED, "ocl plan: node %d has op %s (kind %d), which the OpenCL backend does not lower",
                       node, g_op_name(n->op), (int)n->op);
    return lower(lc, node);
}

static int alloc_storage(ocl_plan *p, const graph *g, const g_memplan *mp)
{
    size_t total = 0;
    for (int t = 0; t < g->n_tensors; t++) {
        p->nbytes[t] = g_nbytes(g, t);
        if (mp->offset[t] != (size_t)-1 && g->tensors[t].alias_of < 0) {
            size_t end = mp->offset[t] + (p->nbytes[t] ? p->nbytes[t] : 4);
            if (end > total)
                total = end;
        }
    }
    p->arena_bytes = mp->arena_bytes;
    /* the whole budget before the first big allocation */
    p->need.arena = total;
    int mrc = ocl_mem_check(p->ctx, g, &p->need, 0);
    if (mrc)
        return mrc;
    if (total > 0) {
        int rc = rt_alloc(p->ctx, total, &p->arena);
        if (rc)
            return rc;
    }
    for (int t = 0; t < g->n_tensors; t++) {
        const g_tensor *T = &g->tensors[t];
        /* A view always shares its root's storage, whatever offset the
         * planner reports for it. */
        if (T->alias_of >= 0)
            continue;
        if (mp->offset[t] != (size_t)-1) {
            cl_buffer_region r = { mp->offset[t], p->nbytes[t] ? p->nbytes[t] : 4 };
            cl_int err;
            p->mem[t] = clCreateSubBuffer(p->arena, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &r, &err);
            if (err != CL_SUCCESS)
                return cc_fail(CC_ERR_OPENCL, "clCreateSubBuffer for tensor %d '%s' (offset %zu, %zu bytes) failed: %s",
                               t, T->name, r.origin, r.size, rt_cl_error_string(err));
            p->owned[t] = 1;
        } else if (T->role == G_ROLE_INPUT || T->role == G_ROLE_PARAM) {
            int rc = rt_alloc(p->ctx, p->nbytes[t] ? p->nbytes[t] : 4, &p->mem[t]);
            if (rc)
                return rc;
            p->owned[t] = 1;
        }
    }
    /* Views share their root's buffer. */
    for (int t = 0; t < g->n_tensors; t++) {
        if (g->tensors[t].alias_of < 0 || p->mem[t])
            continue;
        int root = g_storage_root(g, t);
        if (root >= 0 && root < g->n_tensors)
            p->mem[t] = p->mem[root];
    }
    return 0;
}

/* One lowering; *copies: bytes of weight copies it had made when it failed. */
static int plan_create(rt_ctx *ctx, const graph *g, int keep_weights, size_t *copies, ocl_plan **out)
{
    *out = NULL;
    *copies = 0;
    if (!ctx || !g)
        return cc_fail(CC_ERR_INVALID, "ocl_plan_create: expected a context and a graph, found NULL");
    if (g->n_errors)
        return cc_fail(CC_ERR_INVALID, "ocl_plan_create: the graph has %d builder error(s); fix them first",
                       g->n_errors);
    ocl_plan *p = calloc(1, sizeof *p);
    int *order = malloc(sizeof(int) * (size_t)(g->n_nodes ? g->n_nodes : 1));
    g_memplan mp;
    memset(&mp, 0, sizeof mp);
    int rc = 0;
    if (!p || !order) {
        rc = cc_fail(CC_ERR_NOMEM, "ocl_plan_create: out of host memory");
        goto done;
    }
    p->ctx = ctx;
    p->g = g;
    p->params_dirty = 1;
    p->keep_weights = keep_weights;
    p->n_tensors = g->n_tensors;
    p->n_nodes = g->n_nodes;
    p->nbytes = calloc((size_t)g->n_tensors + 1, sizeof(size_t));
    p->mem = calloc((size_t)g->n_tensors + 1, sizeof(cl_mem));
    p->owned = calloc((size_t)g->n_tensors + 1, 1);
    p->is_param = calloc((size_t)g->n_tensors + 1, 1);
    p->node_seconds = malloc(sizeof(double) * ((size_t)g->n_nodes + 1));
    if (!p->nbytes || !p->mem || !p->owned || !p->is_param || !p->node_seconds) {
        rc = cc_fail(CC_ERR_NOMEM, "ocl_plan_create: out of host memory");
        goto done;
    }
    for (int i = 0; i < g->n_nodes; i++)
        p->node_seconds[i] = -1.0;
    for (int t = 0; t < g->n_tensors; t++)
        p->is_param[t] = g->tensors[t].role == G_ROLE_PARAM;
    ocl_mem_need_of(g, &p->need);

    int n_order = g_schedule(g, order);
    if (n_order < 0) {
        rc = cc_fail(CC_ERR_INVALID, "ocl_plan_create: the graph has a cycle, no schedule exists");
        goto done;
    }
    p->sched_pos = malloc(sizeof(int) * (size_t)(g->n_nodes ? g->n_nodes : 1));
    if (!p->sched_pos) {
        rc = cc_fail(CC_ERR_NOMEM, "ocl_plan_create: out of host memory");
        goto done;
    }
    p->n_sched = n_order;
    for (int i = 0; i < g->n_nodes; i++)
        p->sched_pos[i] = n_order;
    for (int i = 0; i < n_order; i++)
        p->sched_pos[order[i]] = i;
    size_t align = ctx->dev.mem_base_addr_align_bytes;
    if (align < 64)
        align = 64;
    ocl_lower lc = { p, g };
    /* fusion decides first: the memory plan must know which runs are one step */
    rc = ocl_fusion_claim(&lc, g, order, n_order, &p->fusion);
    if (rc)
        goto done;
    rc = ocl_fusion_plan_memory(g, &p->fusion, order, n_order, align, &mp);
    if (rc)
        goto done;
    rc = alloc_storage(p, g, &mp);
    if (rc)
        goto done;

    ocl_ss_begin(&p->ss);
    for (int i = 0; i < n_order && !rc; i++) {
        p->ss.node = order[i];
        if (p->fusion.pattern[i] >= 0) { /* a claimed run, lowered once */
            rc = ocl_fusion_lower_run(&lc, &p->fusion, i);
            i += p->fusion.len[i] - 1;
            continue;
        }
        rc = lower_node(&lc, order[i]);
        if (rc) {
            const g_node *n = &g->nodes[order[i]];
            rc = cc_wrap(rc, "lowering node %d (%s%s%s)", order[i], g_op_name(n->op),
                         n->name[0] ? " " : "", n->name);
        }
    }
    ocl_ss_end();
    if (!rc) { /* the shared scratch is allocated now, at its final size */
        p->need.scratch = p->scratch_bytes;
        rc = ocl_mem_check(ctx, g, &p->need, p->ss.bytes);
    }
    if (!rc)
        rc = ocl_ss_finish(&p->ss, ctx);
    if (!rc)
        rc = find_droppable(p, g);
    if (rc)
        goto done;
    if (ctx->profiling && p->n_launches) {
        p->events = calloc((size_t)p->n_launches, sizeof(cl_event));
        if (!p->events)
            rc = cc_fail(CC_ERR_NOMEM, "ocl_plan_create: out of host memory");
    }
done:
    free(order);
    g_memplan_free(&mp);
    if (rc) {
        if (p)
            *copies = p->weight_copy_bytes;
        ocl_plan_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int ocl_plan_create(rt_ctx *ctx, const graph *g, ocl_plan **out)
{
    size_t copies = 0;
    int rc = plan_create(ctx, g, 1, &copies, out);
    /* Packed weights are a speed-up, not a need: where they do not fit, the
     * plan packs them every run as it did before (same results). */
    if (rc == CC_ERR_NOMEM && copies > 0) {
        cc_clear_error();
        rc = plan_create(ctx, g, 0, &copies, out);
    }
    return rc;
}

void ocl_plan_free(ocl_plan *p)
{
    if (!p)
        return;
    if (p->events)
        for (int i = 0; i < p->n_launches; i++)
            if (p->events[i])
                clReleaseEvent(p->events[i]);
    for (int i = 0; i < p->n_launches; i++)
        free(p->launches[i].data);
    for (int i = 0; i < p->n_kernels; i++)
        clReleaseKernel(p->kernels[i]);
    for (int i = 0; i < p->n_scratch; i++)
        clReleaseMemObject(p->scratch[i]);
    ocl_ss_free(&p->ss);
    /* Sub-buffers before the arena they view. */
    if (p->mem)
        for (int t = 0; t < p->n_tensors; t++)
            if (p->owned && p->owned[t] && p->mem[t])
                clReleaseMemObject(p->mem[t]);
    if (p->arena)
        clReleaseMemObject(p->arena);
    free(p->events);
    free(p->launches);
    free(p->kernels);
    ocl_uses_free(&p->uses);
    free(p->scratch);
    free(p->nbytes);
    free(p->mem);
    free(p->owned);
    free(p->is_param);
    free(p->memo);
    free(p->packed_reads);
    free(p->droppable);
    free(p->sched_pos);
    free(p->node_seconds);
    ocl_fusion_claims_free(&p->fusion);
    free(p);
}

void ocl_plan_launch_counts(const ocl_plan *p, int *n_launches, int *n_static, const ocl_fusion_claims **claims)
{
    *n_launches = p->n_launches;
    *n_static = 0;
    for (int i = 0; i < p->n_launches; i++)
        *n_static += p->launches[i].once;
    *claims = &p->fusion;
}

/* ---- data in and out ------------------------------------------------- */

static int check_io(const ocl_plan *p, int tensor, size_t bytes, const char *what)
{
    if (tensor < 0 || tensor >= p->n_tensors)
        return cc_fail(CC_ERR_INVALID, "%s: tensor id %d out of range [0, %d)", what, tensor, p->n_tensors);
    if (!p->mem[tensor] && p->frozen && p->is_param[g_storage_root(p->g, tensor)])
        return cc_fail(CC_ERR_INVALID, "%s: tensor %d is a weight this inference plan released once it was "
                       "packed (only the packed copy is kept)", what, tensor);
    if (!p->mem[tensor])
        return cc_fail(CC_ERR_INVALID, "%s: tensor %d has no device storage (not scheduled)", what, tensor);
    if (bytes != p->nbytes[tensor])
        return cc_fail(CC_ERR_SHAPE, "%s: tensor %d holds %zu bytes, caller gave %zu", what, tensor,
                       p->nbytes[tensor], bytes);
    return 0;
}

/* A param may have changed: every static launch runs again. */
static void params_dirty(ocl_plan *p)
{
    p->params_dirty = 1;
    p->static_done = 0;
}

int ocl_plan_write(ocl_plan *p, int tensor, const void *host, size_t bytes)
{
    int rc = check_io(p, tensor, bytes, "ocl_plan_write");
    if (rc || bytes == 0)
        return rc;
    if (p->is_param[tensor] && p->frozen)
        return cc_fail(CC_ERR_INVALID, "ocl_plan_write: tensor %d is a weight of an inference plan that "
                       "released its weight originals once packed: weights cannot change (build a new plan)",
                       tensor);
    if (p->is_param[tensor])
        params_dirty(p);
    RT_CHECK(clEnqueueWriteBuffer(p->ctx->queue, p->mem[tensor], CL_TRUE, 0, bytes, host, 0, NULL, NULL));
    return 0;
}

int ocl_plan_read(ocl_plan *p, int tensor, void *host, size_t bytes)
{
    int rc = check_io(p, tensor, bytes, "ocl_plan_read");
    if (rc || bytes == 0)
        return rc;
    RT_CHECK(clEnqueueReadBuffer(p->ctx->queue, p->mem[tensor], CL_TRUE, 0, bytes, host, 0, NULL, NULL));
    return 0;
}

cl_mem ocl_plan_mem(ocl_plan *p, int tensor)
{
    if (!p || tensor < 0 || tensor >= p->n_tensors)
        return NULL;
    /* the caller may write a param through it: redo what derives from params */
    if (p->is_param[tensor] && p->frozen)
        return NULL; /* released, or frozen with the packed copies */
    if (p->is_param[tensor])
        params_dirty(p);
    return p->mem[tensor];
}

void ocl_plan_params_changed(ocl_plan *p)
{
    if (p && !p->frozen) /* frozen: no param can have changed */
        params_dirty(p);
}

void ocl_plan_release_originals(ocl_plan *p)
{
    if (p)
        p->release_originals = 1;
}

size_t ocl_plan_released_bytes(const ocl_plan *p) { return p ? p->released_bytes : 0; }

/* After a run that made the packed copies: the originals only the packing
 * launches read go (views of them lose their handle too). */
static void release_originals(ocl_plan *p)
{
    for (int t = 0; t < p->n_tensors; t++) {
        if (!p->droppable[t] || !p->mem[t])
            continue;
        const cl_mem m = p->mem[t];
        for (int v = 0; v < p->n_tensors; v++)
            if (v != t && p->mem[v] == m)
                p->mem[v] = NULL;
        clReleaseMemObject(m);
        p->mem[t] = NULL;
        p->owned[t] = 0;
        p->released_bytes += p->nbytes[t];
    }
    p->frozen = 1;
}

size_t ocl_plan_arena_bytes(const ocl_plan *p) { return p ? p->arena_bytes : 0; }
size_t ocl_plan_scratch_bytes(const ocl_plan *p) { return p ? p->scratch_bytes + p->ss.bytes : 0; }
size_t ocl_plan_derived_bytes(const ocl_plan *p) { return p ? p->need.derived : 0; }

/* ---- run --------------------------------------------------------------- */

int ocl_plan_last_run_launches(const ocl_plan *p) { return p ? p->last_run_launches : 0; }

/* Launches [0, end) in order, then clFinish; end < n_launches is a prefix
 * run (ocl_plan_run_for). */
static int run_launches(ocl_plan *p, int end)
{
    cl_command_queue q = p->ctx->queue;
    int enqueued = 0;
    for (int i = 0; i < p->n_launches; i++) {
        const ocl_launch *L = &p->launches[i];
        cl_event *ev = NULL;
        if (p->events) {
            if (p->events[i]) {
                clReleaseEvent(p->events[i]);
                p->events[i] = NULL;
            }
            ev = &p->events[i];
        }
        if (i >= end || (L->once && (!p->params_dirty || i < p->static_done)))
            continue;
        enqueued++;
        if (L->k) {
            cl_int err = clEnqueueNDRangeKernel(q, L->k, L->dims, NULL, L->gws, L->has_lws ? L->lws : NULL, 0,
                                                NULL, ev);
            if (err != CL_SUCCESS) {
                clFinish(q);
                return cc_fail(CC_ERR_OPENCL, "ocl_plan_run: launch %d (node %d) failed to enqueue: %s", i,
                               L->node, rt_cl_error_string(err));
            }
        } else {
            tl_event_slot = ev;
            int rc = L->fn(p->ctx, L->data);
            tl_event_slot = NULL;
            if (rc) {
                clFinish(q);
                return rc;
            }
        }
    }
    cl_int err = clFinish(q);
    if (err != CL_SUCCESS)
        return cc_fail(CC_ERR_OPENCL, "ocl_plan_run: clFinish failed: %s", rt_cl_error_string(err));
    p->ran = 1;
    p->last_run_launches = enqueued;
    if (end < p->n_launches) { /* later static launches still see old params */
        p->static_done = p->params_dirty && end > p->static_done ? end : p->static_done;
    } else {
        if (p->release_originals && p->params_dirty && !p->frozen)
            release_originals(p);
        p->params_dirty = p->static_done = 0;
    }
    if (p->events) {
        for (int n = 0; n < p->n_nodes; n++)
            p->node_seconds[n] = -1.0;
        for (int i = 0; i < p->n_launches; i++) {
            if (!p->events[i])
                continue;
            int n = p->launches[i].node;
            if (n < 0 || n >= p->n_nodes)
                continue;
            double s = rt_event_seconds(p->events[i]);
            p->node_seconds[n] = (p->node_seconds[n] < 0 ? 0.0 : p->node_seconds[n]) + s;
        }
    }
    return 0;
}

int ocl_plan_run(ocl_plan *p) { return run_launches(p, p->n_launches); }

int ocl_plan_run_for(ocl_plan *p, int n, const int *tensors)
{
    const graph *g = p->g;
    const int *pos = p->sched_pos, n_order = p->n_sched;
    /* the last schedule position that writes a wanted tensor: everything it
     * needs is scheduled before it. A tensor no scheduled node writes (an
     * input, a param) needs nothing; an unknown one gets the full run. */
    int last = -1, end = 0;
    for (int j = 0; j < n; j++) {
        if (tensors[j] < 0 || tensors[j] >= g->n_tensors) {
            last = n_order;
            break;
        }
        const int role = g->tensors[tensors[j]].role;
        int found = role == G_ROLE_INPUT || role == G_ROLE_PARAM;
        for (int i = 0; i < g->n_nodes; i++)
            if (g->nodes[i].out == tensors[j] && pos[i] < n_order) {
                found = 1;
                last = pos[i] > last ? pos[i] : last;
            }
        if (!found)
            last = n_order;
    }
    /* launches follow the schedule; a fused run's go with its first node */
    for (; end < p->n_launches; end++) {
        const int nd = p->launches[end].node;
        if (nd >= 0 && nd < g->n_nodes && pos[nd] > last)
            break;
    }
    return run_launches(p, end);
}

int ocl_plan_node_seconds(const ocl_plan *p, double *per_node)
{
    if (!p->ctx->profiling)
        return cc_fail(CC_ERR_INVALID, "ocl_plan_node_seconds: the context was created without profiling");
    if (!p->ran)
        return cc_fail(CC_ERR_INVALID, "ocl_plan_node_seconds: the plan has not run yet");
    memcpy(per_node, p->node_seconds, sizeof(double) * (size_t)p->n_nodes);
    return 0;
}
