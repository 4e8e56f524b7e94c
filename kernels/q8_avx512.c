/* q8_avx512.c - the int8 panel GEMM with AVX-512 VNNI (q8.h).
 *
 * One 64-byte load of a panel is 4 columns of 16 rows; vpdpbusd multiplies
 * it, as unsigned bytes w+128 (w xor 0x80), by the same 4 activations of a
 * token broadcast to all 16 lanes, and adds the 4 products into lane r = row
 * r. A call keeps NP panels x T tokens of such accumulators in registers (4
 * x 4 for narrow batches, 2 x 8 for wide ones: at most 16) over a block, so
 * each weight load serves T tokens and each broadcast NP panels. At the end
 * of a block, 128 * (the token's block sum) comes off - the exact dot - and
 * the float epilogue runs lane by lane in the reference's order. */
#include "kernels/avx512_util.h"
#include "kernels/q8.h"

#include <immintrin.h>
#include <string.h>

static inline __attribute__((always_inline)) void
panels(const int8_t *wq, const float *wd, const int NP, int np, int64_t nr, const int8_t *x,
       const float *xd, const int32_t *xs, const int T, int nt, int64_t nb, float *y, int64_t ldy,
       const int8_t *pf)
{
    const int64_t panel_bytes = Q8_PANEL * nb * Q8_BLOCK, token_bytes = nb * Q8_BLOCK;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    /* Panels and tokens past np / nt repeat the last real one (valid memory,
     * wasted products at the edge of the matrix or batch, never stored). */
    const int8_t *wp[4];
    const float *dp[4];
#pragma GCC unroll 4
    for (int j = 0; j < NP; j++) {
        const int jj = j < np ? j : np - 1;
        wp[j] = wq + jj * panel_bytes;
        dp[j] = wd + jj * nb * Q8_PANEL;
    }
    int tt[8];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        tt[t] = t < nt ? t : nt - 1;
    __m512 sum[4][8];
#pragma GCC unroll 4
    for (int j = 0; j < NP; j++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            sum[j][t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m512i acc[4][8];
#pragma GCC unroll 4
        for (int j = 0; j < NP; j++)
#pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                acc[j][t] = _mm512_setzero_si512();
        const int64_t wb = b * Q8_BLOCK * Q8_PANEL;
        for (int s = 0; s < Q8_BLOCK / 4; s++) {
            const int64_t off = wb + s * 64;
            __m512i wv[4];
#pragma GCC unroll 4
            for (int j = 0; j < NP; j++) {
                wv[j] = _mm512_xor_si512(_mm512_loadu_si512(wp[j] + off), flip);
                _mm_prefetch((const char *)(pf + j * panel_bytes + off), _MM_HINT_T0);
            }
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                int32_t x4;
                memcpy(&x4, x + tt[t] * token_bytes + b * Q8_BLOCK + 4 * s, 4);
                const __m512i xv = _mm512_set1_epi32(x4);
#pragma GCC unroll 4
                for (int j = 0; j < NP; j++)
                    acc[j][t] = dpbusd(acc[j][t], wv[j], xv);
            }
        }
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const __m512i corr = _mm512_set1_epi32(xs[tt[t] * nb + b] * 128);
            const __m512 xdv = _mm512_set1_ps(xd[tt[t] * nb + b]);
#pragma GCC unroll 4
            for (int j = 0; j < NP; j++) {
                const __m512i dot = _mm512_sub_epi32(acc[j][t], corr);
                const __m512 scale = _mm512_mul_ps(_mm512_loadu_ps(dp[j] + b * Q8_PANEL), xdv);
                sum[j][t] = _mm512_add_ps(sum[j][t], _mm512_mul_ps(_mm512_cvtepi32_ps(dot), scale));
            }
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < NP; j++) {
        const int64_t rows = nr - j * Q8_PANEL;
        if (j >= np || rows <= 0) continue;
        const __mmask16 k = rows >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << rows) - 1);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            if (t < nt) _mm512_mask_storeu_ps(y + t * ldy + j * Q8_PANEL, k, sum[j][t]);
    }
}

void q8_panel_avx512(const int8_t *wq, const float *wd, int np, int64_t nr, const int8_t *x,
                     const float *xd, const int32_t *xs, int nt, int64_t nb, float *y, int64_t ldy,
                     const int8_t *pf)
{
    if (nt <= 4) {
        switch (nt) {
#define CASE4(T)                                                                                   \
    case T:                                                                                        \
        panels(wq, wd, 4, np, nr, x, xd, xs, T, nt, nb, y, ldy, pf);                               \
        break;
            CASE4(1) CASE4(2) CASE4(3) default : CASE4(4)
#undef CASE4
        }
        return;
    }
    /* 2 panels x up to 8 tokens per pass */
    const int64_t panel_bytes = Q8_PANEL * nb * Q8_BLOCK;
    for (int j0 = 0; j0 < np; j0 += 2) {
        const int n2 = np - j0 < 2 ? np - j0 : 2;
        const int8_t *w2 = wq + j0 * panel_bytes, *p2 = pf + j0 * panel_bytes;
        const float *d2 = wd + j0 * nb * Q8_PANEL;
        const int64_t r2 = nr - j0 * Q8_PANEL;
        float *y2 = y + j0 * Q8_PANEL;
        switch (nt) {
#define CASE8(T)                                                                                   \
    case T:                                                                                        \
        panels(w2, d2, 2, n2, r2, x, xd, xs, T, nt, nb, y2, ldy, p2);                              \
        break;
            CASE8(5) CASE8(6) CASE8(7) default : CASE8(8)
#undef CASE8
        }
    }
}
