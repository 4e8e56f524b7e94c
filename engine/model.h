/* model.h - a loaded model: architecture, hyperparameters, weight views.
 *
 * model_load() opens a GGUF file, decides what its architecture and tensor
 * types mean, checks every tensor the architecture needs (name, shape, type),
 * and builds views into the mapping. Nothing is dequantized up front except
 * the small norm vectors (copied to f32). The struct is read-only after load
 * and shared by every thread; its fields are public to engine/ code.
 *
 * Architectures (general.architecture):
 *   llama         Llama 1/2/3, TinyLlama, ternary llama files (TQ1_0/TQ2_0);
 *                 RoPE "normal" (adjacent pairs), SiLU-gated FFN.
 *   bitnet-b1.58  BitNet b1.58 2B4T (bitnet.cpp; also written "bitnet-25"):
 *                 sub-norms before attn_output and ffn_down, squared-ReLU
 *                 gated FFN, NEOX RoPE, tied embeddings.
 *   bitnet        1bitLLM b1.58 family as llama.cpp converts it: the same
 *                 sub-norms with a SiLU-gated FFN, NEOX RoPE.
 * For the two BitNet architectures, ternary matmuls quantize activations per
 * token to int8 (absmax) and accumulate in int32, as those models were trained.
 */
#ifndef LF_MODEL_H
#define LF_MODEL_H

#include "kernels/quant.h"
#include "kernels/q8.h"
#include "kernels/vlut.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gguf;
struct tok;

enum model_arch { MODEL_ARCH_LLAMA, MODEL_ARCH_BITNET_B158, MODEL_ARCH_BITNET };
enum model_rope { MODEL_ROPE_NORM, MODEL_ROPE_NEOX };
enum model_ffn_act { MODEL_FFN_SILU, MODEL_FFN_RELU_SQR };

struct model_hparams {
    enum model_arch arch;
    enum model_rope rope;
    enum model_ffn_act ffn_act;
    int32_t n_vocab;
    int32_t n_embd;      /* hidden size */
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;    /* n_embd / n_head unless the file says otherwise */
    int32_t n_ff;
    int32_t n_rot;       /* rotated dims per head (<= head_dim, even) */
    int32_t n_ctx_train;
    float rope_base;
    float rms_eps;
    /* Ternary matmuls quantize activations per token to int8 (absmax) and
     * accumulate in int32 - for every architecture: BitNet was trained so,
     * and for ternary llama files it keeps the reference and the kernels
     * bit-identical. Set when the model has ternary linear weights. */
    bool int8_activations;
};

/* A weight matrix of `rows` outputs by `cols` inputs (cols contiguous), in the
 * file's format. `scale` is an extra per-tensor multiplier (a ".scale" tensor
 * of llama.cpp's bitnet files), 1 otherwise. */
struct model_weight {
    enum quant_type type;
    const void *data;
    int64_t rows, cols;
    float scale;
    /* Ternary weights repacked at load for the multiply-add kernel and, if
     * the ISA selected at load can use it, the Vec-LUT kernel (vl.lut NULL
     * otherwise), with one scale per row. packed is NULL when the tensor
     * was not repacked (not ternary, or a row mixes block scales). */
    struct vlut_weights vl;
    float *row_scale;  /* (rows) */
    uint8_t *packed;   /* owns vl.lut and vl.mad (engine/mem.h block) */
    size_t packed_bytes;
};

struct model_layer {
    float *attn_norm;     /* (n_embd) */
    struct model_weight wq; /* (n_head*head_dim, n_embd) */
    struct model_weight wk; /* (n_head_kv*head_dim, n_embd) */
    struct model_weight wv; /* (n_head_kv*head_dim, n_embd) */
    float *attn_sub_norm; /* (n_head*head_dim) BitNet only, else NULL */
    struct model_weight wo; /* (n_embd, n_head*head_dim) */
    float *ffn_norm;      /* (n_embd) */
    struct model_weight w_gate; /* (n_ff, n_embd) */
    struct model_weight w_up;   /* (n_ff, n_embd) */
    float *ffn_sub_norm;  /* (n_ff) BitNet only, else NULL */
    struct model_weight w_down; /* (n_embd, n_ff) */
};

struct model {
    struct gguf *gguf; /* owns the mapping every weight points into */
    struct tok *tok;
    struct model_hparams hp;
    struct model_weight tok_embd; /* (n_vocab, n_embd) */
    float *output_norm;           /* (n_embd) */
    struct model_weight output;   /* (n_vocab, n_embd); == tok_embd when tied */
    /* The output head requantized to int8 blocks for the q8 kernel (q NULL
     * when the head is F32 - it then stays on the exact float path). */
    struct q8_matrix head_q8;
    void *head_q8_mem; /* engine/mem.h block of head_q8_bytes */
    size_t head_q8_bytes;
    bool tied_output;
    float *rope_freqs;            /* (n_rot/2) frequency divisors, or NULL */
    struct model_layer *layers;   /* (n_layer) */
    char arch_name[32];
    bool id36_is_i2s;
    uint64_t repacked_bytes; /* memory of the kernel layouts */
    int32_t n_repacked, n_not_repacked; /* ternary tensors */
};

/* Load a model file. Ternary weights are repacked into lutfuse's kernel
 * layouts (and their file pages released); LUTFUSE_NO_REPACK=1 skips that,
 * leaving only the reference path. LF_ERR_IO / LF_ERR_FORMAT /
 * LF_ERR_UNSUPPORTED with a one-line message naming the key or tensor at
 * fault. */
int model_load(const char *path, struct model **out, char *err, size_t err_len);
/* model_free(NULL) is a no-op. */
void model_free(struct model *m);

const char *model_arch_name(enum model_arch arch);

/* Metadata key by which lutfuse declares what ggml id 36 means in a file that
 * is not a bitnet.cpp BitNet file (value "I2_S"). */
#define MODEL_KEY_TYPE36 "lutfuse.ggml_type_36"

/* Whether ggml type id 36 means I2_S in this file. Ids >= 36 differ between
 * forks: 36 is I2_S in bitnet.cpp's BitNet files (bitnet-b1.58 / bitnet-25)
 * and in files that declare it with MODEL_KEY_TYPE36; elsewhere it is
 * something else (upstream llama.cpp's IQ4_NL_4_4, ...). */
bool model_id36_is_i2s(const struct gguf *g, enum model_arch arch);

/* Map a tensor's ggml type id to lutfuse's type. LF_ERR_UNSUPPORTED with a
 * message naming the tensor for ids lutfuse does not read or cannot identify. */
int model_map_type(uint32_t ggml_id, bool id36_is_i2s, const char *tensor_name,
                   enum quant_type *out, char *err, size_t err_len);

#endif
