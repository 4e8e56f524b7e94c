/* attn_avx512.c - the value mix on 16-wide vectors for up to 4 query heads
 * at once: each value row is loaded once and feeds every head of its group.
 * Per output element the additions run over t in order from 0, as in attn.c,
 * so the floats are the reference's (-ffp-contract=off). */
#include "kernels/attn.h"

#include <immintrin.h>

/* Heads g0..g0+gn-1 (gn <= 4), output columns [i0, i0 + 16*nc) (nc <= 4):
 * 16 accumulators at most. gn and nc are constants after inlining. */
static inline __attribute__((always_inline)) void mix_block(const float *w, int64_t ld,
                                                            const int gn, const float *V,
                                                            int64_t stride, int32_t n, int32_t i0,
                                                            const int nc, float *out, int32_t hd)
{
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int g = 0; g < gn; g++)
#pragma GCC unroll 4
        for (int c = 0; c < nc; c++)
            acc[g][c] = _mm512_setzero_ps();
    for (int32_t t = 0; t < n; t++) {
        const float *v = V + t * stride + i0;
        __m512 vv[4];
#pragma GCC unroll 4
        for (int c = 0; c < nc; c++)
            vv[c] = _mm512_loadu_ps(v + 16 * c);
#pragma GCC unroll 4
        for (int g = 0; g < gn; g++) {
            const __m512 wt = _mm512_set1_ps(w[g * ld + t]);
#pragma GCC unroll 4
            for (int c = 0; c < nc; c++)
                acc[g][c] = _mm512_add_ps(acc[g][c], _mm512_mul_ps(wt, vv[c]));
        }
    }
#pragma GCC unroll 4
    for (int g = 0; g < gn; g++)
#pragma GCC unroll 4
        for (int c = 0; c < nc; c++)
            _mm512_storeu_ps(out + (int64_t)g * hd + i0 + 16 * c, acc[g][c]);
}

void attn_mix_avx512(const float *w, int64_t ld, int32_t G, const float *V, int64_t stride,
                     int32_t n, int32_t hd, float *out)
{
    if (hd % 16 != 0) {
        attn_mix_avx2(w, ld, G, V, stride, n, hd, out);
        return;
    }
    for (int32_t g0 = 0; g0 < G; g0 += 4) {
        const int32_t gn = G - g0 < 4 ? G - g0 : 4;
        const float *wg = w + g0 * ld;
        float *og = out + (int64_t)g0 * hd;
        for (int32_t i0 = 0; i0 < hd; i0 += 64) {
            const int32_t nc = (hd - i0) / 16 < 4 ? (hd - i0) / 16 : 4;
            switch ((gn - 1) * 4 + (nc - 1)) {
#define MIX(GN, NC)                                                                                \
    case (GN - 1) * 4 + (NC - 1):                                                                  \
        mix_block(wg, ld, GN, V, stride, n, i0, NC, og, hd);                                       \
        break;
                MIX(1, 1)
                MIX(1, 2) MIX(1, 3) MIX(1, 4) MIX(2, 1) MIX(2, 2) MIX(2, 3) MIX(2, 4) MIX(3, 1)
                    MIX(3, 2) MIX(3, 3) MIX(3, 4) MIX(4, 1) MIX(4, 2) MIX(4, 3) MIX(4, 4)
#undef MIX
            }
        }
    }
}
