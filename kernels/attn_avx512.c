/* attn_avx512.c - scores and value mix on 16-wide vectors for up to 4 query
 * heads at once: each key and value row is loaded once and feeds every head
 * of its group. The floats are the reference's (-ffp-contract=off):
 *
 * Scores keep attn.h's eight partial sums per dot: a register holds the
 * eight lanes of two positions (t and t+4 of a block of 8), so one multiply
 * and one add advance two dots; the lane tree then runs on shuffles of four
 * such registers at once, pairing the same lanes as the reference.
 * Mix: per output element the additions run over t in order from 0. */
#include "kernels/attn.h"

#include <immintrin.h>

/* How far ahead (in positions) key and value rows are prefetched. */
#define PREFETCH_ROWS 16

/* Heads g0.. (gn <= 4, a constant after inlining), positions t0..t0+7 of
 * which those >= n repeat position n-1 (valid memory; not stored). */
static inline __attribute__((always_inline)) void scores_block(const float *q, const int gn,
                                                               const float *K, int64_t stride,
                                                               int32_t t0, int32_t n, int32_t hd,
                                                               __m512 vs, float *scores, int64_t ld)
{
    const float *kr[8];
#pragma GCC unroll 8
    for (int p = 0; p < 8; p++)
        kr[p] = K + (t0 + p < n ? t0 + p : n - 1) * stride;
    /* Keys stream from memory (one pass per step): ask for the block
     * PREFETCH_ROWS positions ahead, line by line, while this one computes. */
    if (t0 + PREFETCH_ROWS < n)
        for (int p = 0; p < 8; p++) {
            const char *r = (const char *)(kr[p] + PREFETCH_ROWS * stride);
            for (int32_t b = 0; b < hd * 4; b += 64)
                _mm_prefetch(r + b, _MM_HINT_T0);
        }
    __m512 acc[4][4]; /* [head][p]: lanes 0-7 position t0+p, 8-15 position t0+4+p */
#pragma GCC unroll 4
    for (int g = 0; g < gn; g++)
#pragma GCC unroll 4
        for (int p = 0; p < 4; p++)
            acc[g][p] = _mm512_setzero_ps();
    for (int32_t i = 0; i < hd; i += 8) {
        __m512 kv[4];
#pragma GCC unroll 4
        for (int p = 0; p < 4; p++)
            kv[p] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(kr[p] + i)),
                                       _mm256_loadu_ps(kr[p + 4] + i), 1);
#pragma GCC unroll 4
        for (int g = 0; g < gn; g++) {
            const __m512 qv = _mm512_broadcast_f32x8(_mm256_loadu_ps(q + (int64_t)g * hd + i));
#pragma GCC unroll 4
            for (int p = 0; p < 4; p++)
                acc[g][p] = _mm512_add_ps(acc[g][p], _mm512_mul_ps(qv, kv[p]));
        }
    }
    const int32_t nv = n - t0 < 8 ? n - t0 : 8;
    const __mmask8 keep = (__mmask8)((1u << nv) - 1);
#pragma GCC unroll 4
    for (int g = 0; g < gn; g++) {
        /* ((l0+l1)+(l2+l3)) and ((l4+l5)+(l6+l7)) side by side, then their sum:
         * each 128-bit quarter of b01/b23 holds adjacent-pair sums, of c the
         * 4-lane sums, quarters 0/1 (positions t0..t0+3) and 2/3 (t0+4..). */
        const __m512 *a = acc[g];
        const __m512 b01 =
            _mm512_add_ps(_mm512_shuffle_ps(a[0], a[1], 0x88), _mm512_shuffle_ps(a[0], a[1], 0xDD));
        const __m512 b23 =
            _mm512_add_ps(_mm512_shuffle_ps(a[2], a[3], 0x88), _mm512_shuffle_ps(a[2], a[3], 0xDD));
        const __m512 c =
            _mm512_add_ps(_mm512_shuffle_ps(b01, b23, 0x88), _mm512_shuffle_ps(b01, b23, 0xDD));
        const __m512 d = _mm512_add_ps(_mm512_shuffle_f32x4(c, c, 0x08),  /* quarters 0, 2 */
                                       _mm512_shuffle_f32x4(c, c, 0x0D)); /* quarters 1, 3 */
        _mm256_mask_storeu_ps(scores + g * ld + t0, keep,
                              _mm256_mul_ps(_mm512_castps512_ps256(d), _mm512_castps512_ps256(vs)));
    }
}

void attn_scores_avx512(const float *q, int32_t G, const float *K, int64_t stride, int32_t n,
                        int32_t hd, float scale, float *scores, int64_t ld)
{
    if (hd % 8 != 0) {
        attn_scores_avx2(q, G, K, stride, n, hd, scale, scores, ld);
        return;
    }
    const __m512 vs = _mm512_set1_ps(scale);
    for (int32_t g0 = 0; g0 < G; g0 += 4) {
        const int32_t gn = G - g0 < 4 ? G - g0 : 4;
        const float *qg = q + (int64_t)g0 * hd;
        float *sg = scores + g0 * ld;
        for (int32_t t0 = 0; t0 < n; t0 += 8)
            switch (gn) {
            case 1:
                scores_block(qg, 1, K, stride, t0, n, hd, vs, sg, ld);
                break;
            case 2:
                scores_block(qg, 2, K, stride, t0, n, hd, vs, sg, ld);
                break;
            case 3:
                scores_block(qg, 3, K, stride, t0, n, hd, vs, sg, ld);
                break;
            default:
                scores_block(qg, 4, K, stride, t0, n, hd, vs, sg, ld);
                break;
            }
    }
}

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
        if (t + PREFETCH_ROWS < n)
#pragma GCC unroll 4
            for (int c = 0; c < nc; c++)
                _mm_prefetch((const char *)(v + PREFETCH_ROWS * stride + 16 * c), _MM_HINT_T0);
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
                MIX(1, 2)
                MIX(1, 3) MIX(1, 4) MIX(2, 1) MIX(2, 2) MIX(2, 3) MIX(2, 4) MIX(3, 1) MIX(3, 2)
                    MIX(3, 3) MIX(3, 4) MIX(4, 1) MIX(4, 2) MIX(4, 3) MIX(4, 4)
#undef MIX
            }
        }
    }
}
