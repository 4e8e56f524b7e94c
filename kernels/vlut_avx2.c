/* vlut_avx2.c - AVX2 versions of the ternary GEMM pieces.
 *
 * Compiled with -mavx2 -mfma -mf16c; reached only through kern_ops() after
 * kern_init() checked the CPU. A table row of VLUT_LANES = 32 int16 is two ymm
 * registers, so a Vec-LUT lookup is two vpaddw with memory operands. The
 * multiply-add kernels (over MAD rows, and over PANELs at the end) use
 * vpmaddubsw (unsigned weights w+1 x signed activations) and vpmaddwd by
 * ones to widen; the no-saturation argument is at the top of vlut.c (and
 * before the PANEL kernel), the contracts are in vlut.h.
 */
#include "kernels/vlut.h"

#include "kernels/avx2_util.h"

#include <immintrin.h>
#include <string.h>

_Static_assert(VLUT_LANES == 32, "two ymm of int16 per table row");

/* Lanes 0-7 of the int16 result: byte i of g0's int32 lanes (sign-extended),
 * lanes 8-15: byte i of g1's. */
static inline __attribute__((always_inline)) __m256i bytes16(__m256i g0, __m256i g1, const int i)
{
    const __m256i a = _mm256_srai_epi32(_mm256_slli_epi32(g0, 24 - 8 * i), 24);
    const __m256i b = _mm256_srai_epi32(_mm256_slli_epi32(g1, 24 - 8 * i), 24);
    /* packs interleaves 128-bit halves: a0-3 b0-3 a4-7 b4-7 -> a0-7 b0-7 */
    return _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
}

void vlut_lut_gather_avx2(const int8_t *x, int64_t K, int nt, int64_t k0, int kt, int16_t *xg)
{
    /* offsets of tokens 8q..8q+7, and which of them exist */
    __m256i off[4], live[4];
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int q = 0; q < 4; q++) {
        const __m256i tok = _mm256_add_epi32(idx, _mm256_set1_epi32(8 * q));
        off[q] = _mm256_mullo_epi32(tok, _mm256_set1_epi32((int)K));
        live[q] = _mm256_cmpgt_epi32(_mm256_set1_epi32(nt), tok);
    }
    int j = 0;
    /* Whole groups inside the row: one 4-byte gather per token gives its 4
     * activations of the group. */
    for (; j < kt && k0 + 4 * j + 4 <= K; j++) {
        const int *base = (const int *)(x + k0 + 4 * j);
        __m256i g[4];
        for (int q = 0; q < 4; q++)
            g[q] = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), base, off[q], live[q], 1);
        int16_t *dst = xg + 4 * j * VLUT_LANES;
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            _mm256_store_si256((__m256i *)(dst + i * VLUT_LANES), bytes16(g[0], g[1], i));
            _mm256_store_si256((__m256i *)(dst + i * VLUT_LANES + 16), bytes16(g[2], g[3], i));
        }
    }
    /* A group reaching past K (the row's last one) and the padding groups. */
    for (int i = 4 * j; i < 4 * kt; i++)
        for (int lane = 0; lane < VLUT_LANES; lane++)
            xg[i * VLUT_LANES + lane] = lane < nt && k0 + i < K ? x[lane * K + k0 + i] : 0;
}

void vlut_lut_store_avx2(const int32_t *acc, int64_t rows, int nt, int32_t *y, int64_t ldy)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int h = 0; h < 4 && 8 * h < nt; h++) { /* lanes 8h..8h+7 */
        const int lanes = nt - 8 * h < 8 ? nt - 8 * h : 8;
        for (int64_t r0 = 0; r0 < rows; r0 += 8) {
            const int nr = rows - r0 < 8 ? (int)(rows - r0) : 8;
            const __m256i k = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), idx);
            __m256 v[8];
            for (int i = 0; i < 8; i++)
                v[i] = i < nr ? _mm256_castsi256_ps(_mm256_load_si256(
                                    (const __m256i *)(acc + (r0 + i) * VLUT_LANES + 8 * h)))
                              : _mm256_setzero_ps();
            transpose8(v); /* v[l] = lane 8h+l of rows r0..r0+7 */
            for (int l = 0; l < lanes; l++) {
                int32_t *dst = y + (8 * h + l) * ldy + r0;
                if (nr == 8)
                    _mm256_storeu_si256((__m256i *)dst, _mm256_castps_si256(v[l]));
                else
                    _mm256_maskstore_epi32(dst, k, _mm256_castps_si256(v[l]));
            }
        }
    }
}

static inline __m256i neg16(__m256i v)
{
    return _mm256_sub_epi16(_mm256_setzero_si256(), v);
}

void vlut_lut_tables_avx2(const int16_t *xg, int kt, int16_t *tables)
{
    for (int j = 0; j < kt; j++) {
        const int16_t *xj = xg + j * VLUT_G * VLUT_LANES;
        int16_t *tab = tables + j * VLUT_CODES * VLUT_LANES;
        for (int half = 0; half < 2; half++) { /* lanes 0..15, then 16..31 */
            const int16_t *xh = xj + 16 * half;
            const __m256i a = _mm256_loadu_si256((const __m256i *)(xh + 0 * VLUT_LANES));
            const __m256i b = _mm256_loadu_si256((const __m256i *)(xh + 1 * VLUT_LANES));
            const __m256i c = _mm256_loadu_si256((const __m256i *)(xh + 2 * VLUT_LANES));
            const __m256i d = _mm256_loadu_si256((const __m256i *)(xh + 3 * VLUT_LANES));
            const __m256i apb = _mm256_add_epi16(a, b), amb = _mm256_sub_epi16(a, b);
            const __m256i cpd = _mm256_add_epi16(c, d), cmd = _mm256_sub_epi16(c, d);
            const __m256i zero = _mm256_setzero_si256();
            /* P[e] = (e%3 - 1)*a + (e/3 - 1)*b, Q[f] likewise over c, d. */
            const __m256i P[9] = {neg16(apb), neg16(b), amb, neg16(a), zero, a, neg16(amb), b, apb};
            const __m256i Q[5] = {neg16(cpd), neg16(d), cmd, neg16(c), zero};
            int16_t *th = tab + 16 * half;
#pragma GCC unroll 41
            for (int code = 0; code <= VLUT_CODE_ZERO; code++) {
                const __m256i t = _mm256_add_epi16(P[code % 9], Q[code / 9]);
                _mm256_store_si256((__m256i *)(th + code * VLUT_LANES), t);
                _mm256_store_si256((__m256i *)(th + (VLUT_CODES - 1 - code) * VLUT_LANES),
                                   neg16(t));
            }
        }
    }
}

/* One sub-tile over all rows; kt is a compile-time constant for full
 * sub-tiles (see vlut_avx512.c). A table row is two ymm: lanes 0..15 and
 * 16..31, each with two int16 chains. */
static inline __attribute__((always_inline)) void
lut_tile(const uint8_t *codes, int64_t code_stride, int64_t rows, const int kt,
         const int16_t *tables, int16_t *acc16, int32_t *acc32, int flags)
{
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *cr = codes + r * code_stride;
        int16_t *a16 = acc16 + r * VLUT_LANES;
        __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
        if (flags & VLUT_LOAD16) {
            s0 = _mm256_load_si256((const __m256i *)a16);
            s1 = _mm256_load_si256((const __m256i *)(a16 + 16));
        }
#pragma GCC unroll 8
        for (int j = 0; j < kt; j++) {
            const int16_t *t =
                tables + (int64_t)j * VLUT_CODES * VLUT_LANES + (int64_t)cr[j] * VLUT_LANES;
            if (j & 1) {
                s2 = _mm256_add_epi16(s2, _mm256_load_si256((const __m256i *)t));
                s3 = _mm256_add_epi16(s3, _mm256_load_si256((const __m256i *)(t + 16)));
            } else {
                s0 = _mm256_add_epi16(s0, _mm256_load_si256((const __m256i *)t));
                s1 = _mm256_add_epi16(s1, _mm256_load_si256((const __m256i *)(t + 16)));
            }
        }
        const __m256i lo16 = _mm256_add_epi16(s0, s2), hi16 = _mm256_add_epi16(s1, s3);
        if (!(flags & VLUT_FLUSH)) {
            _mm256_store_si256((__m256i *)a16, lo16);
            _mm256_store_si256((__m256i *)(a16 + 16), hi16);
            continue;
        }
        /* Flush: widen to 4 x 8 int32 (lanes 0-7, 8-15, 16-23, 24-31). */
        int32_t *ar = acc32 + r * VLUT_LANES;
        __m256i w[4] = {
            _mm256_cvtepi16_epi32(_mm256_castsi256_si128(lo16)),
            _mm256_cvtepi16_epi32(_mm256_extracti128_si256(lo16, 1)),
            _mm256_cvtepi16_epi32(_mm256_castsi256_si128(hi16)),
            _mm256_cvtepi16_epi32(_mm256_extracti128_si256(hi16, 1)),
        };
        for (int q = 0; q < 4; q++) {
            __m256i *dst = (__m256i *)(ar + 8 * q);
            if (!(flags & VLUT_FIRST32)) w[q] = _mm256_add_epi32(w[q], _mm256_load_si256(dst));
            _mm256_store_si256(dst, w[q]);
        }
    }
}

void vlut_lut_tile_avx2(const uint8_t *codes, int64_t code_stride, int64_t rows, int kt,
                        const int16_t *tables, int16_t *acc16, int32_t *acc32, int flags)
{
    if (kt == VLUT_SUB)
        lut_tile(codes, code_stride, rows, VLUT_SUB, tables, acc16, acc32, flags);
    else
        lut_tile(codes, code_stride, rows, kt, tables, acc16, acc32, flags);
}

/* MAD: one row x nb tokens (nb <= 4, a compile-time constant after inlining).
 * Per 256-weight block and token, the 8 vpmaddubsw pair sums (each |.| <= 512)
 * are added in int16 (|.| <= 4096), then widened by vpmaddwd with ones. */
static inline __attribute__((always_inline)) void mad_row_block(const uint8_t *cr, int64_t nblocks,
                                                                const int8_t *x0, int64_t x_stride,
                                                                const int nb, const int32_t *xsum,
                                                                int32_t *y, int64_t y_stride)
{
    const __m256i mask = _mm256_set1_epi8(3);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[4];
#pragma GCC unroll 4
    for (int t = 0; t < nb; t++)
        acc[t] = _mm256_setzero_si256();
    for (int64_t b = 0; b < nblocks; b++) {
        __m256i s16[4];
#pragma GCC unroll 4
        for (int t = 0; t < nb; t++)
            s16[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int h = 0; h < 2; h++) { /* bytes 0..31, then 32..63 of the block */
            const __m256i v =
                _mm256_loadu_si256((const __m256i *)(cr + b * VLUT_MAD_BLOCK_BYTES + 32 * h));
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                /* weights b*256 + 64*i + 32*h + (0..31), as w+1 in {0,1,2} */
                const __m256i u = _mm256_and_si256(_mm256_srli_epi16(v, 6 - 2 * i), mask);
#pragma GCC unroll 4
                for (int t = 0; t < nb; t++) {
                    const int8_t *xt = x0 + t * x_stride + b * VLUT_MAD_BLOCK + 64 * i + 32 * h;
                    s16[t] = _mm256_add_epi16(
                        s16[t], _mm256_maddubs_epi16(u, _mm256_load_si256((const __m256i *)xt)));
                }
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < nb; t++)
            acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(s16[t], ones));
    }
#pragma GCC unroll 4
    for (int t = 0; t < nb; t++) {
        __m128i s =
            _mm_add_epi32(_mm256_castsi256_si128(acc[t]), _mm256_extracti128_si256(acc[t], 1));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
        y[t * y_stride] = _mm_cvtsi128_si32(s) - xsum[t];
    }
}

void vlut_mad_rows_avx2(const uint8_t *codes, int64_t code_stride, int64_t nblocks, int64_t rows,
                        const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                        int32_t *y, int64_t y_stride)
{
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *cr = codes + r * code_stride;
        for (int64_t t0 = 0; t0 < n; t0 += 4) {
            const int8_t *x0 = xpad + t0 * x_stride;
            int32_t *yt = y + t0 * y_stride + r;
            switch (n - t0 < 4 ? n - t0 : 4) {
            case 1:
                mad_row_block(cr, nblocks, x0, x_stride, 1, xsum + t0, yt, y_stride);
                break;
            case 2:
                mad_row_block(cr, nblocks, x0, x_stride, 2, xsum + t0, yt, y_stride);
                break;
            case 3:
                mad_row_block(cr, nblocks, x0, x_stride, 3, xsum + t0, yt, y_stride);
                break;
            default:
                mad_row_block(cr, nblocks, x0, x_stride, 4, xsum + t0, yt, y_stride);
                break;
            }
        }
    }
}

int32_t vlut_mad_pad_avx2(const int8_t *x, int64_t K, int64_t xs, int8_t *xpad)
{
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    __m256i acc = _mm256_setzero_si256();
    for (int64_t k = 0; k < xs; k += 32) {
        __m256i v;
        if (k + 32 <= K) {
            v = _mm256_loadu_si256((const __m256i *)(x + k));
        } else { /* the row's end and the padding */
            int8_t tail[32] = {0};
            if (k < K) memcpy(tail, x + k, (size_t)(K - k));
            v = _mm256_loadu_si256((const __m256i *)tail);
        }
        if (xpad) _mm256_store_si256((__m256i *)(xpad + k), v);
        /* byte pairs (|.| <= 256) then int16 pairs into int32: no saturation */
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, v), ones16));
    }
    const __m128i h = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    const __m128i q = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
    return _mm_cvtsi128_si32(_mm_add_epi32(q, _mm_shuffle_epi32(q, 0xB1)));
}

/* ---- PANEL layout (vlut.h): the broadcast multiply-add kernel ----
 *
 * A 64-byte panel block is two ymm: rows 0..7 of the panel (4 bytes each)
 * and rows 8..15. Quarter q of a half, (v >> 2q) & 3, holds 8 rows x 4
 * columns of codes u = w + 1; vpmaddubsw multiplies it by the 4 activations
 * of a token at those columns, broadcast to every 32-bit lane, and leaves
 * int16 lane 2r the sum over columns 0-1 and lane 2r+1 over columns 2-3 of
 * row r. Each such pair sum is u0*x0 + u1*x1 with u <= 2, |x| <= 128, so
 * within [-512, 508], and a 256-column superblock (16 blocks of 4 quarters)
 * adds 64 of them into an int16 lane: within [-32768, 32512], exact (the
 * worst case, every weight +1 and every activation -128, reaches -32768
 * exactly and is tested). Then vpmaddwd by ones adds each row's two lanes
 * into an int32 and the superblock's sum joins the row's int32 total. A
 * panel's nkb is a multiple of 16 (rows are whole 256-column MAD blocks),
 * so every superblock is whole.
 *
 * A tile keeps NP panels x T tokens x 2 halves of int16 accumulators (at
 * most 10 ymm) over a superblock, and int32 ones over the whole depth: each
 * unpacked quarter serves T tokens and each broadcast NP panels. One
 * thread, 2560 x 2560, bench_kernels on a Zen 3 VM: 87 GMAC/s at N = 1,
 * 125-132 at N = 4-32, against 52 and 76-83 for the MAD-row kernel. */
/* acc += vpmaddubsw(u, x) in int16. Inline assembly with acc as an in-out
 * operand: written with intrinsics, GCC 12 reassociates the adds of a
 * tile, computes every product of a block first and spills most of them to
 * the stack (half the speed, measured). */
static inline __attribute__((always_inline)) __m256i maddubs_acc(__m256i acc, __m256i u, __m256i x)
{
    __m256i p;
    __asm__("vpmaddubsw %3, %2, %1\n\tvpaddw %1, %0, %0" : "+x"(acc), "=&x"(p) : "x"(u), "x"(x));
    return acc;
}

static inline __attribute__((always_inline)) __m256i p2_quarter(const uint8_t *blk, int h, int q)
{
    const __m256i v = _mm256_load_si256((const __m256i *)(blk + 32 * h));
    const __m256i s = q ? _mm256_srli_epi16(v, 2 * q) : v;
    return _mm256_and_si256(s, _mm256_set1_epi8(3));
}

/* 8 rows [first, first + 8) of one token, int32 dot - xsum, or the floats
 * ((float)dot * rs[r]) * d as act_dequant computes them; only rows in
 * [lo, hi) are written. */
static inline __attribute__((always_inline)) void p2_store(__m256i acc, int32_t xsum, int32_t *y,
                                                           float *yf, int64_t at, int64_t first,
                                                           int64_t lo, int64_t hi, const float *rs,
                                                           const float *d)
{
    const __m256i dot = _mm256_sub_epi32(acc, _mm256_set1_epi32(xsum));
    if (first >= lo && first + 8 <= hi) {
        if (!yf) {
            _mm256_storeu_si256((__m256i *)(y + at), dot);
            return;
        }
        const __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(dot), _mm256_loadu_ps(rs + first));
        _mm256_storeu_ps(yf + at, _mm256_mul_ps(v, _mm256_set1_ps(*d)));
        return;
    }
    int32_t lane[8];
    _mm256_storeu_si256((__m256i *)lane, dot);
    for (int i = 0; i < 8; i++) {
        if (first + i < lo || first + i >= hi) continue;
        if (yf)
            yf[at + i] = (float)lane[i] * rs[first + i] * *d;
        else
            y[at + i] = lane[i];
    }
}

static inline __attribute__((always_inline)) void
p2_tile(const uint8_t *pp, int64_t nkb, const int NP, int np, const int8_t *x, int64_t xs,
        const int T, const int32_t *xsum, int32_t *y, int64_t ys, int64_t r0, int64_t lo,
        int64_t hi, float *yf, const float *rs, const float *d)
{
    const int64_t ps = nkb * 64;
    const uint8_t *pj[3];
#pragma GCC unroll 3
    for (int j = 0; j < NP; j++)
        pj[j] = pp + (j < np ? j : np - 1) * ps;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[3][2][5];
#pragma GCC unroll 3
    for (int j = 0; j < NP; j++)
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++)
#pragma GCC unroll 5
            for (int t = 0; t < T; t++)
                acc[j][h][t] = _mm256_setzero_si256();
    for (int64_t sb = 0; sb < nkb; sb += 16) {
        __m256i s16[3][2][5];
#pragma GCC unroll 3
        for (int j = 0; j < NP; j++)
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++)
#pragma GCC unroll 5
                for (int t = 0; t < T; t++)
                    s16[j][h][t] = _mm256_setzero_si256();
        for (int64_t b = sb; b < sb + 16; b++) {
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++) {
                __m256i w[3][2];
#pragma GCC unroll 3
                for (int j = 0; j < NP; j++)
#pragma GCC unroll 2
                    for (int h = 0; h < 2; h++)
                        w[j][h] = p2_quarter(pj[j] + b * 64, h, q);
#pragma GCC unroll 5
                for (int t = 0; t < T; t++) {
                    int32_t x4;
                    memcpy(&x4, x + t * xs + b * 16 + 4 * q, 4);
                    const __m256i xv = _mm256_set1_epi32(x4);
#pragma GCC unroll 3
                    for (int j = 0; j < NP; j++)
#pragma GCC unroll 2
                        for (int h = 0; h < 2; h++)
                            s16[j][h][t] = maddubs_acc(s16[j][h][t], w[j][h], xv);
                }
            }
        }
#pragma GCC unroll 3
        for (int j = 0; j < NP; j++)
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++)
#pragma GCC unroll 5
                for (int t = 0; t < T; t++)
                    acc[j][h][t] =
                        _mm256_add_epi32(acc[j][h][t], _mm256_madd_epi16(s16[j][h][t], ones));
    }
#pragma GCC unroll 3
    for (int j = 0; j < NP; j++) {
        if (j >= np) break;
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const int64_t first = r0 + 16 * j + 8 * h;
#pragma GCC unroll 5
            for (int t = 0; t < T; t++)
                p2_store(acc[j][h][t], xsum[t], y, yf, t * ys + first, first, lo, hi, rs,
                         yf ? d + t : NULL);
        }
    }
}

void vlut_mad_panels_avx2(const uint8_t *panels, int64_t nkb, int64_t m0, int64_t m1,
                          const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                          int32_t *y, int64_t y_stride, const struct vlut_epilogue *ep)
{
    const int64_t p0 = m0 / 16, p1 = (m1 + 15) / 16, ps = nkb * 64;
    if (m1 <= m0) return;
    float *yf = ep ? ep->y : NULL;
    const float *rs = ep ? ep->rs : NULL, *d = ep ? ep->d : NULL;
    /* One token: 3 panels at a time; two: 2 panels; wider: one panel while
     * the tokens pass, 5 (or the last 1-4) at a time. Each shape holds at
     * most 14 ymm: 2 x NP unpacked quarters, a broadcast, a product and
     * 2 x NP x T accumulators. */
    const int NPW = n == 1 ? 3 : n == 2 ? 2 : 1, TW = n <= 2 ? (int)n : 5;
    for (int64_t p = p0; p < p1; p += NPW) {
        const int np = p1 - p < NPW ? (int)(p1 - p) : NPW;
        const uint8_t *pp = panels + p * ps;
        for (int64_t t0 = 0; t0 < n; t0 += TW) {
            const int8_t *xt = xpad + t0 * x_stride;
            int32_t *yt = yf ? NULL : y + t0 * y_stride;
            float *ft = yf ? yf + t0 * y_stride : NULL;
            const float *dt = yf ? d + t0 : NULL;
            const int64_t nt = n - t0 < TW ? n - t0 : TW;
#define TILE(NP, T)                                                                                \
    case T:                                                                                        \
        p2_tile(pp, nkb, NP, np, xt, x_stride, T, xsum + t0, yt, y_stride, 16 * p, m0, m1, ft, rs, \
                dt);                                                                               \
        break;
            if (NPW == 3)
                p2_tile(pp, nkb, 3, np, xt, x_stride, 1, xsum, yt, y_stride, 16 * p, m0, m1, ft, rs,
                        dt);
            else if (NPW == 2)
                p2_tile(pp, nkb, 2, np, xt, x_stride, 2, xsum, yt, y_stride, 16 * p, m0, m1, ft, rs,
                        dt);
            else
                switch (nt) {
                    TILE(1, 1)
                    TILE(1, 2) TILE(1, 3) TILE(1, 4) default : TILE(1, 5)
                }
#undef TILE
        }
    }
}
