/* q8_avx2.c - int8 block dots with AVX2 (maddubs). |a|, |x| <= 127, so the
 * pairwise int16 sums stay below 2*127*127 = 32258: no saturation. */
#include "kernels/q8.h"

#include <immintrin.h>

/* Compiled with -ffp-contract=off: a*b + c stays two roundings, as in the
 * reference. */

static inline __m256i block_dot(const int8_t *a, const int8_t *x)
{
    const __m256i va = _mm256_loadu_si256((const __m256i *)a);
    const __m256i vx = _mm256_loadu_si256((const __m256i *)x);
    const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(va, va), _mm256_sign_epi8(vx, va));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

#define Q8_DOT_NAME q8_dot_avx2
#include "kernels/q8_x86.h"
