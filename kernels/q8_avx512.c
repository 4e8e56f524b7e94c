/* q8_avx512.c - int8 block dots with AVX-512 VNNI on 256-bit vectors
 * (vpdpbusd: unsigned |a| times sign-adjusted x, summed into int32 lanes). */
#include "kernels/q8.h"

#include <immintrin.h>

/* Compiled with -ffp-contract=off: a*b + c stays two roundings, as in the
 * reference. */

static inline __m256i block_dot(const int8_t *a, const int8_t *x)
{
    const __m256i va = _mm256_loadu_si256((const __m256i *)a);
    const __m256i vx = _mm256_loadu_si256((const __m256i *)x);
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(va),
                               _mm256_sign_epi8(vx, va));
}

#define Q8_DOT_NAME q8_dot_avx512
#include "kernels/q8_x86.h"
