/* q8.c - int8 block GEMM of the LM head: quantization, the scalar tile (the
 * specification) and the driver over tiles (see q8.h). */
#include "kernels/q8.h"

#include "kernels/kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t q8_blocks(int64_t cols)
{
    return (cols + Q8_BLOCK - 1) / Q8_BLOCK;
}

int64_t q8_groups(int64_t n)
{
    return (n + 3) / 4;
}

void q8_quantize_row(const float *x, int64_t cols, int8_t *q, float *d, int64_t i)
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
        for (int64_t c = c1; c < c0 + Q8_BLOCK; c++)
            qb[c - c0] = 0;
        d[q8_group_index(i, b, nb)] = scale;
    }
}

void q8_block_sums(const int8_t *q, int64_t nb, int32_t *wsum, int64_t i)
{
    for (int64_t b = 0; b < nb; b++) {
        int32_t s = 0;
        for (int k = 0; k < Q8_BLOCK; k++)
            s += q[b * Q8_BLOCK + k];
        wsum[q8_group_index(i, b, nb)] = s;
    }
}

int q8_tile_tokens(int64_t N)
{
    return N >= 3 ? 4 : N == 2 ? 2 : 1;
}

void q8_tile_ref(const int8_t *w, const float *wd, const int32_t *wsum, int64_t nr, const int8_t *x,
                 const float *xd, int64_t nt, int64_t nb, float *y, int64_t ldy)
{
    (void)wsum;
    const int64_t stride = nb * Q8_BLOCK;
    for (int64_t r = 0; r < nr; r++)
        for (int64_t t = 0; t < nt; t++) {
            float sum = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                const int8_t *wb = w + r * stride + b * Q8_BLOCK,
                             *xb = x + t * stride + b * Q8_BLOCK;
                int32_t dot = 0;
                for (int k = 0; k < Q8_BLOCK; k++)
                    dot += wb[k] * xb[k];
                const float scale = wd[(r / 4) * nb * 4 + b * 4 + r % 4] * xd[b * 4 + t];
                const float p = (float)dot * scale;
                sum = sum + p;
            }
            y[t * ldy + r] = sum;
        }
}

void q8_gemm(const struct q8_matrix *w, const int8_t *xq, const float *xd, int64_t N, float *y,
             int64_t ldy, int64_t m0, int64_t m1)
{
    if (m0 % Q8_ROWS) {
        fprintf(stderr, "q8_gemm: row range starts at %lld, not a multiple of %d\n", (long long)m0,
                Q8_ROWS);
        abort();
    }
    const int64_t nb = q8_blocks(w->cols), stride = nb * Q8_BLOCK;
    const struct kern_ops *ops = kern_ops();
    const int T = q8_tile_tokens(N), R = 16 / T;
    /* Rows outer: a tile's weight rows stay in L1 while every token streams
     * past them. */
    for (int64_t m = m0; m < m1; m += R) {
        const int64_t nr = m1 - m < R ? m1 - m : R;
        const int64_t g = m / Q8_ROWS;
        /* the next tile's weights come from memory while this one computes */
        if (m + R < m1)
            for (int64_t b = 0; b < R * stride; b += 64)
                __builtin_prefetch(w->q + (m + R) * stride + b);
        for (int64_t n0 = 0; n0 < N; n0 += T) {
            const int64_t nt = N - n0 < T ? N - n0 : T;
            ops->q8_tile(w->q + m * stride, w->d + g * nb * 4, w->wsum + g * nb * 4, nr,
                         xq + n0 * stride, xd + (n0 / Q8_TOKENS) * nb * 4 + n0 % Q8_TOKENS, nt, nb,
                         y + n0 * ldy + m, ldy);
        }
    }
}
