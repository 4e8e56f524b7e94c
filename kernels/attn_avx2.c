/* attn_avx2.c - attention loops on 8-wide vectors, in exactly the order of
 * attn.c (compiled with -ffp-contract=off: a*b + c rounds twice). */
#include "kernels/attn.h"

#include <immintrin.h>
#include <string.h>

static inline float dot(const float *a, const float *b, int32_t n)
{
    __m256 acc = _mm256_setzero_ps();
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    float l[8];
    _mm256_storeu_ps(l, acc);
    for (; i < n; i++) {
        const float p = a[i] * b[i];
        l[i % 8] = l[i % 8] + p;
    }
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

void attn_scores_avx2(const float *q, const float *K, int64_t stride, int32_t n, int32_t hd,
                      float scale, float *scores)
{
    for (int32_t t = 0; t < n; t++) scores[t] = dot(q, K + t * stride, hd) * scale;
}

void attn_mix_avx2(const float *w, const float *V, int64_t stride, int32_t n, int32_t hd, float *out)
{
    int32_t i = 0;
    /* 32 outputs at a time stay in four registers across all positions */
    for (; i + 32 <= hd; i += 32) {
        __m256 o0 = _mm256_setzero_ps(), o1 = o0, o2 = o0, o3 = o0;
        for (int32_t t = 0; t < n; t++) {
            const float *v = V + t * stride + i;
            const __m256 wt = _mm256_set1_ps(w[t]);
            o0 = _mm256_add_ps(o0, _mm256_mul_ps(wt, _mm256_loadu_ps(v)));
            o1 = _mm256_add_ps(o1, _mm256_mul_ps(wt, _mm256_loadu_ps(v + 8)));
            o2 = _mm256_add_ps(o2, _mm256_mul_ps(wt, _mm256_loadu_ps(v + 16)));
            o3 = _mm256_add_ps(o3, _mm256_mul_ps(wt, _mm256_loadu_ps(v + 24)));
        }
        _mm256_storeu_ps(out + i, o0);
        _mm256_storeu_ps(out + i + 8, o1);
        _mm256_storeu_ps(out + i + 16, o2);
        _mm256_storeu_ps(out + i + 24, o3);
    }
    for (; i + 8 <= hd; i += 8) {
        __m256 o = _mm256_setzero_ps();
        for (int32_t t = 0; t < n; t++)
            o = _mm256_add_ps(o, _mm256_mul_ps(_mm256_set1_ps(w[t]), _mm256_loadu_ps(V + t * stride + i)));
        _mm256_storeu_ps(out + i, o);
    }
    for (; i < hd; i++) {
        float o = 0.0f;
        for (int32_t t = 0; t < n; t++) {
            const float p = w[t] * V[t * stride + i];
            o = o + p;
        }
        out[i] = o;
    }
}
