/* q8.c - int8 block GEMM of the LM head: quantization, the scalar block dots
 * (the specification) and the shared float epilogue (see q8.h). */
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

void q8_block_sums(const int8_t *q, int64_t nb, int32_t *wsum)
{
    for (int64_t b = 0; b < nb; b++) {
        int32_t s = 0;
        for (int i = 0; i < Q8_BLOCK; i++) s += q[b * Q8_BLOCK + i];
        wsum[b] = s;
    }
}

void q8_dots_ref(const int8_t *w, const int32_t *wsum, const int8_t *x, int64_t x_stride,
                 int64_t ntok, int64_t nb, int32_t *dots)
{
    (void)wsum;
    for (int64_t t = 0; t < ntok; t++)
        for (int64_t b = 0; b < nb; b++) {
            int32_t s = 0;
            for (int i = 0; i < Q8_BLOCK; i++)
                s += w[b * Q8_BLOCK + i] * x[t * x_stride + b * Q8_BLOCK + i];
            dots[t * nb + b] = s;
        }
}

void q8_gemm(const struct q8_matrix *w, const int8_t *xq, const float *xd, int64_t N, float *y,
             int64_t ldy, int64_t m0, int64_t m1, int32_t *dots)
{
    const int64_t nb = q8_blocks(w->cols), stride = nb * Q8_BLOCK;
    const struct kern_ops *ops = kern_ops();
    for (int64_t m = m0; m < m1; m++) {
        const float *wd = w->d + m * nb;
        for (int64_t n0 = 0; n0 < N; n0 += Q8_TOKENS) {
            const int64_t nt = N - n0 < Q8_TOKENS ? N - n0 : Q8_TOKENS;
            ops->q8_dots(w->q + m * stride, w->wsum + m * nb, xq + n0 * stride, stride, nt, nb, dots);
            for (int64_t t = 0; t < nt; t++) {
                const float *nd = xd + (n0 + t) * nb;
                float sum = 0.0f;
                for (int64_t b = 0; b < nb; b++) {
                    const float scale = wd[b] * nd[b];
                    const float p = (float)dots[t * nb + b] * scale;
                    sum = sum + p;
                }
                y[(n0 + t) * ldy + m] = sum;
            }
        }
    }
}
