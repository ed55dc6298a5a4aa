/* clipcl_list_devices (include/clipcl.h): the OpenCL devices as the runtime
 * enumerates them, marked with the one default selection picks, for
 * bindings that let a person choose a device by its "P:D" spec. */
#include "clipcl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rt.h"
#include "runtime/status.h"

int clipcl_list_devices(clipcl_device *out, int cap, int *n)
{
    if (!n || cap < 0 || (cap > 0 && !out))
        return cc_fail(CC_ERR_INVALID, "clipcl_list_devices: NULL argument or capacity %d", cap);
    *n = 0;
    rt_device_info *list = NULL;
    int count = 0;
    int rc = rt_list_devices(&list, &count);
    if (rc != CC_OK)
        return rc;
    /* A bad $CLIPCL_DEVICE makes no device the default; listing still works,
     * and clipcl_load reports the spec when it is used. */
    rt_device_info sel;
    int have_sel = rt_select_device(NULL, &sel) == CC_OK;
    if (!have_sel)
        cc_clear_error();
    for (int i = 0; i < count && i < cap; i++) {
        const rt_device_info *d = &list[i];
        clipcl_device *o = &out[i];
        memset(o, 0, sizeof *o);
        snprintf(o->spec, sizeof o->spec, "%d:%d", d->platform_index, d->device_index);
        snprintf(o->name, sizeof o->name, "%s", d->device_name);
        snprintf(o->platform, sizeof o->platform, "%s", d->platform_name);
        snprintf(o->type, sizeof o->type, "%s", rt_device_type_name(d->type));
        o->compute_units = (int)d->compute_units;
        o->global_mem_bytes = (int64_t)d->global_mem_bytes;
        o->is_default = have_sel && d->platform_index == sel.platform_index &&
                        d->device_index == sel.device_index;
    }
    free(list);
    *n = count;
    return CC_OK;
}
