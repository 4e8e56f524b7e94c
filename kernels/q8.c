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
        for (int64_t c = c0; c < c1; c++) amax = fmaxf(amax, fabsf(x[c]));
        const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
        const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        int8_t *qb = q + b * Q8_BLOCK;
        for (int64_t c = c0; c < c1; c++) {
            float v = nearbyintf(x[c] * inv);
            qb[c - c0] = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
        }
        for (int64_t c = c1; c < c0 + Q8_BLOCK; c++) qb[c - c0] = 0;
        d[b] = scale;
    }
}

void q8_block_dots_ref(const int8_t *a, const int8_t *x, int64_t nb, int32_t *dots)
{
    for (int64_t b = 0; b < nb; b++) {
        int32_t s = 0;
        for (int i = 0; i < Q8_BLOCK; i++) s += a[b * Q8_BLOCK + i] * x[b * Q8_BLOCK + i];
        dots[b] = s;
    }
}

void q8_gemm(const struct q8_matrix *w, const int8_t *xq, const float *xd, int64_t N, float *y,
             int64_t ldy, int64_t m0, int64_t m1, int32_t *dots)
{
    const int64_t nb = q8_blocks(w->cols);
    void (*block_dots)(const int8_t *, const int8_t *, int64_t, int32_t *) = kern_ops()->q8_block_dots;
    for (int64_t m = m0; m < m1; m++) {
        const int8_t *wq = w->q + m * nb * Q8_BLOCK;
        const float *wd = w->d + m * nb;
        for (int64_t n = 0; n < N; n++) {
            const float *nd = xd + n * nb;
            block_dots(wq, xq + n * nb * Q8_BLOCK, nb, dots);
            float sum = 0.0f;
            for (int64_t b = 0; b < nb; b++) sum += (float)dots[b] * (wd[b] * nd[b]);
            y[n * ldy + m] = sum;
        }
    }
}
