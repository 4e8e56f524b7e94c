/* attn_avx2.c - attention loops on 8-wide vectors, in exactly the order of
 * attn.c (compiled with -ffp-contract=off: a*b + c rounds twice).
 *
 * Scores: each position's dot is one 8-lane accumulator; eight positions at
 * a time are transposed so that the lane tree of attn.h runs as seven vector
 * adds for all eight, instead of seven scalar adds each. The AVX-512 table
 * uses these scores too. */
#include "kernels/attn.h"

#include "kernels/act.h"
#include "kernels/avx2_util.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

/* Element i of a key/value row stored as float or (f16 set) IEEE half:
 * the conversion is exact, so both give the same floats downstream. */
static inline __attribute__((always_inline)) __m256 load8(const void *p, int64_t i, const int f16)
{
    return f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)))
               : _mm256_loadu_ps((const float *)p + i);
}
static inline __attribute__((always_inline)) float load1(const void *p, int64_t i, const int f16)
{
    return f16 ? _cvtsh_ss(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

static inline __attribute__((always_inline)) float dot(const float *a, const void *b, int32_t n,
                                                       const int f16)
{
    __m256 acc = _mm256_setzero_ps();
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load8(b, i, f16), acc);
    float l[8];
    _mm256_storeu_ps(l, acc);
    for (; i < n; i++)
        l[i % 8] = fmaf(a[i], load1(b, i, f16), l[i % 8]);
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

static inline __attribute__((always_inline)) void scores(const float *q, int32_t G, const void *K,
                                                         int64_t stride, int32_t n, int32_t hd,
                                                         float scale, float *out, int64_t ld,
                                                         const int f16)
{
    const size_t el = f16 ? 2 : 4;
    const char *Kb = K;
    const __m256 vs = _mm256_set1_ps(scale);
    int32_t t0 = 0;
    if (hd % 8 == 0)
        for (; t0 + 8 <= n; t0 += 8)
            for (int32_t g = 0; g < G; g++) {
                const float *qg = q + (int64_t)g * hd;
                __m256 acc[8];
#pragma GCC unroll 8
                for (int p = 0; p < 8; p++)
                    acc[p] = _mm256_setzero_ps();
                for (int32_t i = 0; i < hd; i += 8) {
                    const __m256 qv = _mm256_loadu_ps(qg + i);
#pragma GCC unroll 8
                    for (int p = 0; p < 8; p++)
                        acc[p] =
                            _mm256_fmadd_ps(qv, load8(Kb + (t0 + p) * stride * el, i, f16), acc[p]);
                }
                /* acc[p] lane j = l_j of position t0+p; after the transpose
                 * acc[j] lane p = l_j of position t0+p */
                transpose8(acc);
                const __m256 s = _mm256_add_ps(
                    _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])),
                    _mm256_add_ps(_mm256_add_ps(acc[4], acc[5]), _mm256_add_ps(acc[6], acc[7])));
                _mm256_storeu_ps(out + g * ld + t0, _mm256_mul_ps(s, vs));
            }
    for (int32_t g = 0; g < G; g++)
        for (int32_t t = t0; t < n; t++)
            out[g * ld + t] = dot(q + (int64_t)g * hd, Kb + t * stride * el, hd, f16) * scale;
}

void attn_scores_avx2(const float *q, int32_t G, const float *K, int64_t stride, int32_t n,
                      int32_t hd, float scale, float *out, int64_t ld)
{
    scores(q, G, K, stride, n, hd, scale, out, ld, 0);
}

void attn_scores_f16_avx2(const float *q, int32_t G, const uint16_t *K, int64_t stride, int32_t n,
                          int32_t hd, float scale, float *out, int64_t ld)
{
    scores(q, G, K, stride, n, hd, scale, out, ld, 1);
}

/* Heads g0, g0+1 (GN = 1 or 2) x output columns [i0, i0 + 8*NC) (NC <= 4):
 * up to 8 accumulators, each the sum over t in order of w[t] * v[t][i]
 * (the order of attn.c). Each value vector feeds both heads, and with 8
 * independent chains the FMA latency is hidden (one head's 4 chains of 32
 * outputs left the FMA pipes half idle). GN and NC are constants after
 * inlining. */
static inline __attribute__((always_inline)) void mix_block(const float *w, int64_t ld, const int GN,
                                                            const void *V, int64_t stride, int32_t n,
                                                            int32_t i0, const int NC, float *out,
                                                            int32_t hd, const int f16)
{
    const size_t el = f16 ? 2 : 4;
    const char *Vb = V;
    __m256 acc[2][4];
#pragma GCC unroll 2
    for (int g = 0; g < GN; g++)
#pragma GCC unroll 4
        for (int c = 0; c < NC; c++)
            acc[g][c] = _mm256_setzero_ps();
    for (int32_t t = 0; t < n; t++) {
        const char *v = Vb + t * stride * el;
        __m256 vv[4];
#pragma GCC unroll 4
        for (int c = 0; c < NC; c++)
            vv[c] = load8(v, i0 + 8 * c, f16);
#pragma GCC unroll 2
        for (int g = 0; g < GN; g++) {
            const __m256 wt = _mm256_set1_ps(w[g * ld + t]);
#pragma GCC unroll 4
            for (int c = 0; c < NC; c++)
                acc[g][c] = _mm256_fmadd_ps(wt, vv[c], acc[g][c]);
        }
    }
#pragma GCC unroll 2
    for (int g = 0; g < GN; g++)
#pragma GCC unroll 4
        for (int c = 0; c < NC; c++)
            _mm256_storeu_ps(out + (int64_t)g * hd + i0 + 8 * c, acc[g][c]);
}

static inline __attribute__((always_inline)) void mix(const float *w, int64_t ld, int32_t G,
                                                      const void *V, int64_t stride, int32_t n,
                                                      int32_t hd, float *out, const int f16)
{
    const size_t el = f16 ? 2 : 4;
    for (int32_t g0 = 0; g0 < G; g0 += 2) {
        const int gn = G - g0 < 2 ? 1 : 2;
        const float *wg = w + g0 * ld;
        float *og = out + (int64_t)g0 * hd;
        int32_t i0 = 0;
        for (; i0 + 8 <= hd; i0 += 32) {
            const int nc = (hd - i0) / 8 < 4 ? (hd - i0) / 8 : 4;
            switch ((gn - 1) * 4 + (nc - 1)) {
#define MIX(GN, NC)                                                                                \
    case (GN - 1) * 4 + (NC - 1):                                                                  \
        mix_block(wg, ld, GN, V, stride, n, i0, NC, og, hd, f16);                                  \
        break;
                MIX(1, 1) MIX(1, 2) MIX(1, 3) MIX(1, 4) MIX(2, 1) MIX(2, 2) MIX(2, 3) MIX(2, 4)
#undef MIX
            }
        }
        i0 = hd / 8 * 8; /* the columns past the last whole 8, one by one */
        for (int g = 0; g < gn; g++)
            for (int32_t i = i0; i < hd; i++) {
                float o = 0.0f;
                for (int32_t t = 0; t < n; t++)
                    o = fmaf(wg[g * ld + t], load1((const char *)V + t * stride * el, i, f16), o);
                og[(int64_t)g * hd + i] = o;
            }
    }
}

void attn_mix_avx2(const float *w, int64_t ld, int32_t G, const float *V, int64_t stride, int32_t n,
                   int32_t hd, float *out)
{
    mix(w, ld, G, V, stride, n, hd, out, 0);
}

void attn_mix_f16_avx2(const float *w, int64_t ld, int32_t G, const uint16_t *V, int64_t stride,
                       int32_t n, int32_t hd, float *out)
{
    mix(w, ld, G, V, stride, n, hd, out, 1);
}

void attn_f16_store_avx2(uint16_t *dst, const float *src, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

void attn_rows_avx2(const float *q, int64_t ldq, int32_t R, int32_t G, const void *K, const void *V,
                    bool f16, int64_t stride, int32_t n0, int32_t hd, float scale, float *scores,
                    int64_t ld, float *out, int64_t ldo, float *ws)
{
    (void)ws;
    static const struct attn_row_fns fn = {attn_scores_avx2, attn_scores_f16_avx2, act_softmax_avx2,
                                           attn_mix_avx2, attn_mix_f16_avx2};
    attn_rows_with(&fn, q, ldq, R, G, K, V, f16, stride, n0, hd, scale, scores, ld, out, ldo);
}
