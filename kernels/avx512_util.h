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

#endif
