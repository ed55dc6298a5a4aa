/* The device policy (runtime/policy.h) without a device: the defaults table
 * picks a row per device class and local memory, the one style rule holds
 * for every style-dependent field, CLIPCL_FORCE_VARIANT switches them all
 * and a field's own variable wins over it, malformed values are ignored,
 * the tuned overlay never beats the environment, and CLIPCL_FUSION's
 * per-pattern list. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "runtime/rt.h"
#include "runtime/settings.h"

static const char *const policy_vars[] = {
    "CLIPCL_FORCE_VARIANT", "CLIPCL_GEMM", "CLIPCL_GEMM_TILE", "CLIPCL_GEMM_RT", "CLIPCL_GEMM_KC",
    "CLIPCL_GEMM_PACK", "CLIPCL_GEMM_PACK_A", "CLIPCL_ATTENTION", "CLIPCL_ATTENTION_GRAD",
    "CLIPCL_CONV_SCRATCH", "CLIPCL_CONV_ROWS", "CLIPCL_FUSION", "CLIPCL_GEMM_SMALL_M",
    "CLIPCL_GEMM_ORDER",
};

static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof policy_vars / sizeof policy_vars[0]; i++)
        unsetenv(policy_vars[i]);
    return 0;
}

static rt_device_info device(rt_device_class c, int local_real, size_t max_wg)
{
    rt_device_info d;
    memset(&d, 0, sizeof d);
    d.device_class = c;
    d.local_mem_is_real = local_real;
    d.max_work_group_size = max_wg;
    strcpy(d.vendor, "Some Vendor");
    strcpy(d.device_name, "Some Device");
    return d;
}

static void assert_style(const rt_policy *p, rt_style s)
{
    assert_int_equal(p->style, s);
    assert_int_equal(p->row_variant, s);
    assert_int_equal(p->gemm_variant, s);
    assert_int_equal(p->attention, s);
    assert_int_equal(p->attention_grad, s);
    assert_int_equal(p->optim_vpi, s == RT_STYLE_CPU ? 64 : 1);
}

static void test_defaults_table(void **state)
{
    (void)state;
    rt_policy p;
    rt_device_info d = device(RT_CLASS_CPU, 0, 4096);
    rt_policy_fill(&p, &d);
    assert_style(&p, RT_STYLE_CPU);
    assert_string_equal(p.default_row, "class cpu");
    assert_int_equal(p.row_wg, 256);
    assert_int_equal(p.gemm_impl, RT_GEMM_MEASURE);
    assert_int_equal(p.gemm_tm, 6);
    assert_int_equal(p.gemm_vw, 16);
    assert_int_equal(p.gemm_nv, 4);
    assert_int_equal(p.gemm_kc, 768);
    assert_int_equal(p.conv_scratch_bytes, (size_t)16 << 20);
    assert_int_equal(p.conv_rows, -1);
    for (int f = 0; f < RT_POL_COUNT; f++)
        assert_int_equal(p.source[f], RT_SRC_DEFAULT);

    d = device(RT_CLASS_DGPU, 1, 1024);
    rt_policy_fill(&p, &d);
    assert_style(&p, RT_STYLE_GPU);
    assert_string_equal(p.default_row, "class dgpu");
    d = device(RT_CLASS_IGPU, 1, 1024);
    rt_policy_fill(&p, &d);
    assert_style(&p, RT_STYLE_GPU);
    assert_string_equal(p.default_row, "class igpu");
    /* a GPU without real local memory is CPU-style: the one rule */
    d = device(RT_CLASS_DGPU, 0, 1024);
    rt_policy_fill(&p, &d);
    assert_style(&p, RT_STYLE_CPU);
    assert_string_equal(p.default_row, "emulated local memory");
    /* row work-group clamped to the device; the local GEMM needs 256 */
    d = device(RT_CLASS_DGPU, 1, 64);
    rt_policy_fill(&p, &d);
    assert_int_equal(p.row_wg, 64);
    assert_int_equal(p.row_variant, RT_STYLE_GPU);
    assert_int_equal(p.gemm_variant, RT_STYLE_CPU);
}

static void test_env_overlay(void **state)
{
    (void)state;
    rt_policy p;
    rt_device_info d = device(RT_CLASS_CPU, 0, 4096);
    setenv("CLIPCL_FORCE_VARIANT", "gpu", 1);
    rt_policy_fill(&p, &d);
    assert_style(&p, RT_STYLE_GPU);
    assert_int_equal(p.source[RT_POL_ROW_VARIANT], RT_SRC_ENV);
    assert_string_equal(p.env_var[RT_POL_ROW_VARIANT], "CLIPCL_FORCE_VARIANT");
    assert_int_equal(p.source[RT_POL_GEMM_TILE], RT_SRC_DEFAULT);
    /* a field's own variable wins over the style */
    setenv("CLIPCL_ATTENTION", "cpu", 1);
    rt_policy_fill(&p, &d);
    assert_int_equal(p.attention, RT_STYLE_CPU);
    assert_string_equal(p.env_var[RT_POL_ATTENTION], "CLIPCL_ATTENTION");
    assert_int_equal(p.attention_grad, RT_STYLE_GPU);
    clear_env(NULL);

    setenv("CLIPCL_GEMM_TILE", "8x16x2", 1);
    setenv("CLIPCL_GEMM_PACK", "never", 1);
    setenv("CLIPCL_GEMM_PACK_A", "always", 1);
    setenv("CLIPCL_GEMM_RT", "4", 1);
    setenv("CLIPCL_GEMM_KC", "0", 1);
    setenv("CLIPCL_CONV_SCRATCH", "4096", 1);
    setenv("CLIPCL_CONV_ROWS", "0", 1);
    setenv("CLIPCL_GEMM", "clblast", 1);
    rt_policy_fill(&p, &d);
    assert_int_equal(p.gemm_tm, 8);
    assert_int_equal(p.gemm_nv, 2);
    assert_int_equal(p.gemm_pack_b, RT_PACK_NEVER);
    assert_int_equal(p.gemm_pack_a, RT_PACK_ALWAYS);
    assert_int_equal(p.gemm_rt, 4);
    assert_int_equal(p.gemm_kc, 0);
    assert_int_equal(p.conv_scratch_bytes, 4096);
    assert_int_equal(p.conv_rows, 0);
    assert_int_equal(p.gemm_impl, RT_GEMM_CLBLAST);
    /* the tuned overlay never beats the environment */
    rt_policy_tune_gemm_impl(&p, RT_GEMM_OWN);
    rt_policy_tune_gemm_tile(&p, 4, 16, 4);
    assert_int_equal(p.gemm_impl, RT_GEMM_CLBLAST);
    assert_int_equal(p.gemm_tm, 8);
    clear_env(NULL);
    rt_policy_fill(&p, &d);
    rt_policy_tune_gemm_tile(&p, 4, 16, 4);
    assert_int_equal(p.gemm_tm, 4);
    assert_int_equal(p.source[RT_POL_GEMM_TILE], RT_SRC_TUNED);
}

static void test_malformed_ignored(void **state)
{
    (void)state;
    rt_policy p;
    rt_device_info d = device(RT_CLASS_CPU, 0, 4096);
    setenv("CLIPCL_FORCE_VARIANT", "GPU", 1);
    setenv("CLIPCL_GEMM_TILE", "8x3x2", 1);
    setenv("CLIPCL_ATTENTION", "blk", 1);
    setenv("CLIPCL_GEMM_RT", "0", 1);
    setenv("CLIPCL_CONV_SCRATCH", "-5", 1);
    setenv("CLIPCL_GEMM", "auto", 1);
    rt_policy_fill(&p, &d);
    for (int f = 0; f < RT_POL_COUNT; f++)
        assert_int_equal(p.source[f], RT_SRC_DEFAULT);
    assert_int_equal(p.attention, RT_STYLE_CPU);
    assert_string_equal(p.gemm_impl_error, "");
    /* CLIPCL_GEMM alone rejects nonsense: kept for the GEMM choice to fail */
    setenv("CLIPCL_GEMM", "fastest", 1);
    rt_policy_fill(&p, &d);
    assert_non_null(strstr(p.gemm_impl_error, "fastest"));
    clear_env(NULL);
}

static void test_fusion(void **state)
{
    (void)state;
    rt_policy p;
    rt_device_info d = device(RT_CLASS_CPU, 0, 4096);
    rt_policy_fill(&p, &d);
    assert_true(rt_policy_fusion_on(&p, "gemm_bias"));
    setenv("CLIPCL_FUSION", "0", 1);
    rt_policy_fill(&p, &d);
    assert_false(rt_policy_fusion_on(&p, "gemm_bias"));
    setenv("CLIPCL_FUSION", "-gemm_gelu", 1);
    rt_policy_fill(&p, &d);
    assert_true(rt_policy_fusion_on(&p, "gemm_bias"));
    assert_false(rt_policy_fusion_on(&p, "gemm_gelu"));
    assert_true(rt_policy_fusion_on(&p, "gemm")); /* whole names only */
    setenv("CLIPCL_FUSION", "gemm_bias,-gemm_gelu", 1);
    rt_policy_fill(&p, &d);
    assert_true(rt_policy_fusion_on(&p, "gemm_bias"));
    assert_false(rt_policy_fusion_on(&p, "gemm_gelu"));
    assert_false(rt_policy_fusion_on(&p, "softmax_mask"));
    char buf[300];
    rt_policy_value_text(&p, RT_POL_FUSION, buf, sizeof buf);
    assert_string_equal(buf, "off gemm_bias,-gemm_gelu");
    rt_policy_source_text(&p, RT_POL_FUSION, buf, sizeof buf);
    assert_string_equal(buf, "env CLIPCL_FUSION");
    clear_env(NULL);
}

static void test_settings_table(void **state)
{
    (void)state;
    for (int s = 0; s < RT_SET_COUNT; s++) {
        const rt_setting_info *i = rt_setting_info_of((rt_setting)s);
        assert_non_null(i);
        assert_non_null(i->name);
        assert_int_equal(strncmp(i->name, "CLIPCL_", 7), 0);
        assert_true(strlen(i->meaning) > 0);
    }
    assert_null(rt_setting_info_of(RT_SET_COUNT));
    setenv("CLIPCL_EVAL_THREADS", "3", 1);
    assert_string_equal(rt_setting_value(RT_SET_EVAL_THREADS), "3");
    unsetenv("CLIPCL_EVAL_THREADS");
    assert_null(rt_setting_value(RT_SET_EVAL_THREADS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults_table, clear_env),
        cmocka_unit_test_setup(test_env_overlay, clear_env),
        cmocka_unit_test_setup(test_malformed_ignored, clear_env),
        cmocka_unit_test_setup(test_fusion, clear_env),
        cmocka_unit_test_setup(test_settings_table, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
