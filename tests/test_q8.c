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
    float x[300] = {0};
    x[0] = 1.27f, x[1] = -0.635f, x[2] = 0.005f, x[255] = -1.27f; /* block 0: amax 1.27 */
    x[256] = 2.54f, x[257] = 1.0f;                                /* block 1 (44 values) */
    int8_t q[512];
    float d[2];
    int32_t sums[2];
    q8_quantize_row(x, 300, q, d);
    assert_float_equal(d[0], 1.27f / 127.0f, 1e-9);
    assert_int_equal(q[0], 127);
    assert_int_equal(q[1], -64); /* -63.5 rounds to even */
    assert_int_equal(q[2], 0);   /* 0.5 rounds to even */
    assert_int_equal(q[255], -127);
    assert_float_equal(d[1], 2.54f / 127.0f, 1e-9);
    assert_int_equal(q[256], 127);
    assert_int_equal(q[257], 50);
    for (int i = 300; i < 512; i++) assert_int_equal(q[i], 0); /* padding */
    q8_block_sums(q, 2, sums);
    assert_int_equal(sums[0], 127 - 64 + 0 - 127);
    assert_int_equal(sums[1], 127 + 50);
    float z[5] = {0};
    q8_quantize_row(z, 5, q, d);
    assert_float_equal(d[0], 1.0f, 0);
    assert_int_equal(q[0], 0);
}

/* Every ISA's block dots equal the plain int32 sums, for 1..4 tokens, awkward
 * block counts and the extremes (+-127 with equal and opposite signs). */
static void check_dots(const int8_t *w, const int8_t *x, int64_t nb, int64_t ntok)
{
    int32_t want[4 * 16], got[4 * 16], sums[16];
    q8_block_sums(w, nb, sums);
    const int64_t stride = nb * Q8_BLOCK;
    for (int64_t t = 0; t < ntok; t++)
        for (int64_t b = 0; b < nb; b++) {
            int32_t s = 0;
            for (int i = 0; i < Q8_BLOCK; i++) s += w[b * Q8_BLOCK + i] * x[t * stride + b * Q8_BLOCK + i];
            want[t * nb + b] = s;
        }
    q8_dots_ref(w, sums, x, stride, ntok, nb, got);
    assert_memory_equal(got, want, (size_t)(ntok * nb) * sizeof *got);
    if (kern_isa_supported(KERN_ISA_AVX2)) {
        q8_dots_avx2(w, sums, x, stride, ntok, nb, got);
        assert_memory_equal(got, want, (size_t)(ntok * nb) * sizeof *got);
    }
    if (kern_isa_supported(KERN_ISA_AVX512)) {
        q8_dots_avx512(w, sums, x, stride, ntok, nb, got);
        assert_memory_equal(got, want, (size_t)(ntok * nb) * sizeof *got);
    }
}

static void test_dots_every_isa(void **state)
{
    (void)state;
    static int8_t w[16 * Q8_BLOCK], x[4 * 16 * Q8_BLOCK];
    for (int64_t nb = 1; nb <= 11; nb += 5)
        for (int64_t nt = 1; nt <= 4; nt++) {
            for (int64_t i = 0; i < nb * Q8_BLOCK; i++) w[i] = rnd8();
            for (int64_t i = 0; i < nt * nb * Q8_BLOCK; i++) x[i] = rnd8();
            check_dots(w, x, nb, nt);
        }
    for (int s = 0; s < 4; s++) {
        for (int64_t i = 0; i < 16 * Q8_BLOCK; i++) w[i] = (s & 1) ? -127 : 127;
        for (int64_t i = 0; i < 4 * 16 * Q8_BLOCK; i++) x[i] = (s & 2) ? -127 : 127;
        check_dots(w, x, 16, 4);
        int32_t d[1], sums[1];
        q8_block_sums(w, 1, sums);
        q8_dots_ref(w, sums, x, Q8_BLOCK, 1, 1, d);
        assert_int_equal(d[0], ((s == 0 || s == 3) ? 1 : -1) * Q8_BLOCK * 127 * 127);
    }
}

/* q8_gemm: an element by hand, and identical output on every ISA, for any
 * split of the rows and any batch width. */
static void test_gemm(void **state)
{
    (void)state;
    enum { M = 19, K = 700, N = 6 };
    const int64_t nb = q8_blocks(K);
    static int8_t wq[M * 3 * Q8_BLOCK], xq[N * 3 * Q8_BLOCK];
    static float wd[M * 3], xd[N * 3], y0[N * M], y1[N * M];
    static int32_t wsum[M * 3], dots[Q8_TOKENS * 3];
    for (int i = 0; i < M * nb * Q8_BLOCK; i++) wq[i] = rnd8();
    for (int i = 0; i < N * nb * Q8_BLOCK; i++) xq[i] = rnd8();
    for (int i = 0; i < M * nb; i++) wd[i] = 0.01f * (float)(i % 7 + 1);
    for (int i = 0; i < N * nb; i++) xd[i] = 0.02f * (float)(i % 5 + 1);
    for (int m = 0; m < M; m++) q8_block_sums(wq + m * nb * Q8_BLOCK, nb, wsum + m * nb);
    struct q8_matrix w = {M, K, wq, wd, wsum};
    char err[LF_ERRMSG_LEN];
    assert_int_equal(kern_set_isa(KERN_ISA_REF, err, sizeof err), 0);
    q8_gemm(&w, xq, xd, N, y0, M, 0, M, dots);
    float want = 0.0f; /* element (n=5, m=3) */
    for (int64_t b = 0; b < nb; b++) {
        int32_t s = 0;
        for (int i = 0; i < Q8_BLOCK; i++) s += wq[(3 * nb + b) * Q8_BLOCK + i] * xq[(5 * nb + b) * Q8_BLOCK + i];
        float scale = wd[3 * nb + b] * xd[5 * nb + b];
        float p = (float)s * scale;
        want = want + p;
    }
    assert_memory_equal(&y0[5 * M + 3], &want, sizeof want);
    for (int isa = 1; isa < KERN_ISA_COUNT; isa++) {
        if (!kern_isa_supported((enum kern_isa)isa)) continue;
        assert_int_equal(kern_set_isa((enum kern_isa)isa, err, sizeof err), 0);
        memset(y1, 0, sizeof y1);
        q8_gemm(&w, xq, xd, N, y1, M, 0, 7, dots);
        q8_gemm(&w, xq, xd, N, y1, M, 7, M, dots);
        assert_memory_equal(y0, y1, sizeof y0);
        /* one token at a time gives the same rows (batch invariance) */
        for (int n = 0; n < N; n++) {
            float row[M];
            q8_gemm(&w, xq + n * nb * Q8_BLOCK, xd + n * nb, 1, row, M, 0, M, dots);
            assert_memory_equal(row, y0 + n * M, sizeof row);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_by_hand),
        cmocka_unit_test(test_dots_every_isa),
        cmocka_unit_test(test_gemm),
    };
    return cmocka_run_group_tests_name("q8", tests, NULL, NULL);
}
