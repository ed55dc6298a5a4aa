/* Platform/device enumeration and the device-spec matcher. Class is derived
 * from queried properties (type, unified memory), never from vendor names. */
#include "runtime/rt.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "runtime/settings.h"

#define RT_NO_PLATFORM_MSG                                                     \
    "no OpenCL platform found: install an OpenCL ICD, e.g. `apt-get install "  \
    "pocl-opencl-icd` (CPU) or your GPU vendor's ICD"

const char *rt_device_class_name(rt_device_class c)
{
    switch (c) {
    case RT_CLASS_CPU: return "cpu";
    case RT_CLASS_IGPU: return "igpu";
    case RT_CLASS_DGPU: return "dgpu";
    case RT_CLASS_OTHER: return "other";
    }
    return "unknown";
}

static void dev_string(cl_device_id d, cl_device_info what, char *buf, size_t len)
{
    buf[0] = '\0';
    if (clGetDeviceInfo(d, what, len, buf, NULL) != CL_SUCCESS)
        buf[0] = '\0';
    buf[len - 1] = '\0';
}

static int has_extension(cl_device_id d, const char *ext)
{
    size_t n = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &n) != CL_SUCCESS || n == 0)
        return 0;
    char *s = malloc(n + 1);
    if (!s)
        return 0;
    int found = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, n, s, NULL) == CL_SUCCESS) {
        s[n] = '\0';
        size_t el = strlen(ext);
        /* Whole-word match: "cl_khr_fp16" must not match "cl_khr_fp16_foo". */
        for (const char *p = strstr(s, ext); p; p = strstr(p + 1, ext)) {
            int starts = (p == s) || p[-1] == ' ';
            int ends = p[el] == '\0' || p[el] == ' ';
            if (starts && ends) {
                found = 1;
                break;
            }
        }
    }
    free(s);
    return found;
}

static void fill_device(cl_platform_id p, cl_device_id d, int pi, int di, rt_device_info *o)
{
    memset(o, 0, sizeof *o);
    o->platform = p;
    o->device = d;
    o->platform_index = pi;
    o->device_index = di;
    clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof o->platform_name, o->platform_name, NULL);
    o->platform_name[sizeof o->platform_name - 1] = '\0';
    clGetPlatformInfo(p, CL_PLATFORM_VERSION, sizeof o->platform_version, o->platform_version, NULL);
    o->platform_version[sizeof o->platform_version - 1] = '\0';
    dev_string(d, CL_DEVICE_NAME, o->device_name, sizeof o->device_name);
    dev_string(d, CL_DEVICE_VENDOR, o->vendor, sizeof o->vendor);
    dev_string(d, CL_DRIVER_VERSION, o->driver_version, sizeof o->driver_version);
    dev_string(d, CL_DEVICE_VERSION, o->device_version, sizeof o->device_version);

    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof o->type, &o->type, NULL);
    clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof o->compute_units, &o->compute_units, NULL);
    clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof o->global_mem_bytes, &o->global_mem_bytes, NULL);
    clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof o->local_mem_bytes, &o->local_mem_bytes, NULL);
    clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, sizeof o->global_mem_cache_bytes,
                    &o->global_mem_cache_bytes, NULL);
    cl_device_local_mem_type lt = CL_GLOBAL;
    clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_TYPE, sizeof lt, &lt, NULL);
    o->local_mem_is_real = (lt == CL_LOCAL);
    clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof o->max_alloc_bytes, &o->max_alloc_bytes, NULL);
    clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof o->max_work_group_size,
                    &o->max_work_group_size, NULL);
    clGetDeviceInfo(d, CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT, sizeof o->preferred_vector_width_float,
                    &o->preferred_vector_width_float, NULL);
    clGetDeviceInfo(d, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof o->native_vector_width_float,
                    &o->native_vector_width_float, NULL);
    cl_uint align_bits = 0;
    clGetDeviceInfo(d, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL);
    o->mem_base_addr_align_bytes = align_bits / 8;
    cl_bool unified = CL_FALSE;
    clGetDeviceInfo(d, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL);
    o->host_unified_memory = unified == CL_TRUE;
    o->fp16 = has_extension(d, "cl_khr_fp16");
    cl_device_fp_config dfp = 0;
    clGetDeviceInfo(d, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof dfp, &dfp, NULL);
    o->fp64 = dfp != 0 || has_extension(d, "cl_khr_fp64");

    if (o->type & CL_DEVICE_TYPE_CPU)
        o->device_class = RT_CLASS_CPU;
    else if (o->type & CL_DEVICE_TYPE_GPU)
        o->device_class = o->host_unified_memory ? RT_CLASS_IGPU : RT_CLASS_DGPU;
    else
        o->device_class = RT_CLASS_OTHER;
}

int rt_list_devices(rt_device_info **out, int *n)
{
    *out = NULL;
    *n = 0;
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && np == 0))
        return cc_fail(CC_ERR_NO_PLATFORM, RT_NO_PLATFORM_MSG);
    if (err != CL_SUCCESS)
        return cc_fail(CC_ERR_NO_PLATFORM, "%s (clGetPlatformIDs: %s)", RT_NO_PLATFORM_MSG,
                       rt_cl_error_string(err));
    cl_platform_id *plats = calloc(np, sizeof *plats);
    if (!plats)
        return cc_fail(CC_ERR_NOMEM, "rt_list_devices: out of memory for %u platforms", np);
    err = clGetPlatformIDs(np, plats, NULL);
    if (err != CL_SUCCESS) {
        free(plats);
        return cc_fail(CC_ERR_OPENCL, "clGetPlatformIDs failed: %s", rt_cl_error_string(err));
    }

    rt_device_info *list = NULL;
    int count = 0, cap = 0;
    for (cl_uint pi = 0; pi < np; pi++) {
        cl_uint nd = 0;
        /* A platform with no usable device is skipped, not an error. */
        if (clGetDeviceIDs(plats[pi], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0)
            continue;
        cl_device_id *devs = calloc(nd, sizeof *devs);
        if (!devs || clGetDeviceIDs(plats[pi], CL_DEVICE_TYPE_ALL, nd, devs, NULL) != CL_SUCCESS) {
            free(devs);
            continue;
        }
        for (cl_uint di = 0; di < nd; di++) {
            if (count == cap) {
                int nc = cap ? cap * 2 : 4;
                rt_device_info *grown = realloc(list, (size_t)nc * sizeof *grown);
                if (!grown) {
                    free(devs);
                    free(list);
                    free(plats);
                    return cc_fail(CC_ERR_NOMEM, "rt_list_devices: out of memory for %d devices", nc);
                }
                list = grown;
                cap = nc;
            }
            fill_device(plats[pi], devs[di], (int)pi, (int)di, &list[count++]);
        }
        free(devs);
    }
    free(plats);
    *out = list;
    *n = count;
    return CC_OK;
}

static int contains_nocase(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    if (nl == 0)
        return 0;
    for (const char *h = hay; *h; h++) {
        size_t i = 0;
        while (i < nl && h[i] &&
               tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == nl)
            return 1;
    }
    return 0;
}

static int parse_pd(const char *s, int *p, int *d)
{
    char *end = NULL;
    if (!isdigit((unsigned char)s[0]))
        return 0;
    long a = strtol(s, &end, 10);
    if (*end != ':' || !isdigit((unsigned char)end[1]))
        return 0;
    long b = strtol(end + 1, &end, 10);
    if (*end != '\0')
        return 0;
    *p = (int)a;
    *d = (int)b;
    return 1;
}

static int first_of_type(const rt_device_info *l, int n, cl_device_type t)
{
    for (int i = 0; i < n; i++)
        if (l[i].type & t)
            return i;
    return -1;
}

static int match_spec(const rt_device_info *l, int n, const char *spec)
{
    int p, d;
    if (strcasecmp(spec, "gpu") == 0)
        return first_of_type(l, n, CL_DEVICE_TYPE_GPU);
    if (strcasecmp(spec, "cpu") == 0)
        return first_of_type(l, n, CL_DEVICE_TYPE_CPU);
    if (parse_pd(spec, &p, &d)) {
        for (int i = 0; i < n; i++)
            if (l[i].platform_index == p && l[i].device_index == d)
                return i;
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (contains_nocase(l[i].device_name, spec))
            return i;
    for (int i = 0; i < n; i++)
        if (contains_nocase(l[i].platform_name, spec))
            return i;
    return -1;
}

static int no_match(const rt_device_info *l, int n, const char *spec)
{
    char have[700];
    size_t used = 0;
    have[0] = '\0';
    for (int i = 0; i < n && used + 1 < sizeof have; i++) {
        int w = snprintf(have + used, sizeof have - used, "%s%d:%d %s", i ? ", " : "",
                         l[i].platform_index, l[i].device_index, l[i].device_name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (n == 0)
        snprintf(have, sizeof have, "no devices");
    return cc_fail(CC_ERR_NO_DEVICE,
                   "no OpenCL device matches \"%s\" (have: %s); use gpu, cpu, P:D or part of a name",
                   spec, have);
}

int rt_select_device(const char *spec, rt_device_info *out)
{
    rt_device_info *l = NULL;
    int n = 0;
    int rc = rt_list_devices(&l, &n);
    if (rc != CC_OK)
        return rc;
    if (!spec || !*spec)
        spec = rt_setting_value(RT_SET_DEVICE);
    int idx;
    if (spec && *spec) {
        idx = match_spec(l, n, spec);
    } else {
        idx = first_of_type(l, n, CL_DEVICE_TYPE_GPU);
        if (idx < 0)
            idx = first_of_type(l, n, CL_DEVICE_TYPE_CPU);
        if (idx < 0 && n > 0)
            idx = 0;
        spec = "(default: first GPU, else first CPU)";
    }
    if (idx < 0) {
        rc = no_match(l, n, spec);
        free(l);
        return rc;
    }
    *out = l[idx];
    free(l);
    return CC_OK;
}

const char *rt_device_type_name(cl_device_type t)
{
    if (t & CL_DEVICE_TYPE_GPU)
        return "gpu";
    if (t & CL_DEVICE_TYPE_CPU)
        return "cpu";
    if (t & CL_DEVICE_TYPE_ACCELERATOR)
        return "accel";
    if (t & CL_DEVICE_TYPE_CUSTOM)
        return "custom";
    return "other";
}
