/* q8_avx512.c - int8 block tiles with AVX-512 VNNI: vpdpbusd multiplies
 * unsigned bytes by signed bytes, so tokens go in as x+128 (x xor 0x80) and
 * 128 * (sum of the weight block) is subtracted: exact.
 *
 * A tile is 4 weight rows x 4 tokens, block by block: each 64-byte chunk of a
 * row is loaded once for 4 tokens and each chunk of a token once for 4 rows,
 * into 16 accumulators (lane i of the tile = row i/4, token i%4). Reducing
 * each accumulator's 16 lanes to one int32 would cost as much as the
 * products, so the 16 are reduced together by a transpose-and-add tree (45
 * shuffles and adds instead of ~150), which leaves the tile's 16 block dots
 * in one vector, exact. The float epilogue then runs on that vector: lane by
 * lane the same multiplies and adds, in the same order, as the reference. */
#include "kernels/q8.h"

#include <immintrin.h>

/* Lane i of the result = the sum of the 16 int32 lanes of v[i]. */
static inline __m512i hsum16(const __m512i v[16])
{
    __m512i t[8], u[4], w[2];
    /* per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3] */
    for (int i = 0; i < 8; i++)
        t[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]),
                                _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
    /* per 128-bit lane: the lane's partial sums of a, b, c, d */
    for (int i = 0; i < 4; i++)
        u[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(t[2 * i], t[2 * i + 1]),
                                _mm512_unpackhi_epi64(t[2 * i], t[2 * i + 1]));
    /* add the 128-bit lanes pairwise, twice */
    for (int i = 0; i < 2; i++)
        w[i] = _mm512_add_epi32(_mm512_shuffle_i32x4(u[2 * i], u[2 * i + 1], 0x88),
                                _mm512_shuffle_i32x4(u[2 * i], u[2 * i + 1], 0xDD));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(w[0], w[1], 0x88),
                            _mm512_shuffle_i32x4(w[0], w[1], 0xDD));
}

/* nr x nt tile (compile-time constants after inlining, so the accumulators
 * stay in registers); lanes of absent rows/tokens hold zeros and are not
 * stored. */
static inline __attribute__((always_inline)) void tile(const int8_t *w, const float *wd,
                                                       const int32_t *wsum, const int nr,
                                                       const int8_t *x, const float *xd,
                                                       const int nt, int64_t nb, float *y,
                                                       int64_t ldy)
{
    const int64_t stride = nb * Q8_BLOCK;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const __m512i row_of = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    const __m512i tok_of = _mm512_set_epi32(3, 2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m512i acc[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m512i wv[4];
#pragma GCC unroll 4
            for (int r = 0; r < nr; r++)
                wv[r] = _mm512_loadu_si512(w + r * stride + b * Q8_BLOCK + 64 * c);
#pragma GCC unroll 4
            for (int t = 0; t < nt; t++) {
                const __m512i xv = _mm512_xor_si512(
                    _mm512_loadu_si512(x + t * stride + b * Q8_BLOCK + 64 * c), flip);
#pragma GCC unroll 4
                for (int r = 0; r < nr; r++)
                    acc[r * 4 + t] = _mm512_dpbusd_epi32(acc[r * 4 + t], xv, wv[r]);
            }
        }
        /* dots = hsum - 128 * wsum[row]; then the reference's float steps */
        const __m512i ws = _mm512_permutexvar_epi32(
            row_of, _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(wsum + b * 4))));
        const __m512i dots = _mm512_sub_epi32(hsum16(acc), _mm512_slli_epi32(ws, 7));
        const __m512 wdv = _mm512_permutexvar_ps(row_of, _mm512_castps128_ps512(_mm_loadu_ps(wd + b * 4)));
        const __m512 xdv = _mm512_permutexvar_ps(tok_of, _mm512_castps128_ps512(_mm_loadu_ps(xd + b * 4)));
        const __m512 p = _mm512_mul_ps(_mm512_cvtepi32_ps(dots), _mm512_mul_ps(wdv, xdv));
        sum = _mm512_add_ps(sum, p);
    }
    float s[16] __attribute__((aligned(64)));
    _mm512_store_ps(s, sum);
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++) y[t * ldy + r] = s[r * 4 + t];
}

#define TILE(R, T) tile(w, wd, wsum, R, x, xd, T, nb, y, ldy)

void q8_tile_avx512(const int8_t *w, const float *wd, const int32_t *wsum, int64_t nr,
                    const int8_t *x, const float *xd, int64_t nt, int64_t nb, float *y, int64_t ldy)
{
    switch ((nr - 1) * 4 + (nt - 1)) {
    case 0: TILE(1, 1); break;
    case 1: TILE(1, 2); break;
    case 2: TILE(1, 3); break;
    case 3: TILE(1, 4); break;
    case 4: TILE(2, 1); break;
    case 5: TILE(2, 2); break;
    case 6: TILE(2, 3); break;
    case 7: TILE(2, 4); break;
    case 8: TILE(3, 1); break;
    case 9: TILE(3, 2); break;
    case 10: TILE(3, 3); break;
    case 11: TILE(3, 4); break;
    case 12: TILE(4, 1); break;
    case 13: TILE(4, 2); break;
    case 14: TILE(4, 3); break;
    default: TILE(4, 4); break;
    }
}
