/* mkmodel.h - write synthetic models and convert weight types.
 *
 * mkmodel_write() makes a valid GGUF of any supported architecture and shape
 * with weights drawn from a seed: the standard keys and tensor names of
 * llama.cpp/bitnet.cpp, so other engines can read the same file. Linear
 * weights are ternarized by BitNet's absmean rule before being written, with
 * the scale rounded to an fp16 value: so the same seed written as TQ1_0,
 * TQ2_0 or I2_S holds exactly the same weights, and as F32/F16 the same
 * values dequantized. The tokenizer is copied from another GGUF or, without
 * one, is a byte-fallback SentencePiece vocabulary made here.
 *
 * mkmodel_quantize() rewrites a model with its linear weights (and optionally
 * the embedding and output head) converted to another type.
 */
#ifndef LF_MKMODEL_H
#define LF_MKMODEL_H

#include "engine/model.h"
#include "kernels/quant.h"

#include <stddef.h>
#include <stdint.h>

struct mkmodel_params {
    enum model_arch arch;
    enum quant_type wtype;    /* linear weights */
    enum quant_type embd_type; /* token embedding (and output head if untied) */
    int32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    int32_t n_vocab;          /* used only without vocab_path */
    float rope_base;
    bool tied_output;         /* no output.weight (always for bitnet-b1.58) */
    uint64_t seed;
    const char *vocab_path;   /* GGUF whose tokenizer.* keys are copied, or NULL */
};

/* Defaults: the small model `make run` uses (bitnet-b1.58, TQ2_0, hidden 256). */
struct mkmodel_params mkmodel_defaults(void);

/* Apply a named shape: "tiny" (hidden 256), "small" (hidden 1024, 12 layers,
 * 16/4 heads, FFN 2816, vocab 32000), "2b" (BitNet b1.58 2B4T: 2560, 30, 20/5,
 * 6912, vocab 128256). LF_ERR_INVALID for an unknown name. */
int mkmodel_shape(struct mkmodel_params *p, const char *name);

int mkmodel_write(const struct mkmodel_params *p, const char *path, char *err, size_t err_len);

struct mkmodel_quantize_params {
    enum quant_type wtype;      /* linear weights */
    int embd_type;              /* -1 = keep, else enum quant_type for token_embd */
    int output_type;            /* -1 = keep, else enum quant_type for output.weight */
};

int mkmodel_quantize(const char *in, const char *out, const struct mkmodel_quantize_params *p,
                     char *err, size_t err_len);

#endif
