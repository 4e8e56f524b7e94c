/* act_avx512.c - activation kernels on 16-wide vectors (see act.h); tails
 * use masked loads and stores. */
#include "kernels/act.h"

#include <immintrin.h>

void act_quant_i8_avx512(const float *x, int64_t n, int8_t *q, float *xs)
{
    __m512 m = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 k = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        m = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(k, x + j)), m);
    }
    const float s = act_quant_scale(_mm512_reduce_max_ps(m));
    const __m512 vs = _mm512_set1_ps(s), lo = _mm512_set1_ps(-128.0f), hi = _mm512_set1_ps(127.0f);
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 k = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + j), vs);
        v = _mm512_roundscale_ps(_mm512_min_ps(_mm512_max_ps(v, lo), hi),
                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm512_mask_cvtepi32_storeu_epi8(q + j, k, _mm512_cvtps_epi32(v));
    }
    *xs = s;
}

void act_dequant_avx512(const int32_t *yi, int64_t ldi, int64_t N, int64_t r0, int64_t r1,
                        const float *rs, const float *xs, float scale, float *y, int64_t ldy)
{
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int64_t n = 0; n < N; n++) {
        const int32_t *in = yi + n * ldi;
        float *out = y + n * ldy;
        const __m512 vx = _mm512_set1_ps(xs[n]);
        for (int64_t r = r0; r < r1; r += 16) {
            const __mmask16 k = r1 - r >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (r1 - r)) - 1);
            const __m512 v = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(k, in + r));
            const __m512 p = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(k, rs + r));
            _mm512_mask_storeu_ps(out + r, k, _mm512_mul_ps(_mm512_div_ps(p, vx), vscale));
        }
    }
}
