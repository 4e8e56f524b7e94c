/* q8_amx.c - the LM head's int8 block GEMM (q8.h) on AMX tiles, for batches
 * of Q8_AMX_MIN_TOKENS tokens or more on CPUs with AMX-INT8. Compiled with
 * the AVX-512 flags plus -mamx-tile -mamx-int8; q8_gemm() calls it only when
 * kern_ops()->amx is set (the CPU has AMX and the kernel granted the tile
 * state).
 *
 * The panel layout is already AMX's: 64 bytes of a panel at block b, step s
 * hold 4 columns of each of its 16 rows, row after row, which is one row of
 * a B tile in the "VNNI" order tdpbssd wants (byte 4r + j of B row kk is
 * output row r at column 4kk + j). So a 64-column chunk of a panel, 16
 * steps, is one B tile loaded straight from the matrix with a 64-byte
 * stride, and the A tile is 16 tokens' int8 activations over the same 64
 * columns, loaded from the token rows. Both are signed (values in
 * [-127, 127]), so tdpbssd's sums are the exact dots with no correction.
 *
 * Tiles: C0..C3 (2 token tiles x 2 panels of int32 sums), A0, A1, B0, B1.
 * The accumulators cover one 256-column block (4 chunks); then they go to a
 * small buffer and the float epilogue adds (float)dot * (wd * xd) to each
 * output's running sum, block after block, exactly the operations of
 * q8_panel_ref in its order. So every token's outputs are the same floats
 * as on every other ISA, whatever the batch. The epilogue of a block runs
 * after the next block's tiles are computed and stored: reading a tile's
 * sums right after storing them stalled (the 32000 x 1024 head at 32 tokens,
 * one thread: 6.1 -> 3.3 ms). The first token pair prefetches each chunk
 * of the next block as it loads the same chunk of this one: 2.6 -> 2.35 ms
 * at 16 tokens, 3.7 -> 3.35 at 32 (medians of 21 runs alternating in one
 * process); prefetching the whole next panel pair at once was slower.
 */
#include "kernels/amx_util.h"
#include "kernels/q8.h"

#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#define PF_AHEAD (Q8_BLOCK * Q8_PANEL) /* bytes: one block of a panel */

/* sum[t][16 j + r] += (float)dot[j][t][r] * (wd[j][r] * xd[t]) for the n
 * tokens of one token tile and np panels; for the first block (first set)
 * the sums start from 0.0f instead of what sum holds (0.0f + p, as the
 * definition adds, so -0.0f products come out +0.0f there too). Not a
 * memset of sum per token pair: rep stosb took a third of the head's
 * time at 128 tokens. */
static inline void epilogue(const int32_t (*dot)[256], const float *const wd[2], int np,
                            const float *xd, int64_t nb, int n, float (*sum)[32], bool first)
{
    for (int t = 0; t < n; t++) {
        const __m512 xdv = _mm512_set1_ps(xd[t * nb]);
        for (int j = 0; j < np; j++) {
            const __m512 scale = _mm512_mul_ps(_mm512_loadu_ps(wd[j]), xdv);
            const __m512 p =
                _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512(dot[j] + 16 * t)), scale);
            const __m512 prev = first ? _mm512_setzero_ps() : _mm512_load_ps(sum[t] + 16 * j);
            _mm512_store_ps(sum[t] + 16 * j, _mm512_add_ps(prev, p));
        }
    }
}

void q8_gemm_amx(const struct q8_matrix *w, const int8_t *xq, const float *xd, int64_t N, float *y,
                 int64_t ldy, int64_t m0, int64_t m1)
{
    if (m1 <= m0 || N < 1) return;
    const int64_t nb = q8_blocks(w->cols), panel_bytes = Q8_PANEL * nb * Q8_BLOCK,
                  tok_bytes = nb * Q8_BLOCK;
    int32_t dot[2][4][256] __attribute__((aligned(64))); /* C0..C3 of the last two blocks */
    float sum[32][32] __attribute__((aligned(64)));      /* token x the pair's 32 rows */
    int cur[2] = {-1, -1};                               /* the tile shape loaded */
    const int64_t p1 = q8_panels(m1);
    for (int64_t p = m0 / Q8_PANEL; p < p1; p += 2) {
        const int np = p + 1 < p1 ? 2 : 1;
        const int8_t *wa = w->q + p * panel_bytes, *wb = wa + (np - 1) * panel_bytes;
        const float *da = w->d + p * nb * Q8_PANEL, *db = da + (np - 1) * nb * Q8_PANEL;
        for (int64_t t0 = 0; t0 < N; t0 += 32) {
            int r0, r1;
            amx_pair_shape(N - t0, cur, &r0, &r1);
            _tile_zero(0);
            _tile_zero(1);
            if (r1) {
                _tile_zero(2);
                _tile_zero(3);
            }
            const int8_t *xa = xq + t0 * tok_bytes, *xb = xa + 16 * tok_bytes;
            for (int64_t b = 0; b <= nb; b++) {
                if (b < nb) {
                    if (b) {
                        _tile_zero(0);
                        _tile_zero(1);
                        if (r1) {
                            _tile_zero(2);
                            _tile_zero(3);
                        }
                    }
                    const int64_t wo = b * Q8_BLOCK * Q8_PANEL, xo = b * Q8_BLOCK;
                    for (int c = 0; c < Q8_BLOCK / 64; c++) {
                        /* the same chunk of the next block (the first token
                         * pair streams the weights; prefetch past the end
                         * of a panel or the matrix is harmless) */
                        if (t0 == 0)
                            for (int i = 0; i < 1024; i += 64) {
                                _mm_prefetch((const char *)(wa + wo + PF_AHEAD + c * 1024 + i),
                                             _MM_HINT_T0);
                                _mm_prefetch((const char *)(wb + wo + PF_AHEAD + c * 1024 + i),
                                             _MM_HINT_T0);
                            }
                        _tile_loadd(6, wa + wo + c * 1024, 64);
                        _tile_loadd(4, xa + xo + c * 64, tok_bytes);
                        _tile_dpbssd(0, 4, 6);
                        if (np == 2) {
                            _tile_loadd(7, wb + wo + c * 1024, 64);
                            _tile_dpbssd(1, 4, 7);
                        }
                        if (r1) {
                            _tile_loadd(5, xb + xo + c * 64, tok_bytes);
                            _tile_dpbssd(2, 5, 6);
                            if (np == 2) _tile_dpbssd(3, 5, 7);
                        }
                    }
                    int32_t(*d)[256] = dot[b & 1];
                    _tile_stored(0, d[0], 64);
                    if (np == 2) _tile_stored(1, d[1], 64);
                    if (r1) {
                        _tile_stored(2, d[2], 64);
                        if (np == 2) _tile_stored(3, d[3], 64);
                    }
                }
                /* the previous block's epilogue, while this block's sums
                 * are still on their way to memory */
                if (b == 0) continue;
                const int64_t e = b - 1;
                int32_t(*d)[256] = dot[e & 1];
                const float *const wd[2] = {da + e * Q8_PANEL, db + e * Q8_PANEL};
                epilogue(d, wd, np, xd + t0 * nb + e, nb, r0, sum, e == 0);
                if (r1) epilogue(d + 2, wd, np, xd + (t0 + 16) * nb + e, nb, r1, sum + 16, e == 0);
            }
            /* rows [16p, m1) of the pair; m0 is a multiple of 16 */
            for (int j = 0; j < np; j++) {
                const int64_t first = 16 * (p + j), rows = m1 - first < 16 ? m1 - first : 16;
                const __mmask16 k = (__mmask16)((1u << rows) - 1);
                for (int t = 0; t < r0 + r1; t++)
                    _mm512_mask_storeu_ps(y + (t0 + t) * ldy + first, k,
                                          _mm512_load_ps(sum[t] + 16 * j));
            }
        }
    }
    _tile_release();
}
