/* attn.c - scalar attention loops: the specification (see attn.h). */
#include "kernels/attn.h"

#include "kernels/quant.h"

#include <string.h>

float attn_dot_ref(const float *a, const float *b, int32_t n)
{
    float l[8] = {0};
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) {
            const float p = a[i + j] * b[i + j];
            l[j] = l[j] + p;
        }
    for (; i < n; i++) {
        const float p = a[i] * b[i];
        l[i % 8] = l[i % 8] + p;
    }
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

void attn_scores_ref(const float *q, int32_t G, const float *K, int64_t stride, int32_t n,
                     int32_t hd, float scale, float *scores, int64_t ld)
{
    for (int32_t g = 0; g < G; g++)
        for (int32_t t = 0; t < n; t++)
            scores[g * ld + t] = attn_dot_ref(q + (int64_t)g * hd, K + t * stride, hd) * scale;
}

void attn_mix_ref(const float *w, int64_t ld, int32_t G, const float *V, int64_t stride, int32_t n,
                  int32_t hd, float *out)
{
    for (int32_t g = 0; g < G; g++) {
        float *o = out + (int64_t)g * hd;
        memset(o, 0, (size_t)hd * sizeof *o);
        for (int32_t t = 0; t < n; t++) {
            const float *v = V + t * stride;
            for (int32_t i = 0; i < hd; i++) {
                const float p = w[g * ld + t] * v[i];
                o[i] = o[i] + p;
            }
        }
    }
}

void attn_scores_f16_ref(const float *q, int32_t G, const uint16_t *K, int64_t stride, int32_t n,
                         int32_t hd, float scale, float *scores, int64_t ld)
{
    for (int32_t g = 0; g < G; g++)
        for (int32_t t = 0; t < n; t++) {
            const float *a = q + (int64_t)g * hd;
            const uint16_t *b = K + t * stride;
            float l[8] = {0};
            for (int32_t i = 0; i < hd; i++) {
                const float p = a[i] * quant_f16_to_f32(b[i]);
                l[i % 8] = l[i % 8] + p;
            }
            const float d = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
            scores[g * ld + t] = d * scale;
        }
}

void attn_mix_f16_ref(const float *w, int64_t ld, int32_t G, const uint16_t *V, int64_t stride,
                      int32_t n, int32_t hd, float *out)
{
    for (int32_t g = 0; g < G; g++) {
        float *o = out + (int64_t)g * hd;
        memset(o, 0, (size_t)hd * sizeof *o);
        for (int32_t t = 0; t < n; t++) {
            const uint16_t *v = V + t * stride;
            for (int32_t i = 0; i < hd; i++) {
                const float p = w[g * ld + t] * quant_f16_to_f32(v[i]);
                o[i] = o[i] + p;
            }
        }
    }
}

void attn_f16_store_ref(uint16_t *dst, const float *src, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = quant_f32_to_f16(src[i]);
}
