/* vlut_avx512.c - AVX-512 (BW + VNNI) versions of the ternary GEMM pieces.
 *
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni (and
 * the AVX2 flags); reached only through kern_ops() after kern_init() checked
 * the CPU. One table row of VLUT_LANES = 32 int16 is exactly one zmm register,
 * so a Vec-LUT lookup is one vpaddw with a memory operand. The algorithms, the
 * layouts and the overflow bounds are explained at the top of vlut.c; the
 * contracts are in vlut.h.
 */
#include "kernels/avx512_util.h"
#include "kernels/vlut.h"

#include <immintrin.h>
#include <string.h>

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

/* Sign-extended byte i (0..3) of each int32 lane. */
static inline __m512i byte_of(__m512i v, int i)
{
    return _mm512_srai_epi32(_mm512_slli_epi32(v, 24 - 8 * i), 24);
}

void vlut_lut_gather_avx512(const int8_t *x, int64_t K, int nt, int64_t k0, int kt, int16_t *xg)
{
    const __m512i lane_off =
        _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                           _mm512_set1_epi32((int)K));
    const __m512i half_off = _mm512_add_epi32(lane_off, _mm512_set1_epi32((int)(16 * K)));
    const __mmask16 m_lo = nt >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nt) - 1);
    const __mmask16 m_hi = nt >= 32   ? (__mmask16)0xffff
                           : nt <= 16 ? 0
                                      : (__mmask16)((1u << (nt - 16)) - 1);
    int j = 0;
    /* Whole groups inside the row: one 4-byte gather per token gives its 4
     * activations of the group (lanes 0-15, then 16-31). */
    for (; j < kt && k0 + 4 * j + 4 <= K; j++) {
        const int8_t *base = x + k0 + 4 * j;
        const __m512i g0 =
            _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m_lo, lane_off, base, 1);
        const __m512i g1 =
            _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m_hi, half_off, base, 1);
        int16_t *dst = xg + 4 * j * VLUT_LANES;
        for (int i = 0; i < 4; i++) {
            const __m256i lo = _mm512_cvtepi32_epi16(byte_of(g0, i)),
                          hi = _mm512_cvtepi32_epi16(byte_of(g1, i));
            _mm512_store_si512(dst + i * VLUT_LANES,
                               _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
        }
    }
    /* A group reaching past K (the row's last one) and the padding groups. */
    for (int i = 4 * j; i < 4 * kt; i++)
        for (int lane = 0; lane < VLUT_LANES; lane++)
            xg[i * VLUT_LANES + lane] = lane < nt && k0 + i < K ? x[lane * K + k0 + i] : 0;
}

/* Transpose 16 x 16 int32 in place: v[i] lane j <-> v[j] lane i. */
static inline __attribute__((always_inline)) void transpose16(__m512i v[16])
{
    __m512i t[16], u[16];
#pragma GCC unroll 16
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]);
    }
/* u[4g + e], 128-bit lane L: element 4L+e of rows 4g..4g+3 */
#pragma GCC unroll 16
    for (int g = 0; g < 4; g++) {
        u[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
#pragma GCC unroll 16
    for (int e = 0; e < 4; e++) {
        const __m512i p = _mm512_shuffle_i32x4(u[e], u[4 + e], 0x44);
        const __m512i q = _mm512_shuffle_i32x4(u[e], u[4 + e], 0xEE);
        const __m512i p2 = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0x44);
        const __m512i q2 = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0xEE);
        v[0 + e] = _mm512_shuffle_i32x4(p, p2, 0x88);
        v[4 + e] = _mm512_shuffle_i32x4(p, p2, 0xDD);
        v[8 + e] = _mm512_shuffle_i32x4(q, q2, 0x88);
        v[12 + e] = _mm512_shuffle_i32x4(q, q2, 0xDD);
    }
}

void vlut_lut_store_avx512(const int32_t *acc, int64_t rows, int nt, int32_t *y, int64_t ldy)
{
    for (int h = 0; h < 2 && 16 * h < nt; h++) { /* lanes 0-15, 16-31 */
        const int lanes = nt - 16 * h < 16 ? nt - 16 * h : 16;
        for (int64_t r0 = 0; r0 < rows; r0 += 16) {
            const int nr = rows - r0 < 16 ? (int)(rows - r0) : 16;
            const __mmask16 k = nr == 16 ? (__mmask16)0xffff : (__mmask16)((1u << nr) - 1);
            __m512i v[16];
            for (int i = 0; i < 16; i++)
                v[i] = i < nr ? _mm512_load_si512(acc + (r0 + i) * VLUT_LANES + 16 * h)
                              : _mm512_setzero_si512();
            transpose16(v);
            for (int l = 0; l < lanes; l++)
                _mm512_mask_storeu_epi32(y + (16 * h + l) * ldy + r0, k, v[l]);
        }
    }
}

/* One sub-tile over all rows (kt a compile-time constant for full
 * sub-tiles): a row's kt code bytes come in as one 64-bit load and are
 * taken apart by shifts, so each lookup is one vpaddw with a memory
 * operand into one of two int16 chains. */
static inline __attribute__((always_inline)) void
lut_tile(const uint8_t *codes, int64_t code_stride, int64_t rows, const int kt,
         const int16_t *tables, int16_t *acc16, int32_t *acc32, int flags)
{
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *cr = codes + r * code_stride;
        __m512i s0 = (flags & VLUT_LOAD16) ? _mm512_load_si512(acc16 + r * VLUT_LANES)
                                           : _mm512_setzero_si512();
        __m512i s1 = _mm512_setzero_si512();
        uint64_t w8 = 0;
        if (kt == VLUT_SUB) memcpy(&w8, cr, 8);
#pragma GCC unroll 8
        for (int j = 0; j < kt; j++) {
            const int code = kt == VLUT_SUB ? (int)((w8 >> (8 * j)) & 0xff) : cr[j];
            /* group base + code offset: with j constant the base is the
             * load's displacement */
            const __m512i t = _mm512_load_si512(tables + (int64_t)j * VLUT_CODES * VLUT_LANES +
                                                (int64_t)code * VLUT_LANES);
            if (j & 1)
                s1 = _mm512_add_epi16(s1, t);
            else
                s0 = _mm512_add_epi16(s0, t);
        }
        const __m512i sum = _mm512_add_epi16(s0, s1);
        if (!(flags & VLUT_FLUSH)) {
            _mm512_store_si512(acc16 + r * VLUT_LANES, sum);
            continue;
        }
        /* Flush: widen 32 int16 to 2 x 16 int32. */
        int32_t *ar = acc32 + r * VLUT_LANES;
        __m512i lo = _mm512_cvtepi16_epi32(_mm512_castsi512_si256(sum));
        __m512i hi = _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(sum, 1));
        if (!(flags & VLUT_FIRST32)) {
            lo = _mm512_add_epi32(lo, _mm512_load_si512(ar));
            hi = _mm512_add_epi32(hi, _mm512_load_si512(ar + 16));
        }
        _mm512_store_si512(ar, lo);
        _mm512_store_si512(ar + 16, hi);
    }
}

void vlut_lut_tile_avx512(const uint8_t *codes, int64_t code_stride, int64_t rows, int kt,
                          const int16_t *tables, int16_t *acc16, int32_t *acc32, int flags)
{
    if (kt == VLUT_SUB)
        lut_tile(codes, code_stride, rows, VLUT_SUB, tables, acc16, acc32, flags);
    else
        lut_tile(codes, code_stride, rows, kt, tables, acc16, acc32, flags);
}

/* The four quarters of a MAD block by masks alone: quarter i of byte p
 * (weight 64i + p) sits in bits 6-2i..7-2i, so v & mask[i] is 4^(3-i)*(w+1)
 * <= 128, still an unsigned byte for vpdpbusd. */
struct quarters {
    __m512i mask[4];
};
static inline __attribute__((always_inline)) struct quarters quarter_masks(void)
{
    return (struct quarters){{_mm512_set1_epi8((char)0xC0), _mm512_set1_epi8(0x30),
                              _mm512_set1_epi8(0x0C), _mm512_set1_epi8(0x03)}};
}
/* Lane sums of the four quarters' accumulators with their factors undone:
 * every product in acc[i] is a multiple of 4^(3-i), so the arithmetic
 * shifts are exact. */
static inline __attribute__((always_inline)) __m512i quarters_sum(const __m512i acc[4])
{
    return _mm512_add_epi32(
        _mm512_add_epi32(_mm512_srai_epi32(acc[0], 6), _mm512_srai_epi32(acc[1], 4)),
        _mm512_add_epi32(_mm512_srai_epi32(acc[2], 2), acc[3]));
}

/* MAD: one row x nb tokens (nb <= 4, a compile-time constant after
 * inlining). Four accumulators per token, one per 64-weight quarter of a
 * block (quarter_masks), which keeps the vpdpbusd dependency chains short
 * and needs no unpacking shifts. */
static inline __attribute__((always_inline)) void mad_row_block(const uint8_t *cr, int64_t nblocks,
                                                                const int8_t *x0, int64_t x_stride,
                                                                const int nb, const int32_t *xsum,
                                                                int32_t *y, int64_t y_stride)
{
    const struct quarters qm = quarter_masks();
    __m512i acc[4][4];
#pragma GCC unroll 4
    for (int t = 0; t < nb; t++)
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            acc[t][i] = _mm512_setzero_si512();
    for (int64_t b = 0; b < nblocks; b++) {
        const __m512i v = _mm512_loadu_si512(cr + b * VLUT_MAD_BLOCK_BYTES);
        __m512i u[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            u[i] = _mm512_and_si512(v, qm.mask[i]);
#pragma GCC unroll 4
        for (int t = 0; t < nb; t++) {
            const int8_t *xt = x0 + t * x_stride + b * VLUT_MAD_BLOCK;
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
                acc[t][i] = dpbusd(acc[t][i], u[i], _mm512_load_si512(xt + 64 * i));
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < nb; t++) {
        y[t * y_stride] = _mm512_reduce_add_epi32(quarters_sum(acc[t])) - xsum[t];
    }
}

/* MAD for one token: rows in groups of 16, four rows at a time (16
 * accumulators: 4 rows x 4 quarters, as in mad_row_block), each row's
 * quarters combined into one vector, and the 16 rows' vectors reduced
 * together by one transpose-add tree instead of a horizontal sum per row.
 * Rows past the end repeat the last row and are not stored. */
static void mad_one_token(const uint8_t *codes, int64_t code_stride, int64_t nblocks, int64_t rows,
                          const int8_t *x, int32_t xsum, int32_t *y)
{
    const struct quarters qm = quarter_masks();
    for (int64_t r0 = 0; r0 < rows; r0 += 16) {
        __m512i sv[16];
        for (int g = 0; g < 4; g++) {
            const uint8_t *cr[4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                const int64_t row = r0 + 4 * g + r;
                cr[r] = codes + (row < rows ? row : rows - 1) * code_stride;
            }
            /* the weights stream from memory: ask for the rows 16 ahead */
            if (r0 + 4 * g + 20 <= rows)
                for (int64_t b = 0; b < 4 * code_stride; b += 64)
                    _mm_prefetch((const char *)(cr[0] + 16 * code_stride + b), _MM_HINT_T0);
            __m512i acc[4][4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++)
                    acc[r][i] = _mm512_setzero_si512();
            for (int64_t b = 0; b < nblocks; b++) {
                __m512i xv[4];
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++)
                    xv[i] = _mm512_load_si512(x + b * VLUT_MAD_BLOCK + 64 * i);
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++) {
                    const __m512i v = _mm512_loadu_si512(cr[r] + b * VLUT_MAD_BLOCK_BYTES);
#pragma GCC unroll 4
                    for (int i = 0; i < 4; i++)
                        acc[r][i] = dpbusd(acc[r][i], _mm512_and_si512(v, qm.mask[i]), xv[i]);
                }
            }
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
                sv[4 * g + r] = quarters_sum(acc[r]);
        }
        const __m512i dots = _mm512_sub_epi32(hsum16(sv), _mm512_set1_epi32(xsum));
        const int64_t nr = rows - r0 < 16 ? rows - r0 : 16;
        _mm512_mask_storeu_epi32(y + r0, (__mmask16)((1u << nr) - 1), dots);
    }
}

/* Wide batches: 4 rows at a time are unpacked once into bytes u = w + 1 in
 * natural weight order (scratch), then every group of 4 tokens runs a 4 x 4
 * tile over them - each 64-byte chunk of a row feeds 4 tokens and each chunk
 * of a token 4 rows, 16 vpdpbusd per 8 loads - accumulating over the whole
 * row in 16 int32 accumulators, reduced together once at the end into one
 * vector whose 128-bit pieces are the tokens' rows. Absent
 * rows/tokens of a partial tile recompute row/token 0 and are not stored. */
static void mad_tiled(const uint8_t *codes, int64_t code_stride, int64_t nblocks, int64_t rows,
                      const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                      int32_t *y, int64_t y_stride, uint8_t *ub)
{
    const __m512i mask = _mm512_set1_epi8(3);
    const int64_t K = nblocks * VLUT_MAD_BLOCK;
    for (int64_t r0 = 0; r0 < rows; r0 += 4) {
        const int64_t nr = rows - r0 < 4 ? rows - r0 : 4;
        for (int64_t r = 0; r < nr; r++) {
            const uint8_t *cr = codes + (r0 + r) * code_stride;
            uint8_t *u = ub + r * K;
            for (int64_t b = 0; b < nblocks; b++) {
                const __m512i v = _mm512_loadu_si512(cr + b * VLUT_MAD_BLOCK_BYTES);
                _mm512_store_si512(u + b * VLUT_MAD_BLOCK,
                                   _mm512_and_si512(_mm512_srli_epi16(v, 6), mask));
                _mm512_store_si512(u + b * VLUT_MAD_BLOCK + 64,
                                   _mm512_and_si512(_mm512_srli_epi16(v, 4), mask));
                _mm512_store_si512(u + b * VLUT_MAD_BLOCK + 128,
                                   _mm512_and_si512(_mm512_srli_epi16(v, 2), mask));
                _mm512_store_si512(u + b * VLUT_MAD_BLOCK + 192, _mm512_and_si512(v, mask));
            }
        }
        if (r0 + 4 < rows) {
            const uint8_t *next = codes + (r0 + 4) * code_stride;
            const int64_t nrn = rows - r0 - 4 < 4 ? rows - r0 - 4 : 4;
            for (int64_t b = 0; b < nrn * code_stride; b += 64)
                _mm_prefetch((const char *)(next + b), _MM_HINT_T0);
        }
        const uint8_t *ur[4];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            ur[r] = ub + (r < nr ? r : 0) * K;
        for (int64_t t0 = 0; t0 < n; t0 += 4) {
            const int64_t nt = n - t0 < 4 ? n - t0 : 4;
            const int8_t *xt[4];
#pragma GCC unroll 4
            for (int t = 0; t < 4; t++)
                xt[t] = xpad + (t0 + (t < nt ? t : 0)) * x_stride;
            __m512i acc[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                acc[i] = _mm512_setzero_si512();
            for (int64_t k = 0; k < K; k += 64) {
                __m512i uv[4];
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++)
                    uv[r] = _mm512_load_si512(ur[r] + k);
#pragma GCC unroll 4
                for (int t = 0; t < 4; t++) {
                    const __m512i xv = _mm512_load_si512(xt[t] + k);
#pragma GCC unroll 4
                    for (int r = 0; r < 4; r++)
                        acc[t * 4 + r] = dpbusd(acc[t * 4 + r], uv[r], xv);
                }
            }
            /* lanes 4t..4t+3: token t's 4 rows, stored as one 128-bit piece */
            const __m512i s = hsum16(acc);
            const __mmask8 rmask = (__mmask8)((1u << nr) - 1);
            __m128i q[4] = {_mm512_castsi512_si128(s), _mm512_extracti32x4_epi32(s, 1),
                            _mm512_extracti32x4_epi32(s, 2), _mm512_extracti32x4_epi32(s, 3)};
            for (int64_t t = 0; t < nt; t++)
                _mm_mask_storeu_epi32(y + (t0 + t) * y_stride + r0, rmask,
                                      _mm_sub_epi32(q[t], _mm_set1_epi32(xsum[t0 + t])));
        }
    }
}

void vlut_mad_rows_avx512(const uint8_t *codes, int64_t code_stride, int64_t nblocks, int64_t rows,
                          const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                          int32_t *y, int64_t y_stride, uint8_t *scratch)
{
    if (n > 4) {
        mad_tiled(codes, code_stride, nblocks, rows, xpad, x_stride, n, xsum, y, y_stride, scratch);
        return;
    }
    if (n == 1) {
        mad_one_token(codes, code_stride, nblocks, rows, xpad, xsum[0], y);
        return;
    }
    /* Narrow batches: rows outer, a row's codes unpacked in registers for its
     * few tokens. */
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *cr = codes + r * code_stride;
        /* Narrow batches stream the weights from memory: ask for the row 4
         * ahead now (the hardware prefetcher alone stays too close). */
        if (r + 16 < rows)
            for (int64_t b = 0; b < code_stride; b += 64)
                _mm_prefetch((const char *)(cr + 16 * code_stride + b), _MM_HINT_T0);
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

int32_t vlut_mad_pad_avx512(const int8_t *x, int64_t K, int64_t xs, int8_t *xpad)
{
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i acc = _mm512_setzero_si512();
    for (int64_t k = 0; k < xs; k += 64) {
        const int64_t left = K - k;
        const __mmask64 m = left >= 64 ? ~(__mmask64)0 : left > 0 ? ((__mmask64)1 << left) - 1 : 0;
        const __m512i v = _mm512_maskz_loadu_epi8(m, x + k);
        _mm512_store_si512(xpad + k, v);
        acc = dpbusd(acc, ones, v);
    }
    return _mm512_reduce_add_epi32(acc);
}

/* The PANEL kernel (vlut_panels_avx512.h) with quarters unpacked by a shift
 * and a mask; vlut_gfni.c has the same kernel with GFNI. */
static inline __attribute__((always_inline)) __m512i panel_quarter(__m512i p, const int q)
{
    const __m512i three = _mm512_set1_epi8(3);
    return q == 0 ? _mm512_and_si512(p, three)
                  : _mm512_and_si512(_mm512_srli_epi16(p, (unsigned)(2 * q)), three);
}
#define PANELS_FN vlut_mad_panels_avx512
#include "kernels/vlut_panels_avx512.h"
