/* The kernels a plan launches (ocl_plan_uses.h). A plan has tens of
 * distinct kernels, so a linear search per lowered kernel is enough. */
#include "backends/opencl/ocl_plan_uses.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/grow.h"
#include "runtime/status.h"

int ocl_uses_note(ocl_uses *s, const char *name, const char *options)
{
    if (!options)
        options = "";
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->u[i].name, name) && !strcmp(s->u[i].options, options))
            return CC_OK;
    int rc = cc_grow((void **)&s->u, &s->cap, s->n + 1, sizeof *s->u, "plan kernel names");
    if (rc)
        return rc;
    ocl_kernel_use *u = &s->u[s->n];
    u->name = strdup(name);
    u->options = strdup(options);
    if (!u->name || !u->options) {
        free(u->name);
        free(u->options);
        return cc_fail(CC_ERR_NOMEM, "plan kernel names: out of host memory");
    }
    s->n++;
    return CC_OK;
}

void ocl_uses_free(ocl_uses *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->u[i].name);
        free(s->u[i].options);
    }
    free(s->u);
    memset(s, 0, sizeof *s);
}
