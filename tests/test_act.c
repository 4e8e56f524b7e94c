/* test_act.c - activation kernels: int8 quantization and the int32 -> float
 * epilogue by hand, and every ISA equal to the reference bit for bit at
 * awkward lengths and edge values. */
#include "tests/testutil.h"

#include "engine/status.h"
#include "kernels/act.h"
#include "kernels/kernels.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static uint64_t g_rng = 777;
static float rndf(void)
{
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((int64_t)(g_rng >> 40) - (1 << 23)) / (float)(1 << 20); /* [-8, 8) */
}

static void test_quant_by_hand(void **state)
{
    (void)state;
    /* amax 2: scale 63.5; 1 -> 63.5 -> 64 (even), -0.5 -> -31.75 -> -32,
     * 2 -> 127, -2 -> -127, 0.0157480315 -> 1 */
    const float x[5] = {1.0f, -0.5f, 2.0f, -2.0f, 1.0f / 63.5f};
    int8_t q[5];
    float xs;
    act_quant_i8_ref(x, 5, q, &xs);
    assert_true(xs == 63.5f);
    const int8_t want[5] = {64, -32, 127, -127, 1};
    assert_memory_equal(q, want, 5);
    /* all zero: scale 127/1e-5, every value 0 */
    const float z[3] = {0.0f, -0.0f, 0.0f};
    act_quant_i8_ref(z, 3, q, &xs);
    assert_true(xs == 127.0f / 1e-5f);
    assert_int_equal(q[0] | q[1] | q[2], 0);
    /* tiny values below the 1e-5 floor are scaled by 127/1e-5, not blown up */
    const float t[2] = {5e-6f, -1e-5f};
    act_quant_i8_ref(t, 2, q, &xs);
    assert_int_equal(q[0], 64); /* 63.5 -> 64 */
    assert_int_equal(q[1], -127);
}

/* Every supported ISA against the reference: lengths 1..70 and the model
 * widths, random data, constant data, and halves that test the rounding. */
static void check_all(const float *x, int64_t n)
{
    int8_t want[3000], got[3000 + 64];
    float ws, gs;
    act_quant_i8_ref(x, n, want, &ws);
    for (int isa = 1; isa < KERN_ISA_COUNT; isa++) {
        if (!kern_isa_supported((enum kern_isa)isa)) continue;
        memset(got, 0x5a, sizeof got);
        if (isa == KERN_ISA_AVX2)
            act_quant_i8_avx2(x, n, got, &gs);
        else
            act_quant_i8_avx512(x, n, got, &gs);
        if (memcmp(got, want, (size_t)n) || gs != ws)
            fail_msg("%s differs from the reference at n = %lld", kern_isa_name((enum kern_isa)isa),
                     (long long)n);
        assert_int_equal(got[n], 0x5a); /* nothing written past n */
    }
}

static void test_quant_every_isa(void **state)
{
    (void)state;
    static float x[3000];
    static const int64_t widths[] = {255, 256, 257, 1024, 2560, 2816};
    for (int64_t n = 1; n <= 70; n++) {
        for (int64_t i = 0; i < n; i++)
            x[i] = rndf();
        check_all(x, n);
    }
    for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
        for (int64_t i = 0; i < widths[w]; i++)
            x[i] = rndf();
        x[widths[w] - 1] = 9.0f; /* the maximum in the tail */
        check_all(x, widths[w]);
        for (int64_t i = 0; i < widths[w]; i++)
            x[i] = -3.25f; /* all -127 */
        check_all(x, widths[w]);
        /* exact halves after scaling: amax 127 gives scale 1 */
        for (int64_t i = 0; i < widths[w]; i++)
            x[i] = (float)(i % 255) - 127.0f + 0.5f;
        x[0] = 127.0f;
        check_all(x, widths[w]);
        memset(x, 0, sizeof x);
        check_all(x, widths[w]);
    }
}

/* act_dequant: one element by hand; every ISA equal to the reference for
 * every row range [r0, r1) of a 37-column output (tails, offsets). */
static void test_dequant_every_isa(void **state)
{
    (void)state;
    enum { N = 5, M = 37, LD = 40 };
    static int32_t yi[N * M];
    static float rs[M], xs[N], want[N * LD], got[N * LD];
    for (int i = 0; i < N * M; i++)
        yi[i] = (int32_t)(rndf() * 100000.0f);
    for (int r = 0; r < M; r++)
        rs[r] = 0.5f + (float)r / 64.0f;
    for (int n = 0; n < N; n++)
        xs[n] = 12.7f * (float)(n + 1);
    yi[2 * M + 3] = 1000;
    act_dequant_ref(yi, M, N, 0, M, rs, xs, 0.25f, want, LD);
    assert_true(want[2 * LD + 3] == 1000.0f * rs[3] * (0.25f / xs[2]));
    for (int isa = 1; isa < KERN_ISA_COUNT; isa++) {
        if (!kern_isa_supported((enum kern_isa)isa)) continue;
        for (int r0 = 0; r0 < M; r0 += 5)
            for (int r1 = r0; r1 <= M; r1 += 3) {
                for (int i = 0; i < N * LD; i++)
                    got[i] = -1.0f;
                if (isa == KERN_ISA_AVX2)
                    act_dequant_avx2(yi, M, N, r0, r1, rs, xs, 0.25f, got, LD);
                else
                    act_dequant_avx512(yi, M, N, r0, r1, rs, xs, 0.25f, got, LD);
                for (int n = 0; n < N; n++)
                    for (int r = 0; r < LD; r++) {
                        const float w = r >= r0 && r < r1 ? want[n * LD + r] : -1.0f;
                        if (memcmp(&got[n * LD + r], &w, sizeof w))
                            fail_msg("%s: [%d, %d) element (%d, %d)",
                                     kern_isa_name((enum kern_isa)isa), r0, r1, n, r);
                    }
            }
    }
}

/* act_expf: exact at 0, within 2 ulp of libm's expf over the whole range,
 * finite and positive beyond it (clamped), monotonic. */
static void test_expf_accuracy(void **state)
{
    (void)state;
    assert_true(act_expf(0.0f) == 1.0f);
    float prev = 0.0f;
    int worst = 0;
    for (int i = 0; i <= 400000; i++) {
        const float x = -87.0f + 175.0f * (float)i / 400000.0f;
        const float got = act_expf(x), want = expf(x);
        int32_t a, b;
        memcpy(&a, &got, 4), memcpy(&b, &want, 4);
        const int ulp = abs(a - b);
        if (ulp > worst) worst = ulp;
        assert_true(got >= prev);
        prev = got;
    }
    print_message("act_expf: worst %d ulp over [-87, 88]\n", worst);
    assert_true(worst <= 2);
    assert_true(act_expf(1000.0f) == act_expf(88.0f) && isfinite(act_expf(1000.0f)));
    assert_true(act_expf(-1000.0f) > 0.0f && act_expf(-1000.0f) < 1e-37f);
}

static void test_norm_softmax_by_hand(void **state)
{
    (void)state;
    const float x[2] = {3.0f, 4.0f}, w[2] = {1.0f, 2.0f};
    float o[2];
    act_rmsnorm_ref(o, x, w, 2, 0.0f);
    const float inv = 1.0f / sqrtf(25.0f / 2.0f);
    assert_true(o[0] == 3.0f * inv && o[1] == 2.0f * (4.0f * inv));
    float s[3] = {0.0f, logf(3.0f), -1000.0f};
    act_softmax_ref(s, 3);
    assert_float_equal(s[0], 0.25f, 1e-6);
    assert_float_equal(s[1], 0.75f, 1e-6);
    assert_true(s[2] >= 0.0f && s[2] < 1e-30f);
    float g[3] = {0.0f, 2.0f, -30.0f}, u[3] = {5.0f, 1.0f, 1.0f};
    act_swiglu_ref(g, u, 3);
    assert_true(g[0] == 0.0f);
    assert_float_equal(g[1], 2.0f / (1.0f + expf(-2.0f)), 1e-6);
    assert_float_equal(g[2], 0.0f, 1e-10);
    /* the 16-lane order: 1e8 and -1e8 meet in lane 0 and cancel; the 1s
     * in lanes 1..15 survive (a sequential sum would lose them) */
    float v[17] = {1e8f};
    for (int i = 1; i < 16; i++)
        v[i] = 1.0f;
    v[16] = -1e8f;
    assert_true(act_sum16_ref(v, 17) == 15.0f);
}

/* rmsnorm, softmax and swiglu: every ISA equal to the reference bit for bit
 * at lengths 1..70 and the model widths, in place and out of place. */
static void test_float_kernels_every_isa(void **state)
{
    (void)state;
    static float x[3000], w[3000], u[3000], r0[3000], r1[3000];
    static const int64_t widths[] = {127, 128, 129, 255, 256, 257, 1024, 2560, 2816};
    for (int64_t i = 0; i < 3000; i++)
        x[i] = rndf(), w[i] = 1.0f + rndf() / 16.0f, u[i] = rndf();
    for (int isa = 1; isa < KERN_ISA_COUNT; isa++) {
        if (!kern_isa_supported((enum kern_isa)isa)) continue;
        const bool a2 = isa == KERN_ISA_AVX2;
        for (int64_t k = 0; k < 70 + 9; k++) {
            const int64_t n = k < 70 ? k + 1 : widths[k - 70];
            act_rmsnorm_ref(r0, x, w, n, 1e-5f);
            memset(r1, 0, sizeof r1);
            (a2 ? act_rmsnorm_avx2 : act_rmsnorm_avx512)(r1, x, w, n, 1e-5f);
            if (memcmp(r0, r1, (size_t)n * 4) || r1[n] != 0.0f)
                fail_msg("rmsnorm %s n=%lld", kern_isa_name((enum kern_isa)isa), (long long)n);
            memcpy(r0, x, sizeof r0), memcpy(r1, x, sizeof r1);
            for (int64_t i = 0; i < n; i++)
                r0[i] *= 4.0f, r1[i] *= 4.0f; /* scores over a wide range */
            act_softmax_ref(r0, n);
            (a2 ? act_softmax_avx2 : act_softmax_avx512)(r1, n);
            if (memcmp(r0, r1, sizeof r0))
                fail_msg("softmax %s n=%lld", kern_isa_name((enum kern_isa)isa), (long long)n);
            memcpy(r0, x, sizeof r0), memcpy(r1, x, sizeof r1);
            for (int64_t i = 0; i < n; i++)
                r0[i] *= 12.0f, r1[i] *= 12.0f; /* into exp's clamp */
            act_swiglu_ref(r0, u, n);
            (a2 ? act_swiglu_avx2 : act_swiglu_avx512)(r1, u, n);
            if (memcmp(r0, r1, sizeof r0))
                fail_msg("swiglu %s n=%lld", kern_isa_name((enum kern_isa)isa), (long long)n);
            memcpy(r0, x, sizeof r0), memcpy(r1, x, sizeof r1);
            act_add_ref(r0, u, n);
            (a2 ? act_add_avx2 : act_add_avx512)(r1, u, n);
            if (memcmp(r0, r1, sizeof r0)) /* and nothing past n */
                fail_msg("add %s n=%lld", kern_isa_name((enum kern_isa)isa), (long long)n);
        }
    }
    /* the residual add by hand, special values included */
    float a[4] = {1.0f, -0.0f, INFINITY, 1e30f};
    const float b[4] = {2.0f, 0.0f, -1.0f, 1e30f};
    act_add_ref(a, b, 4);
    assert_float_equal(a[0], 3.0f, 0);
    assert_true(a[1] == 0.0f && !signbit(a[1]));
    assert_true(isinf(a[2]) && a[2] > 0);
    assert_float_equal(a[3], 2e30f, 0);
}

/* RoPE by hand (a quarter turn and a half turn), then every ISA against the
 * reference bit for bit: adjacent pairs at even lengths 2..140, split pairs at
 * half-widths 1..70 (the model heads, 64 and 128 dims, among them), angles of
 * every size. */
static void test_rope_every_isa(void **state)
{
    (void)state;
    float h[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    const float cs[4] = {0.0f, 1.0f, -1.0f, 0.0f}; /* 90 and 180 degrees */
    act_rope_norm_ref(h, cs, 4);
    assert_true(h[0] == -2.0f && h[1] == 1.0f && h[2] == -3.0f && h[3] == -4.0f);
    float g[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    act_rope_neox_ref(g, cs, 2); /* pairs (1, 3) by 90, (2, 4) by 180 degrees */
    assert_true(g[0] == -3.0f && g[2] == 1.0f && g[1] == -2.0f && g[3] == -4.0f);

    static float x[300], ang[300], r0[300], r1[300];
    for (int i = 0; i < 300; i++) {
        x[i] = rndf() * 8.0f;
        const float a = (float)i * 37.0f * (1.0f + rndf()); /* positions up to ~10^4 */
        ang[i] = i % 2 ? sinf(a) : cosf(a);
    }
    for (int isa = 1; isa < KERN_ISA_COUNT; isa++) {
        if (!kern_isa_supported((enum kern_isa)isa)) continue;
        const bool a2 = isa == KERN_ISA_AVX2;
        for (int64_t half = 1; half <= 70; half++) {
            memcpy(r0, x, sizeof r0), memcpy(r1, x, sizeof r1);
            act_rope_norm_ref(r0, ang, 2 * half);
            (a2 ? act_rope_norm_avx2 : act_rope_norm_avx512)(r1, ang, 2 * half);
            if (memcmp(r0, r1, sizeof r0)) /* and nothing past 2 half */
                fail_msg("rope norm %s n=%lld", kern_isa_name((enum kern_isa)isa),
                         (long long)(2 * half));
            memcpy(r0, x, sizeof r0), memcpy(r1, x, sizeof r1);
            act_rope_neox_ref(r0, ang, half);
            (a2 ? act_rope_neox_avx2 : act_rope_neox_avx512)(r1, ang, half);
            if (memcmp(r0, r1, sizeof r0))
                fail_msg("rope neox %s half=%lld", kern_isa_name((enum kern_isa)isa),
                         (long long)half);
        }
    }
}

/* act_argmax by hand (ties keep the first, NaN never wins, +inf ties with
 * FLT_MAX), then every ISA against the reference at every length 1..70 and a
 * vocabulary's width, with the winner placed in the tail, in a tie, or
 * nowhere (all -inf / NaN). */
static void test_argmax_every_isa(void **state)
{
    (void)state;
    const float a[6] = {1.0f, 3.0f, NAN, 3.0f, -2.0f, 0.5f};
    assert_int_equal(act_argmax_ref(a, 6), 1);
    const float b[4] = {NAN, -INFINITY, NAN, -INFINITY};
    assert_int_equal(act_argmax_ref(b, 4), 0);
    const float c[4] = {FLT_MAX, 1.0f, INFINITY, 2.0f};
    assert_int_equal(act_argmax_ref(c, 4), 0); /* +inf counts as FLT_MAX: the first wins */
    const float d[3] = {-1.0f, INFINITY, FLT_MAX};
    assert_int_equal(act_argmax_ref(d, 3), 1);
    static float x[32000];
    char err[LF_ERRMSG_LEN];
    for (int isa = 0; isa < KERN_ISA_COUNT; isa++) {
        if (!kern_isa_supported((enum kern_isa)isa)) continue;
        assert_int_equal(kern_set_isa((enum kern_isa)isa, err, sizeof err), 0);
        const struct kern_ops *ops = kern_ops();
        assert_int_equal(ops->act_argmax(a, 6), 1);
        assert_int_equal(ops->act_argmax(b, 4), 0);
        assert_int_equal(ops->act_argmax(c, 4), 0);
        assert_int_equal(ops->act_argmax(d, 3), 1);
        for (int64_t k = 0; k < 71; k++) {
            const int64_t n = k < 70 ? k + 1 : 32000;
            for (int kind = 0; kind < 4; kind++) {
                for (int64_t i = 0; i < n; i++)
                    x[i] = kind == 3 ? (i % 3 ? -INFINITY : NAN) : rndf();
                if (kind == 1) x[n - 1] = 100.0f;                       /* in the tail */
                if (kind == 2) x[n / 3] = x[n - 1] = x[n / 2] = 100.0f; /* ties */
                if (kind == 2 && n > 5) x[n / 3 - 1] = NAN;             /* just before the first */
                const int64_t want = act_argmax_ref(x, n);
                if (kind == 1) assert_int_equal(want, n - 1);
                if (kind == 2) assert_int_equal(want, n / 3);
                if (kind == 3) assert_int_equal(want, 0);
                assert_int_equal(ops->act_argmax(x, n), want);
            }
        }
    }
    assert_int_equal(kern_init(err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quant_by_hand),        cmocka_unit_test(test_quant_every_isa),
        cmocka_unit_test(test_dequant_every_isa),    cmocka_unit_test(test_expf_accuracy),
        cmocka_unit_test(test_norm_softmax_by_hand), cmocka_unit_test(test_float_kernels_every_isa),
        cmocka_unit_test(test_argmax_every_isa),     cmocka_unit_test(test_rope_every_isa),
    };
    return cmocka_run_group_tests_name("act", tests, NULL, NULL);
}
