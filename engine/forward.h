/* forward.h - one forward pass over a fused batch of rows.
 *
 * A row is (sequence slot, position, token). Rows of different sequences mix
 * freely in one call; rows of one sequence must come in increasing position
 * order, and the sequence's earlier positions must already be in its KV slot
 * (from earlier calls or earlier rows of this call). Logits are computed only
 * for rows that ask for them (the LM head is the largest matrix).
 *
 * Batch invariance: every per-row computation has a fixed summation order,
 * independent of the batch width and of the row's place in the batch, so a
 * row's logits are bit-identical however the batch is composed.
 *
 * Two paths compute the same numbers: the scalar reference (plain loops, a
 * weight row dequantized once per call and reused for every token) and the
 * kernel path (repacked ternary weights through the Vec-LUT / multiply-add
 * GEMM, work split over a pinned thread pool). Ternary matmuls are exact
 * integer dot products in both, so the two agree bit for bit.
 */
#ifndef LF_FORWARD_H
#define LF_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct model;
struct kv_cache;

struct fwd_row {
    int32_t slot;   /* KV slot of the row's sequence */
    int32_t pos;    /* position within the sequence, 0-based */
    int32_t token;  /* input token id */
    int32_t logits; /* index of this row's output in the logits array, or -1 */
};

struct fwd;

struct fwd_options {
    int n_threads;  /* compute threads (pinned, one per core); <= 0: all cores */
    bool reference; /* scalar reference path only (no repacked kernels) */
    bool profile;   /* time each phase of fwd_run (fwd_profile) */
};

/* Phases of a forward pass, for fwd_profile. */
enum fwd_phase {
    FWD_EMBED,     /* embedding lookup */
    FWD_NORM,      /* norms, residual adds, int8 quantization of activations */
    FWD_QKV,       /* q, k, v matmuls */
    FWD_ROPE_KV,   /* RoPE and the KV stores */
    FWD_ATTENTION, /* scores, softmax, value mix */
    FWD_WO,        /* attention output matmul */
    FWD_GATE_UP,   /* gate and up matmuls and the gated activation */
    FWD_DOWN,      /* down matmul */
    FWD_HEAD,      /* final norm, LM head */
    FWD_PHASES
};
/* "embed", "norm+quant", ... Static. */
const char *fwd_phase_name(enum fwd_phase p);

/* 1 thread, kernels on. */
struct fwd_options fwd_options_default(void);

/* Scratch for batches of up to max_rows rows and contexts up to n_ctx; all
 * memory of a forward pass is allocated here, none per call. opt may be NULL
 * (defaults). The thread pool is created here: the calling thread becomes
 * compute worker 0, and fwd_run may be called from any one thread at a time. */
int fwd_new(const struct model *m, int32_t max_rows, int32_t n_ctx, const struct fwd_options *opt,
            struct fwd **out, char *err, size_t err_len);
int fwd_n_threads(const struct fwd *f);
/* "2 threads: worker 0 -> core 0 (PU 0), ..." */
const char *fwd_binding(const struct fwd *f);
void fwd_free(struct fwd *f);

/* With opt.profile: seconds spent in each phase since fwd_new (wall time of
 * the calling thread, which waits for the others at each region's end). All
 * zeros without it. */
void fwd_profile(const struct fwd *f, double seconds[FWD_PHASES]);

/* Run the rows through the model, writing K/V of every row into its slot and
 * logits[row.logits * n_vocab ...] for rows with row.logits >= 0 (indices must
 * be distinct and < the number of such rows). LF_ERR_INVALID (with a message)
 * for a bad slot, position, token or row count; nothing is written then. */
int fwd_run(struct fwd *f, struct kv_cache *kv, const struct fwd_row *rows, int32_t n_rows,
            float *logits, char *err, size_t err_len);

#endif
