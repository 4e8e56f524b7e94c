/* q8.c - int8 block GEMM: quantization, the scalar block dots (the
 * specification) and the shared float epilogue. */
#include "kernels/q8.h"

#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

int64_t q8_blocks(int64_t cols)
{
    return (cols + Q8_BLOCK - 1) / Q8_BLOCK;
}

void q8_quantize_row(const float *x, int64_t cols, int8_t *q, float *d)
{
    const int64_t nb = q8_blocks(cols);
    for (int64_t b = 0; b < nb; b++) {
        const int64_t c0 = b * Q8_BLOCK, c1 = c0 + Q8_BLOCK < cols ? c0 + Q8_BLOCK : cols;
        float amax = 0.0f;
        for (int64_t c = c0; c < c1; c++) {
            const float a = fabsf(x[c]);
            amax = a > amax ? a : amax;
        }
        const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
        const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        int8_t *qb = q + b * Q8_BLOCK;
        for (int64_t c = c0; c < c1; c++) {
            float v = x[c] * inv;
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
            /* round to nearest even: |v| <= 127, so the 1.5 * 2^23 trick is exact */
            qb[c - c0] = (int8_t)((v + 12582912.0f) - 12582912.0f);
        }
        for (int64_t c = c1; c < c0 + Q8_BLOCK; c++) qb[c - c0] = 0;
        d[b] = scale;
    }
}

float q8_dot_ref(const int8_t *a, const float *ad, const int8_t *x, const float *xd, int64_t nb)
{
    float lane[8] = {0};
    for (int64_t b = 0; b < nb; b++) {
        int32_t dot = 0;
        for (int i = 0; i < Q8_BLOCK; i++) dot += a[b * Q8_BLOCK + i] * x[b * Q8_BLOCK + i];
        const float scale = ad[b] * xd[b];
        const float p = (float)dot * scale;
        lane[b % 8] = lane[b % 8] + p;
    }
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

void q8_gemm(const struct q8_matrix *w, const int8_t *xq, const float *xd, int64_t N, float *y,
             int64_t ldy, int64_t m0, int64_t m1)
{
    const int64_t nb = q8_blocks(w->cols);
    float (*dot)(const int8_t *, const float *, const int8_t *, const float *, int64_t) =
        kern_ops()->q8_dot;
    for (int64_t m = m0; m < m1; m++) {
        const int8_t *wq = w->q + m * nb * Q8_BLOCK;
        const float *wd = w->d + m * nb;
        for (int64_t n = 0; n < N; n++)
            y[n * ldy + m] = dot(wq, wd, xq + n * nb * Q8_BLOCK, xd + n * nb, nb);
    }
}
