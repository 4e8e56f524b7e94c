/* vlut_panels_avx512.h - the AVX-512 multiply-add kernel over the PANEL
 * layout (vlut.h: vlut_mad_panels). Included once by vlut_avx512.c and once
 * by vlut_gfni.c, which first define
 *   PANELS_FN              the name of the function to define, and
 *   panel_quarter(p, q)    the codes at bits 2q..2q+1 of each byte of p,
 *                          as bytes 0..2 (q a constant after inlining);
 * the two differ only in how a quarter is unpacked.
 *
 * Quarter q of a 64-byte panel block is 16 rows x 4 columns, one int32 lane
 * per row; vpdpbusd multiplies it by the 4 activations of a token at those
 * columns, broadcast to all 16 lanes, and adds the 4 products into lane r =
 * row r. A tile keeps NP panels x T tokens of such accumulators in registers
 * over the whole depth, so every unpacked quarter serves T tokens and every
 * broadcast NP panels, and at the end each accumulator is 16 finished rows
 * of one token: no horizontal sums. Shapes (at most 16 accumulators):
 * 2 panels x up to 8 tokens for wide batches (16 dependency chains), 4
 * panels x 2-4 tokens for narrow ones, and for one token 4 panels with one
 * accumulator per quarter (so 16 chains again), summed at the end. One
 * thread, SMALL's gate shape (2688 x 1024, N = 32, shift unpacking / GFNI):
 * the 4 x 4-tiled row-layout kernel this replaced 274-294 GMAC/s, a
 * prototype of this 2 x 8 tile 295-305 / 312-323. */
#include "kernels/avx512_util.h"

#include <immintrin.h>
#include <string.h>

/* 16 rows of one token: dot = acc - xsum into y[at..], or with yf set as
 * floats, ((float)dot * rs[r]) * d - act_dequant's operations - into
 * yf[at..] (the rows from `first`; only the output in use is indexed). */
static inline __attribute__((always_inline)) void panel_store(__m512i acc, int32_t xsum,
                                                              __mmask16 k, int32_t *y, float *yf,
                                                              int64_t at, const float *rs,
                                                              int64_t first, const float *d)
{
    const __m512i dot = _mm512_sub_epi32(acc, _mm512_set1_epi32(xsum));
    if (!yf) {
        _mm512_mask_storeu_epi32(y + at, k, dot);
        return;
    }
    const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(dot), _mm512_maskz_loadu_ps(k, rs + first));
    _mm512_mask_storeu_ps(yf + at, k, _mm512_mul_ps(v, _mm512_set1_ps(*d)));
}

/* NP panels from pp (np of them real: the others repeat the last real one,
 * valid memory, never stored) x T tokens from x (stride xs). The first
 * panel's first row is r0; rows outside [lo, hi) are not stored. */
static inline __attribute__((always_inline)) void
panel_tile(const uint8_t *pp, int64_t nkb, const int NP, int np, const int8_t *x, int64_t xs,
           const int T, const int32_t *xsum, int32_t *y, int64_t ys, int64_t r0, int64_t lo,
           int64_t hi, float *yf, const float *rs, const float *d)
{
    const int64_t ps = nkb * 64;
    const uint8_t *pj[4];
#pragma GCC unroll 4
    for (int j = 0; j < NP; j++)
        pj[j] = pp + (j < np ? j : np - 1) * ps;
    __m512i acc[4][8];
#pragma GCC unroll 4
    for (int j = 0; j < NP; j++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            acc[j][t] = _mm512_setzero_si512();
    for (int64_t b = 0; b < nkb; b++) {
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++) {
            __m512i w[4];
#pragma GCC unroll 4
            for (int j = 0; j < NP; j++)
                w[j] = panel_quarter(_mm512_load_si512(pj[j] + b * 64), q);
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                int32_t x4;
                memcpy(&x4, x + t * xs + b * 16 + 4 * q, 4);
                const __m512i xv = _mm512_set1_epi32(x4);
#pragma GCC unroll 4
                for (int j = 0; j < NP; j++)
                    acc[j][t] = dpbusd(acc[j][t], w[j], xv);
            }
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < NP; j++) {
        if (j >= np) break;
        const int64_t first = r0 + 16 * j;
        const int64_t a = lo > first ? lo - first : 0, e = hi - first < 16 ? hi - first : 16;
        const __mmask16 k = (__mmask16)(((1u << e) - 1) & ~((1u << a) - 1));
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            panel_store(acc[j][t], xsum[t], k, y, yf, t * ys + first, rs, first, yf ? d + t : NULL);
    }
}

/* One token, 4 panels (np real), an accumulator per panel and quarter. */
static inline __attribute__((always_inline)) void
panel_one(const uint8_t *pp, int64_t nkb, int np, const int8_t *x, int32_t xsum, int32_t *y,
          int64_t r0, int64_t lo, int64_t hi, float *yf, const float *rs, const float *d)
{
    const int64_t ps = nkb * 64;
    const uint8_t *pj[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++)
        pj[j] = pp + (j < np ? j : np - 1) * ps;
    __m512i acc[4][4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++)
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++)
            acc[j][q] = _mm512_setzero_si512();
    for (int64_t b = 0; b < nkb; b++) {
        /* the weights stream from memory: ask for 8 blocks ahead */
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            _mm_prefetch((const char *)(pj[j] + (b + 8) * 64), _MM_HINT_T0);
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++) {
            int32_t x4;
            memcpy(&x4, x + b * 16 + 4 * q, 4);
            const __m512i xv = _mm512_set1_epi32(x4);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++)
                acc[j][q] =
                    dpbusd(acc[j][q], panel_quarter(_mm512_load_si512(pj[j] + b * 64), q), xv);
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        if (j >= np) break;
        const int64_t first = r0 + 16 * j;
        const int64_t a = lo > first ? lo - first : 0, e = hi - first < 16 ? hi - first : 16;
        const __mmask16 k = (__mmask16)(((1u << e) - 1) & ~((1u << a) - 1));
        const __m512i s = _mm512_add_epi32(_mm512_add_epi32(acc[j][0], acc[j][1]),
                                           _mm512_add_epi32(acc[j][2], acc[j][3]));
        panel_store(s, xsum, k, y, yf, first, rs, first, d);
    }
}

void PANELS_FN(const uint8_t *panels, int64_t nkb, int64_t m0, int64_t m1, const int8_t *xpad,
               int64_t x_stride, int64_t n, const int32_t *xsum, int32_t *y, int64_t y_stride,
               const struct vlut_epilogue *ep)
{
    const int64_t p0 = m0 / 16, p1 = (m1 + 15) / 16, ps = nkb * 64;
    if (m1 <= m0) return;
    float *yf = ep ? ep->y : NULL;
    const float *rs = ep ? ep->rs : NULL, *d = ep ? ep->d : NULL;
    if (n <= 4) {
        for (int64_t p = p0; p < p1; p += 4) {
            const int np = p1 - p < 4 ? (int)(p1 - p) : 4;
            const uint8_t *pp = panels + p * ps;
            switch (n) {
            case 1:
                panel_one(pp, nkb, np, xpad, xsum[0], y, 16 * p, m0, m1, yf, rs, d);
                break;
#define NARROW(T)                                                                                  \
    case T:                                                                                        \
        panel_tile(pp, nkb, 4, np, xpad, x_stride, T, xsum, y, y_stride, 16 * p, m0, m1, yf, rs,   \
                   d);                                                                             \
        break;
                NARROW(2)
                NARROW(3)
            default:
                NARROW(4)
#undef NARROW
            }
        }
        return;
    }
    /* Wide: a pair of panels stays in L1/L2 while the tokens pass, 8 at a
     * time; an odd last panel goes alone (not computed twice). */
    for (int64_t p = p0; p < p1; p += 2) {
        const uint8_t *pp = panels + p * ps;
        for (int64_t t0 = 0; t0 < n; t0 += 8) {
            const int8_t *xt = xpad + t0 * x_stride;
            int32_t *yt = yf ? NULL : y + t0 * y_stride;
            float *ft = yf ? yf + t0 * y_stride : NULL;
            const float *dt = yf ? d + t0 : NULL;
            const int64_t nt = n - t0 < 8 ? n - t0 : 8;
#define TILE(NP, T)                                                                                \
    case T:                                                                                        \
        panel_tile(pp, nkb, NP, NP, xt, x_stride, T, xsum + t0, yt, y_stride, 16 * p, m0, m1, ft,  \
                   rs, dt);                                                                        \
        break;
            if (p + 1 == p1) switch (nt) {
                    TILE(1, 1)
                    TILE(1, 2) TILE(1, 3) TILE(1, 4) TILE(1, 5) TILE(1, 6) TILE(1, 7) default
                        : TILE(1, 8)
                }
            else
                switch (nt) {
                    TILE(2, 1)
                    TILE(2, 2) TILE(2, 3) TILE(2, 4) TILE(2, 5) TILE(2, 6) TILE(2, 7) default
                        : TILE(2, 8)
                }
#undef TILE
        }
    }
}
