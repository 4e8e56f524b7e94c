/* q8.h - int8 GEMM with per-block scales, for the large non-ternary matrix
 * (the LM head / tied embedding).
 *
 * At load the head (F16, BF16, Q8_0, Q4_K, Q6_K) is requantized once into
 * rows of Q8_BLOCK int8 values with one f32 scale per block; activations are
 * quantized the same way per token. Then
 *   y[n][m] = sum over blocks b, in order, of (float)dot_b * (wd[m][b] * xd[n][b])
 * where dot_b is the exact int32 dot product of the two blocks. The SIMD
 * kernels compute only the int32 block dots (exact, so bit-identical to the
 * reference); the float combination is one shared scalar loop, so every path
 * gives the same floats, independent of the batch width.
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
 * xd is N x nb. dots is scratch of nb int32. Goes through the dispatch table
 * for the block dots. */
void q8_gemm(const struct q8_matrix *w, const int8_t *xq, const float *xd, int64_t N, float *y,
             int64_t ldy, int64_t m0, int64_t m1, int32_t *dots);

/* Per-ISA: dots[b] = sum_i a[b*32+i] * x[b*32+i] for b in [0, nb), exact. */
void q8_block_dots_ref(const int8_t *a, const int8_t *x, int64_t nb, int32_t *dots);
void q8_block_dots_avx2(const int8_t *a, const int8_t *x, int64_t nb, int32_t *dots);
void q8_block_dots_avx512(const int8_t *a, const int8_t *x, int64_t nb, int32_t *dots);

#endif
