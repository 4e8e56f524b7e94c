/* q8_avx512.c - int8 block tiles with AVX-512 VNNI: vpdpbusd multiplies
 * unsigned bytes by signed bytes, so tokens go in as x+128 (x xor 0x80) and
 * 128 * (sum of the weight block) is subtracted: exact.
 *
 * A tile is 16 (row, token) pairs, block by block - 4 rows x 4 tokens, or 8
 * x 2, or 16 x 1 for narrow batches (q8.h): each 64-byte chunk of a row is
 * loaded once for all the tile's tokens and each chunk of a token once for
 * all its rows, into 16 accumulators. Reducing
 * each accumulator's 16 lanes to one int32 would cost as much as the
 * products, so the 16 are reduced together by a transpose-and-add tree (45
 * shuffles and adds instead of ~150), which leaves the tile's 16 block dots
 * in one vector, exact. The float epilogue then runs on that vector: lane by
 * lane the same multiplies and adds, in the same order, as the reference. */
#include "kernels/avx512_util.h"
#include "kernels/q8.h"

#include <immintrin.h>

/* Lanes 0..R-1 (R = 4, 8 or 16) = the grouped values of rows 0..R-1 at
 * block b: one 128-bit load per group of 4 rows, for the groups that hold
 * one of the nr real rows (the others would lie past the matrix). */
static inline __m512i group_rows(const void *base, int64_t b, int64_t nb, const int R, int64_t nr)
{
    const int32_t *p = (const int32_t *)base + b * 4;
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p));
    if (R >= 8 && nr > 4)
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + nb * 4)), 1);
    if (R >= 16 && nr > 8)
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + 2 * nb * 4)), 2);
    if (R >= 16 && nr > 12)
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + 3 * nb * 4)), 3);
    return v;
}

/* An R x T tile (R * T = 16; compile-time constants after inlining, so the
 * loops unroll completely and the 16 accumulators stay in registers), of
 * which nr <= R rows and nt <= T tokens are real: lane i = row i / T, token
 * i % T. Absent rows and tokens are computed on row 0 / token 0 again (valid
 * memory, a few wasted products at the edge of a matrix) and not stored. */
static inline __attribute__((always_inline)) void
tile(const int8_t *w, const float *wd, const int32_t *wsum, const int R, int64_t nr,
     const int8_t *x, const float *xd, const int T, int64_t nt, int64_t nb, float *y, int64_t ldy)
{
    const int64_t stride = nb * Q8_BLOCK;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i row_of = _mm512_srli_epi32(lane, T == 4 ? 2 : T == 2 ? 1 : 0);
    const __m512i tok_of = _mm512_and_si512(lane, _mm512_set1_epi32(T - 1));
    const int8_t *wr[16], *xt[4];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
        wr[r] = w + (r < nr ? r : 0) * stride;
#pragma GCC unroll 4
    for (int t = 0; t < T; t++)
        xt[t] = x + (t < nt ? t : 0) * stride;
    __m512 sum = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m512i acc[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++)
            acc[i] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const int64_t off = b * Q8_BLOCK + 64 * c;
            __m512i xv[4];
#pragma GCC unroll 4
            for (int t = 0; t < T; t++)
                xv[t] = _mm512_xor_si512(_mm512_loadu_si512(xt[t] + off), flip);
#pragma GCC unroll 16
            for (int r = 0; r < R; r++) {
                const __m512i wv = _mm512_loadu_si512(wr[r] + off);
#pragma GCC unroll 4
                for (int t = 0; t < T; t++)
                    acc[r * T + t] = _mm512_dpbusd_epi32(acc[r * T + t], xv[t], wv);
            }
        }
        /* dots = hsum - 128 * wsum[row]; then the reference's float steps */
        const __m512i ws = _mm512_permutexvar_epi32(row_of, group_rows(wsum, b, nb, R, nr));
        const __m512i dots = _mm512_sub_epi32(hsum16(acc), _mm512_slli_epi32(ws, 7));
        const __m512 wdv =
            _mm512_permutexvar_ps(row_of, _mm512_castsi512_ps(group_rows(wd, b, nb, R, nr)));
        const __m512 xdv =
            _mm512_permutexvar_ps(tok_of, _mm512_castps128_ps512(_mm_loadu_ps(xd + b * 4)));
        const __m512 p = _mm512_mul_ps(_mm512_cvtepi32_ps(dots), _mm512_mul_ps(wdv, xdv));
        sum = _mm512_add_ps(sum, p);
    }
    float s[16] __attribute__((aligned(64)));
    _mm512_store_ps(s, sum);
    for (int64_t r = 0; r < nr; r++)
        for (int64_t t = 0; t < nt; t++)
            y[t * ldy + r] = s[r * T + t];
}

void q8_tile_avx512(const int8_t *w, const float *wd, const int32_t *wsum, int64_t nr,
                    const int8_t *x, const float *xd, int64_t nt, int64_t nb, float *y, int64_t ldy)
{
    if (nt > 2)
        tile(w, wd, wsum, 4, nr, x, xd, 4, nt, nb, y, ldy);
    else if (nt == 2)
        tile(w, wd, wsum, 8, nr, x, xd, 2, nt, nb, y, ldy);
    else
        tile(w, wd, wsum, 16, nr, x, xd, 1, nt, nb, y, ldy);
}
