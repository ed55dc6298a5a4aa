/* safetensors: round trip with hand-derived F16/BF16 conversions, and one
 * clear error (no crash) per kind of malformed file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "runtime/status.h"
#include "tests/io/io_test_util.h"

static int setup(void **state)
{
    (void)state;
    return iot_setup("G_st");
}

/* F16 bit patterns and their values derived by hand from the IEEE layout. */
static const uint16_t F16_BITS[] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF,
                                    0x0400, 0x3555, 0x8000, 0x7C00, 0xFC00, 0x7E00};
static const double F16_VALS[] = {1.0, -2.0, 65504.0,
                                  5.9604644775390625e-08,  /* 2^-24, smallest subnormal */
                                  6.097555160522461e-05,   /* 1023 * 2^-24, largest subnormal */
                                  6.103515625e-05,         /* 2^-14, smallest normal */
                                  0.333251953125,          /* 0x155 / 1024 * 2^-2 + 2^-2 */
                                  -0.0, INFINITY, -INFINITY, NAN};
static const uint16_t BF16_BITS[] = {0x3F80, 0xC040, 0x7F80, 0x0001, 0x4049};
static const double BF16_VALS[] = {1.0, -3.0, INFINITY,
                                   9.183549615799121e-41, /* 2^-133, f32 subnormal */
                                   3.140625};             /* 1.5703125 * 2 */

static void same_value(float got, double want)
{
    if (isnan(want)) {
        assert_true(isnan(got));
        return;
    }
    assert_true((double)got == want);
    assert_int_equal(signbit(got) != 0, signbit(want) != 0);
}

static void write_sample(const char *path)
{
    float f32[6] = {0.5f, -1.0f, 3.25f, 1e-30f, -0.0f, 123456.0f};
    int32_t i32[3] = {1, -2, 3};
    int64_t s23[2] = {2, 3}, s_h[1] = {11}, s_b[1] = {5}, s_i[1] = {3}, s_e[2] = {0, 4};
    st_write_tensor ts[] = {
        {"w.f32", ST_F32, 2, s23, f32},
        {"w.f16", ST_F16, 1, s_h, F16_BITS},
        {"w.bf16", ST_BF16, 1, s_b, BF16_BITS},
        {"ids", ST_I32, 1, s_i, i32},
        {"empty", ST_F32, 2, s_e, NULL},
    };
    const char *meta[] = {"format", "pt", "note", "a/b \"quoted\""};
    if (st_write(path, ts, 5, meta, 2) != CC_OK)
        fail_msg("%s", cc_last_error());
}

static void test_round_trip(void **state)
{
    (void)state;
    const char *p = iot_path("rt.safetensors");
    write_sample(p);
    st_file *f;
    if (st_open(p, &f) != CC_OK)
        fail_msg("%s", cc_last_error());
    assert_int_equal(st_count(f), 5);
    assert_string_equal(st_at(f, 0)->name, "w.f32");
    assert_string_equal(st_metadata(f, "format"), "pt");
    assert_string_equal(st_metadata(f, "note"), "a/b \"quoted\"");
    assert_null(st_metadata(f, "absent"));

    float out[11];
    int64_t s23[2] = {2, 3};
    assert_int_equal(st_load_f32(f, "w.f32", s23, 2, out), CC_OK);
    const float f32[6] = {0.5f, -1.0f, 3.25f, 1e-30f, -0.0f, 123456.0f};
    assert_memory_equal(out, f32, sizeof f32);

    assert_int_equal(st_load_f32(f, "w.f16", NULL, 0, out), CC_OK);
    for (int i = 0; i < 11; i++)
        same_value(out[i], F16_VALS[i]);
    assert_int_equal(st_load_f32(f, "w.bf16", NULL, 0, out), CC_OK);
    for (int i = 0; i < 5; i++)
        same_value(out[i], BF16_VALS[i]);

    const st_tensor *t;
    assert_int_equal(st_find(f, "ids", &t), CC_OK);
    assert_int_equal(t->dtype, ST_I32);
    int32_t ids[3];
    memcpy(ids, t->data, sizeof ids);
    assert_int_equal(ids[1], -2);
    assert_int_not_equal(st_read_f32(f, t, out, 3), CC_OK);
    assert_non_null(strstr(cc_last_error(), "'ids' is I32"));

    assert_int_equal(st_find(f, "empty", &t), CC_OK);
    assert_int_equal(t->numel, 0);

    /* missing tensor and wrong shape: errors naming file and key */
    assert_int_not_equal(st_find(f, "nope", &t), CC_OK);
    assert_non_null(strstr(cc_last_error(), "'nope'"));
    assert_non_null(strstr(cc_last_error(), p));
    int64_t wrong[2] = {3, 2};
    assert_int_equal(st_load_f32(f, "w.f32", wrong, 2, out), CC_ERR_SHAPE);
    assert_non_null(strstr(cc_last_error(), "shape [2, 3], expected [3, 2]"));
    st_close(f);

    /* header length is a multiple of 8 (data section aligned) */
    FILE *fp = fopen(p, "rb");
    unsigned char len8[8];
    assert_int_equal(fread(len8, 1, 8, fp), 8);
    fclose(fp);
    assert_int_equal(len8[0] % 8, 0);
    unlink(p);
}

/* Writes length field `hlen_field`, then `json` padded to its own length,
 * then `data_len` bytes of data. */
static void craft(const char *path, uint64_t hlen_field, const char *json, size_t data_len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    unsigned char l[8];
    for (int i = 0; i < 8; i++)
        l[i] = (unsigned char)(hlen_field >> (8 * i));
    fwrite(l, 1, 8, fp);
    fwrite(json, 1, strlen(json), fp);
    for (size_t i = 0; i < data_len; i++)
        fputc((int)(i & 0xff), fp);
    fclose(fp);
}

static void expect_open_error(const char *path, const char *a, const char *b)
{
    st_file *f = (st_file *)1;
    cc_clear_error();
    int rc = st_open(path, &f);
    printf("  %s\n", cc_last_error());
    assert_int_not_equal(rc, CC_OK);
    assert_null(f);
    assert_non_null(strstr(cc_last_error(), path));
    if (a)
        assert_non_null(strstr(cc_last_error(), a));
    if (b)
        assert_non_null(strstr(cc_last_error(), b));
}

static void crafted(const char *json, size_t data_len, const char *a, const char *b)
{
    const char *p = iot_path("bad.safetensors");
    craft(p, strlen(json), json, data_len);
    expect_open_error(p, a, b);
    unlink(p);
}

static void test_malformed(void **state)
{
    (void)state;
    char p[1024];
    snprintf(p, sizeof p, "%s", iot_path("bad.safetensors"));

    /* a valid file cut at every length: a clean error each time */
    write_sample(p);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    for (off_t cut = 0; cut < st.st_size; cut++) {
        char q[1100];
        snprintf(q, sizeof q, "%s.cut", p);
        FILE *in = fopen(p, "rb"), *out = fopen(q, "wb");
        assert_non_null(in);
        assert_non_null(out);
        for (off_t i = 0; i < cut; i++)
            fputc(fgetc(in), out);
        fclose(in);
        fclose(out);
        st_file *f;
        assert_int_not_equal(st_open(q, &f), CC_OK);
        assert_null(f);
        unlink(q);
    }
    /* the last tensor's range leaves the file */
    assert_int_equal(truncate(p, st.st_size - 4), 0);
    expect_open_error(p, "beyond the data section", "'ids'");
    /* cut inside the header: the length field now exceeds the file */
    assert_int_equal(truncate(p, 40), 0);
    expect_open_error(p, "exceeds", NULL);
    assert_int_equal(truncate(p, 5), 0);
    expect_open_error(p, "at least 8", NULL);
    expect_open_error(iot_path("absent.safetensors"), "cannot open", NULL);

    craft(p, 1u << 20, "{}", 0);
    expect_open_error(p, "header length 1048576 exceeds", NULL);
    craft(p, UINT64_MAX, "{}", 0);
    expect_open_error(p, "exceeds", NULL);
    /* some other file named as weights (a config, a README): said plainly */
    iot_write_text(p, "{\"model_cfg\": {\"embed_dim\": 512}}\n");
    expect_open_error(p, "not a safetensors file", NULL);
    unlink(p);

    crafted("{\"a\": {\"dtype\": \"F32\", ", 0, "not valid JSON", NULL);
    crafted("{\"a\": [1, 2}}", 0, "not valid JSON", NULL);
    crafted("[1, 2]", 0, "start with '{'", NULL);
    crafted("{\"a\": 3}", 0, "'a'", "expected a JSON object");
    /* json-c's strict mode reports the trailing byte itself */
    crafted("{}  x", 0, "not valid JSON at byte 4", NULL);
    /* offsets that lie about the size */
    crafted("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 16,
            "'w'", "span 12 bytes, expected 16");
    crafted("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,0]}}", 16,
            "'w'", "expected 16");
    /* overlapping ranges */
    crafted("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24,
            "overlap", "'b'");
    crafted("{\"q\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
            "'q'", "dtype \"Q7\"");
    crafted("{\"n\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
            "'n'", "shape[0]");
    crafted("{\"n\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.5,4]}}", 4,
            "'n'", "data_offsets");
    crafted("{\"n\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "'n'", "data_offsets");
    crafted("{\"n\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],"
            "\"data_offsets\":[0,4]}}", 4, "'n'", "overflows");
    crafted("{\"__metadata__\":{\"k\":1}}", 0, "__metadata__", "'k'");

    /* a well-formed crafted file with padding spaces opens */
    const char *ok = "{\"x\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}   ";
    craft(p, strlen(ok), ok, 4);
    st_file *f;
    if (st_open(p, &f) != CC_OK)
        fail_msg("%s", cc_last_error());
    float v[2];
    assert_int_equal(st_load_f32(f, "x", NULL, 0, v), CC_OK);
    /* data bytes 00 01 02 03 -> bf16 0x0100, 0x0302 */
    same_value(v[0], ldexp(1.0, -125));
    same_value(v[1], ldexp(1.0 + 2.0 / 128.0, -121));
    st_close(f);
    unlink(p);
}

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(t, setup, iot_teardown);
}
