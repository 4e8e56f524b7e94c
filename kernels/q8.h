/* q8.h - int8 GEMM with per-block scales, for the large non-ternary matrix
 * (the LM head / tied embedding).
 *
 * At load the head (F16, BF16, Q8_0, Q4_K, Q6_K) is requantized once into
 * rows of Q8_BLOCK int8 values with one f32 scale per block; activations are
 * quantized the same way per token. Then, with dot_b the exact int32 dot
 * product of block b of the two rows and p_b = (float)dot_b * (wd_b * xd_b),
 * the row's value is defined by eight partial sums, lane j taking the blocks
 * b = j, j+8, j+16, ... in order (s_j = s_j + p_b, no fused multiply-add), and
 *   y = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)).
 * That order is what a 256-bit SIMD register does naturally, and the scalar
 * reference follows it, so every ISA gives the same floats bit for bit,
 * whatever the batch width.
 * Values are in [-127, 127] (never -128), which the SIMD sign trick needs.
 */
#ifndef LF_Q8_H
#define LF_Q8_H

#include <stddef.h>
#include <stdint.h>

#define Q8_BLOCK 32

/* A requantized matrix: rows x cols, each row nb = q8_blocks(cols) blocks of
 * Q8_BLOCK int8 (zero-padded past cols) and nb scales. */
struct q8_matrix {
    int64_t rows, cols;
    const int8_t *q; /* rows x nb*Q8_BLOCK */
    const float *d;  /* rows x nb */
};

int64_t q8_blocks(int64_t cols);

/* Quantize x[0..cols) into q[nb*Q8_BLOCK] and d[nb]: per block d = absmax/127
 * (1 if the block is zero... then q = 0), q = round-to-nearest-even(x/d). */
void q8_quantize_row(const float *x, int64_t cols, int8_t *q, float *d);

/* y[n*ldy + m] for n in [0,N), m in [m0,m1), as above. xq is N x nb*Q8_BLOCK,
 * xd is N x nb. Goes through the dispatch table. */
void q8_gemm(const struct q8_matrix *w, const int8_t *xq, const float *xd, int64_t N, float *y,
             int64_t ldy, int64_t m0, int64_t m1);

/* Per-ISA: one row times one token, nb blocks, in the order defined above. */
float q8_dot_ref(const int8_t *a, const float *ad, const int8_t *x, const float *xd, int64_t nb);
float q8_dot_avx2(const int8_t *a, const float *ad, const int8_t *x, const float *xd, int64_t nb);
float q8_dot_avx512(const int8_t *a, const float *ad, const int8_t *x, const float *xd, int64_t nb);

#endif
