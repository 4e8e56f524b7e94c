/* test_q8.c - the int8 block GEMM of the LM head: quantization by hand, and
 * every ISA's tiles (and AVX-512 with and without AMX) bit-exact against
 * the definition, worst cases included. */
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
    float d[2] = {0};
    int32_t sums[2] = {0};
    q8_quantize_row(x, 300, q, d, sums);
    assert_float_equal(d[0], 1.27f / 127.0f, 1e-9);
    assert_int_equal(q[0], 127);
    assert_int_equal(q[1], -64); /* -63.5 rounds to even */
    assert_int_equal(q[2], 0);   /* 0.5 rounds to even */
    assert_int_equal(q[255], -127);
    assert_float_equal(d[1], 2.54f / 127.0f, 1e-9);
    assert_int_equal(q[256], 127);
    assert_int_equal(q[257], 50);
    for (int i = 300; i < 512; i++)
        assert_int_equal(q[i], 0); /* padding */
    assert_int_equal(sums[0], 127 - 64 + 0 - 127);
    assert_int_equal(sums[1], 127 + 50);
    float z[5] = {0};
    q8_quantize_row(z, 5, q, d, NULL);
    assert_float_equal(d[0], 1.0f, 0);
    assert_int_equal(q[0], 0);
    /* Panel layout: row 17 is row 1 of panel 1; column 261 is block 1,
     * step 1, byte 1; two blocks per row. */
    assert_int_equal(q8_weight_index(17, 261, 2), (((1 * 2 + 1) * 64 + 1) * 16 + 1) * 4 + 1);
    assert_int_equal(q8_scale_index(17, 1, 2), (1 * 2 + 1) * 16 + 1);
    int8_t wq[2 * 16 * 512] = {0};
    float wd[2 * 16 * 2] = {0};
    q8_store_row(wq, wd, 2, 17, q, d);
    assert_int_equal(wq[q8_weight_index(17, 0, 2)], 0);
    q8_quantize_row(x, 300, q, d, NULL);
    q8_store_row(wq, wd, 2, 17, q, d);
    assert_int_equal(wq[q8_weight_index(17, 1, 2)], -64);
    assert_int_equal(wq[q8_weight_index(17, 257, 2)], 50);
    assert_float_equal(wd[q8_scale_index(17, 1, 2)], 2.54f / 127.0f, 1e-9);
}

/* A random or extreme matrix of M rows and N tokens, quantized like the
 * model and the forward pass do: the values in plain order (for the
 * definition), the weights also stored in panels. */
struct case_data {
    int64_t M, N, K, nb;
    int8_t *w, *wq, *xq;
    float *wd_plain, *wd, *xd;
    int32_t *xs;
};

static void case_new(struct case_data *c, int64_t M, int64_t N, int64_t K, int extreme)
{
    c->M = M, c->N = N, c->K = K, c->nb = q8_blocks(K);
    const int64_t nb = c->nb, P = q8_panels(M);
    c->w = calloc((size_t)(M * nb * Q8_BLOCK), 1);
    c->wq = calloc((size_t)(P * Q8_PANEL * nb * Q8_BLOCK), 1);
    c->xq = calloc((size_t)(N * nb * Q8_BLOCK), 1);
    c->wd_plain = calloc((size_t)(M * nb), sizeof(float));
    c->wd = calloc((size_t)(P * Q8_PANEL * nb), sizeof(float));
    c->xd = calloc((size_t)(N * nb), sizeof(float));
    c->xs = calloc((size_t)(N * nb), sizeof(int32_t));
    for (int64_t m = 0; m < M; m++) {
        int8_t *wr = c->w + m * nb * Q8_BLOCK;
        for (int64_t k = 0; k < K; k++)
            wr[k] = extreme ? (int8_t)((extreme & 1) ? -127 : 127) : rnd8();
        for (int64_t b = 0; b < nb; b++)
            c->wd_plain[m * nb + b] = 0.01f * (float)((m + b) % 7 + 1);
        q8_store_row(c->wq, c->wd, nb, m, wr, c->wd_plain + m * nb);
    }
    for (int64_t n = 0; n < N; n++) {
        for (int64_t k = 0; k < K; k++) {
            const int8_t v = extreme ? (int8_t)((extreme & 2) ? -127 : 127) : rnd8();
            c->xq[n * nb * Q8_BLOCK + k] = v;
            c->xs[n * nb + k / Q8_BLOCK] += v;
        }
        for (int64_t b = 0; b < nb; b++)
            c->xd[n * nb + b] = 0.02f * (float)((n + 3 * b) % 5 + 1);
    }
}

static void case_free(struct case_data *c)
{
    free(c->w), free(c->wq), free(c->xq), free(c->wd_plain), free(c->wd), free(c->xd), free(c->xs);
}

/* Element (n, m) computed here from the definition in q8.h. */
static float by_definition(const struct case_data *c, int64_t n, int64_t m)
{
    const int64_t nb = c->nb;
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int32_t s = 0;
        for (int i = 0; i < Q8_BLOCK; i++)
            s += c->w[(m * nb + b) * Q8_BLOCK + i] * c->xq[(n * nb + b) * Q8_BLOCK + i];
        const float scale = c->wd_plain[m * nb + b] * c->xd[n * nb + b];
        const float p = (float)s * scale;
        sum = sum + p;
    }
    return sum;
}

/* q8_gemm on every ISA equals the definition bit for bit, at awkward row
 * counts (partial panels and calls), token counts (partial token chunks),
 * block counts (1, 3, 10) and for a split of the rows at a multiple of 16;
 * one token at a time gives the same rows (batch invariance); nothing is
 * written outside the output. */
static void check_case(const struct case_data *c)
{
    const struct q8_matrix w = {c->M, c->K, c->wq, c->wd};
    const int64_t ldy = c->M + 3, ny = c->N * ldy;
    float *want = malloc((size_t)ny * sizeof(float));
    float *got = malloc((size_t)ny * sizeof(float));
    float *row = malloc((size_t)(c->M + 1) * sizeof(float));
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t m = 0; m < ldy; m++)
            want[n * ldy + m] = m < c->M ? by_definition(c, n, m) : -1.0f;
    char err[LF_ERRMSG_LEN];
    /* every ISA, and AVX-512 once more without AMX when the CPU has it */
    const bool amx = kern_amx_usable();
    for (int run = 0; run < KERN_ISA_COUNT + amx; run++) {
        const int isa = run < KERN_ISA_COUNT ? run : KERN_ISA_AVX512;
        if (!kern_isa_supported((enum kern_isa)isa)) continue;
        if (run == KERN_ISA_COUNT) setenv("LUTFUSE_AMX", "0", 1);
        assert_int_equal(kern_set_isa((enum kern_isa)isa, err, sizeof err), 0);
        unsetenv("LUTFUSE_AMX");
        assert_true(kern_ops()->amx == (amx && run == KERN_ISA_AVX512));
        for (int64_t i = 0; i < ny; i++)
            got[i] = -1.0f;
        const int64_t split = c->M > 16 ? 16 : 0;
        q8_gemm(&w, c->xq, c->xd, c->xs, c->N, got, ldy, 0, split);
        q8_gemm(&w, c->xq, c->xd, c->xs, c->N, got, ldy, split, c->M);
        if (memcmp(got, want, (size_t)ny * sizeof(float)))
            fail_msg("%s: M=%lld N=%lld K=%lld differs from the definition", kern_describe(),
                     (long long)c->M, (long long)c->N, (long long)c->K);
        for (int64_t n = 0; n < c->N; n++) {
            row[c->M] = -1.0f;
            q8_gemm(&w, c->xq + n * c->nb * Q8_BLOCK, c->xd + n * c->nb, c->xs + n * c->nb, 1, row,
                    c->M, 0, c->M);
            assert_memory_equal(row, want + n * ldy, (size_t)c->M * sizeof(float));
            assert_true(row[c->M] == -1.0f);
        }
    }
    assert_int_equal(kern_set_isa(kern_isa_best(), err, sizeof err), 0);
    free(want), free(got), free(row);
}

static void test_gemm_every_isa(void **state)
{
    (void)state;
    static const int64_t Ms[] = {1, 3, 15, 16, 17, 33, 64, 65, 100};
    static const int64_t Ns[] = {1, 2, 3, 4, 5, 7, 8, 9, 13, 15, 16, 17, 31, 32, 33, 47, 70};
    static const int64_t Ks[] = {100, 700, 2560};
    for (size_t i = 0; i < sizeof Ms / sizeof *Ms; i++)
        for (size_t j = 0; j < sizeof Ns / sizeof *Ns; j++)
            for (size_t k = 0; k < sizeof Ks / sizeof *Ks; k++) {
                struct case_data c;
                case_new(&c, Ms[i], Ns[j], Ks[k], 0);
                check_case(&c);
                case_free(&c);
            }
}

/* Worst cases: +-127 everywhere with equal and opposite signs, K = 4096
 * (16 blocks): each block's dot is +-256*127*127, exactly (and the AVX-512
 * sum of (w+128)*x, 255*127*256, far from int32 limits). */
static void test_gemm_extremes(void **state)
{
    (void)state;
    for (int s = 1; s <= 4; s++) {
        struct case_data c;
        case_new(&c, 20, 33, 4096, s); /* 33 tokens: AMX's partial tiles too */
        check_case(&c);
        case_free(&c);
        case_new(&c, 20, 9, 4096, s);
        check_case(&c);
        char err[LF_ERRMSG_LEN];
        assert_int_equal(kern_set_isa(KERN_ISA_REF, err, sizeof err), 0);
        const struct q8_matrix w = {c.M, c.K, c.wq, c.wd};
        float y[9 * 20];
        q8_gemm(&w, c.xq, c.xd, c.xs, 9, y, 20, 0, 20);
        const float sign = (s == 3 || s == 4) ? 1.0f : -1.0f; /* w, x = -127: s & 1, s & 2 */
        /* row 0, token 0: scales 0.01*(b%7+1) and 0.02*(3b%5+1) */
        float want = 0.0f;
        for (int b = 0; b < 16; b++) {
            const float scale = (0.01f * (float)(b % 7 + 1)) * (0.02f * (float)((3 * b) % 5 + 1));
            const float p =
                (float)(sign > 0 ? Q8_BLOCK * 127 * 127 : -Q8_BLOCK * 127 * 127) * scale;
            want = want + p;
        }
        assert_memory_equal(&y[0], &want, sizeof want);
        assert_int_equal(kern_set_isa(kern_isa_best(), err, sizeof err), 0);
        case_free(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_by_hand),
        cmocka_unit_test(test_gemm_every_isa),
        cmocka_unit_test(test_gemm_extremes),
    };
    return cmocka_run_group_tests_name("q8", tests, NULL, NULL);
}
