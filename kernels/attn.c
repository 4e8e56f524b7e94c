/* attn.c - scalar attention loops: the specification (see attn.h). */
#include "kernels/attn.h"

#include "kernels/act.h"
#include "kernels/quant.h"

#include <math.h>
#include <string.h>

/* Element i of a key/value row of floats or (f16 set) IEEE halves. */
static inline float elem(const void *p, int64_t i, int f16)
{
    return f16 ? quant_f16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

/* The eight-lane tree of attn.h; fused: lane += a*b with one rounding
 * (attention scores), else a*b and the sum rounded separately
 * (attn_dot_ref). */
static float dot(const float *a, const void *b, int32_t n, int f16, int fused)
{
    float l[8] = {0};
    for (int32_t i = 0; i < n; i++) {
        if (fused) {
            l[i % 8] = fmaf(a[i], elem(b, i, f16), l[i % 8]);
        } else {
            const float p = a[i] * elem(b, i, f16);
            l[i % 8] = l[i % 8] + p;
        }
    }
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

float attn_dot_ref(const float *a, const float *b, int32_t n)
{
    return dot(a, b, n, 0, 0);
}

static void scores(const float *q, int32_t G, const void *K, int64_t stride, int32_t n, int32_t hd,
                   float scale, float *out, int64_t ld, int f16)
{
    const size_t row_bytes = (size_t)stride * (f16 ? 2 : 4);
    for (int32_t g = 0; g < G; g++)
        for (int32_t t = 0; t < n; t++)
            out[g * ld + t] =
                dot(q + (int64_t)g * hd, (const char *)K + t * row_bytes, hd, f16, 1) * scale;
}

static void mix(const float *w, int64_t ld, int32_t G, const void *V, int64_t stride, int32_t n,
                int32_t hd, float *out, int f16)
{
    const size_t row_bytes = (size_t)stride * (f16 ? 2 : 4);
    for (int32_t g = 0; g < G; g++) {
        float *o = out + (int64_t)g * hd;
        memset(o, 0, (size_t)hd * sizeof *o);
        for (int32_t t = 0; t < n; t++) {
            const char *v = (const char *)V + t * row_bytes;
            for (int32_t i = 0; i < hd; i++)
                o[i] = fmaf(w[g * ld + t], elem(v, i, f16), o[i]);
        }
    }
}

void attn_scores_ref(const float *q, int32_t G, const float *K, int64_t stride, int32_t n,
                     int32_t hd, float scale, float *out, int64_t ld)
{
    scores(q, G, K, stride, n, hd, scale, out, ld, 0);
}

void attn_mix_ref(const float *w, int64_t ld, int32_t G, const float *V, int64_t stride, int32_t n,
                  int32_t hd, float *out)
{
    mix(w, ld, G, V, stride, n, hd, out, 0);
}

void attn_scores_f16_ref(const float *q, int32_t G, const uint16_t *K, int64_t stride, int32_t n,
                         int32_t hd, float scale, float *out, int64_t ld)
{
    scores(q, G, K, stride, n, hd, scale, out, ld, 1);
}

void attn_mix_f16_ref(const float *w, int64_t ld, int32_t G, const uint16_t *V, int64_t stride,
                      int32_t n, int32_t hd, float *out)
{
    mix(w, ld, G, V, stride, n, hd, out, 1);
}

void attn_f16_store_ref(uint16_t *dst, const float *src, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = quant_f32_to_f16(src[i]);
}

/* About 16 KiB of keys as floats per tile, whole 8-position blocks. */
int32_t attn_rows_tile(int32_t hd)
{
    const int32_t p = 4096 / (hd > 0 ? hd : 1) / 8 * 8;
    return p < 8 ? 8 : p;
}

/* A tile of keys and one of values. */
int64_t attn_rows_ws_floats(int32_t hd)
{
    return 2 * (int64_t)attn_rows_tile(hd) * hd;
}

void attn_rows_with(const struct attn_row_fns *fn, const float *q, int64_t ldq, int32_t R,
                    int32_t G, const void *K, const void *V, bool f16, int64_t stride, int32_t n0,
                    int32_t hd, float scale, float *scores, int64_t ld, float *out, int64_t ldo)
{
    for (int32_t r = 0; r < R; r++) {
        const int32_t n = n0 + r + 1;
        float *s = scores + (int64_t)r * G * ld;
        if (f16)
            fn->scores_f16(q + r * ldq, G, K, stride, n, hd, scale, s, ld);
        else
            fn->scores(q + r * ldq, G, K, stride, n, hd, scale, s, ld);
        for (int32_t g = 0; g < G; g++)
            fn->softmax(s + g * ld, n);
        if (f16)
            fn->mix_f16(s, ld, G, V, stride, n, hd, out + r * ldo);
        else
            fn->mix(s, ld, G, V, stride, n, hd, out + r * ldo);
    }
}

void attn_rows_ref(const float *q, int64_t ldq, int32_t R, int32_t G, const void *K, const void *V,
                   bool f16, int64_t stride, int32_t n0, int32_t hd, float scale, float *scores,
                   int64_t ld, float *out, int64_t ldo, float *ws)
{
    (void)ws;
    static const struct attn_row_fns fn = {attn_scores_ref, attn_scores_f16_ref, act_softmax_ref,
                                           attn_mix_ref, attn_mix_f16_ref};
    attn_rows_with(&fn, q, ldq, R, G, K, V, f16, stride, n0, hd, scale, scores, ld, out, ldo);
}
