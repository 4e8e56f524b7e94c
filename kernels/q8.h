/* q8.h - int8 GEMM with per-block scales, for the large non-ternary matrix
 * (the LM head / tied embedding).
 *
 * At load the head (F16, BF16, Q8_0, Q4_K, Q6_K) is requantized once into
 * int8 values with one f32 scale per block of Q8_BLOCK (256) columns, like
 * llama.cpp's Q8_K; activations are quantized the same way per token. With
 * dot_b the exact int32 dot product of block b of a weight row and a token,
 * the output is
 *     y = sum over b = 0, 1, ... in order of (float)dot_b * (wd_b * xd_b)
 * (each product and sum rounded separately: no fused multiply-add). Every
 * ISA computes exactly these operations in this order, so every ISA gives
 * the same floats bit for bit, whatever the batch width or the tile an
 * output falls in. Values are in [-127, 127] (never -128), which the AVX2
 * sign trick needs.
 *
 * Weights are stored in panels of Q8_PANEL (16) rows, the layout of a
 * multiply-accumulate over 16 rows at once: for panel p, block b and step s
 * (0..63), 64 bytes hold 4 consecutive columns 256b+4s.. of each of the 16
 * rows, row after row (q8_weight_index). One 64-byte load then feeds 16 rows'
 * dot products with the same 4 activations of a token (broadcast), so no
 * horizontal sums are needed: lane r of the accumulator is row r. The
 * AVX-512 kernel (vpdpbusd multiplies unsigned by signed bytes) feeds the
 * weights as w+128 and subtracts 128 * (the token's block sum), which the
 * activation quantizer provides. Scales of panel p, block b are 16
 * consecutive floats, one per row (padding rows: 0).
 *
 * Activations: token t's int8 values are nb*Q8_BLOCK bytes in plain order,
 * its scales xd[t*nb + b] and block sums xs[t*nb + b].
 */
#ifndef LF_Q8_H
#define LF_Q8_H

#include <stddef.h>
#include <stdint.h>

#define Q8_BLOCK 256
#define Q8_PANEL 16 /* rows per panel */
#define Q8_TOKENS 8 /* tokens per kernel call at most */
#define Q8_PANELS 4 /* panels per kernel call at most */

/* A requantized matrix: rows x cols in panels (above), nb = q8_blocks(cols)
 * blocks per row, zero-padded past cols and past rows. */
struct q8_matrix {
    int64_t rows, cols;
    const int8_t *q; /* q8_panels(rows) * 16 * nb * Q8_BLOCK */
    const float *d;  /* q8_panels(rows) * nb * 16 scales */
};

int64_t q8_blocks(int64_t cols);
/* Panels covering n rows: ceil(n / 16). */
int64_t q8_panels(int64_t rows);
/* Offset of weight (row r, column k) in q, for a matrix of nb blocks. */
static inline int64_t q8_weight_index(int64_t r, int64_t k, int64_t nb)
{
    const int64_t p = r / Q8_PANEL, b = k / Q8_BLOCK, s = k % Q8_BLOCK / 4;
    return (((p * nb + b) * (Q8_BLOCK / 4) + s) * Q8_PANEL + r % Q8_PANEL) * 4 + k % 4;
}
/* Offset of the scale of (row r, block b) in d. */
static inline int64_t q8_scale_index(int64_t r, int64_t b, int64_t nb)
{
    return ((r / Q8_PANEL) * nb + b) * Q8_PANEL + r % Q8_PANEL;
}

/* Quantize x[0..cols) into q[nb*Q8_BLOCK] (plain order), d[nb] and, if s is
 * not NULL, the block sums s[nb]: per block d = absmax/127 (1 for an all-zero
 * block), q = round-to-nearest-even(x/d); padding is 0. */
void q8_quantize_row(const float *x, int64_t cols, int8_t *q, float *d, int32_t *s);
/* Store row r (nb blocks of plain-order values q and scales d, as
 * q8_quantize_row gives them) into a panel matrix's arrays. */
void q8_store_row(int8_t *wq, float *wd, int64_t nb, int64_t r, const int8_t *q, const float *d);

/* y[n*ldy + m] for n in [0,N), m in [m0,m1), as above. xq is N x nb*Q8_BLOCK,
 * xd and xs the tokens' scales and block sums (N x nb). m0 must be a
 * multiple of Q8_PANEL (threads split rows in multiples of 16). */
void q8_gemm(const struct q8_matrix *w, const int8_t *xq, const float *xd, const int32_t *xs,
             int64_t N, float *y, int64_t ldy, int64_t m0, int64_t m1);

/* Per-ISA kernel: np <= Q8_PANELS panels starting at panel wq/wd (rows of
 * which the first nr are stored), nt <= Q8_TOKENS tokens at x (token t at
 * x + t*nb*Q8_BLOCK, its scales and sums at xd/xs + t*nb):
 *   y[t*ldy + r] = sum over b in order of (float)dot(r,t,b) * (wd[r,b] * xd[t*nb+b])
 * for r < nr. pf is the start of the panels the next call will read (or wq):
 * prefetched at the same offsets as wq is read. */
void q8_panel_ref(const int8_t *wq, const float *wd, int np, int64_t nr, const int8_t *x,
                  const float *xd, const int32_t *xs, int nt, int64_t nb, float *y, int64_t ldy,
                  const int8_t *pf);
void q8_panel_avx2(const int8_t *wq, const float *wd, int np, int64_t nr, const int8_t *x,
                   const float *xd, const int32_t *xs, int nt, int64_t nb, float *y, int64_t ldy,
                   const int8_t *pf);
void q8_panel_avx512(const int8_t *wq, const float *wd, int np, int64_t nr, const int8_t *x,
                     const float *xd, const int32_t *xs, int nt, int64_t nb, float *y, int64_t ldy,
                     const int8_t *pf);

/* The same GEMM on AMX tiles (q8_amx.c), all N tokens, rows [m0, m1) (m0 a
 * multiple of 16); the same floats. Only when kern_ops()->amx is set:
 * q8_gemm() sends batches of Q8_AMX_MIN_TOKENS or more here. */
#define Q8_AMX_MIN_TOKENS 16
void q8_gemm_amx(const struct q8_matrix *w, const int8_t *xq, const float *xd, int64_t N, float *y,
                 int64_t ldy, int64_t m0, int64_t m1);

#endif
