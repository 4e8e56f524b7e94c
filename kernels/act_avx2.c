/* act_avx2.c - activation kernels on 8-wide vectors (see act.h). */
#include "kernels/act.h"

#include <float.h>
#include <stdint.h>
#include <immintrin.h>
#include <math.h>

void act_quant_i8_avx2(const float *x, int64_t n, int8_t *q, float *xs)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), m);
    float l[8];
    _mm256_storeu_ps(l, m);
    float amax = 0.0f;
    for (int i = 0; i < 8; i++)
        amax = l[i] > amax ? l[i] : amax;
    for (; j < n; j++) {
        const float a = x[j] < 0 ? -x[j] : x[j];
        amax = a > amax ? a : amax;
    }
    const float s = act_quant_scale(amax);
    const __m256 vs = _mm256_set1_ps(s), lo = _mm256_set1_ps(-128.0f), hi = _mm256_set1_ps(127.0f);
    for (j = 0; j + 8 <= n; j += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + j), vs);
        v = _mm256_round_ps(_mm256_min_ps(_mm256_max_ps(v, lo), hi),
                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m256i i32 = _mm256_cvtps_epi32(v);
        const __m128i i16 =
            _mm_packs_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
        _mm_storel_epi64((__m128i *)(q + j), _mm_packs_epi16(i16, i16));
    }
    for (; j < n; j++) {
        float v = x[j] * s;
        v = v > 127.0f ? 127.0f : v < -128.0f ? -128.0f : v;
        q[j] = (int8_t)_mm_cvtss_si32(_mm_round_ss(_mm_setzero_ps(), _mm_set_ss(v),
                                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    *xs = s;
}

void act_dequant_avx2(const int32_t *yi, int64_t ldi, int64_t N, int64_t r0, int64_t r1,
                      const float *rs, const float *xs, float scale, float *y, int64_t ldy)
{
    for (int64_t n = 0; n < N; n++) {
        const int32_t *in = yi + n * ldi;
        float *out = y + n * ldy;
        const float d = scale / xs[n];
        const __m256 vd = _mm256_set1_ps(d);
        int64_t r = r0;
        for (; r + 8 <= r1; r += 8) {
            const __m256 v = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(in + r)));
            _mm256_storeu_ps(out + r, _mm256_mul_ps(_mm256_mul_ps(v, _mm256_loadu_ps(rs + r)), vd));
        }
        for (; r < r1; r++)
            out[r] = (float)in[r] * rs[r] * d;
    }
}

/* act_expf on 8 lanes, operation for operation. */
static inline __m256 exp8(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(ACT_EXP_LO)), _mm256_set1_ps(ACT_EXP_HI));
    /* round to nearest, ties to even: the reference's magic-number rounding */
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(ACT_LOG2E)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(ACT_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(ACT_LN2_LO), r);
    __m256 p = _mm256_set1_ps(ACT_EXP_P0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ACT_EXP_P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ACT_EXP_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ACT_EXP_P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ACT_EXP_P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ACT_EXP_P5));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    const __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* Lanes 0-7 of the 16 in lo, 8-15 in hi; the tree of act.h. */
static inline float tree16(__m256 lo, __m256 hi)
{
    const __m256 a = _mm256_add_ps(lo, hi);
    const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_shuffle_ps(c, c, 1)));
}

/* Mask of the first `left` of 8 lanes (all when left >= 8, none when <= 0). */
static inline __m256i mask8(int64_t left)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int32_t l = left >= 8 ? 8 : left <= 0 ? 0 : (int32_t)left;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(l), idx);
}

/* The 8 floats at p, or the first `left` of them (the rest 0) when fewer
 * than 8 are left; and the store of the same lanes. Plain loads and stores
 * for whole vectors: a masked store costs several times a plain one on
 * some CPUs (AMD Zen 3 among them). */
static inline __m256 load8m(const float *p, int64_t left)
{
    return left >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask8(left));
}
static inline void store8m(float *p, int64_t left, __m256 v)
{
    if (left >= 8)
        _mm256_storeu_ps(p, v);
    else
        _mm256_maskstore_ps(p, mask8(left), v);
}

void act_rmsnorm_avx2(float *o, const float *x, const float *w, int64_t n, float eps)
{
    __m256 lo = _mm256_setzero_ps(), hi = lo;
    for (int64_t j = 0; j < n; j += 16) {
        const __m256 a = load8m(x + j, n - j);
        const __m256 b = load8m(x + j + 8, n - j - 8);
        lo = _mm256_add_ps(lo, _mm256_mul_ps(a, a));
        hi = _mm256_add_ps(hi, _mm256_mul_ps(b, b));
    }
    const __m256 inv = _mm256_set1_ps(1.0f / sqrtf(tree16(lo, hi) / (float)n + eps));
    for (int64_t j = 0; j < n; j += 8) {
        const __m256 v = _mm256_mul_ps(load8m(x + j, n - j), inv);
        store8m(o + j, n - j, _mm256_mul_ps(load8m(w + j, n - j), v));
    }
}

void act_softmax_avx2(float *x, int64_t n)
{
    /* The maximum 8 lanes at a time (vmaxps(a, b) is a > b ? a : b, as the
     * reference's loop; lanes past n and NaNs lose to -inf): the same value,
     * or at worst a zero of the other sign, which x - max and exp absorb. */
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 m0 = ninf, m1 = ninf;
    for (int64_t j = 0; j < n; j += 16) {
        const __m256i ka = mask8(n - j), kb = mask8(n - j - 8);
        m0 = _mm256_max_ps(
            _mm256_blendv_ps(ninf, load8m(x + j, n - j), _mm256_castsi256_ps(ka)), m0);
        m1 = _mm256_max_ps(
            _mm256_blendv_ps(ninf, load8m(x + j + 8, n - j - 8), _mm256_castsi256_ps(kb)),
            m1);
    }
    float l[8], max = -INFINITY;
    _mm256_storeu_ps(l, _mm256_max_ps(m0, m1));
    for (int i = 0; i < 8; i++)
        max = l[i] > max ? l[i] : max;
    const __m256 vmax = _mm256_set1_ps(max);
    __m256 lo = _mm256_setzero_ps(), hi = lo;
    for (int64_t j = 0; j < n; j += 16) {
        const __m256i ka = mask8(n - j), kb = mask8(n - j - 8);
        const __m256 ea = _mm256_and_ps(exp8(_mm256_sub_ps(load8m(x + j, n - j), vmax)),
                                        _mm256_castsi256_ps(ka));
        const __m256 eb = _mm256_and_ps(exp8(_mm256_sub_ps(load8m(x + j + 8, n - j - 8), vmax)),
                                        _mm256_castsi256_ps(kb));
        store8m(x + j, n - j, ea);
        store8m(x + j + 8, n - j - 8, eb);
        lo = _mm256_add_ps(lo, ea);
        hi = _mm256_add_ps(hi, eb);
    }
    const __m256 inv = _mm256_set1_ps(1.0f / tree16(lo, hi));
    for (int64_t j = 0; j < n; j += 8) {
        store8m(x + j, n - j, _mm256_mul_ps(load8m(x + j, n - j), inv));
    }
}

void act_swiglu_avx2(float *g, const float *u, int64_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    for (int64_t j = 0; j < n; j += 8) {
        const __m256 v = load8m(g + j, n - j);
        const __m256 sig = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_xor_ps(v, sign))));
        store8m(g + j, n - j, _mm256_mul_ps(_mm256_mul_ps(v, sig), load8m(u + j, n - j)));
    }
}

/* As act_argmax_avx512, on eight lanes. */
int64_t act_argmax_avx2(const float *x, int64_t n)
{
    const __m256 top = _mm256_set1_ps(FLT_MAX), ninf = _mm256_set1_ps(-INFINITY);
    __m256 best = ninf;
    __m256i at = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), idx = at;
    const __m256i step = _mm256_set1_epi32(8);
    for (int64_t j = 0; j < n; j += 8, idx = _mm256_add_epi32(idx, step)) {
        const __m256i k = mask8(n - j);
        __m256 v = _mm256_blendv_ps(ninf, _mm256_maskload_ps(x + j, k), _mm256_castsi256_ps(k));
        v = _mm256_blendv_ps(_mm256_min_ps(v, top), ninf, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        const __m256 gt = _mm256_cmp_ps(v, best, _CMP_GT_OQ);
        best = _mm256_blendv_ps(best, v, gt);
        at = _mm256_castps_si256(
            _mm256_blendv_ps(_mm256_castsi256_ps(at), _mm256_castsi256_ps(idx), gt));
    }
    float bv[8];
    int32_t ba[8];
    _mm256_storeu_ps(bv, best);
    _mm256_storeu_si256((__m256i *)ba, at);
    float m = bv[0];
    for (int l = 1; l < 8; l++)
        m = bv[l] > m ? bv[l] : m;
    int32_t r = INT32_MAX;
    for (int l = 0; l < 8; l++)
        if (bv[l] == m && ba[l] < r) r = ba[l];
    return r;
}

void act_add_avx2(float *x, const float *a, int64_t n)
{
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(x + j, _mm256_add_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(a + j)));
    for (; j < n; j++)
        x[j] = x[j] + a[j];
}

/* Four pairs at a time: cos and sin duplicated over each pair, the pair's
 * values swapped; addsub gives a*c - b*s in the even lanes and b*c + a*s
 * (the same sum) in the odd ones. */
void act_rope_norm_avx2(float *h, const float *cs, int64_t n)
{
    int64_t d = 0;
    for (; d + 8 <= n; d += 8) {
        const __m256 v = _mm256_loadu_ps(h + d), t = _mm256_loadu_ps(cs + d);
        const __m256 a = _mm256_mul_ps(v, _mm256_moveldup_ps(t));
        const __m256 b = _mm256_mul_ps(_mm256_permute_ps(v, 0xb1), _mm256_movehdup_ps(t));
        _mm256_storeu_ps(h + d, _mm256_addsub_ps(a, b));
    }
    act_rope_norm_ref(h + d, cs + d, n - d);
}

void act_rope_neox_avx2(float *h, const float *cs, int64_t half)
{
    int64_t i = 0;
    for (; i + 8 <= half; i += 8) {
        const __m256 t0 = _mm256_loadu_ps(cs + 2 * i), t1 = _mm256_loadu_ps(cs + 2 * i + 8);
        /* (c0 c1 c4 c5 | c2 c3 c6 c7) -> c0..c7, and the same for sin */
        const __m256 c = _mm256_castpd_ps(_mm256_permute4x64_pd(
            _mm256_castps_pd(_mm256_shuffle_ps(t0, t1, 0x88)), 0xd8));
        const __m256 s = _mm256_castpd_ps(_mm256_permute4x64_pd(
            _mm256_castps_pd(_mm256_shuffle_ps(t0, t1, 0xdd)), 0xd8));
        const __m256 v0 = _mm256_loadu_ps(h + i), v1 = _mm256_loadu_ps(h + i + half);
        _mm256_storeu_ps(h + i, _mm256_sub_ps(_mm256_mul_ps(v0, c), _mm256_mul_ps(v1, s)));
        _mm256_storeu_ps(h + i + half, _mm256_add_ps(_mm256_mul_ps(v0, s), _mm256_mul_ps(v1, c)));
    }
    for (; i < half; i++) {
        const float v0 = h[i], v1 = h[i + half], c = cs[2 * i], s = cs[2 * i + 1];
        h[i] = v0 * c - v1 * s;
        h[i + half] = v0 * s + v1 * c;
    }
}
