/* avx2_util.h - small AVX2 helpers shared by the *_avx2.c kernel files
 * (include it only from files compiled with the AVX2 flags). */
#ifndef LF_AVX2_UTIL_H
#define LF_AVX2_UTIL_H

#include <immintrin.h>

/* Lane j of result p = lane p of a[j] (8 x 8 transpose of 32-bit lanes;
 * shuffles only, so it moves int32 data cast to floats unchanged). */
static inline __attribute__((always_inline)) void transpose8(__m256 a[8])
{
    __m256 t[8], u[8];
#pragma GCC unroll 16
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(a[2 * i], a[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(a[2 * i], a[2 * i + 1]);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 2; i++) {
        u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 4; i++) {
        a[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
        a[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
    }
}

#endif
