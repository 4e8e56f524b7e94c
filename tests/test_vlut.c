/* test_vlut.c - ternary GEMM: packing, ISA selection, and bit-exactness of every
 * kernel on every ISA this CPU runs, against a naive int64 triple loop.
 *
 * Shapes: K in {3,4,5,255,256,257,640,2560,6912,6913} (around g=4, the 256-weight
 * MAD block and the K-tile of 32 groups, and BitNet-2B's 2560/6912). For
 * M in {1,15,16,17} every N in 1..70 runs on the SIMD paths; for M in
 * {640,2560} a spread of N. The scalar reference ISA, being slow, runs fewer
 * (see check_shape; it is itself the spec the SIMD code mirrors, and the
 * naive loop checks it too). One X of 70 tokens serves every
 * N: the result for N tokens is the first N rows of the result for 70.
 */
#include "tests/testutil.h"

#include "engine/status.h"
#include "kernels/kernels.h"
#include "kernels/act.h"
#include "kernels/vlut.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_N 70

static const int64_t k_list[] = {3, 4, 5, 255, 256, 257, 640, 2560, 6912, 6913};
#define N_K (sizeof k_list / sizeof k_list[0])
static const int64_t n_spread[] = {1, 2, 3, 7, 31, 32, 33, 63, 64, 65, 70};
#define N_SPREAD (sizeof n_spread / sizeof n_spread[0])

/* ------------------------------------------------------------ helpers */

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static void fill_trits(int8_t *w, int64_t n, uint64_t seed)
{
    uint64_t s = seed | 1;
    for (int64_t i = 0; i < n; i++)
        w[i] = (int8_t)((int)(rng_next(&s) >> 33) % 3 - 1);
}

static void fill_acts(int8_t *x, int64_t n, uint64_t seed)
{
    uint64_t s = seed | 1;
    for (int64_t i = 0; i < n; i++)
        x[i] = (int8_t)(rng_next(&s) >> 56); /* full -128..127 */
}

/* The specification of the whole module: y[n][m] = sum_k x[n][k] * w[m][k] in
 * int64, checked to fit int32. Its indexing is trivially in bounds, so it is
 * left out of AddressSanitizer's checks to keep the ASan run short. */
__attribute__((no_sanitize_address)) static void
naive_gemm(const int8_t *w, const int8_t *x, int64_t M, int64_t K, int64_t N, int32_t *y)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++) {
            int64_t s = 0;
            for (int64_t k = 0; k < K; k++)
                s += (int64_t)x[n * K + k] * w[m * K + k];
            assert_true(s >= INT32_MIN && s <= INT32_MAX);
            y[n * M + m] = (int32_t)s;
        }
}

/* A packed matrix in all three layouts, owning its bytes. */
struct packed {
    struct vlut_weights w;
    uint8_t *lut, *mad, *panel;
};

static void pack_both(struct packed *p, const int8_t *trits, int64_t M, int64_t K)
{
    p->lut = malloc((size_t)(M * vlut_lut_row_bytes(K)));
    p->mad = malloc((size_t)(M * vlut_mad_row_bytes(K)));
    p->panel = aligned_alloc(64, (size_t)vlut_panel_bytes(M, K));
    assert_non_null(p->lut);
    assert_non_null(p->mad);
    assert_non_null(p->panel);
    assert_int_equal(vlut_pack(trits, M, K, p->lut, p->mad), 0);
    assert_int_equal(vlut_pack_panels(trits, M, K, p->panel), 0);
    p->w = (struct vlut_weights){
        .rows = M, .cols = K, .lut = p->lut, .mad = p->mad, .panel = p->panel};
}

static void packed_free(struct packed *p)
{
    free(p->lut);
    free(p->mad);
    free(p->panel);
}

struct wsbuf {
    void *p;
    size_t size;
};

static void ws_alloc(struct wsbuf *ws, int64_t N, int64_t K, int64_t rows)
{
    ws->size = (vlut_workspace_size(N, K, rows) + 63) & ~(size_t)63;
    ws->p = aligned_alloc(64, ws->size);
    assert_non_null(ws->p);
}

/* The multiply-add kernel over MAD rows and over PANELs (vlut_gemm_mad
 * reads the panels when they are present), and vlut_gemm over all three. */
enum which { USE_LUT, USE_MAD, USE_PANEL, USE_GEMM };
static const char *const which_name[] = {"lut", "mad", "panel", "gemm"};

/* Whether `k` is worth running on the selected ISA: where the PANEL kernel
 * is the scalar reference (the AVX2 set has none of its own) it is tested
 * under the reference ISA alone, at that ISA's sparser widths. */
static bool runs_here(enum which k)
{
    return k != USE_PANEL || kern_ops()->vlut_mad_panels != vlut_mad_panels_ref ||
           kern_isa() == KERN_ISA_REF;
}

static void run(enum which k, const struct vlut_weights *w, const int8_t *x, int64_t N, int32_t *y,
                int64_t m0, int64_t m1, const struct wsbuf *ws)
{
    struct vlut_weights v = *w;
    switch (k) {
    case USE_LUT:
        vlut_gemm_lut(w, x, N, y, m0, m1, ws->p, ws->size);
        break;
    case USE_MAD:
        v.panel = NULL;
        vlut_gemm_mad(&v, x, N, y, m0, m1, ws->p, ws->size);
        break;
    case USE_PANEL:
        v.mad = NULL;
        vlut_gemm_mad(&v, x, N, y, m0, m1, ws->p, ws->size);
        break;
    case USE_GEMM:
        vlut_gemm(w, x, N, y, m0, m1, ws->p, ws->size);
        break;
    }
}

/* Compare the first N rows; on mismatch say where, then fail. */
static void expect_equal(const int32_t *got, const int32_t *want, int64_t N, int64_t M,
                         const char *what, int64_t K)
{
    for (int64_t i = 0; i < N * M; i++) {
        if (got[i] != want[i]) {
            print_error("%s isa=%s M=%lld K=%lld N=%lld: y[n=%lld][m=%lld] = %d, want %d\n", what,
                        kern_isa_name(kern_isa()), (long long)M, (long long)K, (long long)N,
                        (long long)(i / M), (long long)(i % M), got[i], want[i]);
            fail();
        }
    }
}

static void set_isa(enum kern_isa isa)
{
    char err[LF_ERRMSG_LEN];
    assert_int_equal(kern_set_isa(isa, err, sizeof err), 0);
}

/* For one (M, K): random W and X, the naive result for 70 tokens, then every
 * supported ISA x {lut, mad} x the chosen N values. */
static void check_shape(int64_t M, int64_t K, bool every_n, bool ref_small)
{
    int8_t *w = malloc((size_t)(M * K));
    int8_t *x = malloc((size_t)(MAX_N * K));
    int32_t *want = malloc((size_t)(MAX_N * M) * sizeof(int32_t));
    int32_t *y = malloc((size_t)(MAX_N * M) * sizeof(int32_t));
    assert_true(w && x && want && y);
    fill_trits(w, M * K, (uint64_t)(M * 1000003 + K));
    fill_acts(x, MAX_N * K, (uint64_t)(K * 7919 + M));
    naive_gemm(w, x, M, K, MAX_N, want);
    struct packed p;
    pack_both(&p, w, M, K);
    struct wsbuf ws;
    ws_alloc(&ws, MAX_N, K, M);

    for (int isa = 0; isa < KERN_ISA_COUNT; isa++) {
        if (!kern_isa_supported((enum kern_isa)isa)) continue;
        set_isa((enum kern_isa)isa);
        const bool slow = isa == KERN_ISA_REF;
        for (int k = USE_LUT; k <= USE_PANEL; k++) {
            if (!runs_here((enum which)k)) continue;
            int64_t count = every_n && !slow ? MAX_N : (int64_t)N_SPREAD;
            for (int64_t i = 0; i < count; i++) {
                int64_t N = every_n && !slow ? i + 1 : n_spread[i];
                /* The scalar reference: N in {1,3,32,33,70} at small M; at
                 * large M, N in {1,33} and K up to 2560 (it has K = 6912/6913
                 * at small M and in the worst-case test). */
                if (slow && !ref_small && N != 1 && N != 3 && N != 32 && N != 33 && N != 70)
                    continue;
                if (slow && ref_small && ((N != 1 && N != 33) || K > 2560)) continue;
                memset(y, 0x5a, (size_t)(N * M) * sizeof(int32_t));
                run((enum which)k, &p.w, x, N, y, 0, M, &ws);
                expect_equal(y, want, N, M, which_name[k], K);
            }
        }
    }
    set_isa(kern_isa_best());
    free(ws.p);
    packed_free(&p);
    free(y);
    free(want);
    free(x);
    free(w);
}

/* ------------------------------------------------------------- tests */

static void test_isa_parse_and_env(void **state)
{
    (void)state;
    char err[LF_ERRMSG_LEN];
    enum kern_isa isa = KERN_ISA_COUNT;
    assert_int_equal(kern_isa_parse("ref", &isa, err, sizeof err), 0);
    assert_int_equal(isa, KERN_ISA_REF);
    assert_int_equal(kern_isa_parse("AVX2", &isa, err, sizeof err), 0);
    assert_int_equal(isa, KERN_ISA_AVX2);
    assert_int_equal(kern_isa_parse("avx512", &isa, err, sizeof err), 0);
    assert_int_equal(isa, KERN_ISA_AVX512);
    assert_int_equal(kern_isa_parse("sse4", &isa, err, sizeof err), LF_ERR_INVALID);
    assert_non_null(strstr(err, "sse4"));
    assert_int_equal(kern_isa_parse("", &isa, err, sizeof err), LF_ERR_INVALID);
    assert_string_equal(kern_isa_name(KERN_ISA_AVX512), "avx512");
    assert_string_equal(kern_isa_name(KERN_ISA_COUNT), "?");

    /* The environment variable. */
    assert_int_equal(setenv("LUTFUSE_ISA", "bogus", 1), 0);
    assert_int_equal(kern_init(err, sizeof err), LF_ERR_INVALID);
    assert_non_null(strstr(err, "LUTFUSE_ISA"));
    assert_int_equal(setenv("LUTFUSE_ISA", "ref", 1), 0);
    assert_int_equal(kern_init(err, sizeof err), 0);
    assert_int_equal(kern_isa(), KERN_ISA_REF);
    assert_int_equal(kern_ops()->isa, KERN_ISA_REF);
    assert_true(kern_ops()->vlut_lut_tile == vlut_lut_tile_ref);
    if (kern_isa_supported(KERN_ISA_AVX2)) {
        assert_int_equal(setenv("LUTFUSE_ISA", "Avx2", 1), 0);
        assert_int_equal(kern_init(err, sizeof err), 0);
        assert_int_equal(kern_isa(), KERN_ISA_AVX2);
        assert_true(kern_ops()->vlut_mad_rows == vlut_mad_rows_avx2);
    }
    /* An ISA the CPU lacks is refused and leaves the table alone. */
    for (int i = 0; i < KERN_ISA_COUNT; i++) {
        if (kern_isa_supported((enum kern_isa)i)) continue;
        enum kern_isa before = kern_isa();
        assert_int_equal(setenv("LUTFUSE_ISA", kern_isa_name((enum kern_isa)i), 1), 0);
        assert_int_equal(kern_init(err, sizeof err), LF_ERR_UNSUPPORTED);
        assert_int_equal(kern_isa(), before);
        assert_int_equal(kern_set_isa((enum kern_isa)i, err, sizeof err), LF_ERR_UNSUPPORTED);
    }
    assert_int_equal(kern_set_isa(KERN_ISA_COUNT, err, sizeof err), LF_ERR_INVALID);
    assert_int_equal(unsetenv("LUTFUSE_ISA"), 0);
    assert_int_equal(kern_init(err, sizeof err), 0);
    assert_int_equal(kern_isa(), kern_isa_best());
    /* This project's machines have AVX-512 VNNI: make sure the best path is
     * actually being tested there. */
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw"))
        assert_int_equal(kern_isa_best(), KERN_ISA_AVX512);
}

static void test_pack_hand_computed(void **state)
{
    (void)state;
    /* LUT code = sum (w_i + 1) 3^i. */
    const int8_t w4[4] = {-1, 0, 1, 1};
    uint8_t lut[2];
    assert_int_equal(vlut_lut_row_bytes(4), 1);
    assert_int_equal(vlut_pack_lut_row(w4, 4, lut), 0);
    assert_int_equal(lut[0], 0 + 1 * 3 + 2 * 9 + 2 * 27); /* 75 */
    /* K = 5: the second byte holds w4 and three zero-weight pads. */
    const int8_t w5[5] = {1, -1, 0, 0, -1};
    assert_int_equal(vlut_lut_row_bytes(5), 2);
    assert_int_equal(vlut_pack_lut_row(w5, 5, lut), 0);
    assert_int_equal(lut[0], 2 + 0 * 3 + 1 * 9 + 1 * 27); /* 38 */
    assert_int_equal(lut[1], 0 + 1 * 3 + 1 * 9 + 1 * 27); /* 39 */
    const int8_t zeros[4] = {0, 0, 0, 0};
    assert_int_equal(vlut_pack_lut_row(zeros, 4, lut), 0);
    assert_int_equal(lut[0], VLUT_CODE_ZERO);

    /* MAD: byte p of a block = (w[p]+1)<<6 | (w[p+64]+1)<<4 | (w[p+128]+1)<<2 | (w[p+192]+1). */
    uint8_t mad[128];
    assert_int_equal(vlut_mad_row_bytes(5), 64);
    assert_int_equal(vlut_mad_row_bytes(257), 128);
    assert_int_equal(vlut_pack_mad_row(w5, 5, mad), 0);
    assert_int_equal(mad[0], (2 << 6) | (1 << 4) | (1 << 2) | 1); /* 149 */
    assert_int_equal(mad[1], (0 << 6) | 0x15);                    /* 21 */
    assert_int_equal(mad[4], (0 << 6) | 0x15);
    assert_int_equal(mad[5], 0x55); /* all padding */
    int8_t w257[257];
    memset(w257, 0, sizeof w257);
    w257[64] = 1;
    w257[199] = -1;
    w257[256] = 1;
    assert_int_equal(vlut_pack_mad_row(w257, 257, mad), 0);
    assert_int_equal(mad[0], (1 << 6) | (2 << 4) | (1 << 2) | 1);
    assert_int_equal(mad[7], (1 << 6) | (1 << 4) | (1 << 2) | 0);
    assert_int_equal(mad[64], (2 << 6) | 0x15);
    assert_int_equal(mad[65], 0x55);

    /* The tiled matrix layout: 3 rows of K = 4 * (2 * VLUT_SUB + 2) weights
     * make two full sub-tiles of VLUT_SUB codes per row, at bytes 0 and
     * VLUT_SUB * 3, and a last one of 2 codes per row at byte 2 * VLUT_SUB * 3.
     * Row m's weights: group j all equal to ((m + j) % 3) - 1, so its code j
     * is 0, 40 or 80. */
    enum { M3 = 3, G3 = 2 * VLUT_SUB + 2, K3 = 4 * G3 };
    static int8_t w3[M3 * K3];
    static uint8_t tiled[M3 * G3];
    for (int m = 0; m < M3; m++)
        for (int k = 0; k < K3; k++)
            w3[m * K3 + k] = (int8_t)((m + k / 4) % 3 - 1);
    assert_int_equal(vlut_pack(w3, M3, K3, tiled, NULL), 0);
    for (int m = 0; m < M3; m++)
        for (int j = 0; j < G3; j++) {
            const int s = j / VLUT_SUB * VLUT_SUB, sub = j < 2 * VLUT_SUB ? VLUT_SUB : 2;
            const int at = s * M3 + m * sub + (j - s);
            assert_int_equal(tiled[at], 40 * ((m + j) % 3));
        }
    assert_int_equal(vlut_pack_lut_matrix_row(w3, M3, K3, M3, tiled), LF_ERR_INVALID);

    /* Not a trit, bad shape. */
    const int8_t bad[4] = {0, 2, 0, 0};
    assert_int_equal(vlut_pack_lut_row(bad, 4, lut), LF_ERR_INVALID);
    assert_int_equal(vlut_pack_mad_row(bad, 4, mad), LF_ERR_INVALID);
    assert_int_equal(vlut_pack(bad, 1, 4, lut, NULL), LF_ERR_INVALID);
    assert_int_equal(vlut_pack(w4, 0, 4, lut, mad), LF_ERR_INVALID);
    assert_int_equal(vlut_pack_lut_row(w4, 0, lut), LF_ERR_INVALID);
}

/* A tiny product worked by hand: K = 5 (one padded code group). */
static void test_tiny_hand_computed(void **state)
{
    (void)state;
    const int8_t w[2 * 5] = {1, -1, 0, 0, -1, /* row 0 */ 1, 1, 1, 1, 1};
    const int8_t x[2 * 5] = {10, 20, 30, 40, 50, /* token 1 */ -128, 127, -128, 0, 1};
    /* y[0][0] = 10-20-50 = -60; y[0][1] = 150; y[1][0] = -128-127-1 = -256;
     * y[1][1] = -128. */
    const int32_t want[4] = {-60, 150, -256, -128};
    struct packed p;
    pack_both(&p, w, 2, 5);
    struct wsbuf ws;
    ws_alloc(&ws, 2, 5, 2);
    for (int isa = 0; isa < KERN_ISA_COUNT; isa++) {
        if (!kern_isa_supported((enum kern_isa)isa)) continue;
        set_isa((enum kern_isa)isa);
        for (int k = USE_LUT; k <= USE_GEMM; k++) {
            int32_t y[4] = {0};
            run((enum which)k, &p.w, x, 2, y, 0, 2, &ws);
            expect_equal(y, want, 2, 2, which_name[k], 5);
        }
    }
    set_isa(kern_isa_best());
    free(ws.p);
    packed_free(&p);
}

static void test_small_m_every_k_every_n(void **state)
{
    (void)state;
    static const int64_t ms[] = {1, 15, 16, 17};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        for (size_t j = 0; j < N_K; j++)
            check_shape(ms[i], k_list[j], true, false);
}

static void test_large_m_every_k_spread_n(void **state)
{
    (void)state;
    static const int64_t ms[] = {640, 2560};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        for (size_t j = 0; j < N_K; j++)
            check_shape(ms[i], k_list[j], false, true);
}

/* Extremes at the deepest K: every table entry at +-512 and every int16
 * partial at the flush bound's worst case. Tokens: all +127, all -128,
 * alternating +127/-128, alternating -128/+127. Rows: all +1, all -1,
 * checkerboard +1/-1, the opposite checkerboard, all 0. */
static void test_worst_case_no_overflow(void **state)
{
    (void)state;
    static const int64_t ks[] = {6912, 6913};
    enum { NT = 4, NR = 5 };
    for (size_t ki = 0; ki < 2; ki++) {
        const int64_t K = ks[ki];
        int8_t *x = malloc((size_t)(NT * K)), *w = malloc((size_t)(NR * K));
        int32_t want[NT * NR], y[NT * NR];
        assert_true(x && w);
        for (int64_t k = 0; k < K; k++) {
            x[0 * K + k] = 127;
            x[1 * K + k] = -128;
            x[2 * K + k] = (k & 1) ? -128 : 127;
            x[3 * K + k] = (k & 1) ? 127 : -128;
            w[0 * K + k] = 1;
            w[1 * K + k] = -1;
            w[2 * K + k] = (k & 1) ? -1 : 1;
            w[3 * K + k] = (k & 1) ? 1 : -1;
            w[4 * K + k] = 0;
        }
        naive_gemm(w, x, NR, K, NT, want);
        /* Hand-checked corners of the int64 reference. */
        assert_int_equal(want[0 * NR + 0], 127 * K);
        assert_int_equal(want[1 * NR + 1], 128 * K);
        assert_int_equal(want[1 * NR + 0], -128 * K);
        const int64_t even = (K + 1) / 2, odd = K / 2;
        assert_int_equal(want[2 * NR + 2], 127 * even + 128 * odd);
        assert_int_equal(want[3 * NR + 2], -128 * even - 127 * odd);
        assert_int_equal(want[2 * NR + 4], 0);
        struct packed p;
        pack_both(&p, w, NR, K);
        struct wsbuf ws;
        ws_alloc(&ws, NT, K, NR);
        for (int isa = 0; isa < KERN_ISA_COUNT; isa++) {
            if (!kern_isa_supported((enum kern_isa)isa)) continue;
            set_isa((enum kern_isa)isa);
            for (int k = USE_LUT; k <= USE_PANEL; k++) {
                memset(y, 0, sizeof y);
                run((enum which)k, &p.w, x, NT, y, 0, NR, &ws);
                expect_equal(y, want, NT, NR, which_name[k], K);
            }
        }
        set_isa(kern_isa_best());
        free(ws.p);
        packed_free(&p);
        free(w);
        free(x);
    }
}

/* The multiply-add driver's row padding: every ISA copies the row, zeroes
 * the padding up to xs and returns the row's exact sum, at awkward lengths
 * and at both extremes (all -128: the most negative sum); with no xpad, the
 * same sum alone (the forward pass's rows read in place). */
static void test_mad_pad(void **state)
{
    (void)state;
    static const int64_t ks[] = {1, 3, 31, 32, 33, 63, 64, 65, 255, 256, 257, 6912, 6913};
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
        const int64_t K = ks[ki], xs = vlut_mad_row_bytes(K) * 4;
        int8_t *x = malloc((size_t)K), *pad = aligned_alloc(64, (size_t)xs + 64);
        assert_true(x && pad);
        for (int fill = 0; fill < 3; fill++) {
            int32_t want = 0;
            for (int64_t k = 0; k < K; k++) {
                x[k] = fill == 0 ? (int8_t)-128 : fill == 1 ? 127 : (int8_t)(k * 37 % 256 - 128);
                want += x[k];
            }
            if (fill == 0) assert_int_equal(want, -128 * K);
            for (int isa = 0; isa < KERN_ISA_COUNT; isa++) {
                if (!kern_isa_supported((enum kern_isa)isa)) continue;
                set_isa((enum kern_isa)isa);
                memset(pad, 0x5a, (size_t)xs + 64);
                assert_int_equal(kern_ops()->vlut_mad_pad(x, K, xs, pad), want);
                assert_memory_equal(pad, x, (size_t)K);
                for (int64_t k = K; k < xs; k++)
                    assert_int_equal(pad[k], 0);
                assert_int_equal((uint8_t)pad[xs], 0x5a); /* nothing past xs */
                assert_int_equal(kern_ops()->vlut_mad_pad(x, K, K, NULL), want);
            }
        }
        set_isa(kern_isa_best());
        free(pad);
        free(x);
    }
}

/* Covering [0,M) with row ranges (as a thread pool would) gives the result
 * of one call, and never writes outside the range. */
static void test_row_ranges(void **state)
{
    (void)state;
    const int64_t M = 640, K = 2561, N = 37;
    static const int64_t cuts[] = {0, 1, 17, 33, 320, 321, 639, 640};
    int8_t *w = malloc((size_t)(M * K)), *x = malloc((size_t)(N * K));
    int32_t *whole = malloc((size_t)(N * M) * sizeof(int32_t));
    int32_t *parts = malloc((size_t)(N * M) * sizeof(int32_t));
    assert_true(w && x && whole && parts);
    fill_trits(w, M * K, 99);
    fill_acts(x, N * K, 98);
    struct packed p;
    pack_both(&p, w, M, K);
    struct wsbuf ws;
    ws_alloc(&ws, N, K, M);
    for (int isa = 0; isa < KERN_ISA_COUNT; isa++) {
        if (!kern_isa_supported((enum kern_isa)isa)) continue;
        set_isa((enum kern_isa)isa);
        for (int k = USE_LUT; k <= USE_PANEL; k++) {
            run((enum which)k, &p.w, x, N, whole, 0, M, &ws);
            memset(parts, 0x77, (size_t)(N * M) * sizeof(int32_t));
            for (size_t c = 0; c + 1 < sizeof cuts / sizeof cuts[0]; c++) {
                const int64_t m0 = cuts[c], m1 = cuts[c + 1];
                run((enum which)k, &p.w, x, N, parts, m0, m1, &ws);
                /* Columns at and past m1 are untouched so far. */
                for (int64_t n = 0; n < N; n++)
                    for (int64_t m = m1; m < M; m++)
                        assert_int_equal(parts[n * M + m], 0x77777777);
            }
            run((enum which)k, &p.w, x, N, parts, 5, 5, &ws); /* empty range: no-op */
            expect_equal(parts, whole, N, M, which_name[k], K);
        }
    }
    /* And the result itself is right (checked once, on the best ISA). */
    set_isa(kern_isa_best());
    int32_t *want = malloc((size_t)(N * M) * sizeof(int32_t));
    assert_non_null(want);
    naive_gemm(w, x, M, K, N, want);
    expect_equal(whole, want, N, M, "mad(range)", K);
    free(want);
    free(ws.p);
    packed_free(&p);
    free(parts);
    free(whole);
    free(x);
    free(w);
}

/* The PANEL layout byte by byte (vlut.h) on a 2 x 5 matrix: quarter q of
 * byte 4r+j is the code w+1 of row r, column 4q+j; padding is code 1. */
static void test_pack_panels_hand_computed(void **state)
{
    (void)state;
    const int8_t w[2 * 5] = {1, -1, 0, 0, -1, /* row 1 */ 1, 1, 1, 1, 1};
    const int64_t bytes = vlut_panel_bytes(2, 5);
    assert_int_equal(bytes, 16 * 64); /* one panel of one 256-column block */
    assert_int_equal(vlut_panel_bytes(17, 257), 32 * 128);
    uint8_t *p = malloc((size_t)bytes);
    assert_non_null(p);
    assert_int_equal(vlut_pack_panels(w, 2, 5, p), 0);
    /* row 0: codes 2,0,1,1 | 0 at columns 0-4; row 1: 2 at columns 0-4 */
    const uint8_t head[8] = {2 | 0 << 2 | 1 << 4 | 1 << 6,
                             0 | 1 << 2 | 1 << 4 | 1 << 6,
                             0x55,
                             0x55,
                             2 | 2 << 2 | 1 << 4 | 1 << 6,
                             2 | 1 << 2 | 1 << 4 | 1 << 6,
                             2 | 1 << 2 | 1 << 4 | 1 << 6,
                             2 | 1 << 2 | 1 << 4 | 1 << 6};
    assert_memory_equal(p, head, sizeof head);
    for (int64_t i = 8; i < bytes; i++)
        assert_int_equal(p[i], VLUT_PANEL_ZERO);
    const int8_t bad[4] = {0, 2, 0, 0};
    assert_int_equal(vlut_pack_panels(bad, 1, 4, p), LF_ERR_INVALID);
    assert_int_equal(vlut_pack_panel_row(w, 2, 5, 2, p), LF_ERR_INVALID); /* row past M */
    free(p);
}

typedef void (*panels_fn)(const uint8_t *, int64_t, int64_t, int64_t, const int8_t *, int64_t,
                          int64_t, const int32_t *, int32_t *, int64_t,
                          const struct vlut_epilogue *);

/* One PANEL kernel on M x K (random trits and activations, or every
 * activation `worst` and every weight `wsign`) at every N in ns, over row
 * ranges that start and end inside panels, with the int32 results and with
 * the float epilogue (equal to act_dequant of the int32 results, bit for
 * bit), against the definition; outputs outside the range stay untouched. */
static void panel_case(panels_fn fn, const char *name, int64_t M, int64_t K, const int64_t *ns,
                       size_t n_ns, int worst, int wsign)
{
    const int64_t nkb = vlut_mad_row_bytes(K) / 4, xs = nkb * 16;
    int64_t nmax = 0;
    for (size_t i = 0; i < n_ns; i++)
        nmax = ns[i] > nmax ? ns[i] : nmax;
    int8_t *w = malloc((size_t)(M * K)), *x = malloc((size_t)(nmax * K));
    int8_t *xpad = aligned_alloc(64, (size_t)(nmax * xs));
    uint8_t *pan = aligned_alloc(64, (size_t)vlut_panel_bytes(M, K));
    int32_t *want = malloc((size_t)(nmax * M) * sizeof(int32_t));
    int32_t *y = malloc((size_t)(nmax * M) * sizeof(int32_t));
    float *fwant = malloc((size_t)(nmax * M) * sizeof(float));
    float *fy = malloc((size_t)(nmax * M) * sizeof(float));
    float *rs = malloc((size_t)M * sizeof(float));
    int32_t *xsum = malloc((size_t)nmax * sizeof(int32_t));
    float *xsc = malloc((size_t)nmax * sizeof(float)), *d = malloc((size_t)nmax * sizeof(float));
    assert_true(w && x && xpad && pan && want && y && fwant && fy && rs && xsum && xsc && d);
    if (worst) {
        memset(w, wsign, (size_t)(M * K));
        memset(x, worst, (size_t)(nmax * K));
    } else {
        fill_trits(w, M * K, (uint64_t)(M * 131 + K));
        fill_acts(x, nmax * K, (uint64_t)(K * 29 + M));
    }
    naive_gemm(w, x, M, K, nmax, want);
    assert_int_equal(vlut_pack_panels(w, M, K, pan), 0);
    for (int64_t t = 0; t < nmax; t++) {
        xsum[t] = vlut_mad_pad_ref(x + t * K, K, xs, xpad + t * xs);
        xsc[t] = 3.0f + (float)t * 0.37f;
        d[t] = 0.5f / xsc[t];
    }
    for (int64_t r = 0; r < M; r++)
        rs[r] = 0.75f + (float)r / 128.0f;
    act_dequant_ref(want, M, nmax, 0, M, rs, xsc, 0.5f, fwant, M);
    const int64_t cuts[][2] = {{0, M}, {M / 3, M}, {1, M - M / 4}, {M - 1, M}};
    for (size_t ni = 0; ni < n_ns; ni++)
        for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
            const int64_t N = ns[ni], m0 = cuts[c][0], m1 = cuts[c][1];
            memset(y, 0x5a, (size_t)(nmax * M) * sizeof(int32_t));
            memset(fy, 0x5a, (size_t)(nmax * M) * sizeof(float));
            fn(pan, nkb, m0, m1, xpad, xs, N, xsum, y, M, NULL);
            const struct vlut_epilogue ep = {rs, d, fy};
            fn(pan, nkb, m0, m1, xpad, xs, N, xsum, NULL, M, &ep);
            for (int64_t t = 0; t < nmax; t++)
                for (int64_t r = 0; r < M; r++) {
                    const bool in = t < N && r >= m0 && r < m1;
                    const int32_t wi = in ? want[t * M + r] : 0x5a5a5a5a;
                    float wf;
                    memset(&wf, 0x5a, sizeof wf);
                    if (in) wf = fwant[t * M + r];
                    if (y[t * M + r] != wi || memcmp(&fy[t * M + r], &wf, sizeof wf))
                        fail_msg("panels %s M=%lld K=%lld N=%lld rows [%lld,%lld) worst %d: "
                                 "y[%lld][%lld]"
                                 " = %d (%g), want %d (%g)",
                                 name, (long long)M, (long long)K, (long long)N, (long long)m0,
                                 (long long)m1, worst, (long long)t, (long long)r, y[t * M + r],
                                 (double)fy[t * M + r], wi, (double)wf);
                }
        }
    free(d);
    free(xsc);
    free(xsum);
    free(rs);
    free(fy);
    free(fwant);
    free(y);
    free(want);
    free(pan);
    free(xpad);
    free(x);
    free(w);
}

/* Every PANEL kernel this CPU runs - the reference, the AVX2 one, the
 * AVX-512 one with shift unpacking and, with GFNI, the GFNI one - at every
 * narrow width, both sides of the 6- and 8-token tiles and of the 3- and
 * 4-panel groups (panel_case), and at the worst case. */
static void test_panel_kernels(void **state)
{
    (void)state;
    panels_fn fns[4] = {vlut_mad_panels_ref, NULL, NULL, NULL};
    const char *names[4] = {"ref", "avx2", "avx512", "gfni"};
    if (kern_isa_supported(KERN_ISA_AVX2)) fns[1] = vlut_mad_panels_avx2;
    if (kern_isa_supported(KERN_ISA_AVX512)) {
        fns[2] = vlut_mad_panels_avx512;
        if (__builtin_cpu_supports("gfni")) fns[3] = vlut_mad_panels_gfni;
    }
    static const int64_t ms[] = {1, 17, 33, 100};
    static const int64_t ks[] = {3, 257, 2560};
    static const int64_t ns[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 17};
    for (int f = 0; f < 4; f++)
        for (size_t mi = 0; fns[f] && mi < sizeof ms / sizeof *ms; mi++)
            for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
                panel_case(fns[f], names[f], ms[mi], ks[ki], ns, sizeof ns / sizeof *ns, 0, 0);
    /* Issue 3's worst case at K = 6912, every weight +1 or -1 and every
     * activation 127 or -128: with u = w + 1 = 2 and x = -128 the AVX2
     * kernel's int16 superblock sums reach -32768 exactly. */
    static const int64_t worst_ns[] = {1, 2, 6, 7};
    static const int worst_x[] = {127, -128}, worst_w[] = {1, -1};
    for (int f = 0; f < 4; f++)
        for (int a = 0; fns[f] && a < 2; a++)
            for (int b = 0; b < 2; b++)
                panel_case(fns[f], names[f], 40, 6912, worst_ns, 4, worst_x[a], worst_w[b]);
}

/* The AMX tile kernel (only where the CPU has AMX and Linux grants it):
 * every N of a 16-token tile and a 32-token pair both sides of their edges
 * and of the 64-token accumulator group, K both sides of a 64-column chunk,
 * of a 1,024-column segment and of a 256-column block, M with odd last
 * panels and rows cut inside panels; then the worst case of issue 3
 * (K = 6912, every weight +1 or -1, every activation 127 or -128), where
 * each sum is +-884,736 (or 877,824) and sum x * (w + 1) reaches 1,769,472.
 * Bit-exact int32s, and floats equal to act_dequant of them. */
static void test_panel_amx(void **state)
{
    (void)state;
    if (!kern_amx_usable()) {
        printf("# no AMX on this CPU (or not granted): the tile kernel is not run\n");
        return;
    }
    static const int64_t ns[] = {1, 2, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 70, 97, 130};
    static const int64_t ms[] = {1, 17, 33, 100};
    static const int64_t ks[] = {3, 64, 65, 257, 1024, 1025, 2560, 6913};
    for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
        for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
            panel_case(vlut_mad_panels_amx, "amx", ms[mi], ks[ki], ns, sizeof ns / sizeof *ns, 0,
                       0);
    static const int64_t wide[] = {16, 33, 64};
    panel_case(vlut_mad_panels_amx, "amx", 40, 6912, wide, 3, 127, 1);
    panel_case(vlut_mad_panels_amx, "amx", 40, 6912, wide, 3, -128, 1);
    panel_case(vlut_mad_panels_amx, "amx", 40, 6912, wide, 3, 127, -1);
    panel_case(vlut_mad_panels_amx, "amx", 40, 6912, wide, 3, -128, -1);
    /* the table's entry: narrow batches through the GFNI kernel, the same sums */
    const int64_t M = 33, K = 257, nkb = vlut_mad_row_bytes(K) / 4, xs = nkb * 16;
    int8_t w[33 * 257], x[40 * 257];
    int8_t *xpad = aligned_alloc(64, (size_t)(40 * xs));
    uint8_t *pan = aligned_alloc(64, (size_t)vlut_panel_bytes(M, K));
    assert_true(xpad && pan);
    fill_trits(w, M * K, 5);
    fill_acts(x, 40 * K, 6);
    int32_t want[40 * 33], y[40 * 33], xsum[40];
    naive_gemm(w, x, M, K, 40, want);
    assert_int_equal(vlut_pack_panels(w, M, K, pan), 0);
    for (int64_t t = 0; t < 40; t++)
        xsum[t] = vlut_mad_pad_ref(x + t * K, K, xs, xpad + t * xs);
    for (int64_t N = 1; N <= 40; N++) {
        vlut_mad_panels_amx_wide(pan, nkb, 0, M, xpad, xs, N, xsum, y, M, NULL);
        assert_memory_equal(y, want, (size_t)(N * M) * sizeof(int32_t));
    }
    free(pan);
    free(xpad);
}

/* vlut_gemm_multi: three matrices of one K (640, 17 and 160 rows, like q, k
 * and v), each part a row range, in one call sharing the tables, equal to
 * three separate calls and to the definition, on every ISA, at N on both
 * sides of a 32-lane tile. */
static void test_multi_parts(void **state)
{
    (void)state;
    const int64_t K = 1025, Ms[3] = {640, 17, 160};
    static const int64_t Ns[] = {18, 32, 33, 70};
    int8_t *w[3], *x = malloc((size_t)(70 * K));
    struct packed p[3];
    int32_t *want[3], *got[3];
    fill_acts(x, 70 * K, 7);
    for (int i = 0; i < 3; i++) {
        w[i] = malloc((size_t)(Ms[i] * K));
        fill_trits(w[i], Ms[i] * K, 40 + (uint64_t)i);
        pack_both(&p[i], w[i], Ms[i], K);
        want[i] = malloc((size_t)(70 * Ms[i]) * sizeof(int32_t));
        got[i] = malloc((size_t)(70 * Ms[i]) * sizeof(int32_t));
    }
    struct wsbuf ws;
    ws_alloc(&ws, 70, K, 640 + 17 + 160);
    for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++) {
        const int64_t N = Ns[ni];
        for (int i = 0; i < 3; i++)
            naive_gemm(w[i], x, Ms[i], K, N, want[i]);
        for (int isa = 0; isa < KERN_ISA_COUNT; isa++) {
            if (!kern_isa_supported((enum kern_isa)isa)) continue;
            set_isa((enum kern_isa)isa);
            /* rows [m0, m1) of each part, as a thread of two would take them */
            for (int half = 0; half < 2; half++) {
                struct vlut_part parts[3];
                for (int i = 0; i < 3; i++) {
                    const int64_t cut = Ms[i] / 32 * 16;
                    parts[i] =
                        (struct vlut_part){&p[i].w, got[i], half ? cut : 0, half ? Ms[i] : cut};
                }
                vlut_gemm_multi(parts, 3, x, N, ws.p, ws.size);
            }
            for (int i = 0; i < 3; i++)
                expect_equal(got[i], want[i], N, Ms[i], "multi", K);
        }
    }
    set_isa(kern_isa_best());
    for (int i = 0; i < 3; i++) {
        packed_free(&p[i]);
        free(w[i]), free(want[i]), free(got[i]);
    }
    free(ws.p);
    free(x);
}

/* vlut_gemm follows the crossover when both layouts exist, and uses the one
 * present otherwise. Per ISA: below vlut_lut_min the multiply-add kernel
 * takes everything (AVX-512: every width; AVX2: 128; ref: 0); above it whole 32-token
 * tiles go to the LUT and a remainder too if it reaches the crossover. */
static void test_gemm_picks_layout(void **state)
{
    (void)state;
    for (int isa = 0; isa < KERN_ISA_COUNT; isa++) {
        if (!kern_isa_supported((enum kern_isa)isa)) continue;
        set_isa((enum kern_isa)isa);
        const int64_t c = kern_ops()->vlut_crossover, L = kern_ops()->vlut_lut_min;
        if (isa == KERN_ISA_AVX512) {
            assert_int_equal(L, VLUT_LUT_NEVER);
            static const int64_t ns[] = {1, 31, 32, 64, 70, 512, 100000};
            for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
                assert_int_equal(vlut_lut_tokens(ns[i]), 0);
            continue;
        }
        assert_int_equal(L, isa == KERN_ISA_AVX2 ? VLUT_LUT_MIN_AVX2 : VLUT_LUT_MIN_REF);
        if (isa == KERN_ISA_AVX2) assert_int_equal(vlut_lut_tokens(127), 0); /* decode widths */
        assert_int_equal(vlut_lut_tokens(1), 0);
        if (L > 0) assert_int_equal(vlut_lut_tokens(L - 1), 0);
        if (L <= c) {
            assert_int_equal(vlut_lut_tokens(c - 1), 0);
            assert_int_equal(vlut_lut_tokens(c), c);
        }
        const int64_t b = L > 32 ? L : 32; /* the first width with a LUT tile */
        assert_int_equal(vlut_lut_tokens(b), b);
        assert_int_equal(vlut_lut_tokens(b + 1), b); /* one token past a tile: MAD */
        assert_int_equal(vlut_lut_tokens(b + c - 1), b);
        assert_int_equal(vlut_lut_tokens(b + c), b + c);
        assert_int_equal(vlut_lut_tokens(b + 32), b + 32);
    }
    set_isa(kern_isa_best());
    const int64_t M = 17, K = 300;
    int8_t *w = malloc((size_t)(M * K)), *x = malloc((size_t)(MAX_N * K));
    int32_t *want = malloc((size_t)(MAX_N * M) * sizeof(int32_t));
    int32_t *y = malloc((size_t)(MAX_N * M) * sizeof(int32_t));
    assert_true(w && x && want && y);
    fill_trits(w, M * K, 5);
    fill_acts(x, MAX_N * K, 6);
    naive_gemm(w, x, M, K, MAX_N, want);
    struct packed p;
    pack_both(&p, w, M, K);
    struct wsbuf ws;
    ws_alloc(&ws, MAX_N, K, M);
    const struct vlut_weights lut_only = {.rows = M, .cols = K, .lut = p.lut, .mad = NULL};
    const struct vlut_weights mad_only = {.rows = M, .cols = K, .lut = NULL, .mad = p.mad};
    const struct vlut_weights panel_only = {.rows = M, .cols = K, .panel = p.panel};
    static const int64_t ns[] = {1, 4, 17, 18, 25, 26, 33, 57, 58, 70};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        const int64_t N = ns[i];
        vlut_gemm(&lut_only, x, N, y, 0, M, ws.p, ws.size);
        expect_equal(y, want, N, M, "gemm(lut only)", K);
        vlut_gemm(&mad_only, x, N, y, 0, M, ws.p, ws.size);
        expect_equal(y, want, N, M, "gemm(mad only)", K);
        vlut_gemm(&panel_only, x, N, y, 0, M, ws.p, ws.size);
        expect_equal(y, want, N, M, "gemm(panel only)", K);
        vlut_gemm(&p.w, x, N, y, 0, M, ws.p, ws.size);
        expect_equal(y, want, N, M, "gemm", K);
    }
    free(ws.p);
    packed_free(&p);
    free(y);
    free(want);
    free(x);
    free(w);
}

/* vlut_tune_decide on hand-made times: the narrowest width from which the
 * LUT took at most VLUT_TUNE_MARGIN of the multiply-add time at it and at
 * every wider one. */
static void test_tune_decide(void **state)
{
    (void)state;
    static const int w[3] = {64, 128, 256};
    static const double mad[3] = {1.0, 2.0, 4.0};
    static const struct {
        double lut[3];
        int want;
    } cases[] = {
        {{1.0, 1.6, 2.0}, 128},                /* 64 a tie; 128, 256 faster */
        {{0.5, 2.0, 2.0}, 256},                /* faster at 64, not at 128 */
        {{0.9, 1.8, 3.6}, 64},                 /* exactly at the margin */
        {{0.91, 1.81, 3.61}, VLUT_LUT_NEVER},  /* just outside it */
        {{0.1, 0.1, 3.7}, VLUT_LUT_NEVER},     /* the widest must win too */
        {{1.5, 3.0, 6.0}, VLUT_LUT_NEVER},     /* slower everywhere */
        {{0.5, 0.5, NAN}, VLUT_LUT_NEVER},     /* a failed timing never picks the LUT */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        assert_int_equal(vlut_tune_decide(w, cases[i].lut, mad, 3), cases[i].want);
    assert_int_equal(vlut_tune_decide(w, cases[0].lut, mad, 0), VLUT_LUT_NEVER);
}

/* kern_tune: LUTFUSE_LUT_MIN forces the width (or never), a malformed
 * value is refused and leaves the table alone, and "auto" measures on the
 * SIMD ISAs - its choice the one vlut_tune_decide gives for the speeds it
 * reports - while the reference ISA keeps its built-in 0. */
static void test_tune(void **state)
{
    (void)state;
    char err[LF_ERRMSG_LEN];
    set_isa(kern_isa_best());
    const int builtin = kern_ops()->vlut_lut_min;
    assert_non_null(strstr(kern_tune_describe(), "built-in"));
    static const char *bad[] = {"x", "12x", "-1", "1048577", "99999999999999999999", " 64"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(setenv("LUTFUSE_LUT_MIN", bad[i], 1), 0);
        assert_int_equal(kern_tune(err, sizeof err), LF_ERR_INVALID);
        assert_non_null(strstr(err, "LUTFUSE_LUT_MIN"));
        assert_int_equal(kern_ops()->vlut_lut_min, builtin);
    }
    assert_int_equal(setenv("LUTFUSE_LUT_MIN", "96", 1), 0);
    assert_int_equal(kern_tune(err, sizeof err), 0);
    assert_int_equal(kern_ops()->vlut_lut_min, 96);
    assert_int_equal(vlut_lut_tokens(95), 0);
    assert_int_equal(vlut_lut_tokens(96), 96);
    assert_string_equal(kern_tune_describe(), "Vec-LUT kernel from 96 tokens (LUTFUSE_LUT_MIN)");
    assert_int_equal(setenv("LUTFUSE_LUT_MIN", "Never", 1), 0);
    assert_int_equal(kern_tune(err, sizeof err), 0);
    assert_int_equal(kern_ops()->vlut_lut_min, VLUT_LUT_NEVER);
    assert_int_equal(vlut_lut_tokens(100000), 0);
    /* kern_set_isa goes back to the built-in choice */
    set_isa(KERN_ISA_REF);
    assert_int_equal(kern_ops()->vlut_lut_min, VLUT_LUT_MIN_REF);
    assert_int_equal(setenv("LUTFUSE_LUT_MIN", "auto", 1), 0);
    assert_int_equal(kern_tune(err, sizeof err), 0);
    assert_int_equal(kern_ops()->vlut_lut_min, VLUT_LUT_MIN_REF);
    assert_int_equal(unsetenv("LUTFUSE_LUT_MIN"), 0);
    for (int isa = KERN_ISA_AVX2; isa < KERN_ISA_COUNT; isa++) {
        if (!kern_isa_supported((enum kern_isa)isa)) continue;
        set_isa((enum kern_isa)isa);
        struct vlut_tune t;
        assert_int_equal(vlut_tune_measure(&t, err, sizeof err), 0);
        double lut_s[VLUT_TUNE_WIDTHS], mad_s[VLUT_TUNE_WIDTHS];
        for (int i = 0; i < VLUT_TUNE_WIDTHS; i++) {
            assert_int_equal(t.widths[i], 64 << i);
            assert_true(t.lut_gmacs[i] > 0 && t.mad_gmacs[i] > 0);
            lut_s[i] = 1.0 / t.lut_gmacs[i], mad_s[i] = 1.0 / t.mad_gmacs[i];
        }
        assert_int_equal(t.lut_min, vlut_tune_decide(t.widths, lut_s, mad_s, VLUT_TUNE_WIDTHS));
        print_message("%s: LUT/MAD GMAC/s N=64 %.0f/%.0f, 128 %.0f/%.0f, 256 %.0f/%.0f\n",
                      kern_isa_name((enum kern_isa)isa), t.lut_gmacs[0], t.mad_gmacs[0],
                      t.lut_gmacs[1], t.mad_gmacs[1], t.lut_gmacs[2], t.mad_gmacs[2]);
        assert_int_equal(kern_tune(err, sizeof err), 0);
        assert_non_null(strstr(kern_tune_describe(), "measured at start"));
        const int L = kern_ops()->vlut_lut_min;
        assert_true(L == VLUT_LUT_NEVER || L == 64 || L == 128 || L == 256);
    }
    set_isa(kern_isa_best());
}

static void test_workspace_size_grows(void **state)
{
    (void)state;
    /* Enough for one sub-tile's LUT tables plus an int32 and an int16
     * accumulator row per output row, and for N zero-padded activation rows
     * of whole MAD blocks. */
    const size_t tables = (size_t)VLUT_SUB * VLUT_CODES * VLUT_LANES * 2;
    assert_true(vlut_workspace_size(1, 4, 100) >= tables + 100 * VLUT_LANES * (4 + 2));
    assert_true(vlut_workspace_size(64, 6913, 1) >= 64 * 7168);
    assert_true(vlut_workspace_size(8, 2560, 2560) > vlut_workspace_size(8, 2560, 1280));
}

int main(void)
{
    char err[LF_ERRMSG_LEN];
    if (kern_init(err, sizeof err) < 0) {
        fprintf(stderr, "kern_init: %s\n", err);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_isa_parse_and_env),
        cmocka_unit_test(test_pack_hand_computed),
        cmocka_unit_test(test_tiny_hand_computed),
        cmocka_unit_test(test_workspace_size_grows),
        cmocka_unit_test(test_gemm_picks_layout),
        cmocka_unit_test(test_tune_decide),
        cmocka_unit_test(test_tune),
        cmocka_unit_test(test_row_ranges),
        cmocka_unit_test(test_pack_panels_hand_computed),
        cmocka_unit_test(test_panel_kernels),
        cmocka_unit_test(test_panel_amx),
        cmocka_unit_test(test_multi_parts),
        cmocka_unit_test(test_worst_case_no_overflow),
        cmocka_unit_test(test_mad_pad),
        cmocka_unit_test(test_small_m_every_k_every_n),
        cmocka_unit_test(test_large_m_every_k_spread_n),
    };
    return cmocka_run_group_tests_name("vlut", tests, NULL, NULL);
}
