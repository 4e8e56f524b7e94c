/* attn.h - the two inner loops of attention, per sequence and KV head.
 *
 * A KV head serves G query heads (grouped-query attention), so the kernels
 * take the G heads together and read each key and value row once for all
 * of them.
 *
 * Scores: s[g][t] = dot(q_g, K[t]) * scale for t in [0, n), where dot is
 * defined by eight interleaved partial sums (element i goes to lane i % 8,
 * each lane adds in order with a fused multiply-add, l = fmaf(a, b, l): one
 * rounding) and the tree ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)). Mix:
 * out_g[i] = fmaf(w_g[t], V[t][i], out_g[i]) over t in order, starting from
 * 0. Both orders are what 8-wide vectors do, so the SIMD versions give the
 * reference's floats bit for bit (every SIMD ISA here has FMA; the
 * reference calls fmaf). Fused: one instruction instead of a multiply and
 * an add; prefill attention of 512 tokens (SMALL, 2 threads) measured
 * 93-107 -> 76-83 ms in paired runs.
 *
 * Shapes: q is G x hd (head after head), K and V rows are `stride` floats
 * apart, scores and weights are G rows of `ld` floats, out is G x hd.
 */
#ifndef LF_ATTN_H
#define LF_ATTN_H

#include <stdbool.h>
#include <stdint.h>

/* The dot product above but with each product and sum rounded separately
 * (no fused multiply-add), for the float matmuls of the reference path. */
float attn_dot_ref(const float *a, const float *b, int32_t n);

void attn_scores_ref(const float *q, int32_t G, const float *K, int64_t stride, int32_t n,
                     int32_t hd, float scale, float *scores, int64_t ld);
void attn_mix_ref(const float *w, int64_t ld, int32_t G, const float *V, int64_t stride, int32_t n,
                  int32_t hd, float *out);
void attn_scores_avx2(const float *q, int32_t G, const float *K, int64_t stride, int32_t n,
                      int32_t hd, float scale, float *scores, int64_t ld);
void attn_mix_avx2(const float *w, int64_t ld, int32_t G, const float *V, int64_t stride, int32_t n,
                   int32_t hd, float *out);
void attn_scores_avx512(const float *q, int32_t G, const float *K, int64_t stride, int32_t n,
                        int32_t hd, float scale, float *scores, int64_t ld);
void attn_mix_avx512(const float *w, int64_t ld, int32_t G, const float *V, int64_t stride,
                     int32_t n, int32_t hd, float *out);

/* The same with the keys / values stored as IEEE half floats: each element
 * is converted exactly (quant_f16_to_f32) and the operations and their order
 * are those above. attn_f16_store writes dst[i] = src[i] rounded to the
 * nearest half, ties to even (quant_f32_to_f16). */
void attn_scores_f16_ref(const float *q, int32_t G, const uint16_t *K, int64_t stride, int32_t n,
                         int32_t hd, float scale, float *scores, int64_t ld);
void attn_mix_f16_ref(const float *w, int64_t ld, int32_t G, const uint16_t *V, int64_t stride,
                      int32_t n, int32_t hd, float *out);
void attn_f16_store_ref(uint16_t *dst, const float *src, int64_t n);
void attn_scores_f16_avx2(const float *q, int32_t G, const uint16_t *K, int64_t stride, int32_t n,
                          int32_t hd, float scale, float *scores, int64_t ld);
void attn_mix_f16_avx2(const float *w, int64_t ld, int32_t G, const uint16_t *V, int64_t stride,
                       int32_t n, int32_t hd, float *out);
void attn_f16_store_avx2(uint16_t *dst, const float *src, int64_t n);
void attn_scores_f16_avx512(const float *q, int32_t G, const uint16_t *K, int64_t stride, int32_t n,
                            int32_t hd, float scale, float *scores, int64_t ld);
void attn_mix_f16_avx512(const float *w, int64_t ld, int32_t G, const uint16_t *V, int64_t stride,
                         int32_t n, int32_t hd, float *out);
void attn_f16_store_avx512(uint16_t *dst, const float *src, int64_t n);

/* Attention of R consecutive query rows of one sequence, for the G query
 * heads of one KV head: row r (G heads of hd floats at q + r*ldq) attends
 * positions 0..n0+r of K and V (stored as floats, or with f16 set as IEEE
 * halves): its scores into the G rows of ld floats at scores + r*G*ld, each
 * head's act_softmax over its n0+r+1 scores, and the mix into out + r*ldo.
 * The floats are those of attn_scores, act_softmax and attn_mix run row after
 * row (the reference does just that). The AVX-512 version reads the keys and
 * values once per tile of attn_rows_tile(hd) positions for all R rows, as
 * floats in its workspace (attn_rows_ws_floats(hd) floats, 64-byte aligned),
 * instead of once per row from the cache. */
int32_t attn_rows_tile(int32_t hd);
int64_t attn_rows_ws_floats(int32_t hd);
void attn_rows_ref(const float *q, int64_t ldq, int32_t R, int32_t G, const void *K, const void *V,
                   bool f16, int64_t stride, int32_t n0, int32_t hd, float scale, float *scores,
                   int64_t ld, float *out, int64_t ldo, float *ws);
/* attn_rows as that row-after-row loop over the kernels in fn (the
 * reference and AVX2 versions are this with their own kernels). */
struct attn_row_fns {
    void (*scores)(const float *q, int32_t G, const float *K, int64_t stride, int32_t n, int32_t hd,
                   float scale, float *scores, int64_t ld);
    void (*scores_f16)(const float *q, int32_t G, const uint16_t *K, int64_t stride, int32_t n,
                       int32_t hd, float scale, float *scores, int64_t ld);
    void (*softmax)(float *x, int64_t n);
    void (*mix)(const float *w, int64_t ld, int32_t G, const float *V, int64_t stride, int32_t n,
                int32_t hd, float *out);
    void (*mix_f16)(const float *w, int64_t ld, int32_t G, const uint16_t *V, int64_t stride,
                    int32_t n, int32_t hd, float *out);
};
void attn_rows_with(const struct attn_row_fns *fn, const float *q, int64_t ldq, int32_t R,
                    int32_t G, const void *K, const void *V, bool f16, int64_t stride, int32_t n0,
                    int32_t hd, float scale, float *scores, int64_t ld, float *out, int64_t ldo);
void attn_rows_avx2(const float *q, int64_t ldq, int32_t R, int32_t G, const void *K, const void *V,
                    bool f16, int64_t stride, int32_t n0, int32_t hd, float scale, float *scores,
                    int64_t ld, float *out, int64_t ldo, float *ws);
void attn_rows_avx512(const float *q, int64_t ldq, int32_t R, int32_t G, const void *K,
                      const void *V, bool f16, int64_t stride, int32_t n0, int32_t hd, float scale,
                      float *scores, int64_t ld, float *out, int64_t ldo, float *ws);

#endif
