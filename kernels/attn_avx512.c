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

/* 8 or 16 elements of a key/value row stored as float or (f16 set) IEEE
 * half; the conversion is exact. */
static inline __attribute__((always_inline)) __m256 load8(const void *p, int64_t i, const int f16)
{
    return f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)))
               : _mm256_loadu_ps((const float *)p + i);
}
static inline __attribute__((always_inline)) __m512 load16(const void *p, int64_t i, const int f16)
{
    return f16 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i)))
               : _mm512_loadu_ps((const float *)p + i);
}

/* Heads g0.. (gn <= 4, a constant after inlining), positions t0..t0+7 of
 * which those >= n repeat position n-1 (valid memory; not stored). */
static inline __attribute__((always_inline)) void
scores_block(const float *q, const int gn, const void *K, int64_t stride, int32_t t0, int32_t n,
             int32_t hd, __m512 vs, float *scores, int64_t ld, const int f16)
{
    const int64_t row_bytes = stride * (f16 ? 2 : 4);
    const char *kr[8];
#pragma GCC unroll 8
    for (int p = 0; p < 8; p++)
        kr[p] = (const char *)K + (t0 + p < n ? t0 + p : n - 1) * row_bytes;
    /* Keys stream from memory (one pass per step): ask for the block
     * PREFETCH_ROWS positions ahead, line by line, while this one computes. */
    if (t0 + PREFETCH_ROWS < n)
        for (int p = 0; p < 8; p++) {
            const char *r = kr[p] + PREFETCH_ROWS * row_bytes;
            for (int32_t b = 0; b < hd * (f16 ? 2 : 4); b += 64)
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
            kv[p] = _mm512_insertf32x8(_mm512_castps256_ps512(load8(kr[p], i, f16)),
                                       load8(kr[p + 4], i, f16), 1);
#pragma GCC unroll 4
        for (int g = 0; g < gn; g++) {
            const __m512 qv = _mm512_broadcast_f32x8(_mm256_loadu_ps(q + (int64_t)g * hd + i));
#pragma GCC unroll 4
            for (int p = 0; p < 4; p++)
                acc[g][p] = _mm512_fmadd_ps(qv, kv[p], acc[g][p]);
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

static inline __attribute__((always_inline)) void scores(const float *q, int32_t G, const void *K,
                                                         int64_t stride, int32_t n, int32_t hd,
                                                         float scale, float *out, int64_t ld,
                                                         const int f16)
{
    const __m512 vs = _mm512_set1_ps(scale);
    for (int32_t g0 = 0; g0 < G; g0 += 4) {
        const int32_t gn = G - g0 < 4 ? G - g0 : 4;
        const float *qg = q + (int64_t)g0 * hd;
        float *sg = out + g0 * ld;
        for (int32_t t0 = 0; t0 < n; t0 += 8)
            switch (gn) {
            case 1:
                scores_block(qg, 1, K, stride, t0, n, hd, vs, sg, ld, f16);
                break;
            case 2:
                scores_block(qg, 2, K, stride, t0, n, hd, vs, sg, ld, f16);
                break;
            case 3:
                scores_block(qg, 3, K, stride, t0, n, hd, vs, sg, ld, f16);
                break;
            default:
                scores_block(qg, 4, K, stride, t0, n, hd, vs, sg, ld, f16);
                break;
            }
    }
}

void attn_scores_avx512(const float *q, int32_t G, const float *K, int64_t stride, int32_t n,
                        int32_t hd, float scale, float *out, int64_t ld)
{
    if (hd % 8 != 0)
        attn_scores_avx2(q, G, K, stride, n, hd, scale, out, ld);
    else
        scores(q, G, K, stride, n, hd, scale, out, ld, 0);
}

void attn_scores_f16_avx512(const float *q, int32_t G, const uint16_t *K, int64_t stride, int32_t n,
                            int32_t hd, float scale, float *out, int64_t ld)
{
    if (hd % 8 != 0)
        attn_scores_f16_avx2(q, G, K, stride, n, hd, scale, out, ld);
    else
        scores(q, G, K, stride, n, hd, scale, out, ld, 1);
}

/* Heads g0..g0+gn-1 (gn <= 4), output columns [i0, i0 + 16*nc) (nc <= 4):
 * 16 accumulators at most. gn and nc are constants after inlining. */
static inline __attribute__((always_inline)) void
mix_block(const float *w, int64_t ld, const int gn, const void *V, int64_t stride, int32_t n,
          int32_t i0, const int nc, float *out, int32_t hd, const int f16)
{
    const int64_t el = f16 ? 2 : 4, row_bytes = stride * el;
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int g = 0; g < gn; g++)
#pragma GCC unroll 4
        for (int c = 0; c < nc; c++)
            acc[g][c] = _mm512_setzero_ps();
    for (int32_t t = 0; t < n; t++) {
        const char *v = (const char *)V + t * row_bytes + i0 * el;
        if (t + PREFETCH_ROWS < n)
#pragma GCC unroll 4
            for (int c = 0; c < nc; c += f16 ? 2 : 1)
                _mm_prefetch(v + PREFETCH_ROWS * row_bytes + 16 * c * el, _MM_HINT_T0);
        __m512 vv[4];
#pragma GCC unroll 4
        for (int c = 0; c < nc; c++)
            vv[c] = load16(v, 16 * c, f16);
#pragma GCC unroll 4
        for (int g = 0; g < gn; g++) {
            const __m512 wt = _mm512_set1_ps(w[g * ld + t]);
#pragma GCC unroll 4
            for (int c = 0; c < nc; c++)
                acc[g][c] = _mm512_fmadd_ps(wt, vv[c], acc[g][c]);
        }
    }
#pragma GCC unroll 4
    for (int g = 0; g < gn; g++)
#pragma GCC unroll 4
        for (int c = 0; c < nc; c++)
            _mm512_storeu_ps(out + (int64_t)g * hd + i0 + 16 * c, acc[g][c]);
}

static inline __attribute__((always_inline)) void mix(const float *w, int64_t ld, int32_t G,
                                                      const void *V, int64_t stride, int32_t n,
                                                      int32_t hd, float *out, const int f16)
{
    for (int32_t g0 = 0; g0 < G; g0 += 4) {
        const int32_t gn = G - g0 < 4 ? G - g0 : 4;
        const float *wg = w + g0 * ld;
        float *og = out + (int64_t)g0 * hd;
        for (int32_t i0 = 0; i0 < hd; i0 += 64) {
            const int32_t nc = (hd - i0) / 16 < 4 ? (hd - i0) / 16 : 4;
            switch ((gn - 1) * 4 + (nc - 1)) {
#define MIX(GN, NC)                                                                                \
    case (GN - 1) * 4 + (NC - 1):                                                                  \
        mix_block(wg, ld, GN, V, stride, n, i0, NC, og, hd, f16);                                  \
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

void attn_mix_avx512(const float *w, int64_t ld, int32_t G, const float *V, int64_t stride,
                     int32_t n, int32_t hd, float *out)
{
    if (hd % 16 != 0)
        attn_mix_avx2(w, ld, G, V, stride, n, hd, out);
    else
        mix(w, ld, G, V, stride, n, hd, out, 0);
}

void attn_mix_f16_avx512(const float *w, int64_t ld, int32_t G, const uint16_t *V, int64_t stride,
                         int32_t n, int32_t hd, float *out)
{
    if (hd % 16 != 0)
        attn_mix_f16_avx2(w, ld, G, V, stride, n, hd, out);
    else
        mix(w, ld, G, V, stride, n, hd, out, 1);
}

void attn_f16_store_avx512(uint16_t *dst, const float *src, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    attn_f16_store_avx2(dst + i, src + i, n - i);
}
