/* q8.h - int8 GEMM with per-block scales, for the large non-ternary matrix
 * (the LM head / tied embedding).
 *
 * At load the head (F16, BF16, Q8_0, Q4_K, Q6_K) is requantized once into
 * rows of int8 values with one f32 scale per block of Q8_BLOCK (256) columns,
 * like llama.cpp's Q8_K; activations are quantized the same way per token.
 * With dot_b the exact int32 dot product of block b of a weight row and a
 * token, the output is
 *     y = sum over b = 0, 1, ... in order of (float)dot_b * (wd_b * xd_b)
 * (each product and sum rounded separately: no fused multiply-add). Every
 * ISA computes exactly these operations in this order, so every ISA gives
 * the same floats bit for bit, whatever the batch width or the tile an
 * output falls in. Values are in [-127, 127] (never -128), which the AVX2
 * sign trick needs. The AVX-512 kernel feeds vpdpbusd the activations as
 * unsigned x+128 and subtracts 128 * (sum of the weight block), precomputed.
 *
 * Kernels work on tiles of 16 (row, token) pairs: 4 rows x 4 tokens when the
 * batch has 4 or more tokens, so each weight load serves 4 tokens and each
 * activation load 4 rows; 8 x 2 for two tokens; 16 x 1 for one, so that a
 * single stream still amortizes the tile's reduction over 16 rows. The
 * per-block scales (and block sums) are therefore stored interleaved by
 * groups of 4: the scales of block b of rows 4g..4g+3 are 4 consecutive
 * floats, d[(g * nb + b) * 4 + r], and the same for tokens. A kernel loads
 * them as one 128-bit vector.
 */
#ifndef LF_Q8_H
#define LF_Q8_H

#include <stddef.h>
#include <stdint.h>

#define Q8_BLOCK 256
#define Q8_ROWS 4   /* rows per group of scales; tiles are 4, 8 or 16 rows */
#define Q8_TOKENS 4 /* tokens per group of scales and per tile at most */

/* A requantized matrix: rows x cols, each row nb = q8_blocks(cols) blocks of
 * Q8_BLOCK int8 (zero-padded past cols). d and wsum hold one scale and one
 * block sum per row and block in the grouped layout above
 * (q8_group_index), q8_groups(rows) * nb * Q8_ROWS entries each (padding
 * rows: scale 0, sum 0). */
struct q8_matrix {
    int64_t rows, cols;
    const int8_t *q;     /* rows x nb*Q8_BLOCK */
    const float *d;      /* grouped: scales */
    const int32_t *wsum; /* grouped: sum of each block's values */
};

int64_t q8_blocks(int64_t cols);
/* Groups of 4 rows (or tokens) covering n: ceil(n / 4). */
int64_t q8_groups(int64_t n);
/* Index of (row or token i, block b) in a grouped scale array. */
static inline int64_t q8_group_index(int64_t i, int64_t b, int64_t nb)
{
    return ((i / 4) * nb + b) * 4 + i % 4;
}

/* Quantize x[0..cols) into q[nb*Q8_BLOCK] and the scales of row (or token)
 * i into the grouped array d: per block d = absmax/127 (1 for an all-zero
 * block), q = round-to-nearest-even(x/d); padding is 0. */
void q8_quantize_row(const float *x, int64_t cols, int8_t *q, float *d, int64_t i);
/* Block sums of row i (its nb blocks at q) into the grouped array wsum. */
void q8_block_sums(const int8_t *q, int64_t nb, int32_t *wsum, int64_t i);

/* y[n*ldy + m] for n in [0,N), m in [m0,m1), as above. xq is N x nb*Q8_BLOCK,
 * xd the N tokens' scales, grouped (q8_groups(N) * nb * 4 floats). m0 must be
 * a multiple of Q8_ROWS (threads split rows in multiples of 16). */
void q8_gemm(const struct q8_matrix *w, const int8_t *xq, const float *xd, int64_t N, float *y,
             int64_t ldy, int64_t m0, int64_t m1);

/* The tile shape q8_gemm uses for a batch of N tokens: T tokens (4, 2 or 1)
 * by 16 / T rows. */
int q8_tile_tokens(int64_t N);

/* Per-ISA tile: for r < nr, t < nt with nt <= q8_tile_tokens(nt) = T and
 * nr <= 16 / T,
 *   y[t*ldy + r] = sum over b in order of (float)dot(r,t,b) * (wd'[b][r] * xd[b*4+t])
 * where weight row r starts at w + r*nb*Q8_BLOCK, token t at x + t*nb*Q8_BLOCK,
 * wd and wsum point at the first row's group (wd'[b][r] = wd[(r/4)*nb*4 +
 * b*4 + r%4]; the first row is a multiple of 4) and xd at the tokens' group,
 * offset by the first token's slot in it (all nt tokens in one group). */
void q8_tile_ref(const int8_t *w, const float *wd, const int32_t *wsum, int64_t nr, const int8_t *x,
                 const float *xd, int64_t nt, int64_t nb, float *y, int64_t ldy);
void q8_tile_avx2(const int8_t *w, const float *wd, const int32_t *wsum, int64_t nr,
                  const int8_t *x, const float *xd, int64_t nt, int64_t nb, float *y, int64_t ldy);
void q8_tile_avx512(const int8_t *w, const float *wd, const int32_t *wsum, int64_t nr,
                    const int8_t *x, const float *xd, int64_t nt, int64_t nb, float *y,
                    int64_t ldy);

#endif
