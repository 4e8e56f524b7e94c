/* test_q8.c - the int8 block GEMM of the LM head: quantization by hand, and
 * every ISA's block dots bit-exact against the reference, worst cases included. */
#include "tests/testutil.h"

#include "engine/status.h"
#include "kernels/kernels.h"
#include "kernels/q8.h"

#include <stdlib.h>
#include <string.h>

static uint64_t g_rng = 12345;
static int8_t rnd8(void)
{
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (int8_t)((int)((g_rng >> 33) % 255) - 127);
}

static void test_quantize_by_hand(void **state)
{
    (void)state;
    float x[40] = {0};
    x[0] = 1.27f, x[1] = -0.635f, x[2] = 0.005f, x[31] = -1.27f; /* block 0: amax 1.27 */
    x[32] = 2.54f, x[33] = 1.0f;                                 /* block 1 (8 values) */
    int8_t q[64];
    float d[2];
    q8_quantize_row(x, 40, q, d);
    assert_float_equal(d[0], 1.27f / 127.0f, 1e-9);
    assert_int_equal(q[0], 127);
    assert_int_equal(q[1], -64); /* -63.5 rounds to even */
    assert_int_equal(q[2], 0);   /* 0.5 rounds to even */
    assert_int_equal(q[31], -127);
    assert_float_equal(d[1], 2.54f / 127.0f, 1e-9);
    assert_int_equal(q[32], 127);
    assert_int_equal(q[33], 50);
    for (int i = 40; i < 64; i++) assert_int_equal(q[i], 0); /* padding */
    float z[5] = {0};
    q8_quantize_row(z, 5, q, d);
    assert_float_equal(d[0], 1.0f, 0);
    assert_int_equal(q[0], 0);
}

/* The specification written out: eight lane sums in block order, then the tree. */
static float spec_dot(const int8_t *a, const float *ad, const int8_t *x, const float *xd, int64_t nb)
{
    float lane[8] = {0};
    for (int64_t b = 0; b < nb; b++) {
        int32_t s = 0;
        for (int i = 0; i < Q8_BLOCK; i++) s += a[b * 32 + i] * x[b * 32 + i];
        float scale = ad[b] * xd[b];
        float p = (float)s * scale;
        lane[b % 8] += p;
    }
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

static void check_dot(int64_t nb, const int8_t *a, const float *ad, const int8_t *x, const float *xd)
{
    float want = spec_dot(a, ad, x, xd, nb), got = q8_dot_ref(a, ad, x, xd, nb);
    assert_memory_equal(&got, &want, sizeof want);
    if (kern_isa_supported(KERN_ISA_AVX2)) {
        got = q8_dot_avx2(a, ad, x, xd, nb);
        assert_memory_equal(&got, &want, sizeof want);
    }
    if (kern_isa_supported(KERN_ISA_AVX512)) {
        got = q8_dot_avx512(a, ad, x, xd, nb);
        assert_memory_equal(&got, &want, sizeof want);
    }
}

/* Awkward block counts (tails of the 8-block unroll) and extremes: every ISA
 * gives the specification's float bit for bit. */
static void test_dot_every_isa(void **state)
{
    (void)state;
    static int8_t a[512 * 32], x[512 * 32];
    static float ad[512], xd[512];
    static const int64_t nbs[] = {1, 2, 7, 8, 9, 15, 16, 17, 80, 81, 320, 511};
    for (size_t k = 0; k < sizeof nbs / sizeof *nbs; k++) {
        for (int64_t i = 0; i < nbs[k] * 32; i++) a[i] = rnd8(), x[i] = rnd8();
        for (int64_t b = 0; b < nbs[k]; b++) ad[b] = 0.001f * (float)(rnd8() + 128), xd[b] = 0.37f / (float)(b + 1);
        check_dot(nbs[k], a, ad, x, xd);
    }
    /* worst cases: +-127 everywhere, equal and opposite signs, unit scales */
    for (int64_t b = 0; b < 511; b++) ad[b] = 1.0f, xd[b] = 1.0f;
    for (int s = 0; s < 4; s++) {
        for (int64_t i = 0; i < 511 * 32; i++) {
            a[i] = (s & 1) ? -127 : 127;
            x[i] = (s & 2) ? -127 : 127;
        }
        check_dot(511, a, ad, x, xd);
        float one = q8_dot_ref(a, ad, x, xd, 1);
        assert_float_equal(one, ((s == 0 || s == 3) ? 1 : -1) * 32.0f * 127 * 127, 0);
    }
}

/* q8_gemm: hand-checked element and identical output on every ISA and for
 * any split of the rows. */
static void test_gemm(void **state)
{
    (void)state;
    enum { M = 19, K = 70, N = 5 };
    const int64_t nb = q8_blocks(K);
    static int8_t wq[M * 3 * 32], xq[N * 3 * 32];
    static float wd[M * 3], xd[N * 3], y0[N * M], y1[N * M];
    for (int i = 0; i < M * nb * 32; i++) wq[i] = rnd8();
    for (int i = 0; i < N * nb * 32; i++) xq[i] = rnd8();
    for (int i = 0; i < M * nb; i++) wd[i] = 0.01f * (float)(i % 7 + 1);
    for (int i = 0; i < N * nb; i++) xd[i] = 0.02f * (float)(i % 5 + 1);
    struct q8_matrix w = {M, K, wq, wd};
    char err[LF_ERRMSG_LEN];
    assert_int_equal(kern_set_isa(KERN_ISA_REF, err, sizeof err), 0);
    q8_gemm(&w, xq, xd, N, y0, M, 0, M);
    /* element (n=2, m=3) by hand: 3 blocks land in lanes 0, 1, 2 */
    float p[3];
    for (int64_t b = 0; b < nb; b++) {
        int32_t s = 0;
        for (int i = 0; i < 32; i++) s += wq[(3 * nb + b) * 32 + i] * xq[(2 * nb + b) * 32 + i];
        float scale = wd[3 * nb + b] * xd[2 * nb + b];
        p[b] = (float)s * scale;
    }
    float want = (p[0] + p[1]) + p[2];
    assert_memory_equal(&y0[2 * M + 3], &want, sizeof want);
    for (int isa = 1; isa < KERN_ISA_COUNT; isa++) {
        if (!kern_isa_supported((enum kern_isa)isa)) continue;
        assert_int_equal(kern_set_isa((enum kern_isa)isa, err, sizeof err), 0);
        memset(y1, 0, sizeof y1);
        q8_gemm(&w, xq, xd, N, y1, M, 0, 7);
        q8_gemm(&w, xq, xd, N, y1, M, 7, M);
        assert_memory_equal(y0, y1, sizeof y0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_by_hand),
        cmocka_unit_test(test_dot_every_isa),
        cmocka_unit_test(test_gemm),
    };
    return cmocka_run_group_tests_name("q8", tests, NULL, NULL);
}
