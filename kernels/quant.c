/* quant.c - the scalar specification of every weight format lutfuse reads.
 *
 * Each format is described once, here, as byte offsets inside one block and a
 * loop that turns a block into floats (or trits). SIMD kernels elsewhere are
 * tested against these loops, so they favour being obviously right over fast.
 *
 * The layouts follow llama.cpp's ggml (ggml-common.h / ggml-quants.c) and
 * bitnet.cpp (src/ggml-bitnet-mad.cpp, x86 path), read as documentation:
 *
 *   Q8_0   34 B / 32:  d:f16 | qs:int8[32]                     x = d*q
 *   Q4_K  144 B / 256: d:f16 | dmin:f16 | scales[12] | qs[128]  x = d*sc*q - dmin*m
 *          8 sub-blocks of 32 with 6-bit (sc, m) packed into 12 bytes. Each
 *          64-value chunk c uses qs[32c .. 32c+31]: low nibbles are values
 *          64c+0..31, high nibbles values 64c+32..63.
 *   Q6_K  210 B / 256: ql[128] | qh[64] | scales:int8[16] | d:f16
 *          x = d*scales[i/16]*(q-32), q = 4 low bits from ql + 2 high from qh
 *          (see q6_k_dequant_block()).
 *   TQ1_0  54 B / 256: qs[48] | qh[4] | d:f16, 5 trits per qs byte, 4 per qh.
 *   TQ2_0  66 B / 256: qs[64] | d:f16, 2-bit codes.
 *   I2_S   whole tensor in 128-weight blocks of 32 B, then a 32-byte tail
 *          holding the f32 scale; row r is not a separate unit, weight
 *          (r, j) is element r*cols + j of the flattened tensor.
 *
 * Ternary codes are 0,1,2 meaning -1,0,+1 in every format. The 2-bit formats
 * could hold a code 3 that no quantizer writes: quant_ternary_check() finds
 * it, quant_dequant_row() gives it ggml's arithmetic value (3-1)*d, and
 * quant_ternary_row() reads it as +1 so its output stays a trit.
 *
 * TQ1_0's base-3 bytes are a fixed-point fraction: five trits t0..t4 (t0 the
 * most significant) form v = sum t_n*3^(4-n) < 243, stored as
 * ceil(v*256/243), i.e. v/243 in 0.8 fixed point. Multiplying the byte by
 * 3^n (mod 256) drops the first n trits; multiplying that by 3 and keeping
 * the bits above 8 yields trit n. Rounding up when encoding makes the
 * truncations exact.
 */
#include "kernels/quant.h"

#include "engine/status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Blocks are read with memcpy straight into host integers and floats; lutfuse
 * runs on x86-64 only. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "quant.c assumes a little-endian host");

/* Programmer errors (bad type, row out of range, NULL buffers) stop the
 * program at once, in every build. */
#define QUANT_REQUIRE(cond)                                                                        \
    do {                                                                                           \
        if (!(cond)) quant_die(__func__, #cond);                                                   \
    } while (0)

static void quant_die(const char *func, const char *cond)
{
    fprintf(stderr, "lutfuse: %s: requirement failed: %s\n", func, cond);
    abort();
}

/* ---- type table ---- */

struct quant_type_info {
    const char *name;
    uint32_t ggml_id;
    int64_t block_elems;
    int64_t block_bytes; /* for I2_S: bytes of one 128-weight block, tail excluded */
    bool ternary;
};

static const struct quant_type_info quant_types[QT_COUNT] = {
    [QT_F32] = {"F32", GGML_ID_F32, 1, 4, false},
    [QT_F16] = {"F16", GGML_ID_F16, 1, 2, false},
    [QT_BF16] = {"BF16", GGML_ID_BF16, 1, 2, false},
    [QT_Q8_0] = {"Q8_0", GGML_ID_Q8_0, 32, 34, false},
    [QT_Q4_K] = {"Q4_K", GGML_ID_Q4_K, 256, 144, false},
    [QT_Q6_K] = {"Q6_K", GGML_ID_Q6_K, 256, 210, false},
    [QT_TQ1_0] = {"TQ1_0", GGML_ID_TQ1_0, 256, 54, true},
    [QT_TQ2_0] = {"TQ2_0", GGML_ID_TQ2_0, 256, 66, true},
    [QT_I2_S] = {"I2_S", GGML_ID_I2_S, 128, 32, true},
};

/* Byte offsets inside one block (see the table at the top). */
enum {
    Q8_0_D = 0,
    Q8_0_QS = 2,
    Q4_K_D = 0,
    Q4_K_DMIN = 2,
    Q4_K_SCALES = 4,
    Q4_K_QS = 16,
    Q6_K_QL = 0,
    Q6_K_QH = 128,
    Q6_K_SCALES = 192,
    Q6_K_D = 208,
    TQ1_0_QS = 0,
    TQ1_0_QH = 48,
    TQ1_0_D = 52,
    TQ2_0_QS = 0,
    TQ2_0_D = 64,
    I2_S_TAIL_BYTES = 32,
};

static bool type_valid(enum quant_type t)
{
    return (int)t >= 0 && t < QT_COUNT;
}

const char *quant_type_name(enum quant_type t)
{
    return type_valid(t) ? quant_types[t].name : "?";
}

static bool names_equal_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char ca = (*a >= 'a' && *a <= 'z') ? (char)(*a - 'a' + 'A') : *a;
        char cb = (*b >= 'a' && *b <= 'z') ? (char)(*b - 'a' + 'A') : *b;
        if (ca != cb) return false;
    }
    return *a == *b;
}

int quant_type_from_name(const char *name)
{
    if (!name) return -1;
    for (int t = 0; t < QT_COUNT; t++)
        if (names_equal_nocase(name, quant_types[t].name)) return t;
    return -1;
}

uint32_t quant_type_ggml_id(enum quant_type t)
{
    return type_valid(t) ? quant_types[t].ggml_id : UINT32_MAX;
}

int64_t quant_block_elems(enum quant_type t)
{
    return type_valid(t) ? quant_types[t].block_elems : 0;
}

bool quant_is_ternary(enum quant_type t)
{
    return type_valid(t) && quant_types[t].ternary;
}

/* ---- sizes ---- */

/* a*b into *out for non-negative a, b; false if it would overflow. */
static bool mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a) return false;
    *out = a * b;
    return true;
}

uint64_t quant_row_bytes(enum quant_type t, int64_t cols)
{
    if (!type_valid(t) || cols <= 0) return 0;
    if (t == QT_I2_S) /* 2 bits a weight; a row must end on a byte */
        return cols % 4 == 0 ? (uint64_t)cols / 4 : 0;
    const struct quant_type_info *info = &quant_types[t];
    if (cols % info->block_elems != 0) return 0;
    uint64_t bytes;
    if (!mul_u64((uint64_t)(cols / info->block_elems), (uint64_t)info->block_bytes, &bytes))
        return 0;
    return bytes;
}

uint64_t quant_tensor_bytes(enum quant_type t, int64_t rows, int64_t cols)
{
    if (!type_valid(t) || rows <= 0 || cols <= 0) return 0;
    uint64_t bytes;
    if (t == QT_I2_S) {
        uint64_t n;
        if (!mul_u64((uint64_t)rows, (uint64_t)cols, &n) || n % 128 != 0) return 0;
        bytes = n / 4 + I2_S_TAIL_BYTES; /* n/4 < 2^62: no overflow */
        return bytes;
    }
    uint64_t row = quant_row_bytes(t, cols);
    if (row == 0 || !mul_u64(row, (uint64_t)rows, &bytes)) return 0;
    return bytes;
}

/* ---- half and bfloat16 ---- */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float quant_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;

    if (exp == 0x1f) /* inf or NaN: keep the payload */
        return f32_from_bits(sign | 0x7f800000u | (man << 13));
    if (exp != 0) /* normal: rebias the exponent 15 -> 127 */
        return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
    /* zero or subnormal: man * 2^-24, exact in float arithmetic */
    float mag = (float)man * 0x1p-24f;
    return sign ? -mag : mag;
}

/* value >> shift, rounded to nearest, ties to even (shift in 1..31). */
static uint32_t shift_round_even(uint32_t value, int shift)
{
    uint32_t kept = value >> shift;
    uint32_t rest = value & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (kept & 1))) kept++;
    return kept;
}

uint16_t quant_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    int exp = (int)((u >> 23) & 0xff);
    uint32_t man = u & 0x7fffff;

    if (exp == 0xff) /* inf stays inf; NaN stays a (quiet) NaN */
        return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
    int e = exp - 127; /* unbiased; float subnormals (exp 0) fall to zero below */
    if (e > 15) return sign | 0x7c00;
    if (e >= -14) {
        /* Normal half: 10 mantissa bits. Rounding may carry into the exponent,
         * which is right: 0x3ff -> next binade, and 0x7bff -> 0x7c00 = inf. */
        uint32_t h = ((uint32_t)(e + 15) << 10) | (man >> 13);
        uint32_t rest = man & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    if (e < -25) /* below half the smallest subnormal (2^-25): zero */
        return sign;
    /* Subnormal half counts units of 2^-24. The float is (man|1<<23)*2^(e-23),
     * that is (man|1<<23) >> -(e+1) units; e in -25..-15 gives shifts 14..24.
     * A result of 0x400 is the smallest normal, encoded correctly as is. */
    uint32_t h = shift_round_even(man | 0x800000, -(e + 1));
    return (uint16_t)(sign | h);
}

float quant_bf16_to_f32(uint16_t h)
{
    return f32_from_bits((uint32_t)h << 16);
}

uint16_t quant_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000) /* NaN: truncating could leave inf */
        return (uint16_t)((u >> 16) | 0x40);
    /* Round to nearest even on the 16 dropped bits; overflow becomes inf. */
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

/* ---- little helpers over block bytes ---- */

static float load_f16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return quant_f16_to_f32(h);
}

static void store_f16(uint8_t *p, float f)
{
    uint16_t h = quant_f32_to_f16(f);
    memcpy(p, &h, sizeof h);
}

/* Round to nearest, ties to even (ggml's nearest_int for the values met here). */
static int nearest_int(float v)
{
    return (int)lrintf(v);
}

static int clamp_int(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* 2-bit ternary code -> trit. Code 3 is never written; read as +1 (see top). */
static const int8_t code_trit[4] = {-1, 0, 1, 1};

/* ---- block decoders ---- */

/* Q8_0 block -> 32 floats. */
static void q8_0_dequant_block(const uint8_t *b, float *y)
{
    float d = load_f16(b + Q8_0_D);
    const int8_t *qs = (const int8_t *)(b + Q8_0_QS);
    for (int j = 0; j < 32; j++)
        y[j] = qs[j] * d;
}

/* Q4_K's 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes:
 *   bytes 0..3:  low 6 bits = scale of sub-block 0..3, top 2 bits = bits 4..5
 *                of the scale of sub-block 4..7
 *   bytes 4..7:  the same for the mins
 *   bytes 8..11: low nibble = bits 0..3 of the scale of 4..7, high nibble =
 *                bits 0..3 of the min of 4..7 */
static void q4k_scale_min(const uint8_t *s, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* Q4_K block -> 256 floats. */
static void q4_k_dequant_block(const uint8_t *b, float *y)
{
    float d = load_f16(b + Q4_K_D);
    float dmin = load_f16(b + Q4_K_DMIN);
    const uint8_t *scales = b + Q4_K_SCALES;
    const uint8_t *qs = b + Q4_K_QS;

    for (int chunk = 0; chunk < 4; chunk++) { /* 64 values, sub-blocks 2c and 2c+1 */
        int sc, m;
        q4k_scale_min(scales, 2 * chunk, &sc, &m);
        float d_lo = d * sc, m_lo = dmin * m;
        q4k_scale_min(scales, 2 * chunk + 1, &sc, &m);
        float d_hi = d * sc, m_hi = dmin * m;
        const uint8_t *q = qs + 32 * chunk;
        float *out = y + 64 * chunk;
        for (int l = 0; l < 32; l++) {
            out[l] = d_lo * (q[l] & 0x0f) - m_lo;
            out[l + 32] = d_hi * (q[l] >> 4) - m_hi;
        }
    }
}

/* Q6_K block -> 256 floats. The block is two halves of 128 values; inside a
 * half, value 32*g + l (g = 0..3, l = 0..31) takes its low 4 bits from
 * ql[64*half + 32*(g&1) + l] (low nibble for g < 2, high nibble for g >= 2)
 * and its top 2 bits from qh[32*half + l] at bit 2*g. Value e uses the int8
 * scale e/16. */
static void q6_k_dequant_block(const uint8_t *b, float *y)
{
    const int8_t *scales = (const int8_t *)(b + Q6_K_SCALES);
    float d = load_f16(b + Q6_K_D);
    for (int half = 0; half < 2; half++) {
        const uint8_t *ql = b + Q6_K_QL + 64 * half;
        const uint8_t *qh = b + Q6_K_QH + 32 * half;
        for (int g = 0; g < 4; g++) {
            const uint8_t *lo = ql + 32 * (g & 1);
            int nibble_shift = g < 2 ? 0 : 4;
            float *out = y + 128 * half + 32 * g;
            const int8_t *sc = scales + 8 * half + 2 * g; /* 2 scales per 32 values */
            for (int l = 0; l < 32; l++) {
                int code = ((lo[l] >> nibble_shift) & 0x0f) | (((qh[l] >> (2 * g)) & 3) << 4);
                out[l] = d * sc[l / 16] * (code - 32);
            }
        }
    }
}

/* Trit n (0 = most significant) of a TQ1_0 base-3 byte, as a code 0..2. */
static int tq1_code(uint8_t byte, int n)
{
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    uint8_t shifted = (uint8_t)(byte * pow3[n]); /* mod 256 drops trits 0..n-1 */
    return (shifted * 3) >> 8;
}

/* TQ1_0 block -> 256 trits. Value order:
 *   0..159:   qs[0..31],  value 32*n + m is trit n of qs[m]
 *   160..239: qs[32..47], value 160 + 16*n + m is trit n of qs[32+m]
 *   240..255: qh[0..3],   value 240 + 4*n + m is trit n of qh[m] (n < 4) */
static void tq1_0_trits(const uint8_t *b, int8_t *w)
{
    const uint8_t *qs = b + TQ1_0_QS;
    const uint8_t *qh = b + TQ1_0_QH;
    for (int n = 0; n < 5; n++)
        for (int m = 0; m < 32; m++)
            w[32 * n + m] = (int8_t)(tq1_code(qs[m], n) - 1);
    for (int n = 0; n < 5; n++)
        for (int m = 0; m < 16; m++)
            w[160 + 16 * n + m] = (int8_t)(tq1_code(qs[32 + m], n) - 1);
    for (int n = 0; n < 4; n++)
        for (int m = 0; m < 4; m++)
            w[240 + 4 * n + m] = (int8_t)(tq1_code(qh[m], n) - 1);
}

/* TQ2_0: the 2-bit code of value e: value 128*h + 32*l + m is bits 2l..2l+1
 * of qs[32*h + m]. */
static int tq2_code(const uint8_t *qs, int e)
{
    int h = e / 128, l = (e % 128) / 32, m = e % 32;
    return (qs[32 * h + m] >> (2 * l)) & 3;
}

/* I2_S: the 2-bit code of flat weight i: block i/128; inside it, weight p
 * lives in byte p%32 at shift 6 - 2*(p/32). */
static int i2s_code(const uint8_t *data, uint64_t i)
{
    uint64_t block = i / 128;
    int p = (int)(i % 128);
    return (data[block * 32 + (uint64_t)(p % 32)] >> (6 - 2 * (p / 32))) & 3;
}

static float i2s_scale(const uint8_t *data, int64_t rows, int64_t cols)
{
    float s;
    memcpy(&s, data + (uint64_t)rows * (uint64_t)cols / 4, sizeof s);
    return s;
}

static const uint8_t *row_start(enum quant_type t, const void *data, int64_t cols, int64_t r)
{
    return (const uint8_t *)data + (uint64_t)r * quant_row_bytes(t, cols);
}

void quant_dequant_row(enum quant_type t, const void *data, int64_t rows, int64_t cols, int64_t r,
                       float *dst)
{
    QUANT_REQUIRE(type_valid(t) && data && dst);
    QUANT_REQUIRE(quant_tensor_bytes(t, rows, cols) != 0 && r >= 0 && r < rows);

    if (t == QT_I2_S) {
        const uint8_t *bytes = data;
        float s = i2s_scale(bytes, rows, cols);
        uint64_t base = (uint64_t)r * (uint64_t)cols;
        for (int64_t j = 0; j < cols; j++)
            dst[j] = (float)(i2s_code(bytes, base + (uint64_t)j) - 1) * s;
        return;
    }

    const uint8_t *row = row_start(t, data, cols, r);
    int64_t nb = cols / quant_types[t].block_elems;
    int64_t bb = quant_types[t].block_bytes;
    switch (t) {
    case QT_F32:
        memcpy(dst, row, (size_t)cols * sizeof(float));
        break;
    case QT_F16:
        for (int64_t j = 0; j < cols; j++)
            dst[j] = load_f16(row + 2 * j);
        break;
    case QT_BF16:
        for (int64_t j = 0; j < cols; j++) {
            uint16_t h;
            memcpy(&h, row + 2 * j, sizeof h);
            dst[j] = quant_bf16_to_f32(h);
        }
        break;
    case QT_Q8_0:
        for (int64_t i = 0; i < nb; i++)
            q8_0_dequant_block(row + i * bb, dst + 32 * i);
        break;
    case QT_Q4_K:
        for (int64_t i = 0; i < nb; i++)
            q4_k_dequant_block(row + i * bb, dst + 256 * i);
        break;
    case QT_Q6_K:
        for (int64_t i = 0; i < nb; i++)
            q6_k_dequant_block(row + i * bb, dst + 256 * i);
        break;
    case QT_TQ1_0:
        for (int64_t i = 0; i < nb; i++) {
            const uint8_t *b = row + i * bb;
            float d = load_f16(b + TQ1_0_D);
            int8_t w[256];
            tq1_0_trits(b, w);
            for (int e = 0; e < 256; e++)
                dst[256 * i + e] = (float)w[e] * d;
        }
        break;
    case QT_TQ2_0:
        for (int64_t i = 0; i < nb; i++) {
            const uint8_t *b = row + i * bb;
            float d = load_f16(b + TQ2_0_D);
            for (int e = 0; e < 256; e++) /* code 3 -> 2d, as ggml computes it */
                dst[256 * i + e] = (float)(tq2_code(b + TQ2_0_QS, e) - 1) * d;
        }
        break;
    default:
        QUANT_REQUIRE(!"unreachable type");
    }
}

int64_t quant_ternary_scale_group(enum quant_type t, int64_t cols)
{
    switch (t) {
    case QT_TQ1_0:
    case QT_TQ2_0:
        return 256;
    case QT_I2_S:
        return cols;
    default:
        return 0;
    }
}

void quant_ternary_row(enum quant_type t, const void *data, int64_t rows, int64_t cols, int64_t r,
                       int8_t *w, float *scales)
{
    QUANT_REQUIRE(quant_is_ternary(t) && data && w && scales);
    QUANT_REQUIRE(quant_tensor_bytes(t, rows, cols) != 0 && r >= 0 && r < rows);

    if (t == QT_I2_S) {
        uint64_t base = (uint64_t)r * (uint64_t)cols;
        for (int64_t j = 0; j < cols; j++)
            w[j] = code_trit[i2s_code(data, base + (uint64_t)j)];
        scales[0] = i2s_scale(data, rows, cols);
        return;
    }

    const uint8_t *row = row_start(t, data, cols, r);
    int64_t nb = cols / 256;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *b = row + i * quant_types[t].block_bytes;
        if (t == QT_TQ1_0) {
            tq1_0_trits(b, w + 256 * i);
            scales[i] = load_f16(b + TQ1_0_D);
        } else {
            for (int e = 0; e < 256; e++)
                w[256 * i + e] = code_trit[tq2_code(b + TQ2_0_QS, e)];
            scales[i] = load_f16(b + TQ2_0_D);
        }
    }
}

/* True if none of the 2-bit codes in bytes[0..n-1] is 3 (both bits set). */
static bool codes_valid(const uint8_t *bytes, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if ((bytes[i] & (bytes[i] >> 1) & 0x55) != 0) return false;
    return true;
}

int quant_ternary_check(enum quant_type t, const void *data, int64_t rows, int64_t cols)
{
    if (!quant_is_ternary(t) || !data || quant_tensor_bytes(t, rows, cols) == 0)
        return LF_ERR_INVALID;
    const uint8_t *bytes = data;
    uint64_t n = (uint64_t)rows * (uint64_t)cols;
    switch (t) {
    case QT_TQ1_0: /* every byte decodes to codes 0..2 */
        return 0;
    case QT_TQ2_0: /* the 64 code bytes of each block, not its f16 d */
        for (uint64_t k = 0; k < n / 256; k++)
            if (!codes_valid(bytes + 66 * k + TQ2_0_QS, 64)) return LF_ERR_FORMAT;
        return 0;
    default: /* I2_S: all codes, then the tail */
        return codes_valid(bytes, n / 4) ? 0 : LF_ERR_FORMAT;
    }
}

/* ---- quantizers ---- */

/* Q8_0 (ggml's reference): d = absmax/127, q = round(x/d), ties away from 0. */
static void q8_0_quantize_block(const float *x, uint8_t *b)
{
    float amax = 0.0f;
    for (int j = 0; j < 32; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(b + Q8_0_D, d);
    int8_t *qs = (int8_t *)(b + Q8_0_QS);
    for (int j = 0; j < 32; j++)
        qs[j] = (int8_t)roundf(x[j] * id);
}

/* Fit x[0..31] ~ scale*L - the_min with L in 0..15, minimising the squared
 * error weighted by w (ggml's make_qkx2_quants with its Q4_K parameters): start
 * from the plain min..max grid, then try 21 slightly different grid steps,
 * each refined by weighted least squares for (scale, min), and keep the best.
 * The offset is never positive (a min above zero is clamped to zero). Writes
 * L and the negated min; returns the scale. */
static float q4k_fit_subblock(const float *x, const float *w, uint8_t *L, float *the_min)
{
    enum { N = 32, NMAX = 15, NSTEP = 20 };
    const float rmin = -1.0f, rdelta = 0.1f;

    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = w[0] * x[0];
    for (int i = 1; i < N; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, N);
        *the_min = -min;
        return 0.0f;
    }

    float iscale = NMAX / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < N; i++) {
        L[i] = (uint8_t)clamp_int(nearest_int(iscale * (x[i] - min)), 0, NMAX);
        float diff = scale * L[i] + min - x[i];
        best_error += w[i] * (diff * diff);
    }

    uint8_t trial[N];
    for (int step = 0; step <= NSTEP; step++) {
        iscale = (rmin + rdelta * step + NMAX) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < N; i++) {
            int l = clamp_int(nearest_int(iscale * (x[i] - min)), 0, NMAX);
            trial[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float det = sum_w * sum_l2 - sum_l * sum_l;
        if (det <= 0) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float error = 0;
        for (int i = 0; i < N; i++) {
            float diff = this_scale * trial[i] + this_min - x[i];
            error += w[i] * (diff * diff);
        }
        if (error < best_error) {
            memcpy(L, trial, N);
            best_error = error;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

/* Q4_K (ggml's reference without importance matrix). */
static void q4_k_quantize_block(const float *x, uint8_t *b)
{
    uint8_t L[256];
    float scales[8], mins[8];
    float max_scale = 0, max_min = 0;

    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 += xs[l] * xs[l];
        float av_x = sqrtf(sum_x2 / 32);
        float w[32]; /* weight big values more, but never zero */
        for (int l = 0; l < 32; l++)
            w[l] = av_x + fabsf(xs[l]);
        scales[j] = q4k_fit_subblock(xs, w, L + 32 * j, &mins[j]);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }

    /* 6-bit sub-block scales and mins relative to the super-block's d, dmin. */
    uint8_t *s = b + Q4_K_SCALES;
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; j++) {
        /* Through uint8_t first, as ggml does, so a (never seen) negative
         * value wraps and saturates at 63 exactly as there. */
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) { /* bytes 0..7 are written before j >= 4 adds top bits */
            s[j] = (uint8_t)ls;
            s[j + 4] = (uint8_t)lm;
        } else {
            s[j + 4] = (uint8_t)((ls & 0x0f) | ((lm & 0x0f) << 4));
            s[j - 4] |= (uint8_t)((ls >> 4) << 6);
            s[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    store_f16(b + Q4_K_D, max_scale / 63.f);
    store_f16(b + Q4_K_DMIN, max_min / 63.f);

    /* Requantize every value against the scales as stored. */
    float d_all = load_f16(b + Q4_K_D), dmin_all = load_f16(b + Q4_K_DMIN);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        q4k_scale_min(s, j, &sc, &m);
        float d = d_all * sc;
        if (d == 0.0f) /* keep the fit's codes; they dequantize to -dmin*m */
            continue;
        float dm = dmin_all * m;
        for (int l = 0; l < 32; l++)
            L[32 * j + l] = (uint8_t)clamp_int(nearest_int((x[32 * j + l] + dm) / d), 0, 15);
    }

    uint8_t *qs = b + Q4_K_QS;
    for (int chunk = 0; chunk < 4; chunk++)
        for (int l = 0; l < 32; l++)
            qs[32 * chunk + l] = (uint8_t)(L[64 * chunk + l] | (L[64 * chunk + 32 + l] << 4));
}

/* Codes for 16 values against the grid step -max/iscale_num (see below). */
static void q6k_codes(const float *x, float iscale, int8_t *l_out)
{
    for (int i = 0; i < 16; i++)
        l_out[i] = (int8_t)clamp_int(nearest_int(iscale * x[i]), -32, 31);
}

/* Symmetric fit of x[0..15] to scale*l, l in -32..31, minimising the error
 * weighted by x^2 (ggml's make_qx_quants, nmax 32, rmse_type 1): the value of
 * largest magnitude starts at code -32 (so the scale has the opposite sign),
 * then 18 nearby grid steps are tried and the least-squares best kept. Writes
 * codes + 32 into L; returns the scale. */
static float q6k_fit_subblock(const float *x, uint8_t *L)
{
    enum { N = 16, NMAX = 32 };
    float amax = 0, max = 0;
    for (int i = 0; i < N; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (amax < 1e-15f) {
        memset(L, 0, N);
        return 0.0f;
    }

    int8_t l[N];
    float iscale = -NMAX / max;
    q6k_codes(x, iscale, l);
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < N; i++) {
        float w = x[i] * x[i];
        sumlx += w * x[i] * l[i];
        suml2 += w * l[i] * l[i];
    }
    for (int i = 0; i < N; i++)
        L[i] = (uint8_t)(l[i] + NMAX);
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;

    for (int step = -9; step <= 9; step++) {
        if (step == 0) continue;
        iscale = -(NMAX + 0.1f * step) / max;
        q6k_codes(x, iscale, l);
        sumlx = suml2 = 0;
        for (int i = 0; i < N; i++) {
            float w = x[i] * x[i];
            sumlx += w * x[i] * l[i];
            suml2 += w * l[i] * l[i];
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < N; i++)
                L[i] = (uint8_t)(l[i] + NMAX);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q6_K (ggml's reference without importance matrix). */
static void q6_k_quantize_block(const float *x, uint8_t *b)
{
    uint8_t L[256];
    float scales[16];
    float max_scale = 0, max_abs_scale = 0;

    for (int ib = 0; ib < 16; ib++) {
        scales[ib] = q6k_fit_subblock(x + 16 * ib, L + 16 * ib);
        if (fabsf(scales[ib]) > max_abs_scale) {
            max_abs_scale = fabsf(scales[ib]);
            max_scale = scales[ib];
        }
    }
    memset(b, 0, 210);
    if (max_abs_scale < 1e-15f) /* all (near) zero: an all-zero block, d = 0 */
        return;

    /* int8 sub-block scales; the largest maps to -128, so d takes its sign. */
    float iscale = -128.f / max_scale;
    int8_t *sc = (int8_t *)(b + Q6_K_SCALES);
    store_f16(b + Q6_K_D, 1 / iscale);
    for (int ib = 0; ib < 16; ib++) {
        int v = nearest_int(iscale * scales[ib]);
        sc[ib] = (int8_t)(v < 127 ? v : 127);
    }

    float d_all = load_f16(b + Q6_K_D);
    for (int ib = 0; ib < 16; ib++) {
        float d = d_all * sc[ib];
        if (d == 0.0f) /* keep the fit's codes */
            continue;
        for (int i = 0; i < 16; i++)
            L[16 * ib + i] = (uint8_t)(clamp_int(nearest_int(x[16 * ib + i] / d), -32, 31) + 32);
    }

    /* Scatter the codes into ql/qh: the inverse of q6_k_dequant_block(). */
    uint8_t *ql = b + Q6_K_QL, *qh = b + Q6_K_QH;
    for (int e = 0; e < 256; e++) {
        int half = e / 128, g = (e % 128) / 32, l = e % 32;
        uint8_t *lo = &ql[64 * half + 32 * (g & 1) + l];
        *lo |= (uint8_t)(g < 2 ? (L[e] & 0x0f) : (L[e] & 0x0f) << 4);
        qh[32 * half + l] |= (uint8_t)((L[e] >> 4) << (2 * g));
    }
}

/* Where the trits of a ternary tensor come from: a given array, or floats
 * divided by an absmean scale. Lets quant_quantize() pack without an
 * intermediate (allocated) trit array. */
struct trit_source {
    const int8_t *trits;
    const float *x;
    float s;
};

/* BitNet's rule: clamp(round(x/s), -1, 1), ties to even as torch.round does
 * (so exactly +-0.5 gives 0; NaN gives 0). */
static int ternarize(float x, float s)
{
    float r = x / s;
    return r > 0.5f ? 1 : r < -0.5f ? -1 : 0;
}

static int trit_at(const struct trit_source *src, uint64_t i)
{
    return src->trits ? src->trits[i] : ternarize(src->x[i], src->s);
}

/* TQ1_0 byte from up to five codes (0..2) c[0..count-1], first most
 * significant, zero-padded to five trits; rounded up (see the top). */
static uint8_t tq1_byte(const int *c, int count)
{
    int v = 0;
    for (int n = 0; n < 5; n++)
        v = v * 3 + (n < count ? c[n] : 0);
    return (uint8_t)((v * 256 + 242) / 243);
}

static void tq1_0_pack_block(const struct trit_source *src, uint64_t base, float d, uint8_t *b)
{
    int c[5];
    for (int m = 0; m < 32; m++) {
        for (int n = 0; n < 5; n++)
            c[n] = trit_at(src, base + (uint64_t)(32 * n + m)) + 1;
        b[TQ1_0_QS + m] = tq1_byte(c, 5);
    }
    for (int m = 0; m < 16; m++) {
        for (int n = 0; n < 5; n++)
            c[n] = trit_at(src, base + (uint64_t)(160 + 16 * n + m)) + 1;
        b[TQ1_0_QS + 32 + m] = tq1_byte(c, 5);
    }
    for (int m = 0; m < 4; m++) {
        for (int n = 0; n < 4; n++)
            c[n] = trit_at(src, base + (uint64_t)(240 + 4 * n + m)) + 1;
        b[TQ1_0_QH + m] = tq1_byte(c, 4);
    }
    store_f16(b + TQ1_0_D, d);
}

static void tq2_0_pack_block(const struct trit_source *src, uint64_t base, float d, uint8_t *b)
{
    memset(b + TQ2_0_QS, 0, 64);
    for (int e = 0; e < 256; e++) {
        int h = e / 128, l = (e % 128) / 32, m = e % 32;
        int code = trit_at(src, base + (uint64_t)e) + 1;
        b[TQ2_0_QS + 32 * h + m] |= (uint8_t)(code << (2 * l));
    }
    store_f16(b + TQ2_0_D, d);
}

/* Write a whole ternary tensor (shape already validated) with scale s. */
static void pack_ternary_tensor(enum quant_type t, const struct trit_source *src, float s,
                                int64_t rows, int64_t cols, void *dst)
{
    uint8_t *out = dst;
    uint64_t n = (uint64_t)rows * (uint64_t)cols;
    if (t == QT_I2_S) {
        memset(out, 0, n / 4 + I2_S_TAIL_BYTES);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t block = i / 128;
            int p = (int)(i % 128);
            int code = trit_at(src, i) + 1;
            out[block * 32 + (uint64_t)(p % 32)] |= (uint8_t)(code << (6 - 2 * (p / 32)));
        }
        memcpy(out + n / 4, &s, sizeof s);
        return;
    }
    /* TQ blocks never straddle rows (cols % 256 == 0), so the flat element
     * index of block k is 256*k. */
    uint64_t bb = (uint64_t)quant_types[t].block_bytes;
    for (uint64_t k = 0; k < n / 256; k++) {
        if (t == QT_TQ1_0)
            tq1_0_pack_block(src, 256 * k, s, out + k * bb);
        else
            tq2_0_pack_block(src, 256 * k, s, out + k * bb);
    }
}

int quant_pack_ternary(enum quant_type t, const int8_t *trits, float scale, int64_t rows,
                       int64_t cols, void *dst)
{
    QUANT_REQUIRE(trits && dst);
    if (!quant_is_ternary(t) || quant_tensor_bytes(t, rows, cols) == 0 || !isfinite(scale))
        return LF_ERR_INVALID;
    uint64_t n = (uint64_t)rows * (uint64_t)cols;
    for (uint64_t i = 0; i < n; i++)
        if (trits[i] < -1 || trits[i] > 1) return LF_ERR_INVALID;
    struct trit_source src = {.trits = trits};
    pack_ternary_tensor(t, &src, scale, rows, cols, dst);
    return 0;
}

int quant_quantize(enum quant_type t, const float *src, int64_t rows, int64_t cols, void *dst)
{
    QUANT_REQUIRE(src && dst);
    if (quant_tensor_bytes(t, rows, cols) == 0) return LF_ERR_INVALID;
    uint64_t n = (uint64_t)rows * (uint64_t)cols;
    uint8_t *out = dst;

    switch (t) {
    case QT_F32:
        memcpy(out, src, n * sizeof(float));
        return 0;
    case QT_F16:
        for (uint64_t i = 0; i < n; i++)
            store_f16(out + 2 * i, src[i]);
        return 0;
    case QT_BF16:
        for (uint64_t i = 0; i < n; i++) {
            uint16_t h = quant_f32_to_bf16(src[i]);
            memcpy(out + 2 * i, &h, sizeof h);
        }
        return 0;
    case QT_Q8_0:
        for (uint64_t k = 0; k < n / 32; k++)
            q8_0_quantize_block(src + 32 * k, out + 34 * k);
        return 0;
    case QT_Q4_K:
        for (uint64_t k = 0; k < n / 256; k++)
            q4_k_quantize_block(src + 256 * k, out + 144 * k);
        return 0;
    case QT_Q6_K:
        for (uint64_t k = 0; k < n / 256; k++)
            q6_k_quantize_block(src + 256 * k, out + 210 * k);
        return 0;
    case QT_TQ1_0:
    case QT_TQ2_0:
    case QT_I2_S: {
        /* absmean over the whole tensor, summed in double */
        double sum = 0;
        for (uint64_t i = 0; i < n; i++)
            sum += fabs((double)src[i]);
        float s = (float)(sum / (double)n);
        if (s == 0.0f) s = 1e-8f;
        if (!isfinite(s)) return LF_ERR_INVALID;
        struct trit_source ts = {.x = src, .s = s};
        pack_ternary_tensor(t, &ts, s, rows, cols, dst);
        return 0;
    }
    default:
        return LF_ERR_INVALID;
    }
}
