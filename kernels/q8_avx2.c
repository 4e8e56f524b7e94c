/* q8_avx2.c - int8 block tiles with AVX2: |w| (unsigned) times x with w's
 * sign (maddubs), pairs summed to int32 (madd). |w|, |x| <= 127, so the int16
 * pair sums stay below 2*127*127 = 32258: no saturation. The float epilogue
 * is the reference's, operation for operation. */
#include "kernels/q8.h"

#include <immintrin.h>

static inline int32_t hsum(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

static inline int32_t block_dot(const int8_t *wb, const int8_t *xb)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc = _mm256_setzero_si256();
    for (int j = 0; j < Q8_BLOCK; j += 32) {
        const __m256i vw = _mm256_loadu_si256((const __m256i *)(wb + j));
        const __m256i vx = _mm256_loadu_si256((const __m256i *)(xb + j));
        const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(vw, vw), _mm256_sign_epi8(vx, vw));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, ones));
    }
    return hsum(acc);
}

void q8_tile_avx2(const int8_t *w, const float *wd, const int32_t *wsum, int64_t nr,
                  const int8_t *x, const float *xd, int64_t nt, int64_t nb, float *y, int64_t ldy)
{
    (void)wsum;
    const int64_t stride = nb * Q8_BLOCK;
    float sum[16][Q8_TOKENS] = {{0}};
    for (int64_t b = 0; b < nb; b++)
        for (int64_t r = 0; r < nr; r++)
            for (int64_t t = 0; t < nt; t++) {
                const int32_t dot =
                    block_dot(w + r * stride + b * Q8_BLOCK, x + t * stride + b * Q8_BLOCK);
                const float scale = wd[(r / 4) * nb * 4 + b * 4 + r % 4] * xd[b * 4 + t];
                const float p = (float)dot * scale;
                sum[r][t] = sum[r][t] + p;
            }
    for (int64_t r = 0; r < nr; r++)
        for (int64_t t = 0; t < nt; t++)
            y[t * ldy + r] = sum[r][t];
}
