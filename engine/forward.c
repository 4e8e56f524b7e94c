/* forward.c - the forward pass over a fused batch, reference and kernel paths.
 *
 * Shapes (R = rows in the batch, E = n_embd, QD = n_head*head_dim,
 * KVD = n_head_kv*head_dim, F = n_ff):
 *   x  (R, E)   residual stream          xb (R, max(E,QD,F)) normed input
 *   q  (R, QD)  k, v (R, KVD)            att (R, QD) attention output
 *   hb, hb2 (R, F) FFN gate/up           out (R, E) the last residual branch
 * Each layer: K/V of all rows go into their slots first, then every row
 * attends over its own sequence's positions 0..pos - so rows of one sequence
 * can share a call (prefill) and rows of many sequences can too (decode).
 *
 * A call is a sequence of parallel regions on the thread pool (one barrier
 * each): row-parallel ones (embedding; residual add + norm + int8
 * quantization; RoPE + KV stores) prepare the input of matmul regions (q/k/v
 * together, wo, gate/up together with the gated activation, down), and the
 * attention region takes (row, KV head) pairs round-robin.
 *
 * Matmuls: on the reference path a weight row is dequantized once per call
 * (float path) or unpacked to trits (int8 path) and dotted with every row of
 * the batch in a fixed order. Repacked ternary weights go through the
 * Vec-LUT / multiply-add kernels instead (exact int32, then the same float
 * epilogue), split between the threads by output rows or by 32-token tiles.
 * Every output is computed by one thread in an order that does not depend on
 * the batch or the split, so neither the batch composition nor the thread
 * count changes the numbers.
 */
#include "engine/forward.h"

#include "engine/kv.h"
#include "engine/model.h"
#include "engine/status.h"
#include "kernels/act.h"
#include "kernels/attn.h"
#include "kernels/kernels.h"
#include "kernels/q8.h"
#include "kernels/threadpool.h"
#include "kernels/vlut.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Most consecutive rows of one sequence whose attention runs together
 * (attn_rows: keys and values read once per tile for all of them). */
#define ATT_BLOCK_ROWS 16

/* Tokens per multiply-add block: a block's activations (32 x K int8) stay in
 * L1/L2 while the rows of a chunk pass over them. With AMX, 128: the tile
 * kernel unpacks each panel's codes once per call, and at 32 tokens the
 * unpacking took half its time (perf, SMALL prefill of 512). */
#define MM_MAD_TOKENS 32
#define MM_MAD_TOKENS_AMX 128
/* Gate and up of the multiply-add path go this many rows at a time (for
 * every token of the block): gate into hb, up into a per-thread buffer
 * instead of the full-width hb2, and the gated activation runs while both
 * are in cache. 128 rows (64 KiB of up at 128 tokens, in L2) against 64:
 * prefill of 512 on SMALL, 2 threads, 2,586 against 2,240 tok/s (medians
 * of 7 alternating runs, when gate went through the buffer too). */
#define MM_GLU_ROWS 128

/* Multiply-add chunks have homes: the row chunks are cut into up to
 * MM_HOMES ranges, and worker w first takes the chunks of range w % MM_HOMES
 * (every token block of it, block by block) and only then helps with the
 * others'. So a worker meets the same weight rows in every token block and
 * finds them in its own L2 (SMALL's layer, 2.8 MiB of codes, is 1.4 MiB a
 * worker), instead of whichever rows the next free chunk held; a slower
 * worker's leftover chunks still go to whoever is free. */
#define MM_HOMES 16

/* Per-thread scratch. */
struct fwd_thread {
    float *wrow;    /* (width) one dequantized weight row */
    int8_t *trits;  /* (width) one ternary weight row */
    float *tscales; /* (width/256 + 1) its group scales */
    float *scores;  /* (att_rows x heads per KV head, n_ctx) attention scores */
    float *att_ws;  /* attn_rows workspace, 64-byte aligned */
    void *ws;       /* vlut workspace, 64-byte aligned */
    /* the activations of the token block this worker's multiply-add chunks
     * run over: xq's own rows, or their padded copy in ws (mad_chunk) */
    struct vlut_mad_x mx;
    float *glu;     /* (MM_MAD_TOKENS_AMX x MM_GLU_ROWS) up of one range of rows */
};

struct fwd {
    const struct model *m;
    struct fwd_options opt;
    int32_t max_rows, n_ctx, width; /* width = max(E, QD, F) */
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *out;
    int8_t *xq;       /* (R, width) int8 activations */
    float *xs;        /* (R) their scales: x = xq / xs */
    int32_t *xsum;    /* (R) their sums, for the multiply-add kernels (quantize_row) */
    int64_t xq_cols;  /* width of the rows now in xq */
    float *rope_freq; /* (n_rot/2) rotation frequency of each pair */
    float *rope_cs;   /* (R, n_rot) cos, sin of each row's angles, for every layer */
    int32_t *yi;      /* (R, yi_width) int32 GEMM outputs of the matmuls of one region */
    int8_t *hq;       /* (R, head blocks * Q8_BLOCK) LM-head activations, int8 blocks */
    float *hd;        /* their block scales, token after token (q8.h) */
    int32_t *hs;      /* and block sums */
    size_t ws_size;
    /* Attention goes by blocks of at most att_rows consecutive rows of one
     * sequence (consecutive positions): one (first row, rows) pair per block
     * of the batch now running. */
    int32_t att_rows, n_blocks;
    int32_t (*blocks)[2];
    struct fwd_row *orows; /* (R) the rows that want logits, for the last layer */
    struct tpool *pool;
    int nth;
    struct fwd_thread *th;
    double prof[FWD_PHASES]; /* seconds per phase (opt.profile) */
};

struct fwd_options fwd_options_default(void)
{
    return (struct fwd_options){.n_threads = 1, .reference = false, .profile = false};
}

const char *fwd_phase_name(enum fwd_phase p)
{
    static const char *const names[FWD_PHASES] = {
        "embed", "norm+quant", "qkv", "rope+kv", "attention", "wo", "gate+up+act", "down", "head"};
    return (unsigned)p < FWD_PHASES ? names[p] : "?";
}

void fwd_profile(const struct fwd *f, double seconds[FWD_PHASES])
{
    memcpy(seconds, f->prof, sizeof f->prof);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Run one parallel region, timed into phase p when profiling. */
static void region(struct fwd *f, enum fwd_phase p, tpool_fn fn, void *ctx)
{
    if (!f->opt.profile) {
        tpool_run(f->pool, fn, ctx);
        return;
    }
    const double t0 = now_s();
    tpool_run(f->pool, fn, ctx);
    f->prof[p] += now_s() - t0;
}

int fwd_n_threads(const struct fwd *f)
{
    return f->nth;
}

const char *fwd_binding(const struct fwd *f)
{
    return tpool_binding(f->pool);
}

static int32_t max3(int32_t a, int32_t b, int32_t c)
{
    int32_t m = a > b ? a : b;
    return m > c ? m : c;
}

/* malloc, and the pages touched now: the batch-wide buffers, so the first
 * wide step does not fault them in (tens of MiB at 1,024 rows). The slowest
 * first token of a fresh server's first 16 requests (SMALL, 64 + 64 tokens,
 * 3 runs each, noisy machine): 314-401 ms untouched, 316-340 touched. */
static void *malloc_touched(size_t bytes)
{
    bytes = (bytes + 63) & ~(size_t)63; /* 64-byte aligned: xq's rows are kernel rows */
    void *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

int fwd_new(const struct model *m, int32_t max_rows, int32_t n_ctx, const struct fwd_options *opt,
            struct fwd **out, char *err, size_t err_len)
{
    *out = NULL;
    if (max_rows <= 0 || max_rows > (1 << 20) || n_ctx <= 0)
        return lf_errf(err, err_len, LF_ERR_INVALID, "bad batch size %d or context %d", max_rows,
                       n_ctx);
    const struct model_hparams *hp = &m->hp;
    struct fwd *f = calloc(1, sizeof *f);
    if (!f) return LF_ERR_NOMEM;
    f->m = m;
    f->opt = opt ? *opt : fwd_options_default();
    f->max_rows = max_rows;
    f->n_ctx = n_ctx;
    int rc = tpool_new(f->opt.n_threads, &f->pool, err, err_len);
    if (rc) {
        free(f);
        return rc;
    }
    f->nth = tpool_n_threads(f->pool);
    const size_t R = (size_t)max_rows, E = (size_t)hp->n_embd, F = (size_t)hp->n_ff;
    const size_t QD = (size_t)hp->n_head * hp->head_dim, KVD = (size_t)hp->n_head_kv * hp->head_dim;
    f->width = max3(hp->n_embd, (int32_t)QD, hp->n_ff);
    const size_t W = (size_t)f->width;
    f->x = malloc_touched(R * E * sizeof(float));
    f->xb = malloc_touched(R * W * sizeof(float));
    f->q = malloc_touched(R * QD * sizeof(float));
    f->k = malloc_touched(R * KVD * sizeof(float));
    f->v = malloc_touched(R * KVD * sizeof(float));
    f->att = malloc_touched(R * QD * sizeof(float));
    f->hb = malloc_touched(R * F * sizeof(float));
    f->hb2 = malloc_touched(R * F * sizeof(float));
    f->out = malloc_touched(R * E * sizeof(float));
    f->xq = malloc_touched(R * W);
    f->xs = malloc(R * sizeof(float));
    f->xsum = malloc(R * sizeof(int32_t));
    /* q, k, v (or gate, up) of one region each get their own part */
    const size_t yw = QD + 2 * KVD > 2 * F ? QD + 2 * KVD : 2 * F;
    f->yi = malloc_touched(R * (yw > E ? yw : E) * sizeof(int32_t));
    const size_t hnb = (size_t)q8_blocks(hp->n_embd);
    f->hq = malloc(R * hnb * Q8_BLOCK);
    f->hd = calloc(R * hnb, sizeof(float));
    f->hs = calloc(R * hnb, sizeof(int32_t));
    /* one region's matmuls may run through the LUT kernel together */
    const size_t region_rows = yw > W ? yw : W;
    f->ws_size =
        (vlut_workspace_size(max_rows, (int64_t)W, (int64_t)region_rows) + 63) & ~(size_t)63;
    f->rope_freq = malloc((size_t)(hp->n_rot / 2 + 1) * sizeof(float));
    for (int32_t i = 0; f->rope_freq && i < hp->n_rot / 2; i++) {
        float freq = 1.0f / powf(hp->rope_base, (float)(2 * i) / (float)hp->n_rot);
        if (m->rope_freqs) freq /= m->rope_freqs[i];
        f->rope_freq[i] = freq;
    }
    /* as many rows per block as keep a worker's scores within 1 MiB, at most 16 */
    const int64_t G = hp->n_head / hp->n_head_kv, per = (1 << 20) / (4 * G * n_ctx);
    f->att_rows = per < 1 ? 1 : per > ATT_BLOCK_ROWS ? ATT_BLOCK_ROWS : (int32_t)per;
    f->blocks = malloc(R * sizeof *f->blocks);
    f->orows = malloc(R * sizeof *f->orows);
    f->rope_cs = malloc(R * (size_t)(hp->n_rot > 0 ? hp->n_rot : 1) * sizeof(float));
    f->th = calloc((size_t)f->nth, sizeof *f->th);
    bool ok = f->blocks && f->orows && f->rope_cs && f->x && f->xb && f->q && f->k && f->v &&
              f->att && f->hb && f->hb2 && f->out && f->xq && f->xs && f->xsum && f->yi && f->hq &&
              f->hd && f->hs && f->rope_freq && f->th;
    for (int t = 0; ok && t < f->nth; t++) {
        struct fwd_thread *th = &f->th[t];
        th->wrow = malloc(W * sizeof(float));
        th->trits = malloc(W);
        th->tscales = malloc((W / 256 + 1) * sizeof(float));
        th->scores = malloc((size_t)f->att_rows * (size_t)G * (size_t)n_ctx * sizeof(float));
        th->att_ws =
            aligned_alloc(64, ((size_t)attn_rows_ws_floats(hp->head_dim) * 4 + 63) & ~(size_t)63);
        th->ws = aligned_alloc(64, f->ws_size);
        if (th->ws) memset(th->ws, 0, f->ws_size);
        th->glu = aligned_alloc(64, MM_MAD_TOKENS_AMX * MM_GLU_ROWS * sizeof(float));
        ok = th->wrow && th->trits && th->tscales && th->scores && th->att_ws && th->ws && th->glu;
    }
    if (!ok) {
        fwd_free(f);
        return lf_errf(err, err_len, LF_ERR_NOMEM, "cannot allocate forward buffers for %d rows",
                       max_rows);
    }
    *out = f;
    return 0;
}

void fwd_free(struct fwd *f)
{
    if (!f) return;
    for (int t = 0; f->th && t < f->nth; t++) {
        free(f->th[t].wrow);
        free(f->th[t].trits);
        free(f->th[t].tscales);
        free(f->th[t].scores);
        free(f->th[t].att_ws);
        free(f->th[t].ws);
        free(f->th[t].glu);
    }
    free(f->th);
    free(f->blocks);
    free(f->orows);
    free(f->rope_cs);
    tpool_free(f->pool);
    free(f->x);
    free(f->xb);
    free(f->q);
    free(f->k);
    free(f->v);
    free(f->att);
    free(f->hb);
    free(f->hb2);
    free(f->out);
    free(f->xq);
    free(f->xs);
    free(f->xsum);
    free(f->yi);
    free(f->hq);
    free(f->hd);
    free(f->hs);
    free(f->rope_freq);
    free(f);
}

/* ---- building blocks (per row, fixed order) ---- */

/* x += a (the residual), through the kernels unless on the reference path. */
static void add(const struct fwd *f, float *x, const float *a, int32_t n)
{
    if (f->opt.reference)
        act_add_ref(x, a, n);
    else
        kern_ops()->act_add(x, a, n);
}

/* o = w * x / sqrt(mean(x^2) + eps), the sum in act.h's 16-lane order. */
static void rmsnorm(const struct fwd *f, float *o, const float *x, const float *w, int32_t n,
                    float eps)
{
    if (f->opt.reference)
        act_rmsnorm_ref(o, x, w, n, eps);
    else
        kern_ops()->act_rmsnorm(o, x, w, n, eps);
}

/* RoPE angles of one position: cs[2i], cs[2i+1] = cos, sin of pos * freq_i
 * for the n_rot/2 rotated pairs (computed once per row, shared by every
 * head). freq_i = 1 / base^(2i/n_rot), divided by rope_freqs[i] if given. */
static void rope_angles(const struct fwd *f, int32_t pos, float *cs)
{
    const int32_t half = f->m->hp.n_rot / 2;
    for (int32_t i = 0; i < half; i++) {
        const float val = (float)pos * f->rope_freq[i];
        cs[2 * i] = cosf(val);
        cs[2 * i + 1] = sinf(val);
    }
}

/* Rotate the first n_rot dims of one head by the angles cs. NORM pairs
 * adjacent dims (2i, 2i+1); NEOX pairs (i, i + n_rot/2) (act.h). */
static void rope_head(const struct fwd *f, float *h, const float *cs)
{
    const struct model_hparams *hp = &f->m->hp;
    if (hp->rope == MODEL_ROPE_NORM)
        (f->opt.reference ? act_rope_norm_ref : kern_ops()->act_rope_norm)(h, cs, hp->n_rot);
    else
        (f->opt.reference ? act_rope_neox_ref : kern_ops()->act_rope_neox)(h, cs, hp->n_rot / 2);
}

/* One matmul of a region: y[n*ldy + r] = sum_c W[r][c] * x[n*ldx + c]; the
 * int32 products of the kernel path go to yi (N x w->rows). */
struct mm_task {
    struct fwd *f;
    const struct model_weight *w;
    const float *x;
    int32_t ldx, N, ldy;
    float *y;
    int32_t *yi;
    bool int8;
};

/* Reference rows [r0, r1) of y[n*ldy + r] = sum_c W[r][c] * x[n*ldx + c].
 * With int8 and a ternary weight: x was quantized per row into f->xq/xs,
 * products accumulate in int32 per scale group (groups of all-zero trits
 * are skipped), runs of equal scales are summed in int32 first, and
 * y = (sum_runs acc * s) * (scale / xs), as act_dequant. */
static void matmul_ref_rows(const struct mm_task *t, struct fwd_thread *th, int64_t r0, int64_t r1)
{
    const struct model_weight *w = t->w;
    const int64_t K = w->cols;
    if (t->int8) {
        const int64_t group = quant_ternary_scale_group(w->type, K);
        for (int64_t r = r0; r < r1; r++) {
            quant_ternary_row(w->type, w->data, w->rows, K, r, th->trits, th->tscales);
            for (int32_t n = 0; n < t->N; n++) {
                const int8_t *xq = t->f->xq + (size_t)n * K;
                float sum = 0.0f, run_s = 0.0f;
                int64_t acc = 0;
                bool in_run = false;
                for (int64_t g0 = 0; g0 < K; g0 += group) {
                    int32_t part = 0;
                    bool nonzero = false;
                    for (int64_t c = g0; c < g0 + group && c < K; c++) {
                        part += th->trits[c] * xq[c];
                        nonzero |= th->trits[c] != 0;
                    }
                    if (!nonzero) continue;
                    const float s = th->tscales[g0 / group];
                    if (in_run && s != run_s) sum += (float)acc * run_s, acc = 0;
                    run_s = s, in_run = true;
                    acc += part;
                }
                if (in_run) sum += (float)acc * run_s;
                t->y[(size_t)n * t->ldy + r] = sum * (w->scale / t->f->xs[n]);
            }
        }
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        quant_dequant_row(w->type, w->data, w->rows, K, r, th->wrow);
        for (int32_t n = 0; n < t->N; n++) {
            const float sum = attn_dot_ref(th->wrow, t->x + (size_t)n * t->ldx, (int32_t)K);
            t->y[(size_t)n * t->ldy + r] = sum * w->scale;
        }
    }
}

/* Kernel rows [r0, r1): exact int32 products from vlut_gemm, then the same
 * epilogue as the reference: ((float)acc * s) * (scale / xs). */
static void matmul_vlut_rows(const struct mm_task *t, struct fwd_thread *th, int64_t r0, int64_t r1)
{
    const struct model_weight *w = t->w;
    const int64_t M = w->rows;
    struct fwd *f = t->f;
    vlut_gemm(&w->vl, f->xq, t->N, t->yi, r0, r1, th->ws, f->ws_size);
    kern_ops()->act_dequant(t->yi, M, t->N, r0, r1, w->row_scale, f->xs, w->scale, t->y, t->ldy);
}

/* The LM head through the int8 block kernel: rows were quantized into
 * f->hq / f->hd; the workers take HEAD_CHUNK_ROWS rows at a time. */
#define HEAD_CHUNK_ROWS 256
_Static_assert(HEAD_CHUNK_ROWS % Q8_PANEL == 0, "chunks of whole panels");
struct head_task {
    struct mm_task t;
    struct tpool_chunks chunks;
};

static void head_q8_worker(void *ctx, int ith, int nth)
{
    (void)ith, (void)nth;
    struct head_task *h = ctx;
    const struct mm_task *t = &h->t;
    const struct q8_matrix *w = &t->f->m->head_q8;
    int64_t c;
    while (tpool_chunks_take(&h->chunks, &c)) {
        const int64_t r0 = c * HEAD_CHUNK_ROWS;
        const int64_t r1 = r0 + HEAD_CHUNK_ROWS < w->rows ? r0 + HEAD_CHUNK_ROWS : w->rows;
        q8_gemm(w, t->f->hq, t->f->hd, t->f->hs, t->N, t->y, t->ldy, r0, r1);
    }
}

/* Up to three matmuls over the same input in one parallel region (q, k, v;
 * gate, up; or one), each split by output rows; with gate_up set, the
 * gated activation is applied to every range of columns right after both
 * gate and up have computed it (same shape: the same ranges).
 *
 * On the kernel path the workers share the region out in chunks
 * (tpool_chunks) as they come for them: first the Vec-LUT tiles (the
 * leading nl tokens in 32-token tiles, each tile's rows of every matrix cut
 * into lut_groups groups; a chunk builds its tile's tables once for all the
 * matrices' rows it covers), then the multiply-add chunks of the remaining
 * tokens: blocks of MM_MAD_TOKENS tokens x mad_rows rows of one matrix (or
 * of gate and up together). */
struct mm_region {
    struct mm_task mm[3];
    int n;
    bool gate_up;
    int64_t nl, lut_groups, mad_rows, mad_tokens;
    /* first multiply-add chunk of each matrix within a token block, and after
     * the last matrix the chunks per block (gate and up count as one) */
    int64_t mad_first[4];
    /* Multiply-add chunks by home (MM_HOMES): home h owns the row chunks
     * [home_first[h], home_first[h + 1]) of every token block. */
    int n_homes;
    int64_t home_first[MM_HOMES + 1];
    struct tpool_chunks lut, mad[MM_HOMES];
};

/* gate = act(gate) * up over columns [r0, r1) of N rows (row strides ldg
 * and ldu). */
static void gated_act(const struct fwd *f, float *gate, int64_t ldg, const float *up, int64_t ldu,
                      int32_t N, int64_t r0, int64_t r1)
{
    if (f->m->hp.ffn_act == MODEL_FFN_SILU) {
        void (*swiglu)(float *, const float *, int64_t) =
            f->opt.reference ? act_swiglu_ref : kern_ops()->act_swiglu;
        for (int32_t n = 0; n < N; n++)
            swiglu(gate + n * ldg + r0, up + n * ldu + r0, r1 - r0);
        return;
    }
    for (int32_t n = 0; n < N; n++) /* squared ReLU */
        for (int64_t j = r0; j < r1; j++) {
            float *gj = gate + n * ldg + j;
            const float g = *gj > 0.0f ? *gj * *gj : 0.0f;
            *gj = g * up[n * ldu + j];
        }
}

/* Whether a region's matmuls run on the ternary kernels: all ternary and
 * repacked, on the kernel path. */
static bool kernel_region(const struct mm_region *reg)
{
    if (reg->mm[0].f->opt.reference) return false;
    for (int i = 0; i < reg->n; i++)
        if (!reg->mm[i].int8 || !reg->mm[i].w->packed) return false;
    return true;
}

/* Gate and up on the PANEL multiply-add kernel for tokens [n0, n1) (th->mx
 * holds them, mad_chunk) and rows [r0, r1) of both (r0 a multiple
 * of 16), MM_GLU_ROWS rows at a time: gate straight into its output (hb),
 * up into th->glu, and the gated activation in place in hb while both are
 * in cache. The same operations as writing both to hb / hb2 and running
 * gated_act over them: the same floats. */
static void glu_rect(const struct mm_region *reg, struct fwd_thread *th, int64_t n0, int64_t n1,
                     int64_t r0, int64_t r1)
{
    struct fwd *f = reg->mm[0].f;
    const struct model_weight *wg = reg->mm[0].w, *wu = reg->mm[1].w;
    const int64_t nt = n1 - n0, ldy = reg->mm[0].ldy;
    float dg[MM_MAD_TOKENS_AMX], du[MM_MAD_TOKENS_AMX];
    for (int64_t n = 0; n < nt; n++) {
        dg[n] = wg->scale / f->xs[n0 + n];
        du[n] = wu->scale / f->xs[n0 + n];
    }
    float *u = th->glu;
    for (int64_t r = r0; r < r1; r += MM_GLU_ROWS) {
        const int64_t e = r + MM_GLU_ROWS < r1 ? r + MM_GLU_ROWS : r1;
        float *g = reg->mm[0].y + n0 * ldy + r;
        vlut_mad_run_dequant_at(&wg->vl, nt, wg->row_scale, dg, g, ldy, r, e, &th->mx);
        vlut_mad_run_dequant_at(&wu->vl, nt, wu->row_scale, du, u, MM_GLU_ROWS, r, e, &th->mx);
        gated_act(f, g, ldy, u, MM_GLU_ROWS, (int32_t)nt, 0, e - r);
    }
}

/* Tokens [n0, n1) x rows [r0[i], r1[i]) of each matmul of the region: the
 * int32 products through the Vec-LUT kernel (all matmuls sharing its
 * tables) or the multiply-add kernel (over th->mx, which mad_chunk set to
 * tokens n0..n1-1), back to floats, and the gated
 * activation for gate/up (the same rows of both). */
static void mm_rect(const struct mm_region *reg, int ith, int64_t n0, int64_t n1, bool lut,
                    const int64_t r0[3], const int64_t r1[3])
{
    if (n1 <= n0) return;
    struct fwd *f = reg->mm[0].f;
    struct fwd_thread *th = &f->th[ith];
    const int64_t K = reg->mm[0].w->cols, nt = n1 - n0;
    const int8_t *x = f->xq + n0 * K;
    struct vlut_part parts[3];
    int np = 0, which[3];
    for (int i = 0; i < reg->n; i++) {
        if (r0[i] >= r1[i]) continue;
        which[np] = i;
        parts[np++] = (struct vlut_part){&reg->mm[i].w->vl, reg->mm[i].yi + n0 * reg->mm[i].w->rows,
                                         r0[i], r1[i]};
    }
    if (np == 0) return;
    if (!lut && reg->gate_up && np == 2 && reg->mm[0].w->vl.panel && reg->mm[1].w->vl.panel) {
        glu_rect(reg, th, n0, n1, r0[0], r1[0]);
        return;
    }
    if (lut) vlut_gemm_multi(parts, np, x, nt, th->ws, f->ws_size);
    for (int j = 0; j < np; j++) {
        const struct mm_task *t = &reg->mm[which[j]];
        const struct model_weight *w = t->w;
        if (!lut && w->vl.panel) { /* the kernel writes the floats itself */
            float d[MM_MAD_TOKENS_AMX];
            for (int64_t n = 0; n < nt; n++)
                d[n] = w->scale / f->xs[n0 + n];
            vlut_mad_run_dequant(&w->vl, nt, w->row_scale, d, t->y + n0 * t->ldy, t->ldy,
                                 parts[j].m0, parts[j].m1, &th->mx);
            continue;
        }
        if (!lut) vlut_mad_run(parts[j].w, nt, parts[j].y, parts[j].m0, parts[j].m1, &th->mx);
        kern_ops()->act_dequant(parts[j].y, w->rows, nt, parts[j].m0, parts[j].m1, w->row_scale,
                                f->xs + n0, w->scale, t->y + n0 * t->ldy, t->ldy);
    }
    if (reg->gate_up && r0[0] < r1[0])
        gated_act(f, reg->mm[0].y + n0 * reg->mm[0].ldy, reg->mm[0].ldy,
                  reg->mm[1].y + n0 * reg->mm[0].ldy, reg->mm[0].ldy, (int32_t)nt, r0[0], r1[0]);
}

/* The reference path and matmuls that are not all on the kernels split
 * each matrix's rows evenly between the workers. */
static void mm_region_static(const struct mm_region *reg, int ith, int nth)
{
    int64_t r0[3] = {0}, r1[3] = {0};
    for (int i = 0; i < reg->n; i++)
        tpool_split_aligned(reg->mm[i].w->rows, 16, ith, nth, &r0[i], &r1[i]);
    for (int i = 0; i < reg->n; i++) {
        if (r0[i] >= r1[i]) continue;
        if (reg->mm[i].int8 && reg->mm[i].w->packed && !reg->mm[i].f->opt.reference)
            matmul_vlut_rows(&reg->mm[i], &reg->mm[i].f->th[ith], r0[i], r1[i]);
        else
            matmul_ref_rows(&reg->mm[i], &reg->mm[i].f->th[ith], r0[i], r1[i]);
    }
    if (reg->gate_up && r0[0] < r1[0])
        gated_act(reg->mm[0].f, reg->mm[0].y, reg->mm[0].ldy, reg->mm[1].y, reg->mm[0].ldy,
                  reg->mm[0].N, r0[0], r1[0]);
}

/* Multiply-add chunk: row chunk c (of every matrix's chunks, gate and up
 * counting as one) of token block tb, on worker ith. */
static void mad_chunk(const struct mm_region *reg, int ith, int64_t tb, int64_t c,
                      int64_t *prepared)
{
    struct fwd *f = reg->mm[0].f;
    const int64_t N = reg->mm[0].N, K = reg->mm[0].w->cols;
    const int64_t n0 = reg->nl + tb * reg->mad_tokens;
    const int64_t n1 = n0 + reg->mad_tokens < N ? n0 + reg->mad_tokens : N;
    if (tb != *prepared) { /* xq's rows as they are, or this worker's padded copy */
        struct fwd_thread *th = &f->th[ith];
        const int8_t *x = f->xq + n0 * K;
        th->mx = vlut_mad_direct(K) ? (struct vlut_mad_x){x, K, f->xsum + n0}
                                    : vlut_mad_prepare(x, n1 - n0, K, th->ws, f->ws_size);
        *prepared = tb;
    }
    int i = 0;
    while (c >= reg->mad_first[i + 1])
        i++;
    int64_t r0[3] = {0}, r1[3] = {0};
    r0[i] = (c - reg->mad_first[i]) * reg->mad_rows;
    r1[i] = r0[i] + reg->mad_rows < reg->mm[i].w->rows ? r0[i] + reg->mad_rows : reg->mm[i].w->rows;
    if (reg->gate_up) r0[1] = r0[0], r1[1] = r1[0];
    mm_rect(reg, ith, n0, n1, false, r0, r1);
}

/* The kernel path: LUT chunks, then multiply-add chunks (see struct
 * mm_region). Every output is computed by one worker, the same way
 * whichever worker it is. */
static void mm_region_worker(void *ctx, int ith, int nth)
{
    struct mm_region *reg = ctx;
    if (!kernel_region(reg)) {
        mm_region_static(reg, ith, nth);
        return;
    }
    int64_t c;
    while (tpool_chunks_take(&reg->lut, &c)) {
        const int64_t tile = c / reg->lut_groups, g = c % reg->lut_groups;
        int64_t r0[3] = {0}, r1[3] = {0};
        for (int i = 0; i < reg->n; i++)
            tpool_split_aligned(reg->mm[i].w->rows, 16, (int)g, (int)reg->lut_groups, &r0[i],
                                &r1[i]);
        const int64_t n0 = tile * VLUT_LANES;
        mm_rect(reg, ith, n0, n0 + VLUT_LANES < reg->nl ? n0 + VLUT_LANES : reg->nl, true, r0, r1);
    }
    int64_t prepared = -1; /* token block this worker's workspace holds */
    for (int hi = 0; hi < reg->n_homes; hi++) {
        const int h = (ith + hi) % reg->n_homes; /* its own home first */
        const int64_t first = reg->home_first[h], size = reg->home_first[h + 1] - first;
        while (size > 0 && tpool_chunks_take(&reg->mad[h], &c))
            mad_chunk(reg, ith, c / size, first + c % size, &prepared);
    }
}

/* Chunk counts of a kernel region. Vec-LUT: whole tiles while there are at
 * least as many tiles as workers, else each tile cut into enough row groups
 * for one chunk per worker (each group rebuilds its tile's tables; at 64
 * tokens, 1, 2 and 3 groups per tile measured 1,140 / 1,013 / 1,082 tok/s,
 * medians of 5 alternating runs, SMALL, 2 threads, when AVX-512 still sent
 * 64 tokens to the LUT). Multiply-add: blocks of MM_MAD_TOKENS tokens, each
 * in chunks of about an eighth of a worker's share of rows (whole pairs of
 * 16-row panels); a worker prepares a block's activations when it first takes one
 * of its chunks. */
static void mm_plan(struct mm_region *reg, int nth)
{
    const int64_t N = reg->mm[0].N;
    bool lut = true; /* every matrix has the LUT layout (not built on AVX-512) */
    for (int i = 0; i < reg->n; i++)
        lut = lut && reg->mm[i].w->vl.lut;
    reg->nl = lut ? vlut_lut_tokens(N) : 0;
    const int64_t tiles = (reg->nl + VLUT_LANES - 1) / VLUT_LANES;
    int64_t groups = 1;
    while (tiles > 0 && groups < 4 && tiles * groups < nth)
        groups++;
    reg->lut_groups = groups;
    tpool_chunks_reset(&reg->lut, tiles * groups);
    const int parts = reg->gate_up ? 1 : reg->n; /* gate and up: one chunk covers both */
    int64_t total = 0;
    for (int i = 0; i < parts; i++)
        total += reg->mm[i].w->rows;
    /* whole pairs of 16-row panels, the PANEL kernel's unit */
    int64_t per = (total / (8 * nth) + 31) / 32 * 32;
    reg->mad_rows = per < 32 ? 32 : per;
    reg->mad_first[0] = 0;
    for (int i = 0; i < parts; i++)
        reg->mad_first[i + 1] =
            reg->mad_first[i] + (reg->mm[i].w->rows + reg->mad_rows - 1) / reg->mad_rows;
    reg->mad_tokens = kern_ops()->amx ? MM_MAD_TOKENS_AMX : MM_MAD_TOKENS;
    const int64_t blocks = (N - reg->nl + reg->mad_tokens - 1) / reg->mad_tokens;
    const int64_t chunks = reg->mad_first[parts]; /* row chunks per token block */
    reg->n_homes = nth < MM_HOMES ? nth : MM_HOMES;
    for (int h = 0; h <= reg->n_homes; h++)
        reg->home_first[h] = chunks * h / reg->n_homes;
    for (int h = 0; h < reg->n_homes; h++)
        tpool_chunks_reset(&reg->mad[h], blocks * (reg->home_first[h + 1] - reg->home_first[h]));
}

/* Run n <= 3 matmuls of the same input x in one parallel region (the int8
 * path reads f->xq, which the region before filled with x quantized). */
static void matmuls(struct fwd *f, enum fwd_phase phase, const float *x, int32_t ldx, int32_t N,
                    bool int8, int n, const struct model_weight *const w[3], float *const y[3],
                    const int32_t ldy[3], bool gate_up)
{
    struct mm_region reg = {.n = n, .gate_up = gate_up};
    int32_t *yi = f->yi;
    for (int i = 0; i < n; i++) {
        reg.mm[i] = (struct mm_task){
            f, w[i], x, ldx, N, ldy[i], y[i], yi, int8 && quant_is_ternary(w[i]->type)};
        if (reg.mm[i].int8 && f->xq_cols != w[i]->cols) {
            fprintf(stderr, "forward: int8 activations of width %lld for a %lld-column matrix\n",
                    (long long)f->xq_cols, (long long)w[i]->cols);
            abort();
        }
        yi += (size_t)N * (size_t)w[i]->rows;
    }
    if (kernel_region(&reg)) mm_plan(&reg, f->nth);
    region(f, phase, mm_region_worker, &reg);
}

static void matmul1(struct fwd *f, enum fwd_phase phase, const struct model_weight *w,
                    const float *x, int32_t ldx, int32_t N, float *y, int32_t ldy, bool int8)
{
    const struct model_weight *ws[3] = {w, NULL, NULL};
    float *ys[3] = {y, NULL, NULL};
    const int32_t lds[3] = {ldy, 0, 0};
    matmuls(f, phase, x, ldx, N, int8, 1, ws, ys, lds, false);
}

/* Per-token int8 quantization (act.h) of row n (K values at x) into f->xq /
 * f->xs; on the kernel path with rows the multiply-add kernels can read in
 * place (vlut_mad_direct), their sum into f->xsum as well. */
static void quantize_row(struct fwd *f, const float *x, int32_t n, int64_t K)
{
    void (*quant)(const float *, int64_t, int8_t *, float *) =
        f->opt.reference ? act_quant_i8_ref : kern_ops()->act_quant_i8;
    int8_t *q = f->xq + (size_t)n * K;
    quant(x, K, q, &f->xs[n]);
    if (!f->opt.reference && vlut_mad_direct(K))
        f->xsum[n] = kern_ops()->vlut_mad_pad(q, K, K, NULL);
}

/* Row-parallel work between the matmuls, one region per kind; each thread
 * takes a contiguous range of the batch's rows. */
enum rows_kind {
    ROWS_EMBED,   /* x = embedding of the row's token */
    ROWS_PRENORM, /* [x += add]; xb = rmsnorm(x) * norm; quantize xb */
    ROWS_SUBNORM, /* [xb = rmsnorm(src) * norm, src = xb]; quantize src */
    ROWS_ROPE_KV, /* rotate q and k, store k and v in the KV cache */
    ROWS_HEAD,    /* rows wanting logits: x += add; xb[out] = rmsnorm(x); q8 */
};

struct rows_task {
    struct fwd *f;
    enum rows_kind kind;
    const struct fwd_row *rows;
    int32_t n_rows;
    const float *add;  /* PRENORM/HEAD: residual to add to x first, or NULL */
    const float *norm; /* PRENORM/SUBNORM/HEAD: norm weight (SUBNORM: may be NULL) */
    const float *src;  /* SUBNORM: rows to (norm and) quantize */
    int32_t ld_src, width;
    bool quant; /* quantize for the int8 matmuls that follow */
    bool no_xb; /* PRENORM with quant: only the int8 rows are read, xb is not written */
    struct kv_cache *kv;
    int32_t layer;
    /* set by rows_region: the workers take chunk_rows rows at a time */
    int64_t chunk_rows;
    struct tpool_chunks chunks;
};

/* Row i of a row-parallel region, on worker ith. */
static void rows_one(const struct rows_task *t, int64_t i, int ith)
{
    struct fwd *f = t->f;
    const struct model *m = f->m;
    const struct model_hparams *hp = &m->hp;
    const int32_t E = hp->n_embd, W = f->width, hd = hp->head_dim;
    const int32_t QD = hp->n_head * hd, KVD = hp->n_head_kv * hd;
    float *x = f->x + (size_t)i * E, *xb = f->xb + (size_t)i * W;
    switch (t->kind) {
    case ROWS_EMBED:
        rope_angles(f, t->rows[i].pos, f->rope_cs + (size_t)i * hp->n_rot);
        quant_dequant_row(m->tok_embd.type, m->tok_embd.data, m->tok_embd.rows, E, t->rows[i].token,
                          x);
        break;
    case ROWS_PRENORM: {
        /* The normed row in the worker's scratch (in L1) when only its int8
         * copy is read: a 1,024-token prefill writes 96 MiB less. */
        float *o = t->quant && t->no_xb ? f->th[ith].wrow : xb;
        if (t->add) add(f, x, t->add + (size_t)i * E, E);
        rmsnorm(f, o, x, t->norm, E, hp->rms_eps);
        if (t->quant) quantize_row(f, o, (int32_t)i, E);
        break;
    }
    case ROWS_SUBNORM: {
        const float *src = t->src + (size_t)i * t->ld_src;
        if (t->norm) {
            rmsnorm(f, xb, src, t->norm, t->width, hp->rms_eps);
            src = xb;
        }
        if (t->quant) quantize_row(f, src, (int32_t)i, t->width);
        break;
    }
    case ROWS_ROPE_KV: {
        const struct fwd_row *r = &t->rows[i];
        const float *cs = f->rope_cs + (size_t)i * hp->n_rot;
        float *q = f->q + (size_t)i * QD, *k = f->k + (size_t)i * KVD;
        for (int32_t h = 0; h < hp->n_head; h++)
            rope_head(f, q + h * hd, cs);
        for (int32_t h = 0; h < hp->n_head_kv; h++)
            rope_head(f, k + h * hd, cs);
        for (int32_t h = 0; h < hp->n_head_kv; h++) {
            const size_t at = (size_t)r->pos * hd, src = (size_t)i * KVD + (size_t)h * hd;
            void *kd = kv_keys(t->kv, r->slot, t->layer, h);
            void *vd = kv_values(t->kv, r->slot, t->layer, h);
            if (t->kv->type == KV_F16) {
                void (*store)(uint16_t *, const float *, int64_t) =
                    f->opt.reference ? attn_f16_store_ref : kern_ops()->attn_f16_store;
                store((uint16_t *)kd + at, f->k + src, hd);
                store((uint16_t *)vd + at, f->v + src, hd);
            } else {
                memcpy((float *)kd + at, f->k + src, (size_t)hd * sizeof(float));
                memcpy((float *)vd + at, f->v + src, (size_t)hd * sizeof(float));
            }
        }
        break;
    }
    case ROWS_HEAD: {
        const int32_t o = t->rows[i].logits;
        if (o < 0) break;
        add(f, x, t->add + (size_t)i * E, E);
        float *hb = f->xb + (size_t)o * W;
        rmsnorm(f, hb, x, t->norm, E, hp->rms_eps);
        if (t->quant) {
            const int64_t nb = q8_blocks(E);
            q8_quantize_row(hb, E, f->hq + (size_t)o * nb * Q8_BLOCK, f->hd + (size_t)o * nb,
                            f->hs + (size_t)o * nb);
        }
        break;
    }
    }
}

static void rows_worker(void *ctx, int ith, int nth)
{
    (void)nth;
    struct rows_task *t = ctx;
    int64_t c;
    while (tpool_chunks_take(&t->chunks, &c)) {
        const int64_t i0 = c * t->chunk_rows;
        const int64_t i1 = i0 + t->chunk_rows < t->n_rows ? i0 + t->chunk_rows : t->n_rows;
        for (int64_t i = i0; i < i1; i++)
            rows_one(t, i, ith);
    }
}

/* A row-parallel region: about 8 chunks per worker, shared out as the
 * workers come for them. */
static void rows_region(struct fwd *f, enum fwd_phase p, struct rows_task *t)
{
    const int64_t per = t->n_rows / (8 * f->nth) > 1 ? t->n_rows / (8 * f->nth) : 1;
    t->chunk_rows = per;
    tpool_chunks_reset(&t->chunks, (t->n_rows + per - 1) / per);
    region(f, p, rows_worker, t);
}

/* The attention of one block of rows (consecutive positions of one
 * sequence, the first at pos) for the G query heads of KV head kvh: scores,
 * softmax and value mix through the kernels (same floats on every ISA and
 * however the rows are blocked). */
static void attend(struct fwd *f, struct fwd_thread *th, const struct kv_cache *kv, int32_t layer,
                   const struct fwd_row *row, int32_t n_rows, const float *q, float *out,
                   int32_t kvh)
{
    const struct model_hparams *hp = &f->m->hp;
    const int32_t hd = hp->head_dim, G = hp->n_head / hp->n_head_kv, QD = hp->n_head * hd;
    const void *K = kv_keys(kv, row->slot, layer, kvh), *V = kv_values(kv, row->slot, layer, kvh);
    const size_t h0 = (size_t)kvh * G;
    kern_ops()->attn_rows(q + h0 * hd, QD, n_rows, G, K, V, kv->type == KV_F16, hd, row->pos, hd,
                          1.0f / sqrtf((float)hd), th->scores, f->n_ctx, out + h0 * hd, QD,
                          th->att_ws);
}

/* Cut the batch into attention blocks (struct fwd). */
static void att_blocks(struct fwd *f, const struct fwd_row *rows, int32_t n)
{
    f->n_blocks = 0;
    for (int32_t i = 0; i < n;) {
        int32_t e = i + 1;
        while (e < n && e - i < f->att_rows && rows[e].slot == rows[i].slot &&
               rows[e].pos == rows[e - 1].pos + 1)
            e++;
        f->blocks[f->n_blocks][0] = i, f->blocks[f->n_blocks][1] = e - i;
        f->n_blocks++;
        i = e;
    }
}

struct att_task {
    struct fwd *f;
    const struct kv_cache *kv;
    int32_t layer;
    const struct fwd_row *rows;
    struct tpool_chunks items; /* n_blocks x n_head_kv (block, KV head) pairs */
};

/* The workers take (block, KV head) pairs one at a time as they come for
 * them, last block first: later rows of a prompt attend over more positions,
 * so fixed ranges would be unbalanced even on two equally fast cores, and
 * the cheap items left for the end even out the finish. */
static void attention_worker(void *ctx, int ith, int nth)
{
    (void)nth;
    struct att_task *t = ctx;
    struct fwd *f = t->f;
    const int32_t H = f->m->hp.n_head_kv, QD = f->m->hp.n_head * f->m->hp.head_dim;
    int64_t i;
    while (tpool_chunks_take(&t->items, &i)) {
        const int32_t *b = f->blocks[f->n_blocks - 1 - i / H], kvh = (int32_t)(i % H);
        attend(f, &f->th[ith], t->kv, t->layer, &t->rows[b[0]], b[1], f->q + (size_t)b[0] * QD,
               f->att + (size_t)b[0] * QD, kvh);
    }
}

static int check_rows(const struct fwd *f, const struct kv_cache *kv, const struct fwd_row *rows,
                      int32_t n, int32_t *n_out, char *err, size_t err_len)
{
    const struct model_hparams *hp = &f->m->hp;
    if (n <= 0 || n > f->max_rows)
        return lf_errf(err, err_len, LF_ERR_INVALID, "batch of %d rows (capacity %d)", n,
                       f->max_rows);
    if (kv->n_layer != hp->n_layer || kv->n_head_kv != hp->n_head_kv ||
        kv->head_dim != hp->head_dim || kv->n_ctx > f->n_ctx)
        return lf_errf(err, err_len, LF_ERR_INVALID, "KV cache does not match the model");
    int32_t outs = 0;
    for (int32_t i = 0; i < n; i++) {
        const struct fwd_row *r = &rows[i];
        if (r->slot < 0 || r->slot >= kv->n_slots)
            return lf_errf(err, err_len, LF_ERR_INVALID, "row %d: slot %d out of range", i,
                           r->slot);
        if (r->pos < 0 || r->pos >= kv->n_ctx)
            return lf_errf(err, err_len, LF_ERR_RANGE, "row %d: position %d outside context %d", i,
                           r->pos, kv->n_ctx);
        if (r->token < 0 || r->token >= hp->n_vocab)
            return lf_errf(err, err_len, LF_ERR_INVALID, "row %d: token %d outside vocabulary", i,
                           r->token);
        if (r->logits >= 0) outs++;
    }
    for (int32_t i = 0; i < n; i++)
        if (rows[i].logits >= outs)
            return lf_errf(err, err_len, LF_ERR_INVALID, "row %d: logits index %d >= %d", i,
                           rows[i].logits, outs);
    *n_out = outs;
    return 0;
}

/* The last layer's keys and values are stored for every row, but the rest
 * of it - attention, wo, the feed-forward - matters only for the rows whose
 * logits are wanted: a prompt's other rows are done. Moves those rows' x
 * and rotated q to the front (their order kept) and their descriptors into
 * f->orows; returns how many. Every row's arithmetic is its own, so the
 * kept rows come out exactly as they would have. In a 16 x 65-token prefill
 * this skips 7% of the products. */
static int32_t keep_output_rows(struct fwd *f, const struct fwd_row *rows, int32_t n)
{
    const struct model_hparams *hp = &f->m->hp;
    const size_t E = (size_t)hp->n_embd, QD = (size_t)hp->n_head * hp->head_dim;
    int32_t j = 0;
    for (int32_t i = 0; i < n; i++) {
        if (rows[i].logits < 0) continue;
        if (j != i) {
            memcpy(f->x + j * E, f->x + i * E, E * sizeof(float));
            memcpy(f->q + j * QD, f->q + i * QD, QD * sizeof(float));
        }
        f->orows[j++] = rows[i];
    }
    return j;
}

/* The input of wo / w_down: src (rows of `width`), or its sub-norm (bitnet
 * architectures) in xb, quantized for the int8 matmul in the same region.
 * Sets *ld to the returned rows' stride. */
static const float *sub_norm(struct fwd *f, struct rows_task *rt, const float *norm,
                             const float *src, int32_t width, bool i8, int32_t *ld)
{
    if (norm || i8) {
        rt->kind = ROWS_SUBNORM, rt->norm = norm, rt->src = src, rt->ld_src = width;
        rt->width = width;
        f->xq_cols = width;
        rows_region(f, FWD_NORM, rt);
    }
    *ld = norm ? f->width : width;
    return norm ? f->xb : src;
}

int fwd_run(struct fwd *f, struct kv_cache *kv, const struct fwd_row *rows, int32_t n_rows,
            float *logits, char *err, size_t err_len)
{
    const struct model *m = f->m;
    const struct model_hparams *hp = &m->hp;
    const int32_t E = hp->n_embd, F = hp->n_ff, hd = hp->head_dim;
    const int32_t QD = hp->n_head * hd, KVD = hp->n_head_kv * hd, W = f->width;
    const bool i8 = hp->int8_activations;
    int32_t n_out = 0;
    int rc = check_rows(f, kv, rows, n_rows, &n_out, err, err_len);
    if (rc) return rc;

    /* Regions in order: row-parallel ones prepare the input of a matmul
     * region (norm + int8 quantization); f->out holds the last residual
     * branch until the next region adds it to x. */
    att_blocks(f, rows, n_rows);
    /* Every linear weight on the int8 kernels (kernel_region): the matmuls
     * read xq, never xb. */
    const bool no_xb = i8 && !f->opt.reference && m->n_repacked == 7 * hp->n_layer;
    struct rows_task rt = {
        .f = f, .rows = rows, .n_rows = n_rows, .kv = kv, .quant = i8, .no_xb = no_xb};
    rt.kind = ROWS_EMBED;
    rows_region(f, FWD_EMBED, &rt);
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const struct model_layer *l = &m->layers[il];
        /* attention */
        rt.kind = ROWS_PRENORM, rt.add = il > 0 ? f->out : NULL, rt.norm = l->attn_norm;
        f->xq_cols = E;
        rows_region(f, FWD_NORM, &rt);
        const struct model_weight *qkv[3] = {&l->wq, &l->wk, &l->wv};
        float *const qkv_y[3] = {f->q, f->k, f->v};
        const int32_t qkv_ld[3] = {QD, KVD, KVD};
        matmuls(f, FWD_QKV, f->xb, W, n_rows, i8, 3, qkv, qkv_y, qkv_ld, false);
        rt.kind = ROWS_ROPE_KV, rt.layer = il;
        rows_region(f, FWD_ROPE_KV, &rt);
        if (il == hp->n_layer - 1 && n_out < n_rows) {
            if (n_out == 0) return 0; /* prompt chunks only: the KV was all */
            n_rows = keep_output_rows(f, rows, n_rows);
            rows = rt.rows = f->orows;
            rt.n_rows = n_rows;
            att_blocks(f, rows, n_rows);
        }
        struct att_task at = {f, kv, il, rows, {0}};
        tpool_chunks_reset(&at.items, (int64_t)f->n_blocks * hp->n_head_kv);
        region(f, FWD_ATTENTION, attention_worker, &at);
        int32_t ld_att;
        const float *att_in = sub_norm(f, &rt, l->attn_sub_norm, f->att, QD, i8, &ld_att);
        matmul1(f, FWD_WO, &l->wo, att_in, ld_att, n_rows, f->out, E, i8);

        /* feed-forward */
        rt.kind = ROWS_PRENORM, rt.add = f->out, rt.norm = l->ffn_norm;
        f->xq_cols = E;
        rows_region(f, FWD_NORM, &rt);
        const struct model_weight *gu[3] = {&l->w_gate, &l->w_up, NULL};
        float *const gu_y[3] = {f->hb, f->hb2, NULL};
        const int32_t gu_ld[3] = {F, F, 0};
        matmuls(f, FWD_GATE_UP, f->xb, W, n_rows, i8, 2, gu, gu_y, gu_ld, true);
        int32_t ld_ffn;
        const float *ffn_in = sub_norm(f, &rt, l->ffn_sub_norm, f->hb, F, i8, &ld_ffn);
        matmul1(f, FWD_DOWN, &l->w_down, ffn_in, ld_ffn, n_rows, f->out, E, i8);
    }

    /* LM head, only for rows that want logits (in logits-index order); the
     * last residual is added only to them, as no other row needs it. */
    if (n_out == 0) return 0;
    const bool q8 = m->head_q8.q && !f->opt.reference;
    rt.kind = ROWS_HEAD, rt.add = f->out, rt.norm = m->output_norm, rt.quant = q8;
    rows_region(f, FWD_HEAD, &rt);
    if (q8) {
        struct head_task h = {{f, &m->output, f->xb, W, n_out, hp->n_vocab, logits, NULL, false},
                              {0, 0}};
        tpool_chunks_reset(&h.chunks, (m->head_q8.rows + HEAD_CHUNK_ROWS - 1) / HEAD_CHUNK_ROWS);
        region(f, FWD_HEAD, head_q8_worker, &h);
    } else {
        matmul1(f, FWD_HEAD, &m->output, f->xb, W, n_out, logits, hp->n_vocab, false);
    }
    return 0;
}
