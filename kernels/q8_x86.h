/* q8_x86.h - the body shared by q8_avx2.c and q8_avx512.c. Each includes it
 * after defining `static inline __m256i block_dot(a, x)` (the eight int32
 * partial dots of one 32-byte block) and Q8_DOT_NAME; everything else - the
 * lane order that makes the result bit-identical to q8_dot_ref - is here once. */
#ifndef LF_Q8_X86_H
#define LF_Q8_X86_H

#include "kernels/q8.h"

#include <immintrin.h>

/* Sum the 8 int32 lanes of each of v[0..7] into one vector of 8 sums. */
static inline __m256i reduce8(__m256i v0, __m256i v1, __m256i v2, __m256i v3, __m256i v4,
                              __m256i v5, __m256i v6, __m256i v7)
{
    __m256i s0 = _mm256_hadd_epi32(v0, v1), s1 = _mm256_hadd_epi32(v2, v3);
    __m256i s2 = _mm256_hadd_epi32(v4, v5), s3 = _mm256_hadd_epi32(v6, v7);
    __m256i t0 = _mm256_hadd_epi32(s0, s1), t1 = _mm256_hadd_epi32(s2, s3);
    return _mm256_add_epi32(_mm256_permute2x128_si256(t0, t1, 0x20),
                            _mm256_permute2x128_si256(t0, t1, 0x31));
}

/* Blocks b..b+7 -> one vector of 8 int32 dots. */
static inline __m256i dots8(const int8_t *pa, const int8_t *px)
{
    return reduce8(block_dot(pa, px), block_dot(pa + 32, px + 32), block_dot(pa + 64, px + 64),
                   block_dot(pa + 96, px + 96), block_dot(pa + 128, px + 128),
                   block_dot(pa + 160, px + 160), block_dot(pa + 192, px + 192),
                   block_dot(pa + 224, px + 224));
}

float Q8_DOT_NAME(const int8_t *a, const float *ad, const int8_t *x, const float *xd, int64_t nb)
{
    __m256 acc = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 8 <= nb; b += 8) {
        const __m256 scale = _mm256_mul_ps(_mm256_loadu_ps(ad + b), _mm256_loadu_ps(xd + b));
        const __m256 p = _mm256_mul_ps(_mm256_cvtepi32_ps(dots8(a + b * Q8_BLOCK, x + b * Q8_BLOCK)), scale);
        acc = _mm256_add_ps(acc, p);
    }
    float lane[8];
    _mm256_storeu_ps(lane, acc);
    for (; b < nb; b++) { /* the tail, lane by lane, as the reference */
        __m256i v = block_dot(a + b * Q8_BLOCK, x + b * Q8_BLOCK);
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        s = _mm_hadd_epi32(s, s);
        s = _mm_hadd_epi32(s, s);
        const float scale = ad[b] * xd[b];
        const float p = (float)_mm_cvtsi128_si32(s) * scale;
        lane[b % 8] = lane[b % 8] + p;
    }
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

#endif
