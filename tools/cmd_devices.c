/* clipcl devices: every platform/device with the properties that kernel
 * selection looks at, and which one default selection (or --device /
 * CLIPCL_DEVICE) picks; --policy adds each device's kernel policy,
 * --settings lists every CLIPCL_* variable (cmd_devices_policy.c). */
#include "runtime/rt.h"
#include "tools/cmd.h"
#include "tools/cmd_devices_policy.h"

#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/settings.h"
#include "backends/selfcheck.h"

const char cmd_devices_usage[] =
    "usage: clipcl devices [--json] [--device D] [--policy] [--settings] [--check]\n\n"
    "Lists every OpenCL platform and device and marks with * the one clipcl\n"
    "would use. D (or $CLIPCL_DEVICE) is gpu, cpu, P:D (platform:device\n"
    "indices) or a case-insensitive part of the device or platform name;\n"
    "without one the first GPU is used, else the first CPU.\n\n"
    "  --json      machine-readable output\n"
    "  --device D  mark the device that D selects (fails if none matches)\n"
    "  --policy    also the kernel policy of every device (of D's alone with\n"
    "              --device): each field, its value and where it came from:\n"
    "              default (the table row that matched), tuned (measured and\n"
    "              cached), or env VARIABLE\n"
    "  --settings  every CLIPCL_* environment variable, its meaning and value\n"
    "  --check     run the device self-check on the selected device now, of\n"
    "              every part of every kernel variant and every fusion pattern\n"
    "              against the reference backend (otherwise each plan checks\n"
    "              those of the kernels it launches, once); a part that\n"
    "              disagrees disables its variant for the device (a warning\n"
    "              names it) and the result replaces the cached one\n";

static void human_bytes(cl_ulong b, char *buf, size_t len)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)b);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
}

static int is_selected(const rt_device_info *d, const rt_device_info *sel)
{
    return sel && d->platform_index == sel->platform_index && d->device_index == sel->device_index;
}

static void print_table(const rt_device_info *l, int n, const rt_device_info *sel, const char *why)
{
    int last_platform = -1;
    for (int i = 0; i < n; i++) {
        const rt_device_info *d = &l[i];
        if (d->platform_index != last_platform) {
            printf("%splatform %d: %s (%s)\n", last_platform >= 0 ? "\n" : "", d->platform_index,
                   d->platform_name, d->platform_version);
            printf("    %-5s %-6s %-5s %4s %10s %-22s %7s %4s %4s %4s  %-10s %s\n", "ID", "TYPE",
                   "CLASS", "CU", "GLOBAL", "LOCAL", "MAX-WG", "VECF", "FP16", "FP64", "DRIVER",
                   "NAME");
            last_platform = d->platform_index;
        }
        char id[24], global[32], local[48], lm[32];
        snprintf(id, sizeof id, "%d:%d", d->platform_index, d->device_index);
        human_bytes(d->global_mem_bytes, global, sizeof global);
        human_bytes(d->local_mem_bytes, lm, sizeof lm);
        snprintf(local, sizeof local, "%s%s", lm, d->local_mem_is_real ? "" : " (emulated)");
        printf("  %c %-5s %-6s %-5s %4u %10s %-22s %7zu %4u %4s %4s  %-10s %s\n",
               is_selected(d, sel) ? '*' : ' ', id, rt_device_type_name(d->type),
               rt_device_class_name(d->device_class), d->compute_units, global, local,
               d->max_work_group_size, d->preferred_vector_width_float, d->fp16 ? "yes" : "no",
               d->fp64 ? "yes" : "no", d->driver_version, d->device_name);
    }
    if (n == 0)
        printf("(platforms found, but no devices)\n");
    else
        printf("\n* = selected (%s)\n", why);
}

static json_object *device_json(const rt_device_info *d, int selected)
{
    json_object *o = json_object_new_object();
    char id[24];
    snprintf(id, sizeof id, "%d:%d", d->platform_index, d->device_index);
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "platform_index", json_object_new_int(d->platform_index));
    json_object_object_add(o, "device_index", json_object_new_int(d->device_index));
    json_object_object_add(o, "selected", json_object_new_boolean(selected));
    json_object_object_add(o, "name", json_object_new_string(d->device_name));
    json_object_object_add(o, "vendor", json_object_new_string(d->vendor));
    json_object_object_add(o, "platform", json_object_new_string(d->platform_name));
    json_object_object_add(o, "platform_version", json_object_new_string(d->platform_version));
    json_object_object_add(o, "device_version", json_object_new_string(d->device_version));
    json_object_object_add(o, "driver_version", json_object_new_string(d->driver_version));
    json_object_object_add(o, "type", json_object_new_string(rt_device_type_name(d->type)));
    json_object_object_add(o, "class", json_object_new_string(rt_device_class_name(d->device_class)));
    json_object_object_add(o, "compute_units", json_object_new_int64(d->compute_units));
    json_object_object_add(o, "global_mem_bytes", json_object_new_int64((int64_t)d->global_mem_bytes));
    json_object_object_add(o, "local_mem_bytes", json_object_new_int64((int64_t)d->local_mem_bytes));
    json_object_object_add(o, "local_mem_emulated", json_object_new_boolean(!d->local_mem_is_real));
    json_object_object_add(o, "max_alloc_bytes", json_object_new_int64((int64_t)d->max_alloc_bytes));
    json_object_object_add(o, "max_work_group_size", json_object_new_int64((int64_t)d->max_work_group_size));
    json_object_object_add(o, "preferred_vector_width_float",
                           json_object_new_int64(d->preferred_vector_width_float));
    json_object_object_add(o, "mem_base_addr_align_bytes",
                           json_object_new_int64(d->mem_base_addr_align_bytes));
    json_object_object_add(o, "host_unified_memory", json_object_new_boolean(d->host_unified_memory));
    json_object_object_add(o, "fp16", json_object_new_boolean(d->fp16));
    json_object_object_add(o, "fp64", json_object_new_boolean(d->fp64));
    return o;
}

/* Which devices get their policy shown: all, or the selected one alone. */
static int wants_policy(int policy, int only_selected, const rt_device_info *d, const rt_device_info *sel)
{
    return policy && (!only_selected || is_selected(d, sel));
}

static int print_json(const rt_device_info *l, int n, const rt_device_info *sel, int policy, int only_selected)
{
    json_object *root = json_object_new_object();
    json_object *arr = json_object_new_array();
    for (int i = 0; i < n; i++) {
        json_object *o = device_json(&l[i], is_selected(&l[i], sel));
        json_object_array_add(arr, o);
        if (!wants_policy(policy, only_selected, &l[i], sel))
            continue;
        rt_ctx *ctx = NULL;
        int rc = devices_policy_of(&l[i], &ctx);
        if (rc != CC_OK) {
            json_object_put(root);
            json_object_put(arr);
            return rc;
        }
        json_object_object_add(o, "policy", devices_policy_json(&ctx->policy));
        rt_ctx_free(ctx);
    }
    json_object_object_add(root, "devices", arr);
    if (sel) {
        char id[24];
        snprintf(id, sizeof id, "%d:%d", sel->platform_index, sel->device_index);
        json_object_object_add(root, "selected", json_object_new_string(id));
    } else {
        json_object_object_add(root, "selected", NULL);
    }
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
    json_object_put(root);
    return CC_OK;
}

static int print_policies(const rt_device_info *l, int n, const rt_device_info *sel, int only_selected)
{
    for (int i = 0; i < n; i++) {
        if (!wants_policy(1, only_selected, &l[i], sel))
            continue;
        rt_ctx *ctx = NULL;
        int rc = devices_policy_of(&l[i], &ctx);
        if (rc != CC_OK)
            return rc;
        devices_print_policy(&l[i], &ctx->policy);
        rt_ctx_free(ctx);
    }
    return CC_OK;
}

/* --check: the self-check of the selected device, run now, one line per variant. */
static int run_check(const rt_device_info *sel, int json)
{
    char spec[32];
    snprintf(spec, sizeof spec, "%d:%d", sel->platform_index, sel->device_index);
    rt_ctx *ctx = NULL;
    int rc = rt_ctx_create(spec, 0, &ctx);
    if (rc != CC_OK)
        return rc;
    sc_report r;
    rc = backend_selfcheck(ctx, SC_FRESH | SC_ALL, &r);
    if (rc != CC_OK) {
        rt_ctx_free(ctx);
        return rc;
    }
    for (int i = 0; i < r.n_items; i++)
        if (r.item[i].disabled) {
            char line[600];
            backend_selfcheck_warning(ctx, &r, i, line, sizeof line);
            fprintf(stderr, "clipcl: warning: %s\n", line);
        }
    if (json) {
        json_object *root = json_object_new_object(), *arr = json_object_new_array();
        json_object_object_add(root, "device", json_object_new_string(ctx->dev.device_name));
        json_object_object_add(root, "seconds", json_object_new_double(r.seconds));
        json_object_object_add(root, "cache_file", json_object_new_string(r.cache_file));
        for (int i = 0; i < r.n_items; i++) {
            json_object *e = json_object_new_object();
            json_object_object_add(e, "variant", json_object_new_string(r.item[i].name));
            json_object_object_add(e, "ok", json_object_new_boolean(!r.item[i].disabled));
            json_object_object_add(e, "seconds", json_object_new_double(r.item[i].seconds));
            if (r.item[i].disabled)
                json_object_object_add(e, "why", json_object_new_string(r.item[i].why));
            json_object_array_add(arr, e);
        }
        json_object_object_add(root, "variants", arr);
        printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
        json_object_put(root);
    } else {
        printf("self-check of %s (%s): every part of every kernel variant against the reference backend\n",
               ctx->dev.device_name, ctx->dev.driver_version);
        for (int i = 0; i < r.n_items; i++)
            printf("    %-28s %-8s %6.2f s\n", r.item[i].name, r.item[i].disabled ? "DISABLED" : "ok",
                   r.item[i].seconds);
        printf("%.2f s in all; result cached in %s\n", r.seconds, r.cache_file[0] ? r.cache_file : "(no cache folder)");
    }
    rt_ctx_free(ctx);
    return CC_OK;
}

int cmd_devices(int argc, char **argv)
{
    int json = 0, policy = 0, settings = 0, check = 0;
    const char *spec = NULL;
    for (int i = 1; i < argc; i++) {
        int r = cmd_option_value(argc, argv, &i, "--device", &spec);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--policy") == 0)
            policy = 1;
        else if (strcmp(argv[i], "--settings") == 0)
            settings = 1;
        else if (strcmp(argv[i], "--check") == 0)
            check = 1;
        else
            return cmd_usage_error("devices", "unknown argument \"%s\"", argv[i]);
    }
    if (settings) {
        devices_print_settings(json);
        return 0;
    }
    rt_device_info *list = NULL;
    int n = 0;
    int rc = rt_list_devices(&list, &n);
    if (rc != CC_OK)
        return cmd_lib_error(rc);
    const char *env = rt_setting_value(RT_SET_DEVICE);
    char why[300];
    if (spec && *spec)
        snprintf(why, sizeof why, "--device %s", spec);
    else if (env && *env)
        snprintf(why, sizeof why, "CLIPCL_DEVICE=%s", env);
    else
        snprintf(why, sizeof why, "default: first GPU, else first CPU");
    rt_device_info sel;
    const rt_device_info *selp = NULL;
    if (n > 0) {
        rc = rt_select_device(spec, &sel);
        if (rc != CC_OK) {
            free(list);
            return cmd_lib_error(rc);
        }
        selp = &sel;
    }
    const int only_selected = spec && *spec;
    if (check) {
        free(list);
        if (!selp)
            return cmd_error("devices --check: no OpenCL device");
        rc = run_check(selp, json);
        return rc != CC_OK ? cmd_lib_error(rc) : 0;
    }
    if (json) {
        rc = print_json(list, n, selp, policy, only_selected);
    } else {
        print_table(list, n, selp, why);
        if (policy)
            rc = print_policies(list, n, selp, only_selected);
    }
    free(list);
    return rc != CC_OK ? cmd_lib_error(rc) : 0;
}
