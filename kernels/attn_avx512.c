/* attn_avx512.c - scores and value mix on 16-wide vectors for up to 4 query
 * heads at once: each key and value row is loaded once and feeds every head
 * of its group. The floats are the reference's (-ffp-contract=off):
 *
 * Scores keep attn.h's eight partial sums per dot: a register holds the
 * eight lanes of two positions (t and t+4 of a block of 8), so one multiply
 * and one add advance two dots; the lane tree then runs on shuffles of four
 * such registers at once, pairing the same lanes as the reference.
 * Mix: per output element the additions run over t in order from 0.
 * attn_rows (a block of a prompt's rows) runs the same loops over tiles of
 * keys and values converted to floats once for the whole block, the keys
 * already in the score loop's register order (below). */
#include "kernels/attn.h"

#include "kernels/act.h"

#include <immintrin.h>
#include <stdbool.h>

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

/* The lane tree of four accumulators (lanes 0-7 position p, 8-15 position
 * 4+p, p = 0..3) times the scale: the first nv of the 8 scores into s. */
static inline __attribute__((always_inline)) void store_scores(const __m512 a[4], __m512 vs,
                                                               float *s, int32_t nv)
{
    /* ((l0+l1)+(l2+l3)) and ((l4+l5)+(l6+l7)) side by side, then their sum:
     * each 128-bit quarter of b01/b23 holds adjacent-pair sums, of c the
     * 4-lane sums, quarters 0/1 (positions 0..3) and 2/3 (4..7). */
    const __m512 b01 =
        _mm512_add_ps(_mm512_shuffle_ps(a[0], a[1], 0x88), _mm512_shuffle_ps(a[0], a[1], 0xDD));
    const __m512 b23 =
        _mm512_add_ps(_mm512_shuffle_ps(a[2], a[3], 0x88), _mm512_shuffle_ps(a[2], a[3], 0xDD));
    const __m512 c =
        _mm512_add_ps(_mm512_shuffle_ps(b01, b23, 0x88), _mm512_shuffle_ps(b01, b23, 0xDD));
    const __m512 d = _mm512_add_ps(_mm512_shuffle_f32x4(c, c, 0x08),  /* quarters 0, 2 */
                                   _mm512_shuffle_f32x4(c, c, 0x0D)); /* quarters 1, 3 */
    _mm256_mask_storeu_ps(s, (__mmask8)((1u << nv) - 1),
                          _mm256_mul_ps(_mm512_castps512_ps256(d), _mm512_castps512_ps256(vs)));
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
#pragma GCC unroll 4
    for (int g = 0; g < gn; g++)
        store_scores(acc[g], vs, scores + g * ld + t0, nv);
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
 * 16 accumulators at most. gn and nc are constants after inlining. The sums
 * start from 0, or with more set from what out holds (the same sums over
 * earlier positions). */
static inline __attribute__((always_inline)) void
mix_block(const float *w, int64_t ld, const int gn, const void *V, int64_t stride, int32_t n,
          int32_t i0, const int nc, float *out, int32_t hd, const int f16, bool more)
{
    const int64_t el = f16 ? 2 : 4, row_bytes = stride * el;
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int g = 0; g < gn; g++)
#pragma GCC unroll 4
        for (int c = 0; c < nc; c++)
            acc[g][c] =
                more ? _mm512_loadu_ps(out + (int64_t)g * hd + i0 + 16 * c) : _mm512_setzero_ps();
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
                                                      int32_t hd, float *out, const int f16,
                                                      bool more)
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
        mix_block(wg, ld, GN, V, stride, n, i0, NC, og, hd, f16, more);                            \
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
        mix(w, ld, G, V, stride, n, hd, out, 0, false);
}

void attn_mix_f16_avx512(const float *w, int64_t ld, int32_t G, const uint16_t *V, int64_t stride,
                         int32_t n, int32_t hd, float *out)
{
    if (hd % 16 != 0)
        attn_mix_f16_avx2(w, ld, G, V, stride, n, hd, out);
    else
        mix(w, ld, G, V, stride, n, hd, out, 1, false);
}

void attn_f16_store_avx512(uint16_t *dst, const float *src, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    attn_f16_store_avx2(dst + i, src + i, n - i);
}

/* Fewer rows than this go row by row, reading the cache directly. */
#define ROWS_TILED 4

/* attn_rows: tiles of P positions. Keys as floats in the order the scores
 * loop reads them (block b of 8 positions, chunk c of 8 elements, register
 * p: lanes 0-7 position 8b+p, lanes 8-15 position 8b+4+p), positions >= n
 * repeating position n-1 (valid memory; their scores are not stored). */
static inline __attribute__((always_inline)) void key_tile(const void *K, int64_t stride,
                                                           int32_t t0, int32_t P, int32_t n,
                                                           int32_t hd, float *kt, const int f16)
{
    const int64_t row_bytes = stride * (f16 ? 2 : 4);
    for (int32_t b = 0; b < P / 8 && t0 + 8 * b < n; b++) {
        const char *kr[8];
        for (int p = 0; p < 8; p++) {
            const int32_t t = t0 + 8 * b + p;
            kr[p] = (const char *)K + (t < n ? t : n - 1) * row_bytes;
        }
        float *o = kt + (int64_t)b * hd * 8;
        for (int32_t i = 0; i < hd; i += 8, o += 64)
#pragma GCC unroll 4
            for (int p = 0; p < 4; p++)
                _mm512_store_ps(o + 16 * p,
                                _mm512_insertf32x8(_mm512_castps256_ps512(load8(kr[p], i, f16)),
                                                   load8(kr[p + 4], i, f16), 1));
    }
}

/* scores_block over a block of key_tile: the same operations. */
static inline __attribute__((always_inline)) void tile_block(const float *q, const int gn,
                                                             const float *kb, int32_t hd, __m512 vs,
                                                             float *scores, int64_t ld, int32_t nv)
{
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int g = 0; g < gn; g++)
#pragma GCC unroll 4
        for (int p = 0; p < 4; p++)
            acc[g][p] = _mm512_setzero_ps();
    for (int32_t i = 0; i < hd; i += 8, kb += 64) {
#pragma GCC unroll 4
        for (int g = 0; g < gn; g++) {
            const __m512 qv = _mm512_broadcast_f32x8(_mm256_loadu_ps(q + (int64_t)g * hd + i));
#pragma GCC unroll 4
            for (int p = 0; p < 4; p++)
                acc[g][p] = _mm512_fmadd_ps(qv, _mm512_load_ps(kb + 16 * p), acc[g][p]);
        }
    }
#pragma GCC unroll 4
    for (int g = 0; g < gn; g++)
        store_scores(acc[g], vs, scores + g * ld, nv);
}

/* Scores of one row's G heads at positions [t0, t1) (t1 <= its n) of the
 * tile of keys from t0. */
static void tile_scores(const float *q, int32_t G, const float *kt, int32_t t0, int32_t t1,
                        int32_t hd, __m512 vs, float *out, int64_t ld)
{
    for (int32_t g0 = 0; g0 < G; g0 += 4) {
        const int32_t gn = G - g0 < 4 ? G - g0 : 4;
        const float *qg = q + (int64_t)g0 * hd;
        for (int32_t t = t0; t < t1; t += 8) {
            const float *kb = kt + (int64_t)(t - t0) * hd;
            float *s = out + g0 * ld + t;
            const int32_t nv = t1 - t < 8 ? t1 - t : 8;
            switch (gn) {
            case 1:
                tile_block(qg, 1, kb, hd, vs, s, ld, nv);
                break;
            case 2:
                tile_block(qg, 2, kb, hd, vs, s, ld, nv);
                break;
            case 3:
                tile_block(qg, 3, kb, hd, vs, s, ld, nv);
                break;
            default:
                tile_block(qg, 4, kb, hd, vs, s, ld, nv);
                break;
            }
        }
    }
}

/* Values t0..t0+nt-1 as floats, hd apart. */
static void value_tile(const void *V, int64_t stride, int32_t t0, int32_t nt, int32_t hd, float *vt,
                       const int f16)
{
    for (int32_t t = 0; t < nt; t++)
        for (int32_t i = 0; i < hd; i += 16)
            _mm512_store_ps(vt + (int64_t)t * hd + i,
                            load16((const char *)V + (t0 + t) * stride * (f16 ? 2 : 4), i, f16));
}

static inline __attribute__((always_inline)) void
rows_tiled(const float *q, int64_t ldq, int32_t R, int32_t G, const void *K, const void *V,
           int64_t stride, int32_t n0, int32_t hd, float scale, float *scores, int64_t ld,
           float *out, int64_t ldo, float *ws, const int f16)
{
    const int32_t P = attn_rows_tile(hd), n = n0 + R; /* the last row's positions */
    float *kt = ws, *vt = ws + (int64_t)P * hd;
    const __m512 vs = _mm512_set1_ps(scale);
    for (int32_t t0 = 0; t0 < n; t0 += P) {
        key_tile(K, stride, t0, P, n, hd, kt, f16);
        for (int32_t r = 0; r < R; r++) {
            const int32_t nr = n0 + r + 1;
            if (nr > t0)
                tile_scores(q + r * ldq, G, kt, t0, nr < t0 + P ? nr : t0 + P, hd, vs,
                            scores + (int64_t)r * G * ld, ld);
        }
    }
    for (int32_t r = 0; r < R; r++)
        for (int32_t g = 0; g < G; g++)
            act_softmax_avx512(scores + ((int64_t)r * G + g) * ld, n0 + r + 1);
    for (int32_t t0 = 0; t0 < n; t0 += P) {
        value_tile(V, stride, t0, n - t0 < P ? n - t0 : P, hd, vt, f16);
        for (int32_t r = 0; r < R; r++) {
            const int32_t nr = n0 + r + 1;
            if (nr > t0)
                mix(scores + (int64_t)r * G * ld + t0, ld, G, vt, hd, nr - t0 < P ? nr - t0 : P, hd,
                    out + r * ldo, 0, t0 > 0);
        }
    }
}

void attn_rows_avx512(const float *q, int64_t ldq, int32_t R, int32_t G, const void *K,
                      const void *V, bool f16, int64_t stride, int32_t n0, int32_t hd, float scale,
                      float *scores, int64_t ld, float *out, int64_t ldo, float *ws)
{
    static const struct attn_row_fns fn = {attn_scores_avx512, attn_scores_f16_avx512,
                                           act_softmax_avx512, attn_mix_avx512,
                                           attn_mix_f16_avx512};
    if (hd % 16 != 0)
        attn_rows_avx2(q, ldq, R, G, K, V, f16, stride, n0, hd, scale, scores, ld, out, ldo, ws);
    else if (R < ROWS_TILED) /* copying the tiles would cost more than it saves */
        attn_rows_with(&fn, q, ldq, R, G, K, V, f16, stride, n0, hd, scale, scores, ld, out, ldo);
    else if (f16)
        rows_tiled(q, ldq, R, G, K, V, stride, n0, hd, scale, scores, ld, out, ldo, ws, 1);
    else
        rows_tiled(q, ldq, R, G, K, V, stride, n0, hd, scale, scores, ld, out, ldo, ws, 0);
}
