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

int32_t vlut_mad_pad_avx512(const int8_t *x, int64_t K, int64_t xs, int8_t *xpad)
{
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i acc = _mm512_setzero_si512();
    for (int64_t k = 0; k < xs; k += 64) {
        const int64_t left = K - k;
        const __mmask64 m = left >= 64 ? ~(__mmask64)0 : left > 0 ? ((__mmask64)1 << left) - 1 : 0;
        const __m512i v = _mm512_maskz_loadu_epi8(m, x + k);
        if (xpad) _mm512_store_si512(xpad + k, v);
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
