/* Every CLIPCL_* environment variable, in one table: its name, who reads it
 * and what it means. Library code reads the environment only through
 * rt_setting_value(), so the table is complete by construction and is what
 * docs/runtime.md and `clipcl devices --policy` print. Kernel-choice
 * variables are parsed once per context into rt_policy (runtime/policy.h);
 * the others are read where they act, each time (tests change them with
 * setenv between calls). */
#ifndef CLIPCL_SETTINGS_H
#define CLIPCL_SETTINGS_H

typedef enum rt_setting {
    /* runtime */
    RT_SET_DEVICE = 0,
    RT_SET_CACHE_DIR,
    RT_SET_KERNEL_DIR,
    RT_SET_PROFILE,
    RT_SET_TIMINGS,
    RT_SET_SELFCHECK,
    RT_SET_DEVICE_MEM_LIMIT,
    /* kernel choices: the device policy (runtime/policy.h) */
    RT_SET_FORCE_VARIANT,
    RT_SET_GEMM,
    RT_SET_GEMM_TILE,
    RT_SET_GEMM_DB,
    RT_SET_GEMM_RT,
    RT_SET_GEMM_KC,
    RT_SET_GEMM_PACK,
    RT_SET_GEMM_PACK_A,
    RT_SET_ATTENTION,
    RT_SET_ATTENTION_GRAD,
    RT_SET_CONV_SCRATCH,
    RT_SET_CONV_ROWS,
    RT_SET_CONV,
    RT_SET_FUSION,
    RT_SET_GEMM_SMALL_M,
    RT_SET_GEMM_ORDER,
    /* training and tools */
    RT_SET_EVAL_THREADS,
    RT_SET_CKPT_KILL_AFTER,
    RT_SET_PROGRESS,
    RT_SET_BULK_KILL_AT_SHARD,
    /* tests */
    RT_SET_TEST_DATA,
    RT_SET_SHARED_DIR,
    RT_SET_TEST_VERBOSE,
    RT_SET_KEEP_TEST_DIR,
    RT_SET_TEST_FUSION,
    RT_SET_COUNT
} rt_setting;

typedef struct rt_setting_info {
    const char *name;    /* "CLIPCL_DEVICE" */
    const char *group;   /* runtime, policy, train, tools, tests */
    const char *values;  /* accepted values, e.g. "cpu|gpu" */
    const char *meaning; /* one line */
} rt_setting_info;

/* The variable's value, NULL when unset. Never cached. */
const char *rt_setting_value(rt_setting s);
/* The table row of s; NULL when s is out of range. */
const rt_setting_info *rt_setting_info_of(rt_setting s);

/* Variables that are not part of the program proper but are read by build
 * and benchmark scripts (shell, python); listed so the docs table is whole. */
typedef struct rt_script_setting {
    const char *name, *script, *meaning;
} rt_script_setting;
extern const rt_script_setting rt_script_settings[];
extern const int rt_n_script_settings;

#endif
