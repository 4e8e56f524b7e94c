/* act_avx512.c - activation kernels on 16-wide vectors (see act.h); tails
 * use masked loads and stores. */
#include "kernels/act.h"

#include <float.h>
#include <immintrin.h>
#include <math.h>

/* Four accumulators for the absolute maximum (max is exact, so any order
 * gives the reference's), then 64 elements per step: rounded to nearest
 * even, saturating packs to bytes (the values are in range already) and one
 * permutation back into order. */
void act_quant_i8_avx512(const float *x, int64_t n, int8_t *q, float *xs)
{
    __m512 m[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                   _mm512_setzero_ps()};
    int64_t j = 0;
    for (; j + 64 <= n; j += 64)
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++)
            m[u] = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + j + 16 * u)), m[u]);
    for (; j < n; j += 16) {
        const __mmask16 k = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        m[0] = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(k, x + j)), m[0]);
    }
    const float s = act_quant_scale(
        _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m[0], m[1]), _mm512_max_ps(m[2], m[3]))));
    const __m512 vs = _mm512_set1_ps(s), lo = _mm512_set1_ps(-128.0f), hi = _mm512_set1_ps(127.0f);
    /* after the packs, dword 4L+k holds elements 4L..4L+3 of vector k */
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    for (j = 0; j + 64 <= n; j += 64) {
        __m512i v[4];
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) {
            const __m512 f = _mm512_mul_ps(_mm512_loadu_ps(x + j + 16 * u), vs);
            v[u] = _mm512_cvt_roundps_epi32(_mm512_min_ps(_mm512_max_ps(f, lo), hi),
                                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        }
        const __m512i b =
            _mm512_packs_epi16(_mm512_packs_epi32(v[0], v[1]), _mm512_packs_epi32(v[2], v[3]));
        _mm512_storeu_si512(q + j, _mm512_permutexvar_epi32(order, b));
    }
    for (; j < n; j += 16) {
        const __mmask16 k = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        const __m512 f = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + j), vs);
        _mm512_mask_cvtepi32_storeu_epi8(
            q + j, k,
            _mm512_cvt_roundps_epi32(_mm512_min_ps(_mm512_max_ps(f, lo), hi),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    *xs = s;
}

void act_dequant_avx512(const int32_t *yi, int64_t ldi, int64_t N, int64_t r0, int64_t r1,
                        const float *rs, const float *xs, float scale, float *y, int64_t ldy)
{
    for (int64_t n = 0; n < N; n++) {
        const int32_t *in = yi + n * ldi;
        float *out = y + n * ldy;
        const __m512 vd = _mm512_set1_ps(scale / xs[n]);
        for (int64_t r = r0; r < r1; r += 16) {
            const __mmask16 k =
                r1 - r >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (r1 - r)) - 1);
            const __m512 v = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(k, in + r));
            const __m512 p = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(k, rs + r));
            _mm512_mask_storeu_ps(out + r, k, _mm512_mul_ps(p, vd));
        }
    }
}

/* act_expf on 16 lanes, operation for operation. */
static inline __m512 exp16(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(ACT_EXP_LO)), _mm512_set1_ps(ACT_EXP_HI));
    /* round to nearest, ties to even: the reference's magic-number rounding */
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(ACT_LOG2E)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(ACT_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(ACT_LN2_LO), r);
    __m512 p = _mm512_set1_ps(ACT_EXP_P0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(ACT_EXP_P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(ACT_EXP_P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(ACT_EXP_P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(ACT_EXP_P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(ACT_EXP_P5));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
    p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
    /* p * 2^n in one instruction: n is an integer in [-126, 127] */
    return _mm512_scalef_ps(p, n);
}

/* The 16-lane tree of act.h. */
static inline float tree16(__m512 s)
{
    const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(s), _mm512_extractf32x8_ps(s, 1));
    const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_shuffle_ps(c, c, 1)));
}

static inline __mmask16 tail_mask(int64_t left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

void act_rmsnorm_avx512(float *o, const float *x, const float *w, int64_t n, float eps)
{
    __m512 s = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; j += 16) {
        const __m512 v = _mm512_maskz_loadu_ps(tail_mask(n - j), x + j);
        s = _mm512_add_ps(s, _mm512_mul_ps(v, v));
    }
    const __m512 inv = _mm512_set1_ps(1.0f / sqrtf(tree16(s) / (float)n + eps));
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 k = tail_mask(n - j);
        const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + j), inv);
        _mm512_mask_storeu_ps(o + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, w + j), v));
    }
}

void act_softmax_avx512(float *x, int64_t n)
{
    __m512 m = _mm512_set1_ps(-INFINITY);
    for (int64_t j = 0; j < n; j += 16)
        m = _mm512_max_ps(_mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail_mask(n - j), x + j),
                          m);
    const __m512 max = _mm512_set1_ps(_mm512_reduce_max_ps(m));
    __m512 s = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 k = tail_mask(n - j);
        const __m512 e =
            _mm512_maskz_mov_ps(k, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), max)));
        _mm512_mask_storeu_ps(x + j, k, e);
        s = _mm512_add_ps(s, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / tree16(s));
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 k = tail_mask(n - j);
        _mm512_mask_storeu_ps(x + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + j), inv));
    }
}

void act_swiglu_avx512(float *g, const float *u, int64_t n)
{
    const __m512 one = _mm512_set1_ps(1.0f), sign = _mm512_set1_ps(-0.0f);
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 k = tail_mask(n - j);
        const __m512 v = _mm512_maskz_loadu_ps(k, g + j);
        const __m512 sig = _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_xor_ps(v, sign))));
        _mm512_mask_storeu_ps(
            g + j, k, _mm512_mul_ps(_mm512_mul_ps(v, sig), _mm512_maskz_loadu_ps(k, u + j)));
    }
}

/* Sixteen lanes, lane l seeing j = l, l+16, ...: each keeps its first
 * largest value and where it was; the answer is the lowest position among
 * the lanes holding the overall largest (the lanes' positions are disjoint,
 * so that is the first one in the row). */
int64_t act_argmax_avx512(const float *x, int64_t n)
{
    const __m512 top = _mm512_set1_ps(FLT_MAX), ninf = _mm512_set1_ps(-INFINITY);
    __m512 best = ninf;
    __m512i at = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i idx = at;
    const __m512i step = _mm512_set1_epi32(16);
    for (int64_t j = 0; j < n; j += 16, idx = _mm512_add_epi32(idx, step)) {
        __m512 v = _mm512_mask_loadu_ps(ninf, tail_mask(n - j), x + j);
        v = _mm512_mask_mov_ps(_mm512_min_ps(v, top), _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), ninf);
        const __mmask16 gt = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ);
        best = _mm512_mask_mov_ps(best, gt, v);
        at = _mm512_mask_mov_epi32(at, gt, idx);
    }
    const __mmask16 win =
        _mm512_cmp_ps_mask(best, _mm512_set1_ps(_mm512_reduce_max_ps(best)), _CMP_EQ_OQ);
    return _mm512_mask_reduce_min_epi32(win, at);
}

void act_add_avx512(float *x, const float *a, int64_t n)
{
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 k = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        _mm512_mask_storeu_ps(
            x + j, k,
            _mm512_add_ps(_mm512_maskz_loadu_ps(k, x + j), _mm512_maskz_loadu_ps(k, a + j)));
    }
}

/* Eight pairs at a time, as act_rope_norm_avx2: a*c - b*s in the even
 * lanes, b*c + a*s in the odd ones. */
void act_rope_norm_avx512(float *h, const float *cs, int64_t n)
{
    for (int64_t d = 0; d + 1 < n; d += 16) {
        const int64_t m = (n - d) & ~(int64_t)1; /* whole pairs left */
        const __mmask16 k = m >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << m) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(k, h + d), t = _mm512_maskz_loadu_ps(k, cs + d);
        const __m512 a = _mm512_mul_ps(v, _mm512_moveldup_ps(t));
        const __m512 b = _mm512_mul_ps(_mm512_permute_ps(v, 0xb1), _mm512_movehdup_ps(t));
        _mm512_mask_storeu_ps(h + d, k, _mm512_mask_add_ps(_mm512_sub_ps(a, b), 0xaaaa, a, b));
    }
}

void act_rope_neox_avx512(float *h, const float *cs, int64_t half)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (int64_t i = 0; i < half; i += 16) {
        const int64_t m = half - i;
        const __mmask16 k = m >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << m) - 1);
        const __mmask16 k0 = m >= 8 ? (__mmask16)0xffff : (__mmask16)((1u << (2 * m)) - 1);
        const __mmask16 k1 = m >= 16 ? (__mmask16)0xffff
                                     : m > 8 ? (__mmask16)((1u << (2 * (m - 8))) - 1) : 0;
        const __m512 t0 = _mm512_maskz_loadu_ps(k0, cs + 2 * i);
        const __m512 t1 = _mm512_maskz_loadu_ps(k1, cs + 2 * i + 16);
        const __m512 c = _mm512_permutex2var_ps(t0, even, t1), s = _mm512_permutex2var_ps(t0, odd, t1);
        const __m512 v0 = _mm512_maskz_loadu_ps(k, h + i), v1 = _mm512_maskz_loadu_ps(k, h + i + half);
        _mm512_mask_storeu_ps(h + i, k, _mm512_sub_ps(_mm512_mul_ps(v0, c), _mm512_mul_ps(v1, s)));
        _mm512_mask_storeu_ps(h + i + half, k,
                              _mm512_add_ps(_mm512_mul_ps(v0, s), _mm512_mul_ps(v1, c)));
    }
}
