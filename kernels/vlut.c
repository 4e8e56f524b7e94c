/* vlut.c - ternary GEMM: packing, the drivers, and the scalar reference kernels.
 *
 * The problem. y[n][m] = sum_k x[n][k] * w[m][k] with w in {-1,0,+1} and x int8.
 * There are no multiplications to do, only signed additions; the question is
 * how to do as few of them as possible per weight-token pair.
 *
 * Vec-LUT (wide batches). Take g = VLUT_G = 4 consecutive activations of a
 * token, x0..x3. Whatever four trits the weights hold there, their dot product
 * with x0..x3 is one of 3^4 = 81 signed sums, so precompute all 81 once and
 * replace four multiply-adds by one table lookup. The "Vec" part: make each
 * table row a vector of VLUT_LANES = 32 int16 lanes, one per token of the
 * batch. Then one packed weight byte (the base-3 code of 4 trits) selects one
 * 64-byte table row and one vector add applies those 4 weights to 32 tokens:
 * 128 weight-token products per instruction, and the cost per token falls as
 * the batch widens.
 *
 *   code c = d0 + 3*d1 + 9*d2 + 27*d3, with d_i = w_i + 1 in {0,1,2};
 *   T[c][lane] = sum_i (d_i - 1) * x_i[lane].
 *
 * Mirror symmetry: negating all four weights maps every digit d to 2 - d, i.e.
 * c to 80 - c, so T[80 - c] = -T[c] and T[40] = 0. A table build computes rows
 * 0..40 as P[c % 9] + Q[c / 9] (P: the 9 sums over x0,x1, Q: over x2,x3) and
 * stores each row twice, once negated.
 *
 * Exactness and the flush bound. |x| <= 128 (int8 reaches -128), so
 * |T[c][lane]| <= 128 * 4 = 512 and a table fits int16. Lookups are summed in
 * int16 lanes; after L lookups the partial sum is at most 512*L in magnitude,
 * which is inside int16 while L <= floor(32767 / 512) = 63 = VLUT_FLUSH_LOOKUPS.
 * So at most 63 lookups are summed before the int16 partials are widened and
 * added to int32 accumulators (|y| <= 128*K is far from int32 limits for any
 * real K). K not a multiple of 4: the last code byte is padded with zero
 * weights (digit 1) and the gathered activations past K are zero, so padding
 * adds exactly 0. Every intermediate is therefore exact and the result equals
 * the int64 triple loop bit for bit.
 *
 * Tiling. Loop order: N-tiles of 32 tokens (outer) > K-tiles of VLUT_KT = 48
 * code groups (192 activations) > sub-tiles of VLUT_SUB = 8 groups > output
 * rows of this call's range.
 *  - Per sub-tile the driver gathers its 32 activations into xg (int16,
 *    [activation][lane], zero-padded lanes and K) and builds 8 tables (8 * 81
 *    * 64 B = 41.5 KiB, L1-resident; every output row reuses them).
 *  - The tile kernel then reads each row's 8 code bytes (one 64-bit load) and
 *    does one lookup-add per byte into int16 lanes, starting from and storing
 *    back to a per-row int16 accumulator acc16[row][32] in the workspace; at
 *    the last sub-tile of a K-tile it widens them into the int32 accumulator
 *    acc[row][32] instead. So a row holds at most VLUT_KT = 48 <= 63 lookups
 *    in int16 - the flush bound - and pays the int32 flush once per 48
 *    lookups, while its lookups hit tables in L1. (The previous design kept
 *    48 groups' tables, 243 KiB, in L2 and each row's int16 sums in
 *    registers; the L1 version is ~20-30% faster in bench_kernels here. With
 *    L1-sized K-tiles and no int16 accumulator in memory, the int32 flush
 *    every few lookups cost more than the L2 misses.)
 *  - The tiled LUT layout (vlut.h) puts a sub-tile's rows one after another,
 *    so a sub-tile pass reads its code bytes as one contiguous stream (with
 *    whole K-tiles one after another it read 8 of every 48 bytes, and each
 *    K-tile's codes went through L1 once per sub-tile).
 *  - After the last K-tile the driver transposes acc into y's token-major rows.
 *  Gathers and table builds (once per sub-tile, shared by every row and, in
 *  vlut_gemm_multi, by every matrix of the same input) and the flushes are
 *  the overheads; they shrink relative to the lookups as M grows. The full
 *  sub-tile is compiled with kt as a constant, so each lookup is a shift and
 *  one vpaddw whose displacement holds the group's table offset.
 *
 * Multiply-add (narrow batches). With N = 1..a few, a 32-lane table wastes most
 * of its lanes, so the weights are instead unpacked to bytes u = w + 1 in
 * {0,1,2} (the MAD layout puts 4 weights 64 apart in one byte so that a shift
 * and a mask yield 64 consecutive weights) and multiplied with the activations
 * as unsigned x signed bytes: vpdpbusd (AVX-512 VNNI, 4 products per int32
 * lane) or vpmaddubsw + vpmaddwd (AVX2). Since sum u*x = sum w*x + sum x, the
 * driver precomputes xsum[n] = sum_k x[n][k] and subtracts it. vpmaddubsw
 * saturates its int16 pair sums, but |u*x| <= 2*128 = 256, so a pair is at
 * most 512 in magnitude; the AVX2 kernel adds the 8 pair vectors of one
 * 256-weight block in int16 (<= 8*512 = 4096) before widening: no saturation,
 * no wrap. The activations are copied into zero-padded rows of whole blocks,
 * so padding weights (code 1) multiply zeros. On AVX-512 the same codes come
 * regrouped in 16-row panels (the PANEL layout), so that vpdpbusd multiplies
 * 16 rows by 4 broadcast activations and needs no horizontal sums
 * (vlut_panels_avx512.h); AVX2 has a panel kernel too (vpmaddubsw, 8 rows
 * per register, vlut_avx2.c), and the MAD-row kernels remain for MAD rows.
 *
 * The reference kernels below are the specification: plain loops running the
 * same algorithms (same tables, same int16 flush rule), checked against a
 * naive int64 triple loop by tests/test_vlut.c, and the SIMD files are checked
 * against both.
 */
#include "kernels/vlut.h"

#include "engine/status.h"
#include "kernels/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(VLUT_KT <= VLUT_FLUSH_LOOKUPS, "one flush per K-tile must suffice");
_Static_assert(VLUT_FLUSH_LOOKUPS == 63, "g=4: floor(32767 / 512)");
_Static_assert(VLUT_LANES * sizeof(int16_t) == 64, "a table row is one cache line");

/* Always-on check for programmer errors (STYLE rule 5). */
#define VLUT_REQUIRE(cond)                                                                         \
    do {                                                                                           \
        if (!(cond)) vlut_fail(#cond, __FILE__, __LINE__);                                         \
    } while (0)

static void vlut_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "%s:%d: vlut: requirement failed: %s\n", file, line, what);
    abort();
}

static size_t round64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

/* ---------------------------------------------------------------- packing */

int64_t vlut_lut_row_bytes(int64_t K)
{
    return (K + VLUT_G - 1) / VLUT_G;
}

int64_t vlut_mad_row_bytes(int64_t K)
{
    return (K + VLUT_MAD_BLOCK - 1) / VLUT_MAD_BLOCK * VLUT_MAD_BLOCK_BYTES;
}

int64_t vlut_panel_bytes(int64_t M, int64_t K)
{
    return (M + VLUT_PANEL_ROWS - 1) / VLUT_PANEL_ROWS * VLUT_PANEL_ROWS * vlut_mad_row_bytes(K);
}

static bool is_trit(int8_t v)
{
    return v >= -1 && v <= 1;
}

int vlut_pack_lut_row(const int8_t *w, int64_t K, uint8_t *dst)
{
    if (K < 1) return LF_ERR_INVALID;
    int64_t groups = vlut_lut_row_bytes(K);
    for (int64_t j = 0; j < groups; j++) {
        int code = 0, place = 1;
        for (int i = 0; i < VLUT_G; i++) {
            int64_t k = j * VLUT_G + i;
            int8_t v = k < K ? w[k] : 0; /* padding: zero weights */
            if (!is_trit(v)) return LF_ERR_INVALID;
            code += (v + 1) * place;
            place *= 3;
        }
        dst[j] = (uint8_t)code;
    }
    return 0;
}

int vlut_pack_lut_matrix_row(const int8_t *w, int64_t M, int64_t K, int64_t m, uint8_t *dst)
{
    if (K < 1 || M < 1 || m < 0 || m >= M) return LF_ERR_INVALID;
    const int64_t groups = vlut_lut_row_bytes(K);
    for (int64_t j0 = 0; j0 < groups; j0 += VLUT_SUB) {
        const int64_t sub = groups - j0 < VLUT_SUB ? groups - j0 : VLUT_SUB;
        const int64_t k0 = j0 * VLUT_G, n = K - k0 < sub * VLUT_G ? K - k0 : sub * VLUT_G;
        int rc = vlut_pack_lut_row(w + k0, n, dst + j0 * M + m * sub);
        if (rc) return rc;
    }
    return 0;
}

int vlut_pack_mad_row(const int8_t *w, int64_t K, uint8_t *dst)
{
    if (K < 1) return LF_ERR_INVALID;
    int64_t blocks = vlut_mad_row_bytes(K) / VLUT_MAD_BLOCK_BYTES;
    for (int64_t b = 0; b < blocks; b++) {
        for (int p = 0; p < VLUT_MAD_BLOCK_BYTES; p++) {
            unsigned byte = 0;
            for (int i = 0; i < 4; i++) {
                int64_t k = b * VLUT_MAD_BLOCK + p + 64 * i;
                int8_t v = k < K ? w[k] : 0;
                if (!is_trit(v)) return LF_ERR_INVALID;
                byte |= (unsigned)(v + 1) << (6 - 2 * i);
            }
            dst[b * VLUT_MAD_BLOCK_BYTES + p] = (uint8_t)byte;
        }
    }
    return 0;
}

int vlut_pack_panel_row(const int8_t *w, int64_t M, int64_t K, int64_t m, uint8_t *dst)
{
    if (K < 1 || M < 1 || m < 0 || m >= M) return LF_ERR_INVALID;
    const int64_t nkb = vlut_mad_row_bytes(K) / 4;
    uint8_t *p = dst + m / VLUT_PANEL_ROWS * nkb * 64 + m % VLUT_PANEL_ROWS * 4;
    for (int64_t b = 0; b < nkb && 16 * b < K; b++)
        for (int j = 0; j < 4; j++) {
            unsigned byte = 0;
            for (int q = 0; q < 4; q++) {
                const int64_t k = 16 * b + 4 * q + j;
                const int8_t v = k < K ? w[k] : 0;
                if (!is_trit(v)) return LF_ERR_INVALID;
                byte |= (unsigned)(v + 1) << (2 * q);
            }
            p[b * 64 + j] = (uint8_t)byte;
        }
    return 0;
}

int vlut_pack_panels(const int8_t *trits, int64_t M, int64_t K, uint8_t *dst)
{
    if (M < 1 || K < 1) return LF_ERR_INVALID;
    memset(dst, VLUT_PANEL_ZERO, (size_t)vlut_panel_bytes(M, K));
    for (int64_t m = 0; m < M; m++) {
        const int rc = vlut_pack_panel_row(trits + m * K, M, K, m, dst);
        if (rc < 0) return rc;
    }
    return 0;
}

int vlut_pack(const int8_t *trits, int64_t M, int64_t K, uint8_t *lut_dst, uint8_t *mad_dst)
{
    if (M < 1 || K < 1) return LF_ERR_INVALID;
    const int64_t mad_bytes = vlut_mad_row_bytes(K);
    for (int64_t m = 0; m < M; m++) {
        int rc = 0;
        if (lut_dst && (rc = vlut_pack_lut_matrix_row(trits + m * K, M, K, m, lut_dst)) < 0)
            return rc;
        if (mad_dst && (rc = vlut_pack_mad_row(trits + m * K, K, mad_dst + m * mad_bytes)) < 0)
            return rc;
    }
    return 0;
}

/* -------------------------------------------------------------- workspace */

/* LUT workspace: tables | xg | acc32 | acc16. */
#define LUT_TABLES_BYTES ((size_t)VLUT_SUB * VLUT_CODES * VLUT_LANES * sizeof(int16_t))
#define LUT_XG_BYTES ((size_t)VLUT_SUB * VLUT_G * VLUT_LANES * sizeof(int16_t))

static size_t lut_ws_size(int64_t rows)
{
    return LUT_TABLES_BYTES + LUT_XG_BYTES + round64((size_t)rows * VLUT_LANES * sizeof(int32_t)) +
           round64((size_t)rows * VLUT_LANES * sizeof(int16_t));
}

/* MAD workspace: xpad[N][xs] | xsum[N], xs = whole 256-weight blocks. */
static int64_t mad_x_stride(int64_t K)
{
    return vlut_mad_row_bytes(K) / VLUT_MAD_BLOCK_BYTES * VLUT_MAD_BLOCK;
}

static size_t mad_ws_size(int64_t N, int64_t K)
{
    return round64((size_t)(N * mad_x_stride(K))) + round64((size_t)N * sizeof(int32_t));
}

/* Where the token sums start in a MAD workspace of N rows of stride xs. */
static int32_t *mad_xsum(void *ws, int64_t N, int64_t xs)
{
    return (int32_t *)((char *)ws + round64((size_t)(N * xs)));
}

size_t vlut_workspace_size(int64_t N, int64_t K, int64_t rows)
{
    if (N < 1) N = 1;
    if (K < 1) K = 1;
    if (rows < 0) rows = 0;
    size_t a = lut_ws_size(rows), b = mad_ws_size(N, K);
    return a > b ? a : b;
}

int64_t vlut_lut_tokens(int64_t N)
{
    if (N < kern_ops()->vlut_lut_min) return 0;
    const int64_t full = N / VLUT_LANES * VLUT_LANES;
    return N - full >= kern_ops()->vlut_crossover ? N : full;
}

/* ---------------------------------------------------------------- drivers */

static void check_call(const struct vlut_weights *w, const int8_t *x, int64_t N, const int32_t *y,
                       int64_t m0, int64_t m1, const void *ws, size_t ws_size)
{
    VLUT_REQUIRE(w && x && y && ws);
    VLUT_REQUIRE(w->rows >= 1 && w->cols >= 1);
    VLUT_REQUIRE(N >= 1);
    VLUT_REQUIRE(0 <= m0 && m0 <= m1 && m1 <= w->rows);
    VLUT_REQUIRE(((uintptr_t)ws & 63) == 0);
    VLUT_REQUIRE(ws_size >= vlut_workspace_size(N, w->cols, m1 - m0));
}

void vlut_gemm_multi(const struct vlut_part *parts, int n_parts, const int8_t *x, int64_t N,
                     void *ws, size_t ws_size)
{
    VLUT_REQUIRE(n_parts >= 1 && n_parts <= VLUT_MAX_PARTS);
    const int64_t K = parts[0].w->cols;
    int64_t total = 0;
    for (int p = 0; p < n_parts; p++) {
        const struct vlut_part *q = &parts[p];
        check_call(q->w, x, N, q->y, q->m0, q->m1, ws, ws_size);
        VLUT_REQUIRE(q->w->lut != NULL && q->w->cols == K);
        total += q->m1 - q->m0;
    }
    VLUT_REQUIRE(ws_size >= vlut_workspace_size(N, K, total));
    if (total == 0) return;
    const struct kern_ops *ops = kern_ops();
    const int64_t groups = vlut_lut_row_bytes(K);
    int16_t *tables = ws;                                                     /* [SUB][81][32] */
    int16_t *xg = (int16_t *)((char *)ws + LUT_TABLES_BYTES);                 /* [SUB*4][32] */
    int32_t *acc = (int32_t *)((char *)ws + LUT_TABLES_BYTES + LUT_XG_BYTES); /* [total][32] */
    int16_t *acc16 =
        (int16_t *)((char *)acc + round64((size_t)total * VLUT_LANES * sizeof(int32_t)));

    for (int64_t n0 = 0; n0 < N; n0 += VLUT_LANES) {
        const int nt = N - n0 < VLUT_LANES ? (int)(N - n0) : VLUT_LANES;
        for (int64_t j0 = 0; j0 < groups; j0 += VLUT_KT) {
            const int kt = groups - j0 < VLUT_KT ? (int)(groups - j0) : VLUT_KT;
            for (int s0 = 0; s0 < kt; s0 += VLUT_SUB) {
                const int sub = kt - s0 < VLUT_SUB ? kt - s0 : VLUT_SUB;
                /* This sub-tile's activations as int16 [k][lane] (lanes past
                 * N and activations past K are zero), and its tables: once
                 * for every part, since they all read the same activations. */
                ops->vlut_lut_gather(x + n0 * K, K, nt, (j0 + s0) * VLUT_G, sub, xg);
                ops->vlut_lut_tables(xg, sub, tables);
                const int flags = (s0 > 0 ? VLUT_LOAD16 : 0) | (s0 + sub == kt ? VLUT_FLUSH : 0) |
                                  (j0 == 0 ? VLUT_FIRST32 : 0);
                int64_t at = 0;
                for (int p = 0; p < n_parts; p++) {
                    const struct vlut_part *q = &parts[p];
                    const int64_t rows = q->m1 - q->m0;
                    /* rows m0..m1-1 of the sub-tile, sub codes each */
                    if (rows)
                        ops->vlut_lut_tile(q->w->lut + (j0 + s0) * q->w->rows + q->m0 * sub, sub,
                                           rows, sub, tables, acc16 + at * VLUT_LANES,
                                           acc + at * VLUT_LANES, flags);
                    at += rows;
                }
            }
        }
        /* acc[row][lane] -> y[token][m] */
        int32_t *a = acc;
        for (int p = 0; p < n_parts; p++) {
            const struct vlut_part *q = &parts[p];
            const int64_t M = q->w->rows, rows = q->m1 - q->m0;
            if (rows) ops->vlut_lut_store(a, rows, nt, q->y + n0 * M + q->m0, M);
            a += rows * VLUT_LANES;
        }
    }
}

void vlut_gemm_lut(const struct vlut_weights *w, const int8_t *x, int64_t N, int32_t *y, int64_t m0,
                   int64_t m1, void *ws, size_t ws_size)
{
    const struct vlut_part part = {w, y, m0, m1};
    vlut_gemm_multi(&part, 1, x, N, ws, ws_size);
}

bool vlut_mad_direct(int64_t K)
{
    return K >= 1 && K % VLUT_MAD_BLOCK == 0;
}

struct vlut_mad_x vlut_mad_prepare(const int8_t *x, int64_t N, int64_t K, void *ws, size_t ws_size)
{
    VLUT_REQUIRE(x && ws && N >= 1 && K >= 1);
    VLUT_REQUIRE(((uintptr_t)ws & 63) == 0);
    VLUT_REQUIRE(ws_size >= mad_ws_size(N, K));
    const struct kern_ops *ops = kern_ops();
    const int64_t xs = mad_x_stride(K);
    int8_t *xpad = ws;
    int32_t *xsum = mad_xsum(ws, N, xs);
    for (int64_t t = 0; t < N; t++)
        xsum[t] = ops->vlut_mad_pad(x + t * K, K, xs, xpad + t * xs);
    return (struct vlut_mad_x){xpad, xs, xsum};
}

/* The checks every vlut_mad_run* makes of its activations. */
static void check_mad_x(const struct vlut_weights *w, const struct vlut_mad_x *a)
{
    VLUT_REQUIRE(a && a->x && a->xsum && ((uintptr_t)a->x & 63) == 0);
    VLUT_REQUIRE(a->stride % VLUT_MAD_BLOCK == 0 && a->stride >= mad_x_stride(w->cols));
}

void vlut_mad_run(const struct vlut_weights *w, int64_t N, int32_t *y, int64_t m0, int64_t m1,
                  const struct vlut_mad_x *a)
{
    VLUT_REQUIRE(w && (w->mad || w->panel) && y && N >= 1);
    VLUT_REQUIRE(0 <= m0 && m0 <= m1 && m1 <= w->rows);
    check_mad_x(w, a);
    const int64_t M = w->rows, K = w->cols, rows = m1 - m0;
    if (rows == 0) return;
    const int64_t row_bytes = vlut_mad_row_bytes(K);
    const int64_t nblocks = row_bytes / VLUT_MAD_BLOCK_BYTES;
    if (w->panel) {
        kern_ops()->vlut_mad_panels(w->panel, row_bytes / 4, m0, m1, a->x, a->stride, N, a->xsum, y,
                                    M, NULL);
        return;
    }
    kern_ops()->vlut_mad_rows(w->mad + m0 * row_bytes, row_bytes, nblocks, rows, a->x, a->stride, N,
                              a->xsum, y + m0, M);
}

void vlut_mad_run_dequant(const struct vlut_weights *w, int64_t N, const float *rs, const float *d,
                          float *y, int64_t ldy, int64_t m0, int64_t m1,
                          const struct vlut_mad_x *a)
{
    VLUT_REQUIRE(w && w->panel && rs && d && y && N >= 1);
    VLUT_REQUIRE(0 <= m0 && m0 <= m1 && m1 <= w->rows);
    check_mad_x(w, a);
    const struct vlut_epilogue ep = {rs, d, y};
    kern_ops()->vlut_mad_panels(w->panel, vlut_mad_row_bytes(w->cols) / 4, m0, m1, a->x,
                                a->stride, N, a->xsum, NULL, ldy, &ep);
}

void vlut_mad_run_dequant_at(const struct vlut_weights *w, int64_t N, const float *rs,
                             const float *d, float *y, int64_t ldy, int64_t m0, int64_t m1,
                             const struct vlut_mad_x *a)
{
    VLUT_REQUIRE(w && w->panel && rs && d && y && N >= 1);
    VLUT_REQUIRE(0 <= m0 && m0 <= m1 && m1 <= w->rows && m0 % VLUT_PANEL_ROWS == 0);
    check_mad_x(w, a);
    const int64_t nkb = vlut_mad_row_bytes(w->cols) / 4;
    /* the panels from m0's on, as if they were a matrix of m1 - m0 rows */
    const struct vlut_epilogue ep = {rs + m0, d, y};
    kern_ops()->vlut_mad_panels(w->panel + m0 / VLUT_PANEL_ROWS * nkb * 64, nkb, 0, m1 - m0, a->x,
                                a->stride, N, a->xsum, NULL, ldy, &ep);
}

void vlut_gemm_mad(const struct vlut_weights *w, const int8_t *x, int64_t N, int32_t *y, int64_t m0,
                   int64_t m1, void *ws, size_t ws_size)
{
    check_call(w, x, N, y, m0, m1, ws, ws_size);
    VLUT_REQUIRE(w->mad != NULL || w->panel != NULL);
    if (m1 == m0) return;
    const struct vlut_mad_x a = vlut_mad_prepare(x, N, w->cols, ws, ws_size);
    vlut_mad_run(w, N, y, m0, m1, &a);
}

void vlut_gemm(const struct vlut_weights *w, const int8_t *x, int64_t N, int32_t *y, int64_t m0,
               int64_t m1, void *ws, size_t ws_size)
{
    VLUT_REQUIRE(w && (w->lut || w->mad || w->panel));
    const bool mad = w->mad || w->panel;
    const int64_t nl = !mad ? N : !w->lut ? 0 : vlut_lut_tokens(N);
    if (nl > 0) vlut_gemm_lut(w, x, nl, y, m0, m1, ws, ws_size);
    if (nl < N) vlut_gemm_mad(w, x + nl * w->cols, N - nl, y + nl * w->rows, m0, m1, ws, ws_size);
}

/* ------------------------------------------------------ reference kernels */

void vlut_mad_panels_ref(const uint8_t *panels, int64_t nkb, int64_t m0, int64_t m1,
                         const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                         int32_t *y, int64_t y_stride, const struct vlut_epilogue *ep)
{
    for (int64_t r = m0; r < m1; r++) {
        const uint8_t *p = panels + r / VLUT_PANEL_ROWS * nkb * 64 + r % VLUT_PANEL_ROWS * 4;
        for (int64_t t = 0; t < n; t++) {
            const int8_t *x = xpad + t * x_stride;
            int32_t s = 0;
            for (int64_t k = 0; k < nkb * 16; k++)
                s += (p[k / 16 * 64 + k % 4] >> (2 * (k % 16 / 4)) & 3) * x[k];
            if (ep)
                ep->y[t * y_stride + r] = (float)(s - xsum[t]) * ep->rs[r] * ep->d[t];
            else
                y[t * y_stride + r] = s - xsum[t];
        }
    }
}

int32_t vlut_mad_pad_ref(const int8_t *x, int64_t K, int64_t xs, int8_t *xpad)
{
    int32_t s = 0;
    for (int64_t k = 0; k < K; k++)
        s += x[k];
    if (xpad) {
        memcpy(xpad, x, (size_t)K);
        memset(xpad + K, 0, (size_t)(xs - K));
    }
    return s;
}

void vlut_lut_gather_ref(const int8_t *x, int64_t K, int nt, int64_t k0, int kt, int16_t *xg)
{
    for (int i = 0; i < kt * VLUT_G; i++)
        for (int lane = 0; lane < VLUT_LANES; lane++)
            xg[i * VLUT_LANES + lane] = lane < nt && k0 + i < K ? x[lane * K + k0 + i] : 0;
}

void vlut_lut_store_ref(const int32_t *acc, int64_t rows, int nt, int32_t *y, int64_t ldy)
{
    for (int lane = 0; lane < nt; lane++)
        for (int64_t r = 0; r < rows; r++)
            y[lane * ldy + r] = acc[r * VLUT_LANES + lane];
}

void vlut_lut_tables_ref(const int16_t *xg, int kt, int16_t *tables)
{
    for (int j = 0; j < kt; j++) {
        const int16_t *xj = xg + j * VLUT_G * VLUT_LANES;
        int16_t *tab = tables + j * VLUT_CODES * VLUT_LANES;
        for (int c = 0; c <= VLUT_CODE_ZERO; c++) {
            int digit[VLUT_G];
            for (int i = 0, v = c; i < VLUT_G; i++, v /= 3)
                digit[i] = v % 3;
            for (int lane = 0; lane < VLUT_LANES; lane++) {
                int sum = 0;
                for (int i = 0; i < VLUT_G; i++)
                    sum += (digit[i] - 1) * xj[i * VLUT_LANES + lane];
                tab[c * VLUT_LANES + lane] = (int16_t)sum;
                tab[(VLUT_CODES - 1 - c) * VLUT_LANES + lane] = (int16_t)-sum; /* mirror */
            }
        }
    }
}

void vlut_lut_tile_ref(const uint8_t *codes, int64_t code_stride, int64_t rows, int kt,
                       const int16_t *tables, int16_t *acc16, int32_t *acc32, int flags)
{
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *cr = codes + r * code_stride;
        int16_t *a16 = acc16 + r * VLUT_LANES;
        int32_t *a32 = acc32 + r * VLUT_LANES;
        int16_t part[VLUT_LANES];
        for (int lane = 0; lane < VLUT_LANES; lane++)
            part[lane] = (flags & VLUT_LOAD16) ? a16[lane] : 0;
        for (int j = 0; j < kt; j++) {
            const int16_t *row = tables + (j * VLUT_CODES + cr[j]) * VLUT_LANES;
            for (int lane = 0; lane < VLUT_LANES; lane++)
                part[lane] = (int16_t)(part[lane] + row[lane]); /* exact: see flush bound */
        }
        for (int lane = 0; lane < VLUT_LANES; lane++) {
            if (!(flags & VLUT_FLUSH))
                a16[lane] = part[lane];
            else if (flags & VLUT_FIRST32)
                a32[lane] = part[lane];
            else
                a32[lane] += part[lane];
        }
    }
}

void vlut_mad_rows_ref(const uint8_t *codes, int64_t code_stride, int64_t nblocks, int64_t rows,
                       const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                       int32_t *y, int64_t y_stride)
{
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *cr = codes + r * code_stride;
        for (int64_t t = 0; t < n; t++) {
            const int8_t *xt = xpad + t * x_stride;
            int32_t sum = 0;
            for (int64_t b = 0; b < nblocks; b++) {
                for (int p = 0; p < VLUT_MAD_BLOCK_BYTES; p++) {
                    unsigned byte = cr[b * VLUT_MAD_BLOCK_BYTES + p];
                    for (int i = 0; i < 4; i++) {
                        int u = (int)(byte >> (6 - 2 * i)) & 3; /* w + 1 */
                        sum += u * xt[b * VLUT_MAD_BLOCK + p + 64 * i];
                    }
                }
            }
            y[t * y_stride + r] = sum - xsum[t];
        }
    }
}
