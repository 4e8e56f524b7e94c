/* act.h - activation-side kernels of the ternary matmuls.
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

/* act_dequant: y[n*ldy + r] = (float)yi[n*ldi + r] * rs[r] / xs[n] * scale
 * for n in [0,N), r in [r0,r1), rounded after each operation in that order
 * (int32 products of a ternary matmul back to floats: the row's weight scale,
 * the token's activation scale, the tensor scale). */
void act_dequant_ref(const int32_t *yi, int64_t ldi, int64_t N, int64_t r0, int64_t r1,
                     const float *rs, const float *xs, float scale, float *y, int64_t ldy);
void act_dequant_avx2(const int32_t *yi, int64_t ldi, int64_t N, int64_t r0, int64_t r1,
                      const float *rs, const float *xs, float scale, float *y, int64_t ldy);
void act_dequant_avx512(const int32_t *yi, int64_t ldi, int64_t N, int64_t r0, int64_t r1,
                        const float *rs, const float *xs, float scale, float *y, int64_t ldy);

/* The scale rule shared by every version. */
static inline float act_quant_scale(float amax)
{
    return amax > 1e-5f ? 127.0f / amax : 127.0f / 1e-5f;
}

#endif
