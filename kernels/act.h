/* act.h - the kernels between the matmuls: int8 quantization of
 * activations and back, norms, softmax, the gated activation.
 *
 * act_quant_i8: per-token absmax quantization to int8, as BitNet b1.58 was
 * trained: xs = 127 / max|x| (127 / 1e-5 when max|x| <= 1e-5), and
 * q[j] = round-half-even(clamp(x[j] * xs, -128, 127)). Every step is one
 * IEEE operation per element (the maximum is exact in any order), so the
 * SIMD versions give the reference's bytes and scale exactly.
 */
#ifndef LF_ACT_H
#define LF_ACT_H

#include <stdint.h>

void act_quant_i8_ref(const float *x, int64_t n, int8_t *q, float *xs);
void act_quant_i8_avx2(const float *x, int64_t n, int8_t *q, float *xs);
void act_quant_i8_avx512(const float *x, int64_t n, int8_t *q, float *xs);

/* act_dequant: y[n*ldy + r] = ((float)yi[n*ldi + r] * rs[r]) * d[n] with
 * d[n] = scale / xs[n], for n in [0,N), r in [r0,r1), rounded after each
 * operation in that order (int32 products of a ternary matmul back to
 * floats: the row's weight scale, then the tensor scale over the token's
 * activation scale, divided once per token rather than once per element). */
void act_dequant_ref(const int32_t *yi, int64_t ldi, int64_t N, int64_t r0, int64_t r1,
                     const float *rs, const float *xs, float scale, float *y, int64_t ldy);
void act_dequant_avx2(const int32_t *yi, int64_t ldi, int64_t N, int64_t r0, int64_t r1,
                      const float *rs, const float *xs, float scale, float *y, int64_t ldy);
void act_dequant_avx512(const int32_t *yi, int64_t ldi, int64_t N, int64_t r0, int64_t r1,
                        const float *rs, const float *xs, float scale, float *y, int64_t ldy);

/* The float kernels around the matmuls. Each is defined by its scalar
 * reference; the SIMD versions perform the same IEEE operations in the same
 * order, fused multiply-adds exactly where the reference calls fmaf, so they
 * agree bit for bit.
 *
 * act_expf: e^x by Cody-Waite range reduction, x = n ln2 + r with
 *   n = round(x log2e) (ties to even) and ln2 split in two (r = x - n ln2hi
 *   - n ln2lo, each step one fused multiply-add), a degree-7 polynomial
 *   (Cephes' expf coefficients) for e^r in fused multiply-adds (Horner), and
 *   2^n put into the exponent; x is clamped to [-87.33, 88], so the result
 *   is always a finite normal float (within 2 ulp of e^x there). Fused:
 *   15 vector operations instead of 26 on AVX-512.
 * Sums (rmsnorm's squares, softmax's exponentials) run in 16 interleaved
 *   lanes - element j is added to lane j % 16, in order - reduced by the
 *   fixed tree s[l] += s[l+8], s[l] += s[l+4], s[l] += s[l+2], s[0] + s[1].
 * act_rmsnorm: o[j] = w[j] * (x[j] * (1 / sqrt(sum(x^2) / n + eps))).
 * act_softmax: x[j] = e(x[j] - max) / sum_j e(x[j] - max), with e = act_expf,
 *   the division as one multiply by the reciprocal of the sum.
 * act_swiglu: g[j] = g[j] * (1 / (1 + e(-g[j]))) * u[j] (SiLU(g) * u).
 * act_add: x[j] = x[j] + a[j] (the residual connection).
 */
float act_expf(float x);
float act_sum16_ref(const float *x, int64_t n);
void act_rmsnorm_ref(float *o, const float *x, const float *w, int64_t n, float eps);
void act_softmax_ref(float *x, int64_t n);
void act_swiglu_ref(float *g, const float *u, int64_t n);
void act_rmsnorm_avx2(float *o, const float *x, const float *w, int64_t n, float eps);
void act_softmax_avx2(float *x, int64_t n);
void act_swiglu_avx2(float *g, const float *u, int64_t n);
void act_rmsnorm_avx512(float *o, const float *x, const float *w, int64_t n, float eps);
void act_softmax_avx512(float *x, int64_t n);
void act_swiglu_avx512(float *g, const float *u, int64_t n);
/* act_argmax: the lowest j with the largest clean(x[j]) over [0, n) (n >= 1),
 * where clean maps NaN to -inf and +inf to FLT_MAX (greedy sampling: ties
 * keep the lower id, and a NaN logit never wins). */
int64_t act_argmax_ref(const float *x, int64_t n);
int64_t act_argmax_avx2(const float *x, int64_t n);
int64_t act_argmax_avx512(const float *x, int64_t n);
void act_add_ref(float *x, const float *a, int64_t n);
void act_add_avx2(float *x, const float *a, int64_t n);
void act_add_avx512(float *x, const float *a, int64_t n);
/* Rotary embedding of one head by angles cs = (cos 0, sin 0, cos 1, sin 1,
 * ...): pair i, (a, b), becomes (a cos_i - b sin_i, a sin_i + b cos_i).
 * act_rope_norm: the n values of h (n even) in adjacent pairs (h[2i],
 *   h[2i + 1]) with angle i: h[d], h[d + 1] by cs[d], cs[d + 1].
 * act_rope_neox: pairs (h[i], h[i + half]) for i < half, by cs[2i], cs[2i + 1]. */
void act_rope_norm_ref(float *h, const float *cs, int64_t n);
void act_rope_norm_avx2(float *h, const float *cs, int64_t n);
void act_rope_norm_avx512(float *h, const float *cs, int64_t n);
void act_rope_neox_ref(float *h, const float *cs, int64_t half);
void act_rope_neox_avx2(float *h, const float *cs, int64_t half);
void act_rope_neox_avx512(float *h, const float *cs, int64_t half);

/* The constants of act_expf, shared by every version. */
#define ACT_EXP_HI 88.0f /* n <= 127: 2^n stays a normal float */
#define ACT_EXP_LO -87.3365479f
#define ACT_LOG2E 1.44269504088896341f
#define ACT_LN2_HI 0.693359375f
#define ACT_LN2_LO -2.12194440e-4f
#define ACT_EXP_P0 1.9875691500e-4f
#define ACT_EXP_P1 1.3981999507e-3f
#define ACT_EXP_P2 8.3334519073e-3f
#define ACT_EXP_P3 4.1665795894e-2f
#define ACT_EXP_P4 1.6666665459e-1f
#define ACT_EXP_P5 5.0000001201e-1f
#define ACT_ROUND_MAGIC 12582912.0f /* 1.5 * 2^23 */

/* The scale rule shared by every version. */
static inline float act_quant_scale(float amax)
{
    return amax > 1e-5f ? 127.0f / amax : 127.0f / 1e-5f;
}

#endif
