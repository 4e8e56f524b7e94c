/* vlut_avx512.c - AVX-512 (BW + VNNI) versions of the ternary GEMM pieces.
 *
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni (and
 * the AVX2 flags); reached only through kern_ops() after kern_init() checked
 * the CPU. One table row of VLUT_LANES = 32 int16 is exactly one zmm register,
 * so a Vec-LUT lookup is one vpaddw with a memory operand. The algorithms, the
 * layouts and the overflow bounds are explained at the top of vlut.c; the
 * contracts are in vlut.h.
 */
#include "kernels/vlut.h"

#include <immintrin.h>

_Static_assert(VLUT_LANES == 32, "one zmm of int16 per table row");

void vlut_lut_tables_avx512(const int16_t *xg, int kt, int16_t *tables)
{
    const __m512i zero = _mm512_setzero_si512();
    for (int j = 0; j < kt; j++) {
        const int16_t *xj = xg + j * VLUT_G * VLUT_LANES;
        int16_t *tab = tables + j * VLUT_CODES * VLUT_LANES;
        const __m512i a = _mm512_loadu_si512(xj + 0 * VLUT_LANES);
        const __m512i b = _mm512_loadu_si512(xj + 1 * VLUT_LANES);
        const __m512i c = _mm512_loadu_si512(xj + 2 * VLUT_LANES);
        const __m512i d = _mm512_loadu_si512(xj + 3 * VLUT_LANES);
        /* P[e] = (e%3 - 1)*a + (e/3 - 1)*b, Q[f] likewise over c, d. */
        const __m512i apb = _mm512_add_epi16(a, b), amb = _mm512_sub_epi16(a, b);
        const __m512i cpd = _mm512_add_epi16(c, d), cmd = _mm512_sub_epi16(c, d);
        const __m512i P[9] = {
            _mm512_sub_epi16(zero, apb),
            _mm512_sub_epi16(zero, b),
            amb,
            _mm512_sub_epi16(zero, a),
            zero,
            a,
            _mm512_sub_epi16(zero, amb),
            b,
            apb,
        };
        const __m512i Q[5] = {
            _mm512_sub_epi16(zero, cpd),
            _mm512_sub_epi16(zero, d),
            cmd,
            _mm512_sub_epi16(zero, c),
            zero,
        };
        /* Rows 0..40 are P[c%9] + Q[c/9]; row 80-c is the negation. */
#pragma GCC unroll 41
        for (int code = 0; code <= VLUT_CODE_ZERO; code++) {
            const __m512i t = _mm512_add_epi16(P[code % 9], Q[code / 9]);
            _mm512_store_si512(tab + code * VLUT_LANES, t);
            _mm512_store_si512(tab + (VLUT_CODES - 1 - code) * VLUT_LANES,
                               _mm512_sub_epi16(zero, t));
        }
    }
}

/* The lookup: table row code of group j, as one zmm. */
static inline __m512i lut_row(const int16_t *tables, int j, const uint8_t *cr)
{
    /* Group base plus code offset, kept apart so that with j constant the base
     * becomes the load's displacement. */
    const int16_t *group = tables + (int64_t)j * VLUT_CODES * VLUT_LANES;
    return _mm512_load_si512(group + (int64_t)cr[j] * VLUT_LANES);
}

/* One K-tile over all rows; kt is a compile-time constant when called for a
 * full tile (the common case), so the group offsets j*81*64 fold into the
 * load's displacement and each lookup is movzx + shift + vpaddw. */
static inline __attribute__((always_inline)) void lut_tile(const uint8_t *codes,
                                                           int64_t code_stride, int64_t rows,
                                                           const int kt, const int16_t *tables,
                                                           int32_t *acc, bool first)
{
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *cr = codes + r * code_stride;
        int32_t *ar = acc + r * VLUT_LANES;
        /* Two int16 chains for instruction-level parallelism; together they
         * hold kt <= VLUT_FLUSH_LOOKUPS lookups, so neither can overflow. */
        __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
        int j = 0;
#pragma GCC unroll 32
        for (; j + 2 <= kt; j += 2) {
            s0 = _mm512_add_epi16(s0, lut_row(tables, j + 0, cr));
            s1 = _mm512_add_epi16(s1, lut_row(tables, j + 1, cr));
        }
        if (j < kt) s0 = _mm512_add_epi16(s0, lut_row(tables, j, cr));
        const __m512i s = _mm512_add_epi16(s0, s1);
        /* Flush: widen 32 int16 to 2 x 16 int32. */
        __m512i lo = _mm512_cvtepi16_epi32(_mm512_castsi512_si256(s));
        __m512i hi = _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(s, 1));
        if (!first) {
            lo = _mm512_add_epi32(lo, _mm512_load_si512(ar));
            hi = _mm512_add_epi32(hi, _mm512_load_si512(ar + 16));
        }
        _mm512_store_si512(ar, lo);
        _mm512_store_si512(ar + 16, hi);
    }
}

void vlut_lut_tile_avx512(const uint8_t *codes, int64_t code_stride, int64_t rows, int kt,
                          const int16_t *tables, int32_t *acc, bool first)
{
    if (kt == VLUT_KT)
        lut_tile(codes, code_stride, rows, VLUT_KT, tables, acc, first);
    else
        lut_tile(codes, code_stride, rows, kt, tables, acc, first);
}

/* MAD: one row x nb tokens (nb <= 4, a compile-time constant after
 * inlining). Four accumulators per token (one per 64-weight quarter of a
 * block) keep the vpdpbusd dependency chains short. */
static inline __attribute__((always_inline)) void mad_row_block(const uint8_t *cr, int64_t nblocks,
                                                                const int8_t *x0, int64_t x_stride,
                                                                const int nb, const int32_t *xsum,
                                                                int32_t *y, int64_t y_stride)
{
    const __m512i mask = _mm512_set1_epi8(3);
    __m512i acc[4][4];
#pragma GCC unroll 4
    for (int t = 0; t < nb; t++)
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            acc[t][i] = _mm512_setzero_si512();
    for (int64_t b = 0; b < nblocks; b++) {
        const __m512i v = _mm512_loadu_si512(cr + b * VLUT_MAD_BLOCK_BYTES);
        /* u[i] = weights b*256 + 64*i + (0..63), each w+1 in {0,1,2}. The
         * 16-bit shift drags bits across byte boundaries; the mask drops them. */
        const __m512i u[4] = {
            _mm512_and_si512(_mm512_srli_epi16(v, 6), mask),
            _mm512_and_si512(_mm512_srli_epi16(v, 4), mask),
            _mm512_and_si512(_mm512_srli_epi16(v, 2), mask),
            _mm512_and_si512(v, mask),
        };
#pragma GCC unroll 4
        for (int t = 0; t < nb; t++) {
            const int8_t *xt = x0 + t * x_stride + b * VLUT_MAD_BLOCK;
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
                acc[t][i] = _mm512_dpbusd_epi32(acc[t][i], u[i], _mm512_load_si512(xt + 64 * i));
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < nb; t++) {
        const __m512i s = _mm512_add_epi32(_mm512_add_epi32(acc[t][0], acc[t][1]),
                                           _mm512_add_epi32(acc[t][2], acc[t][3]));
        y[t * y_stride] = _mm512_reduce_add_epi32(s) - xsum[t];
    }
}

void vlut_mad_rows_avx512(const uint8_t *codes, int64_t code_stride, int64_t nblocks, int64_t rows,
                          const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                          int32_t *y, int64_t y_stride)
{
    /* Rows outer so that a row's codes stay in L1 across token blocks. */
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *cr = codes + r * code_stride;
        for (int64_t t0 = 0; t0 < n; t0 += 4) {
            const int8_t *x0 = xpad + t0 * x_stride;
            int32_t *yt = y + t0 * y_stride + r;
            switch (n - t0 < 4 ? n - t0 : 4) {
            case 1:
                mad_row_block(cr, nblocks, x0, x_stride, 1, xsum + t0, yt, y_stride);
                break;
            case 2:
                mad_row_block(cr, nblocks, x0, x_stride, 2, xsum + t0, yt, y_stride);
                break;
            case 3:
                mad_row_block(cr, nblocks, x0, x_stride, 3, xsum + t0, yt, y_stride);
                break;
            default:
                mad_row_block(cr, nblocks, x0, x_stride, 4, xsum + t0, yt, y_stride);
                break;
            }
        }
    }
}
