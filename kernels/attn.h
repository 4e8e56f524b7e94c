/* attn.h - the two inner loops of attention, per sequence and head.
 *
 * Scores: s[t] = dot(q, K[t]) * scale for t in [0, n), where dot is defined
 * by eight interleaved partial sums (element i goes to lane i % 8, each lane
 * adds in order, a*b + c rounded twice - no fused multiply-add) and the tree
 * ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)). Mix: out[i] = sum over t in order of
 * w[t] * V[t][i], starting from 0. Both orders are what 8-wide vectors do, so
 * the SIMD versions give the reference's floats bit for bit.
 */
#ifndef LF_ATTN_H
#define LF_ATTN_H

#include <stdint.h>

/* The dot product above, for callers outside the kernels. */
float attn_dot_ref(const float *a, const float *b, int32_t n);

void attn_scores_ref(const float *q, const float *K, int64_t stride, int32_t n, int32_t hd,
                     float scale, float *scores);
void attn_mix_ref(const float *w, const float *V, int64_t stride, int32_t n, int32_t hd, float *out);
void attn_scores_avx2(const float *q, const float *K, int64_t stride, int32_t n, int32_t hd,
                      float scale, float *scores);
void attn_mix_avx2(const float *w, const float *V, int64_t stride, int32_t n, int32_t hd, float *out);

#endif
