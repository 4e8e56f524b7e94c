/* vlut_avx2.c - AVX2 versions of the ternary GEMM pieces.
 *
 * Compiled with -mavx2 -mfma -mf16c; reached only through kern_ops() after
 * kern_init() checked the CPU. A table row of VLUT_LANES = 32 int16 is two ymm
 * registers, so a Vec-LUT lookup is two vpaddw with memory operands. The
 * multiply-add kernel uses vpmaddubsw (unsigned weights w+1 x signed
 * activations) and vpmaddwd by ones to widen; the no-saturation argument is at
 * the top of vlut.c, the contracts are in vlut.h.
 */
#include "kernels/vlut.h"

#include <immintrin.h>
#include <string.h>

_Static_assert(VLUT_LANES == 32, "two ymm of int16 per table row");

static inline __m256i neg16(__m256i v)
{
    return _mm256_sub_epi16(_mm256_setzero_si256(), v);
}

void vlut_lut_tables_avx2(const int16_t *xg, int kt, int16_t *tables)
{
    for (int j = 0; j < kt; j++) {
        const int16_t *xj = xg + j * VLUT_G * VLUT_LANES;
        int16_t *tab = tables + j * VLUT_CODES * VLUT_LANES;
        for (int half = 0; half < 2; half++) { /* lanes 0..15, then 16..31 */
            const int16_t *xh = xj + 16 * half;
            const __m256i a = _mm256_loadu_si256((const __m256i *)(xh + 0 * VLUT_LANES));
            const __m256i b = _mm256_loadu_si256((const __m256i *)(xh + 1 * VLUT_LANES));
            const __m256i c = _mm256_loadu_si256((const __m256i *)(xh + 2 * VLUT_LANES));
            const __m256i d = _mm256_loadu_si256((const __m256i *)(xh + 3 * VLUT_LANES));
            const __m256i apb = _mm256_add_epi16(a, b), amb = _mm256_sub_epi16(a, b);
            const __m256i cpd = _mm256_add_epi16(c, d), cmd = _mm256_sub_epi16(c, d);
            const __m256i zero = _mm256_setzero_si256();
            /* P[e] = (e%3 - 1)*a + (e/3 - 1)*b, Q[f] likewise over c, d. */
            const __m256i P[9] = {neg16(apb), neg16(b), amb, neg16(a), zero, a, neg16(amb), b, apb};
            const __m256i Q[5] = {neg16(cpd), neg16(d), cmd, neg16(c), zero};
            int16_t *th = tab + 16 * half;
#pragma GCC unroll 41
            for (int code = 0; code <= VLUT_CODE_ZERO; code++) {
                const __m256i t = _mm256_add_epi16(P[code % 9], Q[code / 9]);
                _mm256_store_si256((__m256i *)(th + code * VLUT_LANES), t);
                _mm256_store_si256((__m256i *)(th + (VLUT_CODES - 1 - code) * VLUT_LANES),
                                   neg16(t));
            }
        }
    }
}

/* One sub-tile over all rows; kt is a compile-time constant for full
 * sub-tiles (see vlut_avx512.c). A table row is two ymm: lanes 0..15 and
 * 16..31, each with two int16 chains. */
static inline __attribute__((always_inline)) void
lut_tile(const uint8_t *codes, int64_t code_stride, int64_t rows, const int kt,
         const int16_t *tables, int16_t *acc16, int32_t *acc32, int flags)
{
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *cr = codes + r * code_stride;
        int16_t *a16 = acc16 + r * VLUT_LANES;
        __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
        if (flags & VLUT_LOAD16) {
            s0 = _mm256_load_si256((const __m256i *)a16);
            s1 = _mm256_load_si256((const __m256i *)(a16 + 16));
        }
#pragma GCC unroll 8
        for (int j = 0; j < kt; j++) {
            const int16_t *t =
                tables + (int64_t)j * VLUT_CODES * VLUT_LANES + (int64_t)cr[j] * VLUT_LANES;
            if (j & 1) {
                s2 = _mm256_add_epi16(s2, _mm256_load_si256((const __m256i *)t));
                s3 = _mm256_add_epi16(s3, _mm256_load_si256((const __m256i *)(t + 16)));
            } else {
                s0 = _mm256_add_epi16(s0, _mm256_load_si256((const __m256i *)t));
                s1 = _mm256_add_epi16(s1, _mm256_load_si256((const __m256i *)(t + 16)));
            }
        }
        const __m256i lo16 = _mm256_add_epi16(s0, s2), hi16 = _mm256_add_epi16(s1, s3);
        if (!(flags & VLUT_FLUSH)) {
            _mm256_store_si256((__m256i *)a16, lo16);
            _mm256_store_si256((__m256i *)(a16 + 16), hi16);
            continue;
        }
        /* Flush: widen to 4 x 8 int32 (lanes 0-7, 8-15, 16-23, 24-31). */
        int32_t *ar = acc32 + r * VLUT_LANES;
        __m256i w[4] = {
            _mm256_cvtepi16_epi32(_mm256_castsi256_si128(lo16)),
            _mm256_cvtepi16_epi32(_mm256_extracti128_si256(lo16, 1)),
            _mm256_cvtepi16_epi32(_mm256_castsi256_si128(hi16)),
            _mm256_cvtepi16_epi32(_mm256_extracti128_si256(hi16, 1)),
        };
        for (int q = 0; q < 4; q++) {
            __m256i *dst = (__m256i *)(ar + 8 * q);
            if (!(flags & VLUT_FIRST32)) w[q] = _mm256_add_epi32(w[q], _mm256_load_si256(dst));
            _mm256_store_si256(dst, w[q]);
        }
    }
}

void vlut_lut_tile_avx2(const uint8_t *codes, int64_t code_stride, int64_t rows, int kt,
                        const int16_t *tables, int16_t *acc16, int32_t *acc32, int flags)
{
    if (kt == VLUT_SUB)
        lut_tile(codes, code_stride, rows, VLUT_SUB, tables, acc16, acc32, flags);
    else
        lut_tile(codes, code_stride, rows, kt, tables, acc16, acc32, flags);
}

/* MAD: one row x nb tokens (nb <= 4, a compile-time constant after inlining).
 * Per 256-weight block and token, the 8 vpmaddubsw pair sums (each |.| <= 512)
 * are added in int16 (|.| <= 4096), then widened by vpmaddwd with ones. */
static inline __attribute__((always_inline)) void mad_row_block(const uint8_t *cr, int64_t nblocks,
                                                                const int8_t *x0, int64_t x_stride,
                                                                const int nb, const int32_t *xsum,
                                                                int32_t *y, int64_t y_stride)
{
    const __m256i mask = _mm256_set1_epi8(3);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[4];
#pragma GCC unroll 4
    for (int t = 0; t < nb; t++)
        acc[t] = _mm256_setzero_si256();
    for (int64_t b = 0; b < nblocks; b++) {
        __m256i s16[4];
#pragma GCC unroll 4
        for (int t = 0; t < nb; t++)
            s16[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int h = 0; h < 2; h++) { /* bytes 0..31, then 32..63 of the block */
            const __m256i v =
                _mm256_loadu_si256((const __m256i *)(cr + b * VLUT_MAD_BLOCK_BYTES + 32 * h));
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                /* weights b*256 + 64*i + 32*h + (0..31), as w+1 in {0,1,2} */
                const __m256i u = _mm256_and_si256(_mm256_srli_epi16(v, 6 - 2 * i), mask);
#pragma GCC unroll 4
                for (int t = 0; t < nb; t++) {
                    const int8_t *xt = x0 + t * x_stride + b * VLUT_MAD_BLOCK + 64 * i + 32 * h;
                    s16[t] = _mm256_add_epi16(
                        s16[t], _mm256_maddubs_epi16(u, _mm256_load_si256((const __m256i *)xt)));
                }
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < nb; t++)
            acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(s16[t], ones));
    }
#pragma GCC unroll 4
    for (int t = 0; t < nb; t++) {
        __m128i s =
            _mm_add_epi32(_mm256_castsi256_si128(acc[t]), _mm256_extracti128_si256(acc[t], 1));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
        y[t * y_stride] = _mm_cvtsi128_si32(s) - xsum[t];
    }
}

void vlut_mad_rows_avx2(const uint8_t *codes, int64_t code_stride, int64_t nblocks, int64_t rows,
                        const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                        int32_t *y, int64_t y_stride)
{
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

int32_t vlut_mad_pad_avx2(const int8_t *x, int64_t K, int64_t xs, int8_t *xpad)
{
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    __m256i acc = _mm256_setzero_si256();
    for (int64_t k = 0; k < xs; k += 32) {
        __m256i v;
        if (k + 32 <= K) {
            v = _mm256_loadu_si256((const __m256i *)(x + k));
        } else { /* the row's end and the padding */
            int8_t tail[32] = {0};
            if (k < K) memcpy(tail, x + k, (size_t)(K - k));
            v = _mm256_loadu_si256((const __m256i *)tail);
        }
        _mm256_store_si256((__m256i *)(xpad + k), v);
        /* byte pairs (|.| <= 256) then int16 pairs into int32: no saturation */
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, v), ones16));
    }
    const __m128i h = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    const __m128i q = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
    return _mm_cvtsi128_si32(_mm_add_epi32(q, _mm_shuffle_epi32(q, 0xB1)));
}
