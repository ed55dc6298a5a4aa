/* clipcl devices --policy / --settings: the device policy of a context on
 * each device (every field, its value and where it came from: the defaults
 * table, a tuned result, or an environment variable) and the table of every
 * CLIPCL_* variable. */
#include "tools/cmd_devices_policy.h"

#include <stdio.h>

#include "backends/opencl/ocl_gemm.h"
#include "backends/selfcheck.h"
#include "runtime/settings.h"

int devices_policy_of(const rt_device_info *d, rt_ctx **out)
{
    char spec[32];
    snprintf(spec, sizeof spec, "%d:%d", d->platform_index, d->device_index);
    int rc = rt_ctx_create(spec, 0, out);
    if (rc == CC_OK) {
        ocl_gemm_policy_overlay(*out); /* what is cached for the device; never measures */
        backend_selfcheck_apply_cached(*out); /* nor checks */
    }
    return rc;
}

void devices_print_policy(const rt_device_info *d, const rt_policy *p)
{
    printf("\npolicy of %d:%d %s (class %s, local memory %s)\n", d->platform_index, d->device_index,
           d->device_name, rt_device_class_name(d->device_class), d->local_mem_is_real ? "real" : "emulated");
    printf("    %-17s %-18s %s\n", "FIELD", "VALUE", "FROM");
    for (int f = 0; f < RT_POL_COUNT; f++) {
        char value[RT_POLICY_FUSION_LEN + 8], from[200];
        rt_policy_value_text(p, (rt_policy_field)f, value, sizeof value);
        rt_policy_source_text(p, (rt_policy_field)f, from, sizeof from);
        printf("    %-17s %-18s %s\n", rt_policy_field_name((rt_policy_field)f), value, from);
    }
    if (p->gemm_impl_error[0])
        printf("    (%s)\n", p->gemm_impl_error);
}

json_object *devices_policy_json(const rt_policy *p)
{
    json_object *o = json_object_new_object();
    for (int f = 0; f < RT_POL_COUNT; f++) {
        char value[RT_POLICY_FUSION_LEN + 8], from[200];
        rt_policy_value_text(p, (rt_policy_field)f, value, sizeof value);
        rt_policy_source_text(p, (rt_policy_field)f, from, sizeof from);
        json_object *e = json_object_new_object();
        json_object_object_add(e, "value", json_object_new_string(value));
        json_object_object_add(e, "source", json_object_new_string(rt_policy_source_name(p->source[f])));
        json_object_object_add(e, "from", json_object_new_string(from));
        if (p->source[f] == RT_SRC_ENV && p->env_var[f])
            json_object_object_add(e, "env", json_object_new_string(p->env_var[f]));
        json_object_object_add(o, rt_policy_field_name((rt_policy_field)f), e);
    }
    if (p->gemm_impl_error[0])
        json_object_object_add(o, "gemm_impl_error", json_object_new_string(p->gemm_impl_error));
    return o;
}

void devices_print_settings(int json)
{
    if (json) {
        json_object *arr = json_object_new_array();
        for (int s = 0; s < RT_SET_COUNT; s++) {
            const rt_setting_info *i = rt_setting_info_of((rt_setting)s);
            const char *v = rt_setting_value((rt_setting)s);
            json_object *e = json_object_new_object();
            json_object_object_add(e, "name", json_object_new_string(i->name));
            json_object_object_add(e, "group", json_object_new_string(i->group));
            json_object_object_add(e, "values", json_object_new_string(i->values));
            json_object_object_add(e, "meaning", json_object_new_string(i->meaning));
            json_object_object_add(e, "set", v ? json_object_new_string(v) : NULL);
            json_object_array_add(arr, e);
        }
        for (int s = 0; s < rt_n_script_settings; s++) {
            const rt_script_setting *i = &rt_script_settings[s];
            json_object *e = json_object_new_object();
            json_object_object_add(e, "name", json_object_new_string(i->name));
            json_object_object_add(e, "group", json_object_new_string("scripts"));
            json_object_object_add(e, "values", json_object_new_string(""));
            json_object_object_add(e, "meaning", json_object_new_string(i->meaning));
            json_object_object_add(e, "read_by", json_object_new_string(i->script));
            json_object_array_add(arr, e);
        }
        json_object *root = json_object_new_object();
        json_object_object_add(root, "settings", arr);
        printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
        json_object_put(root);
        return;
    }
    printf("%-24s %-8s %-24s %s\n", "VARIABLE", "GROUP", "VALUES", "MEANING");
    for (int s = 0; s < RT_SET_COUNT; s++) {
        const rt_setting_info *i = rt_setting_info_of((rt_setting)s);
        const char *v = rt_setting_value((rt_setting)s);
        printf("%-24s %-8s %-24s %s%s%s%s\n", i->name, i->group, i->values, i->meaning, v ? " [set: " : "",
               v ? v : "", v ? "]" : "");
    }
    for (int s = 0; s < rt_n_script_settings; s++)
        printf("%-24s %-8s %-24s %s (%s)\n", rt_script_settings[s].name, "scripts", "", rt_script_settings[s].meaning,
               rt_script_settings[s].script);
}
