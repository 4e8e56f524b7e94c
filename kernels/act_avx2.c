/* act_avx2.c - activation kernels on 8-wide vectors (see act.h). */
#include "kernels/act.h"

#include <immintrin.h>

void act_quant_i8_avx2(const float *x, int64_t n, int8_t *q, float *xs)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), m);
    float l[8];
    _mm256_storeu_ps(l, m);
    float amax = 0.0f;
    for (int i = 0; i < 8; i++) amax = l[i] > amax ? l[i] : amax;
    for (; j < n; j++) {
        const float a = x[j] < 0 ? -x[j] : x[j];
        amax = a > amax ? a : amax;
    }
    const float s = act_quant_scale(amax);
    const __m256 vs = _mm256_set1_ps(s), lo = _mm256_set1_ps(-128.0f), hi = _mm256_set1_ps(127.0f);
    for (j = 0; j + 8 <= n; j += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + j), vs);
        v = _mm256_round_ps(_mm256_min_ps(_mm256_max_ps(v, lo), hi),
                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m256i i32 = _mm256_cvtps_epi32(v);
        const __m128i i16 = _mm_packs_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
        _mm_storel_epi64((__m128i *)(q + j), _mm_packs_epi16(i16, i16));
    }
    for (; j < n; j++) {
        float v = x[j] * s;
        v = v > 127.0f ? 127.0f : v < -128.0f ? -128.0f : v;
        q[j] = (int8_t)_mm_cvtss_si32(_mm_round_ss(_mm_setzero_ps(), _mm_set_ss(v),
                                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    *xs = s;
}

void act_dequant_avx2(const int32_t *yi, int64_t ldi, int64_t N, int64_t r0, int64_t r1,
                      const float *rs, const float *xs, float scale, float *y, int64_t ldy)
{
    const __m256 vscale = _mm256_set1_ps(scale);
    for (int64_t n = 0; n < N; n++) {
        const int32_t *in = yi + n * ldi;
        float *out = y + n * ldy;
        const __m256 vx = _mm256_set1_ps(xs[n]);
        int64_t r = r0;
        for (; r + 8 <= r1; r += 8) {
            const __m256 v = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(in + r)));
            _mm256_storeu_ps(out + r, _mm256_mul_ps(_mm256_div_ps(_mm256_mul_ps(v, _mm256_loadu_ps(rs + r)), vx), vscale));
        }
        for (; r < r1; r++) out[r] = (float)in[r] * rs[r] / xs[n] * scale;
    }
}
