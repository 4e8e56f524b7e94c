/* act.c - scalar activation kernels: the specification (see act.h). */
#include "kernels/act.h"

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
    for (int64_t n = 0; n < N; n++)
        for (int64_t r = r0; r < r1; r++) y[n * ldy + r] = (float)yi[n * ldi + r] * rs[r] / xs[n] * scale;
}
