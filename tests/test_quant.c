/* test_quant.c - the weight formats: hand-built blocks with values worked out
 * here from the format rules (not from quant.c's encoders), conversions with
 * known bit patterns, quantizer round trips within stated bounds, and sizes.
 * The layouts were also cross-checked byte for byte against ggml's own
 * quantizers and dequantizers while writing quant.c (not part of this test). */
#include "tests/testutil.h"
#include "kernels/quant.h"
#include "engine/status.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

/* cmocka 1.1 has no printf-style failure at a given line; make one. */
static void fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_at(const char *file, int line, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    print_error("%s\n", msg);
    _fail(file, line);
}

/* Exact float equality, including the sign of zero. */
#define EXPECT_FLOAT(got, want) expect_float_at((got), (want), #got, __FILE__, __LINE__)

static void expect_float_at(float got, float want, const char *what, const char *file, int line)
{
    if (!(got == want) || !signbit(got) != !signbit(want))
        fail_at(file, line, "%s = %.9g, expected %.9g", what, (double)got, (double)want);
}

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}

static void put_f32(uint8_t *p, float f)
{
    memcpy(p, &f, sizeof f);
}

/* Fixed-seed xorshift64; uniform floats in [-1, 1). */
struct rng {
    uint64_t s;
};

static uint32_t rng_u32(struct rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (uint32_t)(r->s >> 16);
}

static float rng_unit(struct rng *r)
{
    return (float)(rng_u32(r) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

static void *xcalloc(uint64_t n)
{
    assert_true(n > 0);
    void *p = calloc(1, (size_t)n);
    assert_non_null(p);
    return p;
}

/* ---- names, ids, sizes ---- */

static void test_type_names_and_ids(void **state)
{
    (void)state;
    static const struct {
        enum quant_type t;
        const char *name;
        uint32_t id;
        int64_t block;
        bool ternary;
    } want[] = {
        {QT_F32, "F32", 0, 1, false},       {QT_F16, "F16", 1, 1, false},
        {QT_BF16, "BF16", 30, 1, false},    {QT_Q8_0, "Q8_0", 8, 32, false},
        {QT_Q4_K, "Q4_K", 12, 256, false},  {QT_Q6_K, "Q6_K", 14, 256, false},
        {QT_TQ1_0, "TQ1_0", 34, 256, true}, {QT_TQ2_0, "TQ2_0", 35, 256, true},
        {QT_I2_S, "I2_S", 36, 128, true},
    };
    assert_int_equal(sizeof want / sizeof want[0], QT_COUNT);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_string_equal(quant_type_name(want[i].t), want[i].name);
        assert_int_equal(quant_type_from_name(want[i].name), want[i].t);
        assert_int_equal(quant_type_ggml_id(want[i].t), want[i].id);
        assert_int_equal(quant_block_elems(want[i].t), want[i].block);
        assert_int_equal(quant_is_ternary(want[i].t), want[i].ternary);
    }
    assert_int_equal(quant_type_from_name("tq2_0"), QT_TQ2_0);
    assert_int_equal(quant_type_from_name("q4_k"), QT_Q4_K);
    assert_int_equal(quant_type_from_name("Bf16"), QT_BF16);
    assert_int_equal(quant_type_from_name("Q5_K"), -1);
    assert_int_equal(quant_type_from_name("TQ2_"), -1);
    assert_int_equal(quant_type_from_name("TQ2_00"), -1);
    assert_int_equal(quant_type_from_name(""), -1);
    assert_int_equal(quant_type_from_name(NULL), -1);
    assert_string_equal(quant_type_name(QT_COUNT), "?");
    assert_string_equal(quant_type_name((enum quant_type)-1), "?");
    assert_int_equal(quant_type_ggml_id(QT_COUNT), UINT32_MAX);
    assert_int_equal(quant_block_elems(QT_COUNT), 0);
    assert_false(quant_is_ternary(QT_COUNT));
    assert_int_equal(quant_ternary_scale_group(QT_TQ1_0, 2560), 256);
    assert_int_equal(quant_ternary_scale_group(QT_TQ2_0, 2560), 256);
    assert_int_equal(quant_ternary_scale_group(QT_I2_S, 2560), 2560);
    assert_int_equal(quant_ternary_scale_group(QT_Q8_0, 2560), 0);
}

static void test_sizes(void **state)
{
    (void)state;
    assert_int_equal(quant_tensor_bytes(QT_F32, 2, 3), 24);
    assert_int_equal(quant_tensor_bytes(QT_F16, 2, 3), 12);
    assert_int_equal(quant_tensor_bytes(QT_BF16, 2, 3), 12);
    assert_int_equal(quant_tensor_bytes(QT_Q8_0, 2, 64), 2 * 2 * 34);
    assert_int_equal(quant_tensor_bytes(QT_Q8_0, 2, 33), 0);
    assert_int_equal(quant_tensor_bytes(QT_Q4_K, 1, 256), 144);
    assert_int_equal(quant_tensor_bytes(QT_Q4_K, 3, 512), 3 * 2 * 144);
    assert_int_equal(quant_tensor_bytes(QT_Q4_K, 1, 128), 0);
    assert_int_equal(quant_tensor_bytes(QT_Q6_K, 1, 256), 210);
    assert_int_equal(quant_tensor_bytes(QT_Q6_K, 2, 2560), 2 * 10 * 210);
    assert_int_equal(quant_tensor_bytes(QT_TQ1_0, 2, 256), 108);
    assert_int_equal(quant_tensor_bytes(QT_TQ2_0, 2, 512), 264);
    assert_int_equal(quant_tensor_bytes(QT_TQ2_0, 1, 300), 0);
    /* I2_S: rows*cols/4 + 32-byte tail; only rows*cols must fill 128-blocks */
    assert_int_equal(quant_tensor_bytes(QT_I2_S, 2, 128), 64 + 32);
    assert_int_equal(quant_tensor_bytes(QT_I2_S, 4, 32), 32 + 32);
    assert_int_equal(quant_tensor_bytes(QT_I2_S, 2560, 2560), 2560 * 2560 / 4 + 32);
    assert_int_equal(quant_tensor_bytes(QT_I2_S, 3, 100), 0);
    assert_int_equal(quant_tensor_bytes(QT_I2_S, 1, 127), 0);
    /* degenerate and overflowing shapes */
    assert_int_equal(quant_tensor_bytes(QT_F32, 0, 4), 0);
    assert_int_equal(quant_tensor_bytes(QT_F32, 4, 0), 0);
    assert_int_equal(quant_tensor_bytes(QT_F32, -1, 4), 0);
    assert_int_equal(quant_tensor_bytes(QT_I2_S, 0, 128), 0);
    assert_int_equal(quant_tensor_bytes(QT_F32, INT64_MAX, INT64_MAX), 0);
    assert_int_equal(quant_tensor_bytes(QT_F32, (int64_t)1 << 62, 1), 0);
    assert_int_equal(quant_tensor_bytes(QT_I2_S, INT64_MAX, 128), 0);
    assert_int_equal(quant_tensor_bytes(QT_COUNT, 1, 256), 0);
    /* rows */
    assert_int_equal(quant_row_bytes(QT_F16, 3), 6);
    assert_int_equal(quant_row_bytes(QT_Q8_0, 40), 0);
    assert_int_equal(quant_row_bytes(QT_Q4_K, 512), 288);
    assert_int_equal(quant_row_bytes(QT_TQ1_0, 2560), 540);
    assert_int_equal(quant_row_bytes(QT_I2_S, 128), 32);
    assert_int_equal(quant_row_bytes(QT_I2_S, 32), 8);
    assert_int_equal(quant_row_bytes(QT_I2_S, 2), 0);
    assert_int_equal(quant_row_bytes(QT_F32, -4), 0);
}

/* ---- f16 / bf16 ---- */

static void test_f16_known_pairs(void **state)
{
    (void)state;
    static const struct {
        uint16_t h;
        float f;
    } pairs[] = {
        {0x3C00, 1.0f},          {0xC000, -2.0f},         {0x7BFF, 65504.0f},
        {0x0001, 0x1p-24f},      {0x03FF, 1023 * 0x1p-24f}, {0x0400, 0x1p-14f},
        {0x3555, 0.333251953125f}, {0x3800, 0.5f},        {0x0000, 0.0f},
        {0x8000, -0.0f},         {0x8001, -0x1p-24f},     {0x7C00, INFINITY},
        {0xFC00, -INFINITY},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        EXPECT_FLOAT(quant_f16_to_f32(pairs[i].h), pairs[i].f);
        assert_int_equal(quant_f32_to_f16(pairs[i].f), pairs[i].h);
    }
    assert_true(isnan(quant_f16_to_f32(0x7E00)));
    assert_true(isnan(quant_f16_to_f32(0x7C01))); /* signalling NaN stays NaN */
    uint16_t hn = quant_f32_to_f16(NAN);
    assert_int_equal(hn & 0x7C00, 0x7C00);
    assert_int_not_equal(hn & 0x03FF, 0);

    /* rounding to nearest, ties to even */
    assert_int_equal(quant_f32_to_f16(1.0f + 0x1p-11f), 0x3C00);     /* tie -> even 0 */
    assert_int_equal(quant_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3C02); /* tie -> even 2 */
    assert_int_equal(quant_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);
    assert_int_equal(quant_f32_to_f16(65519.0f), 0x7BFF);
    assert_int_equal(quant_f32_to_f16(65520.0f), 0x7C00); /* tie with 2^16 -> inf */
    assert_int_equal(quant_f32_to_f16(1e6f), 0x7C00);
    assert_int_equal(quant_f32_to_f16(-1e6f), 0xFC00);
    /* subnormals: units of 2^-24 */
    assert_int_equal(quant_f32_to_f16(0x1p-25f), 0x0000);              /* tie -> 0 */
    assert_int_equal(quant_f32_to_f16(0x1p-25f + 0x1p-40f), 0x0001);
    assert_int_equal(quant_f32_to_f16(3 * 0x1p-25f), 0x0002);          /* 1.5 -> 2 */
    assert_int_equal(quant_f32_to_f16(5 * 0x1p-25f), 0x0002);          /* 2.5 -> 2 */
    assert_int_equal(quant_f32_to_f16(1023.5f * 0x1p-24f), 0x0400);    /* -> min normal */
    assert_int_equal(quant_f32_to_f16(1e-10f), 0x0000);
    assert_int_equal(quant_f32_to_f16(-1e-10f), 0x8000);
    assert_int_equal(quant_f32_to_f16(0x1p-149f), 0x0000); /* float subnormal */
    assert_int_equal(quant_f32_to_f16(0.1f), 0x2E66);      /* 0.0999755859375 */

    /* every non-NaN half survives a round trip through f32 */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = quant_f16_to_f32((uint16_t)h);
        if (isnan(f)) {
            assert_true((h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0);
            continue;
        }
        assert_int_equal(quant_f32_to_f16(f), h);
    }
}

static void test_bf16_known_pairs(void **state)
{
    (void)state;
    EXPECT_FLOAT(quant_bf16_to_f32(0x3F80), 1.0f);
    EXPECT_FLOAT(quant_bf16_to_f32(0xC000), -2.0f);
    EXPECT_FLOAT(quant_bf16_to_f32(0x7F80), INFINITY);
    EXPECT_FLOAT(quant_bf16_to_f32(0x0001), 0x1p-133f); /* subnormal kept */
    assert_int_equal(quant_f32_to_bf16(1.0f), 0x3F80);
    assert_int_equal(quant_f32_to_bf16(-2.0f), 0xC000);
    assert_int_equal(quant_f32_to_bf16(3.140625f), 0x4049);
    /* bf16 keeps 7 mantissa bits: the tie at 1 is 2^-8 */
    assert_int_equal(quant_f32_to_bf16(1.0f + 0x1p-8f), 0x3F80);       /* tie -> even */
    assert_int_equal(quant_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3F82);   /* tie -> even */
    assert_int_equal(quant_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3F81);
    assert_int_equal(quant_f32_to_bf16(-(1.0f + 0x1p-8f + 0x1p-20f)), 0xBF81);
    assert_int_equal(quant_f32_to_bf16(INFINITY), 0x7F80);
    assert_int_equal(quant_f32_to_bf16(3.4028235e38f), 0x7F80); /* FLT_MAX rounds up */
    /* NaN stays NaN, even a signalling one whose payload is in the low bits */
    uint32_t snan_bits = 0x7F800001;
    float snan;
    memcpy(&snan, &snan_bits, sizeof snan);
    assert_int_equal(quant_f32_to_bf16(snan), 0x7FC0);
    assert_true(isnan(quant_bf16_to_f32(quant_f32_to_bf16(NAN))));
}

/* ---- hand-built blocks ---- */

static void test_q8_0_hand_block(void **state)
{
    (void)state;
    /* 2 rows x 64 cols: 2 blocks per row. Row 0 all zero bytes. */
    uint8_t t[4 * 34] = {0};
    uint8_t *r1b0 = t + 2 * 34, *r1b1 = t + 3 * 34;
    put_u16(r1b0, 0x3400); /* d = 0.25 */
    r1b0[2 + 0] = (uint8_t)-128;
    r1b0[2 + 5] = 3;
    r1b0[2 + 31] = 127;
    put_u16(r1b1, 0xBC00); /* d = -1 */
    r1b1[2 + 0] = 7;
    float y[64];
    quant_dequant_row(QT_Q8_0, t, 2, 64, 1, y);
    EXPECT_FLOAT(y[0], -32.0f);
    EXPECT_FLOAT(y[5], 0.75f);
    EXPECT_FLOAT(y[31], 31.75f);
    EXPECT_FLOAT(y[1], 0.0f);
    EXPECT_FLOAT(y[32], -7.0f);
    EXPECT_FLOAT(y[33], -0.0f); /* 0 * -1 */
    quant_dequant_row(QT_Q8_0, t, 2, 64, 0, y);
    for (int j = 0; j < 64; j++)
        EXPECT_FLOAT(y[j], 0.0f);
}

static void test_q4_k_hand_block(void **state)
{
    (void)state;
    /* 2 rows x 256: the hand block is row 1; row 0 is zero bytes. */
    uint8_t t[2 * 144] = {0};
    uint8_t *b = t + 144;
    put_u16(b + 0, 0x3800); /* d = 0.5 */
    put_u16(b + 2, 0x3400); /* dmin = 0.25 */
    uint8_t *s = b + 4;
    /* sub-block 0: sc = s0&63 = 2, m = s4&63 = 4
     * sub-block 1: sc = 0xC3&63 = 3, m = 0x47&63 = 7
     * sub-block 4: sc = (s8&15) | (s0>>6)<<4 = 3,  m = (s8>>4) | (s4>>6)<<4 = 5
     * sub-block 5: sc = (s9&15) | (s1>>6)<<4 = 1+48 = 49,
     *              m  = (s9>>4) | (s5>>6)<<4 = 2+16 = 18
     * all other scales and mins are 0 */
    s[0] = 0x02;
    s[1] = 0xC3;
    s[4] = 0x04;
    s[5] = 0x47;
    s[8] = 0x53;
    s[9] = 0x21;
    uint8_t *qs = b + 16;
    qs[0] = 0x1F;  /* value 0 (sb 0) low nibble 15; value 32 (sb 1) high nibble 1 */
    qs[67] = 0xA7; /* chunk 2, l=3: value 131 (sb 4) = 7; value 163 (sb 5) = 10 */
    float y[256];
    quant_dequant_row(QT_Q4_K, t, 2, 256, 1, y);
    EXPECT_FLOAT(y[0], 0.5f * 2 * 15 - 0.25f * 4);    /* 14 */
    EXPECT_FLOAT(y[32], 0.5f * 3 * 1 - 0.25f * 7);    /* -0.25 */
    EXPECT_FLOAT(y[131], 0.5f * 3 * 7 - 0.25f * 5);   /* 9.25 */
    EXPECT_FLOAT(y[163], 0.5f * 49 * 10 - 0.25f * 18); /* 240.5 */
    EXPECT_FLOAT(y[1], -1.0f);   /* q 0 in sb 0: -dmin*4 */
    EXPECT_FLOAT(y[33], -1.75f); /* sb 1 */
    EXPECT_FLOAT(y[130], -1.25f); /* sb 4 */
    EXPECT_FLOAT(y[161], -4.5f);  /* sb 5 */
    EXPECT_FLOAT(y[64], 0.0f);    /* sb 2: sc = m = 0 */
    EXPECT_FLOAT(y[255], 0.0f);   /* sb 7 */
    quant_dequant_row(QT_Q4_K, t, 2, 256, 0, y);
    EXPECT_FLOAT(y[0], 0.0f);
}

static void test_q6_k_hand_block(void **state)
{
    (void)state;
    uint8_t t[2 * 210] = {0};
    uint8_t *b = t + 210;
    uint8_t *ql = b, *qh = b + 128;
    int8_t *sc = (int8_t *)(b + 192);
    put_u16(b + 208, 0x3800); /* d = 0.5 */
    sc[0] = 2;
    sc[3] = -3;
    sc[4] = 1;
    sc[13] = 5;
    sc[15] = 5;
    /* value 0: ql[0] low 5, qh[0] bits 0-1 = 2 -> 37-32 = 5, scale 0
     * value 64: ql[0] high 3, qh[0] bits 4-5 = 1 -> 19-32 = -13, scale 4 */
    ql[0] = 0x35;
    qh[0] = 0x12;
    /* value 50 (half 0, g 1, l 18): ql[50] low 15, qh[18] bits 2-3 = 3 -> 31, scale 3 */
    ql[50] = 0x0F;
    qh[18] = 0x0C;
    /* value 213 (half 1, g 2, l 21): ql[85] high 9, qh[53] bits 4-5 = 2 -> 9, scale 13 */
    ql[85] = 0x90;
    qh[53] = 0x20;
    /* value 240 (half 1, g 3, l 16): ql[112] high 15, qh[48] bits 6-7 = 3 -> 31, scale 15 */
    ql[112] = 0xF0;
    qh[48] = 0xC0;
    float y[256];
    quant_dequant_row(QT_Q6_K, t, 2, 256, 1, y);
    EXPECT_FLOAT(y[0], 5.0f);
    EXPECT_FLOAT(y[64], -6.5f);
    EXPECT_FLOAT(y[50], -46.5f);
    EXPECT_FLOAT(y[213], 22.5f);
    EXPECT_FLOAT(y[240], 77.5f);
    EXPECT_FLOAT(y[255], -80.0f); /* code 0 -> -32 * 5 * 0.5 */
    EXPECT_FLOAT(y[1], -32.0f);   /* code 0, scale 2 */
    EXPECT_FLOAT(y[32], -0.0f);   /* sub-block 2 has scale 0: (0.5*0) * -32 */
    EXPECT_FLOAT(y[18], -0.0f);   /* 0.5*0 = 0, times -32 */
    quant_dequant_row(QT_Q6_K, t, 2, 256, 0, y);
    EXPECT_FLOAT(y[0], -0.0f); /* d = 0: 0 * 0 * -32 */
}

static void test_tq2_0_hand_block(void **state)
{
    (void)state;
    uint8_t t[2 * 66];
    memset(t, 0, sizeof t);
    uint8_t *b = t + 66;
    memset(b, 0x55, 64); /* every code 1 -> 0 */
    put_u16(b + 64, 0x3800); /* d = 0.5 */
    b[0] = 0x92;  /* 10 01 00 10: v0 code 2, v32 code 0, v64 code 1, v96 code 2 */
    b[39] = 0x06; /* 00 00 01 10: v135 code 2, v167 code 1, v199 code 0, v231 code 0 */
    float y[256];
    quant_dequant_row(QT_TQ2_0, t, 2, 256, 1, y);
    EXPECT_FLOAT(y[0], 0.5f);
    EXPECT_FLOAT(y[32], -0.5f);
    EXPECT_FLOAT(y[64], 0.0f);
    EXPECT_FLOAT(y[96], 0.5f);
    EXPECT_FLOAT(y[135], 0.5f);
    EXPECT_FLOAT(y[167], 0.0f);
    EXPECT_FLOAT(y[199], -0.5f);
    EXPECT_FLOAT(y[231], -0.5f);
    int nonzero = 0;
    for (int j = 0; j < 256; j++)
        nonzero += y[j] != 0.0f;
    assert_int_equal(nonzero, 6);

    int8_t w[256];
    float scale = 0;
    quant_ternary_row(QT_TQ2_0, t, 2, 256, 1, w, &scale);
    EXPECT_FLOAT(scale, 0.5f);
    assert_int_equal(w[0], 1);
    assert_int_equal(w[32], -1);
    assert_int_equal(w[64], 0);
    assert_int_equal(w[199], -1);
    assert_int_equal(w[1], 0);
    assert_int_equal(quant_ternary_check(QT_TQ2_0, t + 66, 1, 256), 0);
}

static void test_tq1_0_hand_block(void **state)
{
    (void)state;
    /* Bytes worked out from the rule byte = ceil(v*256/243), v = the trits
     * (codes 0..2, first one most significant) read as a base-3 number:
     *   all codes 1: v = 121 -> 128 (qs); qh holds 4 codes then x3: 120 -> 127
     *   qs[0]  = codes 2,0,1,1,0: v = 162+0+9+3+0 = 174 -> ceil(183.3) = 184
     *   qs[1]  = 0: every code 0;  qs[4] = 255: every code 2 (v = 242 -> 255)
     *   qs[47] = codes 0,1,2,2,1: v = 0+27+18+6+1 = 52 -> ceil(54.8) = 55
     *   qh[1]  = codes 2,2,0,1: v = (54+18+0+1)*3 = 219 -> ceil(230.7) = 231
     *   qh[2]  = 0: codes 0;  qh[3] = 255: codes 2 */
    uint8_t b[54];
    memset(b, 128, 48);
    memset(b + 48, 127, 4);
    put_u16(b + 52, 0x4000); /* d = 2 */
    b[0] = 184;
    b[1] = 0;
    b[4] = 255;
    b[47] = 55;
    b[48 + 1] = 231;
    b[48 + 2] = 0;
    b[48 + 3] = 255;

    int8_t w[256];
    float scale = 0;
    quant_ternary_row(QT_TQ1_0, b, 1, 256, 0, w, &scale);
    EXPECT_FLOAT(scale, 2.0f);
    /* qs[m], m < 32, holds values m, m+32, m+64, m+96, m+128 */
    const int8_t w0[5] = {1, -1, 0, 0, -1};
    for (int n = 0; n < 5; n++) {
        assert_int_equal(w[0 + 32 * n], w0[n]);
        assert_int_equal(w[1 + 32 * n], -1);
        assert_int_equal(w[4 + 32 * n], 1);
        assert_int_equal(w[2 + 32 * n], 0);
    }
    /* qs[32+m] holds values 160+m, 176+m, ..., 224+m; qs[47] = m 15 */
    const int8_t w47[5] = {-1, 0, 1, 1, 0};
    for (int n = 0; n < 5; n++)
        assert_int_equal(w[160 + 15 + 16 * n], w47[n]);
    assert_int_equal(w[160], 0);
    /* qh[m] holds values 240+m, 244+m, 248+m, 252+m */
    const int8_t tail[16] = {0, 1, -1, 1, 0, 1, -1, 1, 0, -1, -1, 1, 0, 0, -1, 1};
    for (int j = 0; j < 16; j++)
        assert_int_equal(w[240 + j], tail[j]);

    float y[256];
    quant_dequant_row(QT_TQ1_0, b, 1, 256, 0, y);
    EXPECT_FLOAT(y[0], 2.0f);
    EXPECT_FLOAT(y[32], -2.0f);
    EXPECT_FLOAT(y[4], 2.0f);
    EXPECT_FLOAT(y[239], 0.0f);
    EXPECT_FLOAT(y[207], 2.0f);
    EXPECT_FLOAT(y[242], -2.0f);
    EXPECT_FLOAT(y[255], 2.0f);
    for (int j = 0; j < 256; j++)
        EXPECT_FLOAT(y[j], (float)w[j] * 2.0f);
}

static void test_i2_s_hand_tensor(void **state)
{
    (void)state;
    /* 2 rows x 128: block 0 = row 0, block 1 = row 1, then the tail. */
    uint8_t t[96];
    memset(t, 0x55, 64); /* every code 1 -> 0 */
    memset(t + 64, 0, 32);
    put_f32(t + 64, 2.0f);
    t[0] = 0x86;  /* 10 00 01 10: w0 +1, w32 -1, w64 0, w96 +1 */
    t[31] = 0x29; /* 00 10 10 01: w31 -1, w63 +1, w95 +1, w127 0 */
    t[37] = 0x52; /* row 1, p 5: 01 01 00 10: w5 0, w37 0, w69 -1, w101 +1 */
    assert_int_equal(quant_tensor_bytes(QT_I2_S, 2, 128), sizeof t);

    float y[128];
    quant_dequant_row(QT_I2_S, t, 2, 128, 0, y);
    EXPECT_FLOAT(y[0], 2.0f);
    EXPECT_FLOAT(y[32], -2.0f);
    EXPECT_FLOAT(y[64], 0.0f);
    EXPECT_FLOAT(y[96], 2.0f);
    EXPECT_FLOAT(y[31], -2.0f);
    EXPECT_FLOAT(y[63], 2.0f);
    EXPECT_FLOAT(y[95], 2.0f);
    EXPECT_FLOAT(y[127], 0.0f);
    EXPECT_FLOAT(y[5], 0.0f);
    quant_dequant_row(QT_I2_S, t, 2, 128, 1, y);
    EXPECT_FLOAT(y[0], 0.0f);
    EXPECT_FLOAT(y[5], 0.0f);
    EXPECT_FLOAT(y[37], 0.0f);
    EXPECT_FLOAT(y[69], -2.0f);
    EXPECT_FLOAT(y[101], 2.0f);
    int8_t w[128];
    float scale = 0;
    quant_ternary_row(QT_I2_S, t, 2, 128, 1, w, &scale);
    EXPECT_FLOAT(scale, 2.0f);
    assert_int_equal(w[69], -1);
    assert_int_equal(w[101], 1);
    assert_int_equal(w[100], 0);

    /* 4 rows x 32: one block holds all rows; row r sits at shift 6-2r. */
    uint8_t u[64];
    memset(u, 0x55, 32);
    memset(u + 32, 0, 32);
    put_f32(u + 32, 0.5f);
    u[3] = 0x86; /* row 0 +1, row 1 -1, row 2 0, row 3 +1 (all at column 3) */
    const float col3[4] = {0.5f, -0.5f, 0.0f, 0.5f};
    for (int r = 0; r < 4; r++) {
        float z[32];
        quant_dequant_row(QT_I2_S, u, 4, 32, r, z);
        EXPECT_FLOAT(z[3], col3[r]);
        EXPECT_FLOAT(z[2], 0.0f);
        quant_ternary_row(QT_I2_S, u, 4, 32, r, w, &scale);
        EXPECT_FLOAT(scale, 0.5f);
        assert_int_equal(w[3], r == 0 || r == 3 ? 1 : r == 1 ? -1 : 0);
    }
}

static void test_ternary_code3(void **state)
{
    (void)state;
    uint8_t b[66];
    memset(b, 0x55, 64);
    put_u16(b + 64, 0x3FFF); /* d has 11 bit pairs: not codes, must be ignored */
    assert_int_equal(quant_ternary_check(QT_TQ2_0, b, 1, 256), 0);
    b[0] = 0x57; /* code 3 at value 0 */
    assert_int_equal(quant_ternary_check(QT_TQ2_0, b, 1, 256), LF_ERR_FORMAT);
    put_u16(b + 64, 0x3800);
    float y[256];
    quant_dequant_row(QT_TQ2_0, b, 1, 256, 0, y);
    EXPECT_FLOAT(y[0], 1.0f); /* ggml's (3-1)*d */
    int8_t w[256];
    float scale;
    quant_ternary_row(QT_TQ2_0, b, 1, 256, 0, w, &scale);
    assert_int_equal(w[0], 1);

    uint8_t t[64];
    memset(t, 0x55, 32);
    memset(t + 32, 0xFF, 32); /* tail bytes are not codes */
    assert_int_equal(quant_ternary_check(QT_I2_S, t, 1, 128), 0);
    t[17] = 0x5D; /* 01 01 11 01: code 3 */
    assert_int_equal(quant_ternary_check(QT_I2_S, t, 1, 128), LF_ERR_FORMAT);
    memset(b, 0xFF, sizeof b);
    assert_int_equal(quant_ternary_check(QT_TQ1_0, b, 1, 256), 0);
    assert_int_equal(quant_ternary_check(QT_Q8_0, b, 1, 32), LF_ERR_INVALID);
    assert_int_equal(quant_ternary_check(QT_TQ2_0, b, 1, 100), LF_ERR_INVALID);
}

/* ---- quantizers ---- */

static void test_float_formats_quantize(void **state)
{
    (void)state;
    const float x[6] = {1.0f, -2.0f, 65504.0f, 0x1p-24f, 1.0f + 0x1p-8f, 3.140625f};
    uint8_t b[24];
    float y[3];
    assert_int_equal(quant_quantize(QT_F32, x, 2, 3, b), 0);
    quant_dequant_row(QT_F32, b, 2, 3, 1, y);
    EXPECT_FLOAT(y[0], 0x1p-24f);
    EXPECT_FLOAT(y[2], 3.140625f);
    assert_int_equal(quant_quantize(QT_F16, x, 2, 3, b), 0);
    assert_int_equal(b[0] | b[1] << 8, 0x3C00);
    assert_int_equal(b[4] | b[5] << 8, 0x7BFF);
    quant_dequant_row(QT_F16, b, 2, 3, 1, y);
    EXPECT_FLOAT(y[0], 0x1p-24f);
    EXPECT_FLOAT(y[1], 1.0f + 0x1p-8f);
    EXPECT_FLOAT(y[2], 3.140625f);
    assert_int_equal(quant_quantize(QT_BF16, x, 2, 3, b), 0);
    assert_int_equal(b[2] | b[3] << 8, 0xC000);
    quant_dequant_row(QT_BF16, b, 2, 3, 1, y);
    EXPECT_FLOAT(y[1], 1.0f); /* 1 + 2^-8 is a tie -> 1 */
    EXPECT_FLOAT(y[2], 3.140625f);
}

static void test_q8_0_quantize_rounding(void **state)
{
    (void)state;
    /* absmax 127 makes d exactly 1: codes are round(x), ties away from 0 */
    float x[32] = {0};
    x[0] = 127.0f;
    x[1] = 2.5f;
    x[2] = -2.5f;
    x[3] = 0.49f;
    x[4] = -63.5f;
    x[5] = 10.2f;
    x[6] = -127.0f;
    uint8_t b[34];
    assert_int_equal(quant_quantize(QT_Q8_0, x, 1, 32, b), 0);
    assert_int_equal(b[0] | b[1] << 8, 0x3C00);
    const int8_t *q = (const int8_t *)(b + 2);
    assert_int_equal(q[0], 127);
    assert_int_equal(q[1], 3);
    assert_int_equal(q[2], -3);
    assert_int_equal(q[3], 0);
    assert_int_equal(q[4], -64);
    assert_int_equal(q[5], 10);
    assert_int_equal(q[6], -127);
    assert_int_equal(q[7], 0);
    /* all-zero block: d = 0, codes 0 */
    memset(x, 0, sizeof x);
    memset(b, 0xAA, sizeof b);
    assert_int_equal(quant_quantize(QT_Q8_0, x, 1, 32, b), 0);
    for (int i = 0; i < 34; i++)
        assert_int_equal(b[i], 0);
}

static void test_q8_0_round_trip(void **state)
{
    (void)state;
    enum { ROWS = 5, COLS = 96 };
    struct rng r = {0x9E3779B97F4A7C15ull};
    float x[ROWS * COLS], y[COLS];
    for (int i = 0; i < ROWS * COLS; i++)
        x[i] = rng_unit(&r) * (float)(1 + i % 7);
    uint8_t *q = xcalloc(quant_tensor_bytes(QT_Q8_0, ROWS, COLS));
    assert_int_equal(quant_quantize(QT_Q8_0, x, ROWS, COLS, q), 0);
    for (int row = 0; row < ROWS; row++) {
        quant_dequant_row(QT_Q8_0, q, ROWS, COLS, row, y);
        for (int blk = 0; blk < COLS / 32; blk++) {
            const float *xb = x + row * COLS + 32 * blk;
            float amax = 0;
            for (int j = 0; j < 32; j++)
                amax = fmaxf(amax, fabsf(xb[j]));
            /* q = round(x/d) with d = amax/127, stored as f16: the error is half
             * a step plus what the f16 rounding of d costs at |q| <= 127 */
            float d = amax / 127.0f;
            float d16 = quant_f16_to_f32(quant_f32_to_f16(d));
            float bound = 0.5f * d + 127.0f * fabsf(d - d16) + 1e-6f * amax;
            for (int j = 0; j < 32; j++)
                assert_true(fabsf(y[32 * blk + j] - xb[j]) <= bound);
        }
    }
    free(q);
}

/* Round trip of a k-quant: every value whose code is not at an end of its
 * range is within half a step (the sub-block's d*sc) of the input; overall,
 * for uniform data, the RMS error is under 1/levels of the RMS input (a
 * uniform grid of `levels` steps over [-1,1] gives RMS error about
 * (2/levels)/sqrt(12) against an RMS input of 1/sqrt(3), i.e. 1/levels). */
static void check_kquant_round_trip(enum quant_type t)
{
    enum { ROWS = 3, COLS = 512 };
    struct rng r = {t == QT_Q4_K ? 42u : 4242u};
    float *x = malloc(sizeof(float) * ROWS * COLS);
    assert_non_null(x);
    for (int i = 0; i < ROWS * COLS; i++)
        x[i] = rng_unit(&r);
    /* flat block 1 (row 0, second block): small positive values only;
     * flat block 2 (row 1, first block): one large outlier */
    for (int i = 0; i < 256; i++)
        x[256 + i] = 0.01f + 0.002f * (float)(i % 17);
    x[2 * 256 + 100] = 25.0f;
    uint64_t bytes = quant_tensor_bytes(t, ROWS, COLS);
    uint8_t *q = xcalloc(bytes);
    assert_int_equal(quant_quantize(t, x, ROWS, COLS, q), 0);

    double err2 = 0, x2 = 0;
    int unclamped = 0;
    float y[COLS];
    for (int row = 0; row < ROWS; row++) {
        quant_dequant_row(t, q, ROWS, COLS, row, y);
        for (int blk = 0; blk < COLS / 256; blk++) {
            const uint8_t *b = q + (uint64_t)row * quant_row_bytes(t, COLS) +
                               (uint64_t)blk * (t == QT_Q4_K ? 144 : 210);
            for (int e = 0; e < 256; e++) {
                float xv = x[row * COLS + blk * 256 + e], yv = y[blk * 256 + e];
                float step;
                int code, top;
                if (t == QT_Q4_K) {
                    /* scale of sub-block e/32 and the code's nibble, by the layout */
                    int j = e / 32, chunk = e / 64, l = e % 32;
                    const uint8_t *s = b + 4;
                    int sc = j < 4 ? (s[j] & 63) : ((s[j + 4] & 15) | ((s[j - 4] >> 6) << 4));
                    uint8_t byte = b[16 + 32 * chunk + l];
                    code = (e % 64) < 32 ? (byte & 15) : (byte >> 4);
                    top = 15;
                    step = quant_f16_to_f32((uint16_t)(b[0] | b[1] << 8)) * (float)sc;
                } else {
                    int half = e / 128, g = (e % 128) / 32, l = e % 32;
                    uint8_t lo = b[64 * half + 32 * (g & 1) + l];
                    int hi = (b[128 + 32 * half + l] >> (2 * g)) & 3;
                    code = (g < 2 ? (lo & 15) : (lo >> 4)) | (hi << 4);
                    top = 63;
                    step = quant_f16_to_f32((uint16_t)(b[208] | b[209] << 8)) *
                           (float)(int8_t)b[192 + e / 16];
                }
                if (code != 0 && code != top) {
                    assert_true(fabsf(xv - yv) <= 0.5f * fabsf(step) * 1.0001f + 1e-7f);
                    unclamped++;
                }
                if (row * (COLS / 256) + blk != 2) { /* the outlier block skews the RMS */
                    err2 += (double)(xv - yv) * (xv - yv);
                    x2 += (double)xv * xv;
                }
            }
        }
    }
    assert_true(unclamped > ROWS * COLS * 8 / 10);
    double rel = sqrt(err2 / x2);
    assert_true(rel < (t == QT_Q4_K ? 1.0 / 15 : 1.0 / 63));
    free(q);
    free(x);
}

static void test_q4_k_round_trip(void **state)
{
    (void)state;
    check_kquant_round_trip(QT_Q4_K);
}

static void test_q6_k_round_trip(void **state)
{
    (void)state;
    check_kquant_round_trip(QT_Q6_K);
}

static void test_q6_k_constant_block(void **state)
{
    (void)state;
    /* All values 1: each sub-block's fit puts 1 at code -32 with scale -1/32;
     * the largest scale maps to -128, so d = (-1/32)/-128 = 2^-12 (f16 0x0C00)
     * and every int8 scale is -128. Codes are x/(d*-128) = -32 -> stored 0.
     * Dequantized: 2^-12 * -128 * -32 = 1 exactly. */
    float x[256];
    for (int i = 0; i < 256; i++)
        x[i] = 1.0f;
    uint8_t b[210];
    assert_int_equal(quant_quantize(QT_Q6_K, x, 1, 256, b), 0);
    for (int i = 0; i < 192; i++)
        assert_int_equal(b[i], 0);
    for (int i = 192; i < 208; i++)
        assert_int_equal(b[i], 0x80);
    assert_int_equal(b[208] | b[209] << 8, 0x0C00);
    float y[256];
    quant_dequant_row(QT_Q6_K, b, 1, 256, 0, y);
    for (int i = 0; i < 256; i++)
        EXPECT_FLOAT(y[i], 1.0f);
    /* an all-zero block is all zero bytes */
    memset(x, 0, sizeof x);
    memset(b, 0xAA, sizeof b);
    assert_int_equal(quant_quantize(QT_Q6_K, x, 1, 256, b), 0);
    for (int i = 0; i < 210; i++)
        assert_int_equal(b[i], 0);
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void test_quantizers_match_ggml(void **state)
{
    (void)state;
    /* The expected hashes are of the bytes written by ggml's own
     * quantize_row_{q8_0,q4_K,q6_K}_ref (ggml-org/ggml d99724f, built and run
     * outside this repository) for this input, made with exact float
     * arithmetic only (no libm) so it is the same everywhere. */
    enum { N = 1024 };
    float x[N];
    struct rng r = {20240917};
    for (int i = 0; i < N; i++) {
        float v = rng_unit(&r);
        x[i] = v * v * v * 4.0f + 0.25f * v + (i / 256 == 3 ? 0.5f : 0.0f);
    }
    static const struct {
        enum quant_type t;
        uint64_t hash;
    } want[] = {
        {QT_Q8_0, 0x87dc2659aa4ddde2ull},
        {QT_Q4_K, 0xcfe7bdc16c4d3191ull},
        {QT_Q6_K, 0x4848592041fc19b7ull},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        uint64_t n = quant_tensor_bytes(want[i].t, 1, N);
        uint8_t *b = xcalloc(n);
        assert_int_equal(quant_quantize(want[i].t, x, 1, N, b), 0);
        assert_int_equal(fnv1a(b, (size_t)n), want[i].hash);
        free(b);
    }
}

/* ---- ternary ---- */

static const enum quant_type ternary_types[3] = {QT_TQ1_0, QT_TQ2_0, QT_I2_S};

static void test_ternary_pack_round_trip(void **state)
{
    (void)state;
    static const int64_t shapes_cols[3] = {256, 512, 2560};
    static const int64_t shapes_rows[3] = {1, 3, 7};
    /* 0.0123 is not an f16: stored as 2^-7 * (1 + 588/1024) (0x224C) */
    const float scale = 0.0123f, scale16 = 0.012298583984375f;
    assert_int_equal(quant_f32_to_f16(scale), 0x224C);
    struct rng r = {7};
    for (int ci = 0; ci < 3; ci++) {
        for (int ri = 0; ri < 3; ri++) {
            int64_t rows = shapes_rows[ri], cols = shapes_cols[ci];
            int8_t *trits = malloc((size_t)(rows * cols));
            int8_t *w = malloc((size_t)cols);
            float *scales = malloc(sizeof(float) * (size_t)(cols / 256));
            assert_true(trits && w && scales);
            for (int64_t i = 0; i < rows * cols; i++)
                trits[i] = (int8_t)((int)(rng_u32(&r) % 3) - 1);
            for (int k = 0; k < 3; k++) {
                enum quant_type t = ternary_types[k];
                uint8_t *q = xcalloc(quant_tensor_bytes(t, rows, cols));
                assert_int_equal(quant_pack_ternary(t, trits, scale, rows, cols, q), 0);
                assert_int_equal(quant_ternary_check(t, q, rows, cols), 0);
                int64_t group = quant_ternary_scale_group(t, cols);
                for (int64_t row = 0; row < rows; row++) {
                    quant_ternary_row(t, q, rows, cols, row, w, scales);
                    assert_memory_equal(w, trits + row * cols, (size_t)cols);
                    for (int64_t g = 0; g < cols / group; g++)
                        EXPECT_FLOAT(scales[g], t == QT_I2_S ? scale : scale16);
                }
                if (t == QT_I2_S) { /* the tail: f32 scale, then zeros */
                    const uint8_t *tail = q + rows * cols / 4;
                    float s;
                    memcpy(&s, tail, sizeof s);
                    EXPECT_FLOAT(s, scale);
                    for (int i = 4; i < 32; i++)
                        assert_int_equal(tail[i], 0);
                }
                free(q);
            }
            free(trits);
            free(w);
            free(scales);
        }
    }
}

static void test_ternary_formats_agree(void **state)
{
    (void)state;
    /* The same trits with an f16-exact scale dequantize identically. */
    enum { ROWS = 3, COLS = 512 };
    const float scale = 0.375f; /* f16 0x3600 */
    static int8_t trits[ROWS * COLS];
    struct rng r = {99};
    for (int i = 0; i < ROWS * COLS; i++)
        trits[i] = (int8_t)((int)(rng_u32(&r) % 3) - 1);
    uint8_t *q[3];
    for (int k = 0; k < 3; k++) {
        q[k] = xcalloc(quant_tensor_bytes(ternary_types[k], ROWS, COLS));
        assert_int_equal(quant_pack_ternary(ternary_types[k], trits, scale, ROWS, COLS, q[k]), 0);
    }
    float y[3][COLS];
    for (int row = 0; row < ROWS; row++) {
        for (int k = 0; k < 3; k++)
            quant_dequant_row(ternary_types[k], q[k], ROWS, COLS, row, y[k]);
        for (int j = 0; j < COLS; j++) {
            EXPECT_FLOAT(y[0][j], (float)trits[row * COLS + j] * 0.375f);
            EXPECT_FLOAT(y[1][j], y[0][j]);
            EXPECT_FLOAT(y[2][j], y[0][j]);
        }
    }
    for (int k = 0; k < 3; k++)
        free(q[k]);
}

static void test_ternary_quantize_absmean(void **state)
{
    (void)state;
    /* Pattern {1, -3, 0.2, 0}: s = mean|x| = 4.2/4 = 1.05; x/s = 0.95, -2.86,
     * 0.19, 0 -> trits 1, -1, 0, 0. TQ blocks store f16(1.05) = 1 + 51/1024
     * (0x3C33); I2_S stores 1.05f. */
    float x[256];
    const float pattern1[4] = {1.0f, -3.0f, 0.2f, 0.0f};
    for (int i = 0; i < 256; i++)
        x[i] = pattern1[i % 4];
    const int8_t want[4] = {1, -1, 0, 0};
    for (int k = 0; k < 3; k++) {
        enum quant_type t = ternary_types[k];
        int64_t rows = t == QT_I2_S ? 2 : 1, cols = 256 / rows;
        uint8_t q[96];
        assert_int_equal(quant_quantize(t, x, rows, cols, q), 0);
        int8_t w[256];
        float s;
        for (int64_t row = 0; row < rows; row++) {
            quant_ternary_row(t, q, rows, cols, row, w, &s);
            EXPECT_FLOAT(s, t == QT_I2_S ? 1.05f : 1.0498046875f);
            for (int64_t j = 0; j < cols; j++)
                assert_int_equal(w[j], want[(row * cols + j) % 4]);
        }
    }
    /* Pattern {1.5, -1, 0.5, 1}: s = 1; 0.5 is a tie and rounds to even 0. */
    const float pattern2[4] = {1.5f, -1.0f, 0.5f, 1.0f};
    const int8_t want2[4] = {1, -1, 0, 1};
    for (int i = 0; i < 256; i++)
        x[i] = pattern2[i % 4];
    uint8_t q[66];
    assert_int_equal(quant_quantize(QT_TQ2_0, x, 1, 256, q), 0);
    int8_t w[256];
    float s;
    quant_ternary_row(QT_TQ2_0, q, 1, 256, 0, w, &s);
    EXPECT_FLOAT(s, 1.0f);
    for (int j = 0; j < 256; j++)
        assert_int_equal(w[j], want2[j % 4]);
    /* All zero: s = 1e-8 (I2_S keeps it; as f16 it is 0), trits 0. */
    memset(x, 0, sizeof x);
    uint8_t t2[96];
    assert_int_equal(quant_quantize(QT_I2_S, x, 1, 256, t2), 0);
    quant_ternary_row(QT_I2_S, t2, 1, 256, 0, w, &s);
    EXPECT_FLOAT(s, 1e-8f);
    for (int j = 0; j < 256; j++)
        assert_int_equal(w[j], 0);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    float x[256] = {0};
    int8_t trits[256] = {0};
    uint8_t out[512];
    assert_int_equal(quant_quantize(QT_Q4_K, x, 1, 128, out), LF_ERR_INVALID);
    assert_int_equal(quant_quantize(QT_I2_S, x, 1, 100, out), LF_ERR_INVALID);
    assert_int_equal(quant_quantize(QT_COUNT, x, 1, 32, out), LF_ERR_INVALID);
    assert_int_equal(quant_pack_ternary(QT_Q8_0, trits, 1.0f, 1, 256, out), LF_ERR_INVALID);
    assert_int_equal(quant_pack_ternary(QT_TQ2_0, trits, 1.0f, 1, 200, out), LF_ERR_INVALID);
    assert_int_equal(quant_pack_ternary(QT_TQ2_0, trits, NAN, 1, 256, out), LF_ERR_INVALID);
    trits[17] = 2;
    assert_int_equal(quant_pack_ternary(QT_I2_S, trits, 1.0f, 1, 256, out), LF_ERR_INVALID);
    trits[17] = -2;
    assert_int_equal(quant_pack_ternary(QT_TQ1_0, trits, 1.0f, 1, 256, out), LF_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_names_and_ids),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_f16_known_pairs),
        cmocka_unit_test(test_bf16_known_pairs),
        cmocka_unit_test(test_q8_0_hand_block),
        cmocka_unit_test(test_q4_k_hand_block),
        cmocka_unit_test(test_q6_k_hand_block),
        cmocka_unit_test(test_tq2_0_hand_block),
        cmocka_unit_test(test_tq1_0_hand_block),
        cmocka_unit_test(test_i2_s_hand_tensor),
        cmocka_unit_test(test_ternary_code3),
        cmocka_unit_test(test_float_formats_quantize),
        cmocka_unit_test(test_q8_0_quantize_rounding),
        cmocka_unit_test(test_q8_0_round_trip),
        cmocka_unit_test(test_q4_k_round_trip),
        cmocka_unit_test(test_q6_k_round_trip),
        cmocka_unit_test(test_q6_k_constant_block),
        cmocka_unit_test(test_quantizers_match_ggml),
        cmocka_unit_test(test_ternary_pack_round_trip),
        cmocka_unit_test(test_ternary_formats_agree),
        cmocka_unit_test(test_ternary_quantize_absmean),
        cmocka_unit_test(test_invalid_arguments),
    };
    return cmocka_run_group_tests_name("quant", tests, NULL, NULL);
}
