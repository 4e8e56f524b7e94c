/* kernels.h - CPU feature detection and the kernel dispatch table.
 *
 * Every SIMD kernel of lutfuse exists in up to three versions: a scalar
 * reference (the specification, runs anywhere), AVX2 (+FMA, F16C) and AVX-512
 * (F, BW, VL, DQ, VNNI, BF16). kern_init() looks at the CPU once, honours the
 * LUTFUSE_ISA environment variable (ref | avx2 | avx512) and fills one table of
 * function pointers; callers reach kernels only through kern_ops(). The table
 * is the one piece of global mutable state in kernels/ (STYLE rule 10): it is
 * written by kern_init()/kern_set_isa() before worker threads start and only
 * read afterwards. Before kern_init() runs, the table holds the reference
 * kernels, so nothing ever calls through a NULL pointer.
 *
 * Adding a kernel: add a pointer to struct kern_ops (with a shape comment), give
 * it a _ref version in your module and optional _avx2/_avx512 versions in the
 * per-ISA files, and add one line per ISA to kern_fill() in kernels.c.
 */
#ifndef LF_KERNELS_H
#define LF_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum kern_isa {
    KERN_ISA_REF = 0,    /* portable C, baseline x86-64 */
    KERN_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
    KERN_ISA_AVX512 = 2, /* AVX-512 F/BW/VL/DQ + VNNI (+BF16 where the CPU has it) */
    KERN_ISA_COUNT
};

struct vlut_epilogue;

/* The dispatch table. Each pointer's contract is in the header of the module
 * that implements it (vlut.h for the vlut_ entries). */
struct kern_ops {
    enum kern_isa isa;
    /* Tokens from which a partly filled 32-lane Vec-LUT tile beats the
     * multiply-add kernel (see vlut.h). */
    int vlut_crossover;
    /* Batches narrower than this go to the multiply-add kernel whole. */
    int vlut_lut_min;
    /* Whether a model's multiply-add weights are packed in the PANEL layout
     * (this ISA's kernel for it is the fast one) rather than MAD rows. */
    bool vlut_panels;
    /* Whether the PANEL kernel and the LM head run wide batches on AMX tiles
     * (avx512 on a CPU with AMX-INT8, unless LUTFUSE_AMX=0; see vlut_amx.c,
     * q8_amx.c). */
    bool amx;

    /* Vec-LUT: gather one K-tile's activations token-interleaved, and store
     * the accumulators back token-major (see vlut.h). */
    void (*vlut_lut_gather)(const int8_t *x, int64_t K, int nt, int64_t k0, int kt, int16_t *xg);
    void (*vlut_lut_store)(const int32_t *acc, int64_t rows, int nt, int32_t *y, int64_t ldy);
    /* Vec-LUT: build kt tables of VLUT_CODES rows x VLUT_LANES int16 from
     * xg[kt * VLUT_G][VLUT_LANES] (see vlut.h). */
    void (*vlut_lut_tables)(const int16_t *xg, int kt, int16_t *tables);
    /* Vec-LUT: one sub-tile over `rows` output rows (see vlut.h). */
    void (*vlut_lut_tile)(const uint8_t *codes, int64_t code_stride, int64_t rows, int kt,
                          const int16_t *tables, int16_t *acc16, int32_t *acc32, int flags);
    /* Multiply-add ternary GEMM over `rows` output rows (see vlut.h). */
    void (*vlut_mad_rows)(const uint8_t *codes, int64_t code_stride, int64_t nblocks, int64_t rows,
                          const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                          int32_t *y, int64_t y_stride);
    /* The same over the PANEL layout, rows [m0, m1) (see vlut.h). */
    void (*vlut_mad_panels)(const uint8_t *panels, int64_t nkb, int64_t m0, int64_t m1,
                            const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                            int32_t *y, int64_t y_stride, const struct vlut_epilogue *ep);
    /* One activation row copied into a zero-padded MAD row; returns its sum. */
    int32_t (*vlut_mad_pad)(const int8_t *x, int64_t K, int64_t xs, int8_t *xpad);
    /* Attention scores and value mix of the G query heads of one KV head (see attn.h). */
    void (*attn_scores)(const float *q, int32_t G, const float *K, int64_t stride, int32_t n,
                        int32_t hd, float scale, float *scores, int64_t ld);
    void (*attn_mix)(const float *w, int64_t ld, int32_t G, const float *V, int64_t stride,
                     int32_t n, int32_t hd, float *out);
    /* The same over an f16 KV cache, and the rounding of K/V rows into it. */
    void (*attn_scores_f16)(const float *q, int32_t G, const uint16_t *K, int64_t stride,
                            int32_t n, int32_t hd, float scale, float *scores, int64_t ld);
    void (*attn_mix_f16)(const float *w, int64_t ld, int32_t G, const uint16_t *V, int64_t stride,
                         int32_t n, int32_t hd, float *out);
    void (*attn_f16_store)(uint16_t *dst, const float *src, int64_t n);
    /* Scores, softmax and mix of R consecutive rows of one sequence (see attn.h). */
    void (*attn_rows)(const float *q, int64_t ldq, int32_t R, int32_t G, const void *K,
                      const void *V, bool f16, int64_t stride, int32_t n0, int32_t hd, float scale,
                      float *scores, int64_t ld, float *out, int64_t ldo, float *ws);
    /* Per-token absmax int8 quantization of n activations (see act.h). */
    void (*act_quant_i8)(const float *x, int64_t n, int8_t *q, float *xs);
    /* RMSNorm, softmax in place, SiLU(g) * u in place (see act.h). */
    void (*act_rmsnorm)(float *o, const float *x, const float *w, int64_t n, float eps);
    void (*act_softmax)(float *x, int64_t n);
    void (*act_swiglu)(float *g, const float *u, int64_t n);
    void (*act_add)(float *x, const float *a, int64_t n);
    /* Rotary embedding of one head, adjacent or split pairs (see act.h). */
    void (*act_rope_norm)(float *h, const float *cs, int64_t n);
    void (*act_rope_neox)(float *h, const float *cs, int64_t half);
    /* Greedy sampling's argmax (see act.h). */
    int64_t (*act_argmax)(const float *x, int64_t n);
    /* int32 products of a ternary matmul back to floats (see act.h). */
    void (*act_dequant)(const int32_t *yi, int64_t ldi, int64_t N, int64_t r0, int64_t r1,
                        const float *rs, const float *xs, float scale, float *y, int64_t ldy);
    /* Up to Q8_PANELS panels x Q8_TOKENS tokens of the LM-head GEMM (see q8.h). */
    void (*q8_panel)(const int8_t *wq, const float *wd, int np, int64_t nr, const int8_t *x,
                     const float *xd, const int32_t *xs, int nt, int64_t nb, float *y,
                     int64_t ldy, const int8_t *pf);
};

/* Detect the CPU once and select the ISA: LUTFUSE_ISA if set (and non-empty),
 * else the best the CPU supports. Returns 0, LF_ERR_INVALID for an unknown
 * LUTFUSE_ISA name, or LF_ERR_UNSUPPORTED if it names an ISA this CPU lacks
 * (the table is then left as it was), with a one-line message in err.
 * Call from main() before any worker thread starts; calling again re-reads
 * the environment. */
int kern_init(char *err, size_t err_len);

/* Set vlut_lut_min, the width from which batches go to the Vec-LUT kernel
 * (vlut.h), for the selected ISA: from LUTFUSE_LUT_MIN if set ("never", or
 * a number of tokens 0..1048576), else "auto": measured on this machine by
 * vlut_tune_measure (about 50 ms, on the calling thread). The reference ISA
 * keeps its built-in 0 unless LUTFUSE_LUT_MIN says otherwise. Returns 0, or
 * LF_ERR_INVALID for a malformed LUTFUSE_LUT_MIN (table unchanged), with a
 * message. Call after kern_init() and before any model is loaded (a model's
 * layouts follow the choice); kern_set_isa() restores the built-in value. */
int kern_tune(char *err, size_t err_len);
/* How vlut_lut_min was chosen, one line for reports ("Vec-LUT from 128
 * tokens, measured: ..."). Static. */
const char *kern_tune_describe(void);

/* Switch to `isa` (tests run every supported path in one process). Returns 0,
 * LF_ERR_INVALID for an out-of-range value, LF_ERR_UNSUPPORTED if the CPU lacks
 * it. Same threading rule as kern_init(). */
int kern_set_isa(enum kern_isa isa, char *err, size_t err_len);

/* The selected ISA, and whether this CPU can run a given one. */
enum kern_isa kern_isa(void);
bool kern_isa_supported(enum kern_isa isa);
/* Whether AMX-INT8 tiles can be used: the CPU has them (and GFNI), the
 * kernel granted this process the tile state, and LUTFUSE_AMX is not "0". */
bool kern_amx_usable(void);
/* The best ISA this CPU supports. */
enum kern_isa kern_isa_best(void);

/* The kernels in use, as reports print them: the ISA's name, with "+amx"
 * when the PANEL kernel runs on AMX tiles. Static. */
const char *kern_describe(void);

/* "ref", "avx2", "avx512"; "?" when out of range. Static. */
const char *kern_isa_name(enum kern_isa isa);

/* Parse a name as LUTFUSE_ISA accepts it (case-insensitive "ref", "avx2",
 * "avx512"). Returns 0 and sets *out, or LF_ERR_INVALID with a message. */
int kern_isa_parse(const char *name, enum kern_isa *out, char *err, size_t err_len);

/* The dispatch table (borrowed, never NULL, valid for the process lifetime). */
const struct kern_ops *kern_ops(void);

#endif
