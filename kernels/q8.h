/* q8.h - int8 GEMM with per-block scales, for the large non-ternary matrix
 * (the LM head / tied embedding).
 *
 * At load the head (F16, BF16, Q8_0, Q4_K, Q6_K) is requantized once into
 * rows of int8 values with one f32 scale per block of Q8_BLOCK (256) columns,
 * like llama.cpp's Q8_K; activations are quantized the same way per token.
 * With dot_b the exact int32 dot product of block b of a weight row and a
 * token, the output is
 *     y = sum over b = 0, 1, ... in order of (float)dot_b * (wd_b * xd_b)
 * (each product and sum rounded separately: no fused multiply-add). The SIMD
 * kernels compute only the exact int32 block dots - the float epilogue is one
 * shared scalar loop - so every ISA gives the same floats bit for bit,
 * whatever the batch width. Values are in [-127, 127] (never -128), which the
 * AVX2 sign trick needs. The AVX-512 kernel feeds vpdpbusd the activations as
 * unsigned x+128 and subtracts 128 * (sum of the weight block), precomputed.
 */
#ifndef LF_Q8_H
#define LF_Q8_H

#include <stddef.h>
#include <stdint.h>

#define Q8_BLOCK 256
#define Q8_TOKENS 4 /* tokens per call of the block-dot kernel */

/* A requantized matrix: rows x cols, each row nb = q8_blocks(cols) blocks of
 * Q8_BLOCK int8 (zero-padded past cols), nb scales and nb block sums. */
struct q8_matrix {
    int64_t rows, cols;
    const int8_t *q;      /* rows x nb*Q8_BLOCK */
    const float *d;       /* rows x nb */
    const int32_t *wsum;  /* rows x nb: sum of each block's values */
};

int64_t q8_blocks(int64_t cols);

/* Quantize x[0..cols) into q[nb*Q8_BLOCK] and d[nb]: per block d = absmax/127
 * (1 for an all-zero block), q = round-to-nearest-even(x/d); padding is 0. */
void q8_quantize_row(const float *x, int64_t cols, int8_t *q, float *d);
/* wsum[b] = sum of the Q8_BLOCK values of block b. */
void q8_block_sums(const int8_t *q, int64_t nb, int32_t *wsum);

/* y[n*ldy + m] for n in [0,N), m in [m0,m1), as above. xq is N x nb*Q8_BLOCK,
 * xd is N x nb; dots is scratch of Q8_TOKENS*nb int32. */
void q8_gemm(const struct q8_matrix *w, const int8_t *xq, const float *xd, int64_t N, float *y,
             int64_t ldy, int64_t m0, int64_t m1, int32_t *dots);

/* Per-ISA: dots[t*nb + b] = exact int32 dot of block b of weight row w (block
 * sums wsum) with block b of token t (tokens at x + t*x_stride), for t < ntok
 * (1..Q8_TOKENS), b < nb. */
void q8_dots_ref(const int8_t *w, const int32_t *wsum, const int8_t *x, int64_t x_stride,
                 int64_t ntok, int64_t nb, int32_t *dots);
void q8_dots_avx2(const int8_t *w, const int32_t *wsum, const int8_t *x, int64_t x_stride,
                  int64_t ntok, int64_t nb, int32_t *dots);
void q8_dots_avx512(const int8_t *w, const int32_t *wsum, const int8_t *x, int64_t x_stride,
                    int64_t ntok, int64_t nb, int32_t *dots);

#endif
