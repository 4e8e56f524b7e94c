/* vlut_amx.c - the PANEL multiply-add kernel (vlut.h: vlut_mad_panels) on
 * AMX tiles, for wide batches on CPUs with AMX-INT8 (Sapphire Rapids and
 * later). Compiled with the AVX-512 flags plus -mamx-tile -mamx-int8;
 * chosen by kern_fill() only when the CPU has AMX and the kernel granted
 * this process the tile state (kern_amx_usable()).
 *
 * One tdpbsud multiplies a 16 x 64 tile of signed bytes by a 64 x 16 tile
 * of unsigned bytes into 16 x 16 int32 sums: 16,384 products, against 64
 * for one vpdpbusd. The A tile is 16 tokens' activations over 64 columns,
 * loaded straight from the padded activation rows (xpad, row stride
 * x_stride). The B tile is 16 output rows over the same 64 columns in the
 * "VNNI" order AMX wants: byte 4c + j of B row kk is the code of output row
 * c at column 4kk + j. That is exactly one quarter of a PANEL block (vlut.h:
 * byte 4r + j of block b holds, at bits 2q, row r's code at column
 * 16b + 4q + j), so B row 4b + q of a 64-column chunk is block b's quarter
 * q, one shift and one mask away. The codes are w + 1 in {0, 1, 2} and the
 * sums come out as sum x * (w + 1); subtracting the token's activation sum
 * (xsum) gives sum x * w, as in every other multiply-add kernel. Exact:
 * |x * (w + 1)| <= 256 per product, so a row of K <= 8,388,607 columns
 * cannot overflow int32.
 *
 * Tiles: C0..C3 (2 token tiles x 2 panels of accumulators), A0, A1, B0, B1.
 * For each pair of panels the kernel unpacks the codes of a segment of
 * AMX_SEG chunks (512 columns, 16 KiB for both panels, stays in L1) into
 * B tiles once, and runs every 32-token pair of the group (up to
 * AMX_GROUP tokens) over them, keeping the accumulators in tiles inside
 * the segment and in a buffer between segments. The epilogue subtracts
 * xsum and writes int32s or, with ep set, act_dequant's floats, only for
 * rows in [m0, m1).
 */
#include "kernels/amx_util.h"
#include "kernels/vlut.h"

#include <immintrin.h>
#include <stdint.h>

/* 64-column chunks per unpacked segment. 8 against 16: bench_kernels,
 * 6912 x 2560, N = 16, one thread, 326-370 against 191-274 GMAC/s (3 runs
 * each, alternating), equal at N = 128; in the forward pass (SMALL, 2
 * threads, alternating medians in a slow stretch of the VM) 16 sequences
 * 985 -> 1,023 tok/s (9 runs), prefill of 512 2,033 -> 2,128 (5). */
#define AMX_SEG 8
#define AMX_GROUP 128 /* tokens whose accumulators live in the buffer */

/* Chunks [c0, c1) of one panel as B tiles: bt[(c - c0) * 1024 + 64 * (4b + q)
 * + byte] = bits 2q..2q+1 of byte `byte` of block 4c + b. */
static void unpack_codes(const uint8_t *panel, int64_t c0, int64_t c1, uint8_t *bt)
{
    const __m512i three = _mm512_set1_epi8(3);
    for (int64_t c = c0; c < c1; c++) {
        uint8_t *dst = bt + (c - c0) * 1024;
        for (int b = 0; b < 4; b++) {
            const __m512i v = _mm512_load_si512(panel + (4 * c + b) * 64);
            _mm512_store_si512(dst + 64 * (4 * b + 0), _mm512_and_si512(v, three));
            _mm512_store_si512(dst + 64 * (4 * b + 1),
                               _mm512_and_si512(_mm512_srli_epi16(v, 2), three));
            _mm512_store_si512(dst + 64 * (4 * b + 2),
                               _mm512_and_si512(_mm512_srli_epi16(v, 4), three));
            _mm512_store_si512(dst + 64 * (4 * b + 3),
                               _mm512_and_si512(_mm512_srli_epi16(v, 6), three));
        }
    }
}

void vlut_mad_panels_amx(const uint8_t *panels, int64_t nkb, int64_t m0, int64_t m1,
                         const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                         int32_t *y, int64_t y_stride, const struct vlut_epilogue *ep)
{
    if (m1 <= m0 || n < 1) return;
    /* 32 KiB of stack: the unpacked codes and the group's accumulators */
    uint8_t bt[2][AMX_SEG * 1024] __attribute__((aligned(64)));
    int32_t acc[AMX_GROUP / 16][2][256] __attribute__((aligned(64)));
    const int64_t p0 = m0 / 16, p1 = (m1 + 15) / 16, ps = nkb * 64, chunks = nkb / 4;
    int cur[2] = {-1, -1}; /* the tile shape loaded */
    for (int64_t p = p0; p < p1; p += 2) {
        const bool two = p + 1 < p1;
        const uint8_t *pa = panels + p * ps, *pb = two ? pa + ps : pa;
        for (int64_t g0 = 0; g0 < n; g0 += AMX_GROUP) {
            const int64_t gn = n - g0 < AMX_GROUP ? n - g0 : AMX_GROUP;
            for (int64_t c0 = 0; c0 < chunks; c0 += AMX_SEG) {
                const int64_t c1 = c0 + AMX_SEG < chunks ? c0 + AMX_SEG : chunks;
                unpack_codes(pa, c0, c1, bt[0]);
                unpack_codes(pb, c0, c1, bt[1]);
                for (int64_t t0 = 0; t0 < gn; t0 += 32) {
                    int r0, r1;
                    amx_pair_shape(gn - t0, cur, &r0, &r1);
                    int32_t(*a0)[256] = acc[t0 / 16], (*a1)[256] = acc[t0 / 16 + 1];
                    if (c0 == 0) {
                        _tile_zero(0);
                        _tile_zero(1);
                    } else {
                        _tile_loadd(0, a0[0], 64);
                        _tile_loadd(1, a0[1], 64);
                    }
                    const int8_t *xa = xpad + (g0 + t0) * x_stride;
                    if (r1) {
                        if (c0 == 0) {
                            _tile_zero(2);
                            _tile_zero(3);
                        } else {
                            _tile_loadd(2, a1[0], 64);
                            _tile_loadd(3, a1[1], 64);
                        }
                        const int8_t *xb = xa + 16 * x_stride;
                        for (int64_t c = c0; c < c1; c++) {
                            _tile_loadd(6, bt[0] + (c - c0) * 1024, 64);
                            _tile_loadd(7, bt[1] + (c - c0) * 1024, 64);
                            _tile_loadd(4, xa + c * 64, x_stride);
                            _tile_loadd(5, xb + c * 64, x_stride);
                            _tile_dpbsud(0, 4, 6);
                            _tile_dpbsud(1, 4, 7);
                            _tile_dpbsud(2, 5, 6);
                            _tile_dpbsud(3, 5, 7);
                        }
                        _tile_stored(2, a1[0], 64);
                        _tile_stored(3, a1[1], 64);
                    } else {
                        for (int64_t c = c0; c < c1; c++) {
                            _tile_loadd(6, bt[0] + (c - c0) * 1024, 64);
                            _tile_loadd(7, bt[1] + (c - c0) * 1024, 64);
                            _tile_loadd(4, xa + c * 64, x_stride);
                            _tile_dpbsud(0, 4, 6);
                            _tile_dpbsud(1, 4, 7);
                        }
                    }
                    _tile_stored(0, a0[0], 64);
                    _tile_stored(1, a0[1], 64);
                }
            }
            /* The group's sums: token t, panel j at acc[t / 16][j][16 * (t % 16)];
             * a token's 32 rows go out together (adjacent in y). */
            const int np = two ? 2 : 1;
            __mmask16 k[2];
            for (int j = 0; j < np; j++) {
                const int64_t first = 16 * (p + j);
                const int64_t a = m0 > first ? m0 - first : 0,
                              e = m1 - first < 16 ? m1 - first : 16;
                k[j] = (__mmask16)(((1u << e) - 1) & ~((1u << a) - 1));
            }
            const int64_t first = 16 * p;
            if (!ep) {
                for (int64_t t = 0; t < gn; t++) {
                    const __m512i s = _mm512_set1_epi32(xsum[g0 + t]);
                    int32_t *yt = y + (g0 + t) * y_stride + first;
                    for (int j = 0; j < np; j++)
                        _mm512_mask_storeu_epi32(
                            yt + 16 * j, k[j],
                            _mm512_sub_epi32(_mm512_load_si512(&acc[t / 16][j][16 * (t % 16)]), s));
                }
                continue;
            }
            const float *rs = ep->rs, *d = ep->d;
            float *yf = ep->y;
            __m512 r[2];
            for (int j = 0; j < np; j++)
                r[j] = _mm512_maskz_loadu_ps(k[j], rs + first + 16 * j);
            for (int64_t t = 0; t < gn; t++) {
                const __m512i s = _mm512_set1_epi32(xsum[g0 + t]);
                const __m512 dt = _mm512_set1_ps(d[g0 + t]);
                float *yt = yf + (g0 + t) * y_stride + first;
                for (int j = 0; j < np; j++) {
                    const __m512i dot =
                        _mm512_sub_epi32(_mm512_load_si512(&acc[t / 16][j][16 * (t % 16)]), s);
                    const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(dot), r[j]);
                    _mm512_mask_storeu_ps(yt + 16 * j, k[j], _mm512_mul_ps(v, dt));
                }
            }
        }
    }
    _tile_release();
}

void vlut_mad_panels_amx_wide(const uint8_t *panels, int64_t nkb, int64_t m0, int64_t m1,
                              const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                              int32_t *y, int64_t y_stride, const struct vlut_epilogue *ep)
{
    if (n < VLUT_AMX_MIN_TOKENS)
        vlut_mad_panels_gfni(panels, nkb, m0, m1, xpad, x_stride, n, xsum, y, y_stride, ep);
    else
        vlut_mad_panels_amx(panels, nkb, m0, m1, xpad, x_stride, n, xsum, y, y_stride, ep);
}
