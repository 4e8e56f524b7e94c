/* q8_avx512.c - int8 block dots with AVX-512 VNNI: vpdpbusd multiplies
 * unsigned bytes by signed bytes, so tokens go in as x+128 (x xor 0x80) and
 * 128 * (sum of the weight block) is subtracted: exact. The weight block is
 * loaded once for up to Q8_TOKENS tokens. */
#include "kernels/q8.h"

#include <immintrin.h>

void q8_dots_avx512(const int8_t *w, const int32_t *wsum, const int8_t *x, int64_t x_stride,
                    int64_t ntok, int64_t nb, int32_t *dots)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int64_t b = 0; b < nb; b++) {
        const int8_t *wb = w + b * Q8_BLOCK;
        const __m512i w0 = _mm512_loadu_si512(wb), w1 = _mm512_loadu_si512(wb + 64);
        const __m512i w2 = _mm512_loadu_si512(wb + 128), w3 = _mm512_loadu_si512(wb + 192);
        for (int64_t t = 0; t < ntok; t++) {
            const int8_t *xb = x + t * x_stride + b * Q8_BLOCK;
            __m512i acc = _mm512_setzero_si512();
            acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(_mm512_loadu_si512(xb), flip), w0);
            acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(_mm512_loadu_si512(xb + 64), flip), w1);
            acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(_mm512_loadu_si512(xb + 128), flip), w2);
            acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(_mm512_loadu_si512(xb + 192), flip), w3);
            dots[t * nb + b] = _mm512_reduce_add_epi32(acc) - 128 * wsum[b];
        }
    }
}
