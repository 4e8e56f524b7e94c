/* test_attn.c - attention loops: the SIMD versions give the reference's
 * floats bit for bit at awkward head sizes, lengths and group sizes; values
 * by hand. */
#include "tests/testutil.h"

#include "engine/status.h"
#include "kernels/attn.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float frand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((int64_t)(*s >> 40) - (1 << 23)) / (float)(1 << 22);
}

static void test_by_hand(void **state)
{
    (void)state;
    const float q[3] = {1, 2, 3}, K[6] = {1, 0, 1, -1, 0.5f, 0};
    float s[2];
    attn_scores_ref(q, 1, K, 3, 2, 3, 0.5f, s, 2);
    assert_float_equal(s[0], 2.0f, 0); /* (1 + 3) / 2 */
    assert_float_equal(s[1], 0.0f, 0); /* (-1 + 1) / 2 */
    const float w[2] = {0.25f, 0.75f}, V[4] = {4, 8, 0, -4};
    float o[2];
    attn_mix_ref(w, 2, 1, V, 2, 2, 2, o);
    assert_float_equal(o[0], 1.0f, 0);
    assert_float_equal(o[1], -1.0f, 0);
    /* the dot's lane order: 1e8 + 1 - 1e8 loses the 1 in one lane, not across lanes */
    float a[9] = {1e8f, 1, 0, 0, 0, 0, 0, 0, -1e8f}, b[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    assert_float_equal(attn_dot_ref(a, b, 9), 1.0f, 0); /* lane0: 1e8 - 1e8 = 0; lane1: 1 */
}

/* Scores and mix are fused multiply-adds (attn.h) on every ISA, f32 and
 * f16 keys/values: with a = 1 + 2^-14 and b = 1 + 2^-10 (exact in f16),
 * a*b = 1 + 2^-10 + 2^-14 + 2^-24 needs 24 bits after the point, so a
 * separate multiply rounds the 2^-24 away (a tie, to even) and
 * fmaf(a, b, -1) keeps it. Lane 0 of the score sees -1*1 first, then a*b;
 * the mix adds -1*1, then a*b. */
static void test_fused_multiply_add(void **state)
{
    (void)state;
    enum { HD = 16 };
    const float a = 1.0f + 0x1p-14f, b = 1.0f + 0x1p-10f;
    const float fused = 0x1p-10f + 0x1p-14f + 0x1p-24f;
    assert_true(fused != (a * b) - 1.0f); /* the case tells the two apart */
    float q[HD] = {0}, Kf[HD] = {0}, Vf[2 * HD], w[2] = {-1.0f, a};
    uint16_t Kh[HD], Vh[2 * HD];
    q[0] = -1.0f, Kf[0] = 1.0f;
    q[8] = a, Kf[8] = b; /* element 8 goes to lane 0 as well */
    for (int i = 0; i < HD; i++) {
        Vf[i] = 1.0f, Vf[HD + i] = b;
        Kh[i] = quant_f32_to_f16(Kf[i]);
        Vh[i] = quant_f32_to_f16(Vf[i]), Vh[HD + i] = quant_f32_to_f16(Vf[HD + i]);
    }
    assert_float_equal(quant_f16_to_f32(Kh[8]), b, 0);
    char err[LF_ERRMSG_LEN];
    for (int isa = 0; isa < KERN_ISA_COUNT; isa++) {
        if (!kern_isa_supported((enum kern_isa)isa)) continue;
        assert_int_equal(kern_set_isa((enum kern_isa)isa, err, sizeof err), 0);
        const struct kern_ops *ops = kern_ops();
        float s = 0, o[HD];
        ops->attn_scores(q, 1, Kf, HD, 1, HD, 1.0f, &s, 1);
        assert_float_equal(s, fused, 0);
        ops->attn_scores_f16(q, 1, Kh, HD, 1, HD, 1.0f, &s, 1);
        assert_float_equal(s, fused, 0);
        ops->attn_mix(w, 2, 1, Vf, HD, 2, HD, o);
        for (int i = 0; i < HD; i++)
            assert_float_equal(o[i], fused, 0);
        ops->attn_mix_f16(w, 2, 1, Vh, HD, 2, HD, o);
        for (int i = 0; i < HD; i++)
            assert_float_equal(o[i], fused, 0);
    }
    assert_int_equal(kern_init(err, sizeof err), 0);
}

/* Every ISA's grouped kernels against the reference: head sizes with and
 * without a multiple of 8 or 16, lengths around the 8-position blocks, 1 to 5
 * query heads per KV head. */
static void test_simd_bit_exact(void **state)
{
    (void)state;
    if (!kern_isa_supported(KERN_ISA_AVX2)) {
        print_message("no AVX2 on this CPU: skipped\n");
        return;
    }
    static const int32_t hds[] = {1, 7, 8, 9, 16, 31, 32, 33, 64, 100, 128};
    static const int32_t ns[] = {1, 2, 5, 7, 8, 9, 16, 64, 257};
    static const int32_t Gs[] = {1, 2, 4, 5};
    uint64_t st = 7;
    enum { LD = 260 };
    float *q = malloc(5 * 128 * sizeof *q), *K = malloc(257 * 136 * sizeof *K);
    float *s0 = malloc(5 * LD * sizeof *s0), *s1 = malloc(5 * LD * sizeof *s1);
    float o0[5 * 128], o1[5 * 128];
    for (size_t h = 0; h < sizeof hds / sizeof *hds; h++)
        for (size_t k = 0; k < sizeof ns / sizeof *ns; k++)
            for (size_t gi = 0; gi < sizeof Gs / sizeof *Gs; gi++) {
                const int32_t hd = hds[h], n = ns[k], stride = hd + 8, G = Gs[gi];
                for (int32_t i = 0; i < G * hd; i++)
                    q[i] = frand(&st);
                for (int32_t i = 0; i < n * stride; i++)
                    K[i] = frand(&st);
                attn_scores_ref(q, G, K, stride, n, hd, 0.125f, s0, LD);
                attn_scores_avx2(q, G, K, stride, n, hd, 0.125f, s1, LD);
                for (int32_t g = 0; g < G; g++)
                    assert_memory_equal(s0 + g * LD, s1 + g * LD, (size_t)n * sizeof *s0);
                attn_mix_ref(s0, LD, G, K, stride, n, hd, o0);
                attn_mix_avx2(s0, LD, G, K, stride, n, hd, o1);
                assert_memory_equal(o0, o1, (size_t)(G * hd) * sizeof *o0);
                if (kern_isa_supported(KERN_ISA_AVX512)) {
                    /* exact scores, and nothing written past position n */
                    memset(s1, 0x7f, 5 * LD * sizeof *s1);
                    attn_scores_avx512(q, G, K, stride, n, hd, 0.125f, s1, LD);
                    for (int32_t g = 0; g < G; g++) {
                        assert_memory_equal(s0 + g * LD, s1 + g * LD, (size_t)n * sizeof *s0);
                        for (int32_t t = n; t < LD; t++) {
                            uint32_t u;
                            memcpy(&u, &s1[g * LD + t], sizeof u);
                            assert_int_equal(u, 0x7f7f7f7fu);
                        }
                    }
                    memset(o1, 0, sizeof o1);
                    attn_mix_avx512(s0, LD, G, K, stride, n, hd, o1);
                    assert_memory_equal(o0, o1, (size_t)(G * hd) * sizeof *o0);
                }
            }
    free(q), free(K), free(s0), free(s1);
}

/* The f16 KV cache: rounding into it on every ISA equals quant_f32_to_f16
 * (ties, subnormals, overflow to infinity included), and the f16 kernels on
 * every ISA equal the f32 reference run on the exactly converted values. */
static void test_f16_kv(void **state)
{
    (void)state;
    if (!kern_isa_supported(KERN_ISA_AVX2)) {
        print_message("no AVX2 on this CPU: skipped\n");
        return;
    }
    enum { NV = 4099 };
    float *src = malloc(NV * sizeof *src);
    uint16_t *want = malloc(NV * sizeof *want), *got = malloc(NV * sizeof *got);
    uint64_t st = 11;
    for (int i = 0; i < NV; i++)
        src[i] = frand(&st) * (i % 3 == 0 ? 1e-6f : i % 3 == 1 ? 1.0f : 3e4f);
    const float edge[] = {0.0f, -0.0f, 65504.0f, 65520.0f, 1e9f, -1e9f, 1.0f + 0x1p-11f,
                          1.0f + 0x1p-11f + 0x1p-23f, 1.0f + 3 * 0x1p-11f, 0x1p-24f, 0x1p-25f,
                          0x1.8p-25f, 0x1p-14f, 0x1.ff8p-15f};
    memcpy(src, edge, sizeof edge);
    for (int i = 0; i < NV; i++)
        want[i] = quant_f32_to_f16(src[i]);
    assert_int_equal(want[3], 0x7c00);         /* 65520 rounds up to infinity */
    assert_int_equal(want[6], 0x3c00);         /* a tie rounds to even */
    assert_int_equal(want[7], 0x3c01);         /* just past the tie rounds up */
    assert_int_equal(want[9], 0x0001);         /* smallest subnormal */
    assert_int_equal(want[10], 0x0000);        /* half of it: tie to even, zero */
    attn_f16_store_avx2(got, src, NV);
    assert_memory_equal(got, want, NV * sizeof *got);
    if (kern_isa_supported(KERN_ISA_AVX512)) {
        memset(got, 0, NV * sizeof *got);
        attn_f16_store_avx512(got, src, NV);
        assert_memory_equal(got, want, NV * sizeof *got);
    }

    static const int32_t hds[] = {7, 8, 16, 33, 64, 128};
    static const int32_t ns[] = {1, 5, 8, 9, 64, 257};
    static const int32_t Gs[] = {1, 4, 5};
    enum { LD = 260 };
    float *q = malloc(5 * 128 * sizeof *q), *Kf = malloc(257 * 136 * sizeof *Kf);
    uint16_t *Kh = malloc(257 * 136 * sizeof *Kh);
    float *s0 = malloc(5 * LD * sizeof *s0), *s1 = malloc(5 * LD * sizeof *s1);
    float o0[5 * 128], o1[5 * 128];
    for (size_t h = 0; h < sizeof hds / sizeof *hds; h++)
        for (size_t k = 0; k < sizeof ns / sizeof *ns; k++)
            for (size_t gi = 0; gi < sizeof Gs / sizeof *Gs; gi++) {
                const int32_t hd = hds[h], n = ns[k], stride = hd + 8, G = Gs[gi];
                for (int32_t i = 0; i < G * hd; i++)
                    q[i] = frand(&st);
                for (int32_t i = 0; i < n * stride; i++) {
                    Kh[i] = quant_f32_to_f16(frand(&st));
                    Kf[i] = quant_f16_to_f32(Kh[i]);
                }
                attn_scores_ref(q, G, Kf, stride, n, hd, 0.125f, s0, LD);
                void (*sc[3])(const float *, int32_t, const uint16_t *, int64_t, int32_t, int32_t,
                              float, float *, int64_t) = {attn_scores_f16_ref,
                                                          attn_scores_f16_avx2,
                                                          attn_scores_f16_avx512};
                void (*mx[3])(const float *, int64_t, int32_t, const uint16_t *, int64_t, int32_t,
                              int32_t, float *) = {attn_mix_f16_ref, attn_mix_f16_avx2,
                                                   attn_mix_f16_avx512};
                attn_mix_ref(s0, LD, G, Kf, stride, n, hd, o0);
                const int n_isa = kern_isa_supported(KERN_ISA_AVX512) ? 3 : 2;
                for (int v = 0; v < n_isa; v++) {
                    memset(s1, 0, 5 * LD * sizeof *s1);
                    sc[v](q, G, Kh, stride, n, hd, 0.125f, s1, LD);
                    for (int32_t g = 0; g < G; g++)
                        assert_memory_equal(s0 + g * LD, s1 + g * LD, (size_t)n * sizeof *s0);
                    memset(o1, 0, sizeof o1);
                    mx[v](s0, LD, G, Kh, stride, n, hd, o1);
                    assert_memory_equal(o0, o1, (size_t)(G * hd) * sizeof *o0);
                }
            }
    free(q), free(Kf), free(Kh), free(s0), free(s1), free(src), free(want), free(got);
}

/* attn_rows on every ISA against the reference's row-after-row loop: blocks
 * of rows that start inside, end past and span the AVX-512 version's tiles
 * of positions (64 at head size 64, 32 at 128, 256 at 16), under and over
 * the rows it tiles from, f32 and f16 caches. */
static void test_rows(void **state)
{
    (void)state;
    static const int32_t hds[] = {8, 16, 33, 64, 128};
    static const int32_t Rs[] = {1, 3, 4, 5, 16, 17};
    static const int32_t n0s[] = {0, 5, 60, 250};
    static const int32_t Gs[] = {1, 4, 5};
    enum { NMAX = 270, LD = 272, GMAX = 5, RMAX = 17, HDMAX = 128 };
    uint64_t st = 13;
    const int64_t ldq = GMAX * HDMAX + 3;
    float *q = malloc(RMAX * ldq * sizeof *q);
    float *Kf = malloc(NMAX * (HDMAX + 8) * sizeof *Kf),
          *Vf = malloc(NMAX * (HDMAX + 8) * sizeof *Vf);
    uint16_t *Kh = malloc(NMAX * (HDMAX + 8) * sizeof *Kh),
             *Vh = malloc(NMAX * (HDMAX + 8) * sizeof *Vh);
    float *s0 = malloc(RMAX * GMAX * LD * sizeof *s0), *s1 = malloc(RMAX * GMAX * LD * sizeof *s1);
    float *o0 = malloc(RMAX * ldq * sizeof *o0), *o1 = malloc(RMAX * ldq * sizeof *o1);
    float *ws = aligned_alloc(64, (size_t)attn_rows_ws_floats(HDMAX) * sizeof *ws);
    for (int32_t i = 0; i < RMAX * ldq; i++)
        q[i] = frand(&st);
    for (int32_t i = 0; i < NMAX * (HDMAX + 8); i++) {
        Kh[i] = quant_f32_to_f16(frand(&st)), Vh[i] = quant_f32_to_f16(frand(&st));
        Kf[i] = frand(&st), Vf[i] = frand(&st);
    }
    char err[LF_ERRMSG_LEN];
    int cases = 0;
    for (size_t h = 0; h < sizeof hds / sizeof *hds; h++)
        for (size_t ri = 0; ri < sizeof Rs / sizeof *Rs; ri++)
            for (size_t ni = 0; ni < sizeof n0s / sizeof *n0s; ni++)
                for (size_t gi = 0; gi < sizeof Gs / sizeof *Gs; gi++)
                    for (int f16 = 0; f16 < 2; f16++) {
                        const int32_t hd = hds[h], R = Rs[ri], n0 = n0s[ni], G = Gs[gi];
                        const int64_t stride = hd + 8;
                        const void *K = f16 ? (const void *)Kh : Kf;
                        const void *V = f16 ? (const void *)Vh : Vf;
                        memset(o0, 0, RMAX * ldq * sizeof *o0);
                        attn_rows_ref(q, ldq, R, G, K, V, f16, stride, n0, hd, 0.125f, s0, LD, o0,
                                      ldq, ws);
                        for (int isa = 0; isa < KERN_ISA_COUNT; isa++) {
                            if (!kern_isa_supported((enum kern_isa)isa)) continue;
                            assert_int_equal(kern_set_isa((enum kern_isa)isa, err, sizeof err), 0);
                            memset(o1, 0x7f, RMAX * ldq * sizeof *o1);
                            kern_ops()->attn_rows(q, ldq, R, G, K, V, f16, stride, n0, hd, 0.125f,
                                                  s1, LD, o1, ldq, ws);
                            for (int32_t r = 0; r < R; r++) {
                                for (int32_t g = 0; g < G; g++)
                                    assert_memory_equal(s0 + (r * G + g) * LD,
                                                        s1 + (r * G + g) * LD,
                                                        (size_t)(n0 + r + 1) * sizeof *s0);
                                assert_memory_equal(o0 + r * ldq, o1 + r * ldq,
                                                    (size_t)(G * hd) * sizeof *o0);
                                /* nothing written between a row's heads and the next row */
                                uint32_t u;
                                memcpy(&u, &o1[r * ldq + G * hd], sizeof u);
                                assert_int_equal(u, 0x7f7f7f7fu);
                            }
                            cases++;
                        }
                    }
    assert_int_equal(kern_init(err, sizeof err), 0);
    assert_true(cases >= 5 * 6 * 4 * 3 * 2);
    /* a weight is a softmax: each row's weights of one head sum to about 1 */
    attn_rows_ref(q, ldq, 3, 1, Kf, Vf, false, 16, 9, 8, 0.125f, s0, LD, o0, ldq, ws);
    for (int32_t r = 0; r < 3; r++) {
        float sum = 0;
        for (int32_t t = 0; t < 9 + r + 1; t++)
            sum += s0[r * LD + t];
        assert_float_equal(sum, 1.0f, 1e-5f);
    }
    free(q), free(Kf), free(Vf), free(Kh), free(Vh), free(s0), free(s1), free(o0), free(o1);
    free(ws);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_hand),        cmocka_unit_test(test_fused_multiply_add),
        cmocka_unit_test(test_simd_bit_exact), cmocka_unit_test(test_f16_kv),
        cmocka_unit_test(test_rows),
    };
    return cmocka_run_group_tests_name("attn", tests, NULL, NULL);
}
