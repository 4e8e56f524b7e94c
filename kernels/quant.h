/* quant.h - tensor block formats: sizes, reference dequantizers, quantizers.
 *
 * This is the scalar specification of every weight format lutfuse reads. The
 * model loader maps a file's (ggml type id, metadata) to an enum quant_type;
 * from then on nothing looks at ggml ids again. Everything here is pure
 * functions over caller buffers; nothing allocates.
 *
 * Layouts (ne0 = cols = contiguous dimension, a tensor is rows x cols):
 *   F32, F16, BF16   plain little-endian elements
 *   Q8_0             32-element blocks: fp16 d, int8 qs[32]            (34 B)
 *   Q4_K, Q6_K       256-element super-blocks as in ggml               (144 B, 210 B)
 *   TQ1_0            256: qs[48] (5 trits/byte), qh[4] (4 trits/byte), fp16 d (54 B)
 *   TQ2_0            256: qs[64] (2 bits/weight), fp16 d               (66 B)
 *   I2_S             bitnet.cpp x86: whole tensor as 128-weight blocks of 32 B
 *                    (byte p holds weights p,p+32,p+64,p+96 at shifts 6,4,2,0;
 *                    codes 0,1,2 = -1,0,+1), then a 32-byte tail whose first
 *                    4 bytes are the f32 tensor scale. rows*cols/4 + 32 bytes.
 */
#ifndef LF_QUANT_H
#define LF_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum quant_type {
    QT_F32 = 0,
    QT_F16,
    QT_BF16,
    QT_Q8_0,
    QT_Q4_K,
    QT_Q6_K,
    QT_TQ1_0,
    QT_TQ2_0,
    QT_I2_S,
    QT_COUNT
};

/* ggml type ids as written in files (I2_S is bitnet.cpp's id). */
#define GGML_ID_F32 0
#define GGML_ID_F16 1
#define GGML_ID_Q8_0 8
#define GGML_ID_Q4_K 12
#define GGML_ID_Q6_K 14
#define GGML_ID_BF16 30
#define GGML_ID_TQ1_0 34
#define GGML_ID_TQ2_0 35
#define GGML_ID_I2_S 36

/* "F32", "TQ2_0", ...; "?" for out-of-range. */
const char *quant_type_name(enum quant_type t);
/* Parse a name (case-insensitive); -1 if unknown. */
int quant_type_from_name(const char *name);
/* The id written in files (table above); UINT32_MAX for out-of-range. */
uint32_t quant_type_ggml_id(enum quant_type t);
/* Elements per block (1 for F32/F16/BF16, 32, 256, 128 for I2_S). */
int64_t quant_block_elems(enum quant_type t);
bool quant_is_ternary(enum quant_type t);

/* Bytes of a rows x cols tensor; 0 if cols (or for I2_S rows*cols) is not a
 * multiple of the block or the size overflows. Includes I2_S's tail. */
uint64_t quant_tensor_bytes(enum quant_type t, int64_t rows, int64_t cols);
/* Bytes of one row for row-blocked types; for I2_S, cols/4 (rows are
 * contiguous, the tail comes after all of them). */
uint64_t quant_row_bytes(enum quant_type t, int64_t cols);

/* Dequantize row r of a rows x cols tensor at `data` into dst[cols]. */
void quant_dequant_row(enum quant_type t, const void *data, int64_t rows, int64_t cols, int64_t r,
                       float *dst);

/* Ternary types only: row r as trits w[cols] in {-1,0,+1}, and the scales that
 * multiply them: one per quant_ternary_scale_group() weights (256 for
 * TQ1_0/TQ2_0, i.e. cols/256 scales; for I2_S the group is the whole row and
 * the one scale is the tensor scale). Value of weight j = w[j] * scales[j/group]. */
void quant_ternary_row(enum quant_type t, const void *data, int64_t rows, int64_t cols, int64_t r,
                       int8_t *w, float *scales);
int64_t quant_ternary_scale_group(enum quant_type t, int64_t cols);

/* Untrusted-data check for a ternary tensor of quant_tensor_bytes(t, rows,
 * cols) bytes: 0 if every 2-bit code of TQ2_0/I2_S is 0, 1 or 2 (code 3 is
 * never written by any quantizer; quant_dequant_row gives it ggml's value 2*d,
 * quant_ternary_row reads it as +1), LF_ERR_FORMAT if not, LF_ERR_INVALID for
 * a non-ternary type or bad shape. Every TQ1_0 byte is valid. Scales are not
 * checked. */
int quant_ternary_check(enum quant_type t, const void *data, int64_t rows, int64_t cols);

/* Quantize a rows x cols float tensor into dst (quant_tensor_bytes bytes).
 * F32/F16/BF16: rounding to nearest even. Q8_0, Q4_K, Q6_K: ggml's reference
 * quantizers (no importance matrix). Ternary types: BitNet's absmean rule over
 * the whole tensor: s = mean|x| (or 1e-8 if zero), w = clamp(round(x/s),-1,1),
 * every block's scale = s (I2_S: the tail scale = s). Returns 0, or
 * LF_ERR_INVALID if the shape does not fit the type's blocks. */
int quant_quantize(enum quant_type t, const float *src, int64_t rows, int64_t cols, void *dst);

/* Ternary encoders from trits, with one scale for the whole tensor: used to
 * write the *same* ternary weights in every ternary format. */
int quant_pack_ternary(enum quant_type t, const int8_t *trits, float scale, int64_t rows,
                       int64_t cols, void *dst);

/* IEEE half and bfloat16 conversions (round to nearest even). */
float quant_f16_to_f32(uint16_t h);
uint16_t quant_f32_to_f16(float f);
float quant_bf16_to_f32(uint16_t h);
uint16_t quant_f32_to_bf16(float f);

#endif
