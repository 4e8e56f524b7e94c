/* avx512_util.h - small AVX-512 helpers shared by the *_avx512.c kernel
 * files (include it only from files compiled with the AVX-512 flags). */
#ifndef LF_AVX512_UTIL_H
#define LF_AVX512_UTIL_H

#include <immintrin.h>

/* acc + the dot products of 4 unsigned bytes of a with 4 signed bytes of b
 * per int32 lane (vpdpbusd). Written as inline assembly with acc as an
 * in-out operand: with _mm512_dpbusd_epi32, GCC 12 copies every accumulator
 * of a loop to another register and back at each iteration (two extra moves
 * per product in the multiply-add kernels, measured). */
static inline __attribute__((always_inline)) __m512i dpbusd(__m512i acc, __m512i a, __m512i b)
{
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "vm"(b));
    return acc;
}

/* Lane i of the result = the sum of the 16 int32 lanes of v[i]: a transpose
 * and add tree, 45 shuffles and adds for 16 reductions. */
static inline __attribute__((always_inline)) __m512i hsum16(const __m512i v[16])
{
    __m512i t[8], u[4], w[2];
/* per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3] */
#pragma GCC unroll 16
    for (int i = 0; i < 8; i++)
        t[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]),
                                _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
/* per 128-bit lane: the lane's partial sums of a, b, c, d */
#pragma GCC unroll 16
    for (int i = 0; i < 4; i++)
        u[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(t[2 * i], t[2 * i + 1]),
                                _mm512_unpackhi_epi64(t[2 * i], t[2 * i + 1]));
/* add the 128-bit lanes pairwise, twice */
#pragma GCC unroll 16
    for (int i = 0; i < 2; i++)
        w[i] = _mm512_add_epi32(_mm512_shuffle_i32x4(u[2 * i], u[2 * i + 1], 0x88),
                                _mm512_shuffle_i32x4(u[2 * i], u[2 * i + 1], 0xDD));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(w[0], w[1], 0x88),
                            _mm512_shuffle_i32x4(w[0], w[1], 0xDD));
}

#endif
