/* q8_avx2.c - int8 block dots with AVX2: |w| (unsigned) times x with w's sign
 * (maddubs), pairs summed to int32 (madd). |w|, |x| <= 127, so the int16 pair
 * sums stay below 2*127*127 = 32258: no saturation. */
#include "kernels/q8.h"

#include <immintrin.h>

static inline int32_t hsum(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

void q8_dots_avx2(const int8_t *w, const int32_t *wsum, const int8_t *x, int64_t x_stride,
                  int64_t ntok, int64_t nb, int32_t *dots)
{
    (void)wsum;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; b++) {
        const int8_t *wb = w + b * Q8_BLOCK;
        for (int64_t t = 0; t < ntok; t++) {
            const int8_t *xb = x + t * x_stride + b * Q8_BLOCK;
            __m256i acc = _mm256_setzero_si256();
            for (int j = 0; j < Q8_BLOCK; j += 32) {
                const __m256i vw = _mm256_loadu_si256((const __m256i *)(wb + j));
                const __m256i vx = _mm256_loadu_si256((const __m256i *)(xb + j));
                const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(vw, vw), _mm256_sign_epi8(vx, vw));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, ones));
            }
            dots[t * nb + b] = hsum(acc);
        }
    }
}
