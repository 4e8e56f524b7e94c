/* q8_avx2.c - the int8 panel GEMM with AVX2 (q8.h): a 64-byte panel step is
 * two registers of 8 rows x 4 columns. Each token's 4 activations are
 * broadcast; maddubs multiplies |x| (unsigned) by w with x's sign, madd sums
 * the pairs to int32 in lane r = row r. |w|, |x| <= 127, so the int16 pair
 * sums stay below 2*127*127 = 32258: no saturation. The float epilogue is
 * the reference's, operation for operation. */
#include "kernels/q8.h"

#include <immintrin.h>
#include <string.h>

/* acc += the int32 pair sums of w * x over 8 rows (lane r = row r): |x|
 * (unsigned) times w with x's sign, pairs summed to int32 by vpmaddwd.
 * Inline assembly with acc in-out, so that GCC keeps the tile's
 * accumulators in registers (with intrinsics GCC 12 spilled the float
 * sums and accumulators of a 4-token tile around every step). */
static inline __attribute__((always_inline)) __m256i dot_acc(__m256i acc, __m256i w, __m256i xv,
                                                             __m256i ax, __m256i ones)
{
    __m256i p;
    __asm__("vpsignb %3, %2, %1\n\t"
            "vpmaddubsw %1, %4, %1\n\t"
            "vpmaddwd %5, %1, %1\n\t"
            "vpaddd %1, %0, %0"
            : "+x"(acc), "=&x"(p)
            : "x"(w), "x"(xv), "x"(ax), "x"(ones));
    return acc;
}

/* One panel, T tokens (a constant after inlining; tokens past nt repeat the
 * last one and are not stored). */
static inline __attribute__((always_inline)) void
panel(const int8_t *wq, const float *wd, int64_t nr, const int8_t *x, const float *xd, const int T,
      int nt, int64_t nb, float *y, int64_t ldy, const int8_t *pf)
{
    const int64_t token_bytes = nb * Q8_BLOCK;
    const __m256i ones = _mm256_set1_epi16(1);
    int tt[4];
#pragma GCC unroll 4
    for (int t = 0; t < T; t++)
        tt[t] = t < nt ? t : nt - 1;
    __m256 sum[4][2];
#pragma GCC unroll 4
    for (int t = 0; t < T; t++)
        sum[t][0] = sum[t][1] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i acc[4][2];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            acc[t][0] = acc[t][1] = _mm256_setzero_si256();
        const int64_t wb = b * Q8_BLOCK * Q8_PANEL;
        for (int s = 0; s < Q8_BLOCK / 4; s++) {
            const int8_t *ws = wq + wb + s * 64;
            _mm_prefetch((const char *)(pf + wb + s * 64), _MM_HINT_T0);
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)ws);
            const __m256i w1 = _mm256_loadu_si256((const __m256i *)(ws + 32));
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) {
                int32_t x4;
                memcpy(&x4, x + tt[t] * token_bytes + b * Q8_BLOCK + 4 * s, 4);
                const __m256i xv = _mm256_set1_epi32(x4), ax = _mm256_abs_epi8(xv);
                acc[t][0] = dot_acc(acc[t][0], w0, xv, ax, ones);
                acc[t][1] = dot_acc(acc[t][1], w1, xv, ax, ones);
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const __m256 xdv = _mm256_set1_ps(xd[tt[t] * nb + b]);
            for (int h = 0; h < 2; h++) {
                const __m256 scale = _mm256_mul_ps(_mm256_loadu_ps(wd + b * Q8_PANEL + 8 * h), xdv);
                sum[t][h] =
                    _mm256_add_ps(sum[t][h], _mm256_mul_ps(_mm256_cvtepi32_ps(acc[t][h]), scale));
            }
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) {
        if (t >= nt) continue;
        float out[16];
        _mm256_storeu_ps(out, sum[t][0]);
        _mm256_storeu_ps(out + 8, sum[t][1]);
        memcpy(y + t * ldy, out, (size_t)(nr < 16 ? nr : 16) * sizeof(float));
    }
}

void q8_panel_avx2(const int8_t *wq, const float *wd, int np, int64_t nr, const int8_t *x,
                   const float *xd, const int32_t *xs, int nt, int64_t nb, float *y, int64_t ldy,
                   const int8_t *pf)
{
    (void)xs;
    const int64_t panel_bytes = Q8_PANEL * nb * Q8_BLOCK;
    for (int j = 0; j < np; j++) {
        const int8_t *wj = wq + j * panel_bytes, *pj = pf + j * panel_bytes;
        const float *dj = wd + j * nb * Q8_PANEL;
        const int64_t rj = nr - j * Q8_PANEL;
        for (int t0 = 0; t0 < nt; t0 += 4) {
            const int n4 = nt - t0 < 4 ? nt - t0 : 4;
            const int8_t *xt = x + t0 * nb * Q8_BLOCK;
            float *yt = y + t0 * ldy + j * Q8_PANEL;
            switch (n4) {
#define CASE(T)                                                                                    \
    case T:                                                                                        \
        panel(wj, dj, rj, xt, xd + t0 * nb, T, n4, nb, yt, ldy, pj);                               \
        break;
                CASE(1) CASE(2) CASE(3) default : CASE(4)
#undef CASE
            }
        }
    }
}
