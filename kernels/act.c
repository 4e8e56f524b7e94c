/* act.c - scalar activation kernels: the specification (see act.h). */
#include "kernels/act.h"

#include <float.h>
#include <math.h>

/* Round to nearest, ties to even, for |v| <= 2^22: adding and subtracting
 * 1.5 * 2^23 leaves exactly the rounded integer (default rounding mode). */
static inline float round_even(float v)
{
    const float magic = 12582912.0f;
    return (v + magic) - magic;
}

void act_quant_i8_ref(const float *x, int64_t n, int8_t *q, float *xs)
{
    float amax = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        const float a = fabsf(x[j]);
        amax = a > amax ? a : amax;
    }
    const float s = act_quant_scale(amax);
    for (int64_t j = 0; j < n; j++) {
        float v = x[j] * s; /* |v| <= 127 (up to rounding), or huge only if amax <= 1e-5 */
        v = v > 127.0f ? 127.0f : v < -128.0f ? -128.0f : v;
        q[j] = (int8_t)round_even(v);
    }
    *xs = s;
}

void act_dequant_ref(const int32_t *yi, int64_t ldi, int64_t N, int64_t r0, int64_t r1,
                     const float *rs, const float *xs, float scale, float *y, int64_t ldy)
{
    for (int64_t n = 0; n < N; n++) {
        const float d = scale / xs[n];
        for (int64_t r = r0; r < r1; r++)
            y[n * ldy + r] = (float)yi[n * ldi + r] * rs[r] * d;
    }
}

void act_add_ref(float *x, const float *a, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        x[j] = x[j] + a[j];
}

static void rope_pair(float *a, float *b, float c, float s)
{
    const float v0 = *a, v1 = *b;
    *a = v0 * c - v1 * s;
    *b = v0 * s + v1 * c;
}

void act_rope_norm_ref(float *h, const float *cs, int64_t n)
{
    for (int64_t d = 0; d + 1 < n; d += 2)
        rope_pair(h + d, h + d + 1, cs[d], cs[d + 1]);
}

void act_rope_neox_ref(float *h, const float *cs, int64_t half)
{
    for (int64_t i = 0; i < half; i++)
        rope_pair(h + i, h + i + half, cs[2 * i], cs[2 * i + 1]);
}

float act_expf(float x)
{
    x = x > ACT_EXP_HI ? ACT_EXP_HI : x < ACT_EXP_LO ? ACT_EXP_LO : x;
    const float n = (x * ACT_LOG2E + ACT_ROUND_MAGIC) - ACT_ROUND_MAGIC;
    float r = fmaf(-n, ACT_LN2_HI, x); /* n * ACT_LN2_HI is exact */
    r = fmaf(-n, ACT_LN2_LO, r);
    float p = ACT_EXP_P0;
    p = fmaf(p, r, ACT_EXP_P1);
    p = fmaf(p, r, ACT_EXP_P2);
    p = fmaf(p, r, ACT_EXP_P3);
    p = fmaf(p, r, ACT_EXP_P4);
    p = fmaf(p, r, ACT_EXP_P5);
    p = fmaf(p, r * r, r);
    p = p + 1.0f;
    const union {
        uint32_t u;
        float f;
    } two_n = {(uint32_t)((int32_t)n + 127) << 23};
    return p * two_n.f;
}

/* The 16-lane tree of act.h over s[16]. */
static float tree16(float s[16])
{
    for (int l = 0; l < 8; l++)
        s[l] = s[l] + s[l + 8];
    for (int l = 0; l < 4; l++)
        s[l] = s[l] + s[l + 4];
    for (int l = 0; l < 2; l++)
        s[l] = s[l] + s[l + 2];
    return s[0] + s[1];
}

float act_sum16_ref(const float *x, int64_t n)
{
    float s[16] = {0};
    for (int64_t j = 0; j < n; j++)
        s[j % 16] = s[j % 16] + x[j];
    return tree16(s);
}

void act_rmsnorm_ref(float *o, const float *x, const float *w, int64_t n, float eps)
{
    float s[16] = {0};
    for (int64_t j = 0; j < n; j++) {
        const float sq = x[j] * x[j];
        s[j % 16] = s[j % 16] + sq;
    }
    const float inv = 1.0f / sqrtf(tree16(s) / (float)n + eps);
    for (int64_t j = 0; j < n; j++)
        o[j] = w[j] * (x[j] * inv);
}

void act_softmax_ref(float *x, int64_t n)
{
    float max = -INFINITY;
    for (int64_t j = 0; j < n; j++)
        max = x[j] > max ? x[j] : max;
    for (int64_t j = 0; j < n; j++)
        x[j] = act_expf(x[j] - max);
    const float inv = 1.0f / act_sum16_ref(x, n);
    for (int64_t j = 0; j < n; j++)
        x[j] = x[j] * inv;
}

int64_t act_argmax_ref(const float *x, int64_t n)
{
    int64_t best = 0;
    float best_v = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        const float v = isnan(x[j]) ? -INFINITY : x[j] > FLT_MAX ? FLT_MAX : x[j];
        if (v > best_v) best_v = v, best = j;
    }
    return best;
}

void act_swiglu_ref(float *g, const float *u, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        g[j] = g[j] * (1.0f / (1.0f + act_expf(-g[j]))) * u[j];
}
