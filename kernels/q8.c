/* q8.c - int8 block GEMM of the LM head: quantization, the panel layout, the
 * scalar kernel (the specification) and the driver over panels (see q8.h). */
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

int64_t q8_panels(int64_t rows)
{
    return (rows + Q8_PANEL - 1) / Q8_PANEL;
}

void q8_quantize_row(const float *x, int64_t cols, int8_t *q, float *d, int32_t *s)
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
        int32_t sum = 0;
        for (int64_t c = c0; c < c1; c++) {
            float v = x[c] * inv;
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
            /* round to nearest even: |v| <= 127, so the 1.5 * 2^23 trick is exact */
            qb[c - c0] = (int8_t)((v + 12582912.0f) - 12582912.0f);
            sum += qb[c - c0];
        }
        for (int64_t c = c1; c < c0 + Q8_BLOCK; c++)
            qb[c - c0] = 0;
        d[b] = scale;
        if (s) s[b] = sum;
    }
}

void q8_store_row(int8_t *wq, float *wd, int64_t nb, int64_t r, const int8_t *q, const float *d)
{
    for (int64_t k = 0; k < nb * Q8_BLOCK; k++)
        wq[q8_weight_index(r, k, nb)] = q[k];
    for (int64_t b = 0; b < nb; b++)
        wd[q8_scale_index(r, b, nb)] = d[b];
}

void q8_panel_ref(const int8_t *wq, const float *wd, int np, int64_t nr, const int8_t *x,
                  const float *xd, const int32_t *xs, int nt, int64_t nb, float *y, int64_t ldy,
                  const int8_t *pf)
{
    (void)xs;
    (void)pf;
    (void)np;
    for (int64_t r = 0; r < nr; r++)
        for (int t = 0; t < nt; t++) {
            const int8_t *xt = x + t * nb * Q8_BLOCK;
            float sum = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                int32_t dot = 0;
                for (int64_t k = b * Q8_BLOCK; k < (b + 1) * Q8_BLOCK; k++)
                    dot += wq[q8_weight_index(r, k, nb)] * xt[k];
                const float scale = wd[q8_scale_index(r, b, nb)] * xd[t * nb + b];
                const float p = (float)dot * scale;
                sum = sum + p;
            }
            y[t * ldy + r] = sum;
        }
}

void q8_gemm(const struct q8_matrix *w, const int8_t *xq, const float *xd, const int32_t *xs,
             int64_t N, float *y, int64_t ldy, int64_t m0, int64_t m1)
{
    if (m0 % Q8_PANEL) {
        fprintf(stderr, "q8_gemm: row range starts at %lld, not a multiple of %d\n", (long long)m0,
                Q8_PANEL);
        abort();
    }
    const int64_t nb = q8_blocks(w->cols), panel_bytes = Q8_PANEL * nb * Q8_BLOCK;
    const struct kern_ops *ops = kern_ops();
    if (ops->amx && N >= Q8_AMX_MIN_TOKENS) {
        q8_gemm_amx(w, xq, xd, N, y, ldy, m0, m1);
        return;
    }
    /* Panels outer: a call's weights (up to 64 rows) stay in L1/L2 while
     * every token streams past them. */
    for (int64_t m = m0; m < m1; m += Q8_PANELS * Q8_PANEL) {
        const int64_t nr = m1 - m < Q8_PANELS * Q8_PANEL ? m1 - m : Q8_PANELS * Q8_PANEL;
        const int np = (int)q8_panels(nr);
        const int64_t p = m / Q8_PANEL;
        const int8_t *wq = w->q + p * panel_bytes;
        /* the first token chunk prefetches the next call's weights */
        const int8_t *next = m + nr < m1 ? wq + np * panel_bytes : wq;
        for (int64_t n0 = 0; n0 < N; n0 += Q8_TOKENS) {
            const int nt = N - n0 < Q8_TOKENS ? (int)(N - n0) : Q8_TOKENS;
            ops->q8_panel(wq, w->d + p * nb * Q8_PANEL, np, nr, xq + n0 * nb * Q8_BLOCK,
                          xd + n0 * nb, xs + n0 * nb, nt, nb, y + n0 * ldy + m, ldy,
                          n0 == 0 ? next : wq);
        }
    }
}
