/* sched.c - the fused step loop.
 *
 * The idea in one paragraph: the batch is rebuilt at every step from the live
 * list (requests holding a KV slot, in admission order). Decode rows come
 * first - one per running request, so no running stream ever waits more than
 * one step - then prompt chunks fill what is left of the token budget, each
 * request capped at prefill_cap tokens per step so a long prompt cannot stall
 * the streams. After the forward pass, rows that end a sequence's input are
 * sampled and their tokens published. Finished requests leave at the end of
 * the same step: their slot goes back on the free stack and the live list is
 * compacted in place, so the next batch is dense again. KV data never moves;
 * rows find it through their slot index.
 *
 * Locks: the submit queue has a mutex, taken once per step to admit and to
 * drop cancelled waiters. Nothing in the step loop allocates.
 */
#include "scheduler/sched.h"

#include "engine/forward.h"
#include "engine/kv.h"
#include "engine/log.h"
#include "engine/model.h"
#include "engine/status.h"
#include "engine/tokenizer.h"
#include "kernels/kernels.h"
#include "kernels/vlut.h"
#include "scheduler/request_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Events one step can publish for one request: the token's text plus held-back
 * stop-string text, split into REQ_TEXT_MAX pieces. */
#define STEP_EVENTS_MAX (REQ_HOLD_MAX / REQ_TEXT_MAX + 2)

struct sched {
    const struct model *m;
    struct sched_config cfg;
    int32_t n_vocab;
    struct kv_cache *kv;
    struct fwd *fwd;
    float *logits;          /* (n_slots, n_vocab) */
    struct fwd_row *rows;   /* (max_rows) */
    struct sched_row *info; /* (max_rows) */
    struct req **sampled;   /* (n_slots) request of each logits row */
    struct req **done;      /* (n_slots) requests evicted in this step */
    int32_t max_rows;

    /* submit queue (FCFS ring), guarded by qmu */
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    struct req **queue; /* ring of q_cap = max_queue + n_slots */
    int32_t q_head, q_len, q_cap;
    double last_submit; /* mono_now() of the latest submit */
    bool accepting, exit_now;
    atomic_bool cancel_all; /* read by the step loop without the lock */

    /* scheduler-owned */
    struct req **live; /* (n_slots) admission order, dense */
    int32_t n_live;
    int32_t *free_slots; /* stack */
    int32_t n_free;
    uint64_t step;
    sched_step_fn hook;
    void *hook_ctx;

    pthread_t thread;
    bool started;

    /* statistics */
    atomic_uint_fast64_t st_steps, st_prefill, st_decode, st_submitted, st_busy, st_finished,
        st_cancelled, st_evictions, st_stop, st_length, st_context;
    atomic_uint_fast64_t st_hist[SCHED_BATCH_BUCKETS];
    atomic_int st_queue, st_running;
};

struct sched_config sched_config_default(void)
{
    return (struct sched_config){.n_slots = 4,
                                 .n_ctx = 2048,
                                 .batch_tokens = SCHED_DEFAULT_BATCH_TOKENS,
                                 .prefill_cap = SCHED_DEFAULT_PREFILL_CAP,
                                 .gather_us = SCHED_DEFAULT_GATHER_US,
                                 .max_queue = 256,
                                 .n_threads = 1,
                                 .kv_type = KV_F16};
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Everything sched_new allocates (any of it may be NULL). */
static void free_memory(struct sched *s)
{
    fwd_free(s->fwd);
    kv_free(s->kv);
    free(s->logits);
    free(s->rows);
    free(s->info);
    free(s->sampled);
    free(s->done);
    free(s->queue);
    free(s->live);
    free(s->free_slots);
    free(s);
}

int sched_new(const struct model *m, const struct sched_config *cfg, struct sched **out, char *err,
              size_t err_len)
{
    *out = NULL;
    struct sched_config c = *cfg;
    if (c.n_slots <= 0 || c.n_slots > 4096 || c.n_ctx <= 1 || c.batch_tokens < c.n_slots ||
        c.prefill_cap <= 0 || c.max_queue <= 0 || c.max_queue > (1 << 20) || c.gather_us < 0 ||
        c.gather_us > 1000000)
        return lf_errf(err, err_len, LF_ERR_INVALID,
                       "bad scheduler config: %d slots, context %d, batch %d tokens (must be >= "
                       "slots), prefill cap %d, queue %d, gather %d us",
                       c.n_slots, c.n_ctx, c.batch_tokens, c.prefill_cap, c.max_queue,
                       c.gather_us);
    struct sched *s = calloc(1, sizeof *s);
    if (!s) return LF_ERR_NOMEM;
    s->m = m;
    s->cfg = c;
    s->n_vocab = m->hp.n_vocab;
    s->max_rows = c.batch_tokens;
    int rc = kv_new(c.n_slots, c.n_ctx, m->hp.n_layer, m->hp.n_head_kv, m->hp.head_dim, c.kv_type, &s->kv,
                    err, err_len);
    struct fwd_options fo = fwd_options_default();
    fo.n_threads = c.n_threads;
    if (!rc) rc = fwd_new(m, s->max_rows, c.n_ctx, &fo, &s->fwd, err, err_len);
    if (rc) goto fail;
    /* Map the whole KV cache in now (it is zero already; the write makes the
     * kernel supply the pages): faulting huge-page-advised memory in under
     * load stalls the first requests - a fresh server's first 16 requests
     * (SMALL, 64 + 64 tokens) measured TTFT p99 2.2 s against 0.41 s warm,
     * 0.43-0.46 s with this. llama.cpp clears its KV buffer at start too. */
    memset(s->kv->data, 0, s->kv->bytes);
    s->logits = malloc((size_t)c.n_slots * s->n_vocab * sizeof *s->logits);
    s->rows = malloc((size_t)s->max_rows * sizeof *s->rows);
    s->info = malloc((size_t)s->max_rows * sizeof *s->info);
    s->sampled = malloc((size_t)c.n_slots * sizeof *s->sampled);
    s->done = malloc((size_t)c.n_slots * sizeof *s->done);
    s->q_cap = c.max_queue + c.n_slots;
    s->queue = malloc((size_t)s->q_cap * sizeof *s->queue);
    s->live = malloc((size_t)c.n_slots * sizeof *s->live);
    s->free_slots = malloc((size_t)c.n_slots * sizeof *s->free_slots);
    if (!s->logits || !s->rows || !s->info || !s->sampled || !s->done || !s->queue || !s->live ||
        !s->free_slots) {
        rc = lf_errf(err, err_len, LF_ERR_NOMEM, "out of memory for the scheduler");
        goto fail;
    }
    for (int32_t i = 0; i < c.n_slots; i++)
        s->free_slots[i] = c.n_slots - 1 - i;
    s->n_free = c.n_slots;
    pthread_mutex_init(&s->qmu, NULL);
    pthread_cond_init(&s->qcv, NULL);
    s->accepting = true;
    *out = s;
    return 0;
fail:
    free_memory(s);
    return rc;
}

void sched_set_step_hook(struct sched *s, sched_step_fn fn, void *ctx)
{
    s->hook = fn;
    s->hook_ctx = ctx;
}

int sched_submit(struct sched *s, struct req *r, char *err, size_t err_len)
{
    if (r->n_prompt >= s->cfg.n_ctx)
        return lf_errf(err, err_len, LF_ERR_RANGE,
                       "the prompt has %d tokens; the context holds %d (prompt plus at least one "
                       "generated token)",
                       r->n_prompt, s->cfg.n_ctx);
    for (int32_t i = 0; i < r->n_prompt; i++)
        if (r->prompt[i] < 0 || r->prompt[i] >= s->n_vocab)
            return lf_errf(err, err_len, LF_ERR_INVALID,
                           "prompt token %d is outside the vocabulary (%d)", r->prompt[i],
                           s->n_vocab);
    if (r->state != REQ_QUEUED || r->smp)
        return lf_errf(err, err_len, LF_ERR_INVALID, "request submitted twice");
    int rc = sampler_params_validate(&r->params.sampling, err, err_len);
    if (rc) return rc;
    /* The sampler's scratch is allocated here, on the caller's thread. */
    if ((rc = sampler_new(&r->params.sampling, s->n_vocab, &r->smp)))
        return lf_errf(err, err_len, rc, "out of memory for the sampler");
    tok_stream_init(&r->ts);
    r->ts.at_start = false; /* generated text continues the prompt: keep its spaces */

    pthread_mutex_lock(&s->qmu);
    if (!s->accepting) {
        rc = lf_errf(err, err_len, LF_ERR_CANCELLED, "the server is shutting down");
    } else if (s->q_len - (s->cfg.n_slots - atomic_load(&s->st_running)) >= s->cfg.max_queue) {
        /* Only requests that will find no free slot count as waiting: two
         * arriving together at an idle server both get in, one to the free
         * slot, one to the queue. st_running never exceeds n_slots, so the
         * ring (max_queue + n_slots) cannot overflow. */
        atomic_fetch_add(&s->st_busy, 1);
        rc = lf_errf(err, err_len, LF_ERR_BUSY, "the queue is full (%d requests waiting)",
                     s->cfg.max_queue);
    } else {
        req_ref(r);
        s->queue[(s->q_head + s->q_len) % s->q_cap] = r;
        s->q_len++;
        atomic_store(&s->st_queue, s->q_len);
        atomic_fetch_add(&s->st_submitted, 1);
        s->last_submit = mono_now();
        pthread_cond_signal(&s->qcv);
    }
    pthread_mutex_unlock(&s->qmu);
    if (rc) {
        sampler_free(r->smp);
        r->smp = NULL;
    }
    return rc;
}

/* ---- finishing ---- */

/* Mark r finished; its reader learns it only when it leaves the batch
 * (evict), so that a client that sees its last event finds the slot free. */
static void finish(struct sched *s, struct req *r, enum req_finish f)
{
    if (r->state == REQ_DONE) return;
    r->state = REQ_DONE;
    r->finish_pending = f;
    atomic_fetch_add(&s->st_finished, 1);
    if (f == REQ_FINISH_CANCELLED) atomic_fetch_add(&s->st_cancelled, 1);
    if (f == REQ_FINISH_STOP) atomic_fetch_add(&s->st_stop, 1);
    if (f == REQ_FINISH_LENGTH) atomic_fetch_add(&s->st_length, 1);
    if (f == REQ_FINISH_CONTEXT) atomic_fetch_add(&s->st_context, 1);
}

/* Wake the reader of a request that published this step. */
static void notify(struct req *r)
{
    if (!r->touched) return;
    r->touched = false;
    req_wake(r);
    if (r->notify) r->notify(r->notify_ctx);
}

/* Release everything held back (end of generation, not by a stop string). */
static void flush_text(struct sched *s, struct req *r, double t)
{
    char tail[16];
    int n = tok_stream_flush(s->m->tok, &r->ts, tail, sizeof tail);
    if (n > 0 && r->hold_len + (size_t)n <= REQ_HOLD_MAX) {
        memcpy(r->hold + r->hold_len, tail, (size_t)n);
        r->hold_len += (size_t)n;
    }
    if (r->hold_len) req_publish(r, -1, r->hold, r->hold_len, t, NULL);
    r->hold_len = 0;
}

/* Length of the longest suffix of text that is a proper prefix of a stop string. */
static size_t stop_prefix_suffix(const struct req *r, const char *text, size_t len)
{
    size_t keep = 0;
    for (int32_t i = 0; i < r->params.n_stop; i++) {
        const size_t sl = r->stop_len[i];
        for (size_t k = sl - 1 < len ? sl - 1 : len; k > keep; k--)
            if (!memcmp(text + len - k, r->params.stop[i], k)) {
                keep = k;
                break;
            }
    }
    return keep;
}

/* Handle one sampled token: text, stop strings, end of generation, limits.
 * logits is the row the token was sampled from. */
static void emit(struct sched *s, struct req *r, int32_t token, const float *logits, double t)
{
    if (r->params.max_tokens == 0) { /* asked for no tokens: only the prompt ran */
        finish(s, r, REQ_FINISH_LENGTH);
        return;
    }
    const int32_t n_gen = atomic_fetch_add(&r->n_generated, 1) + 1;
    struct req_event lpbuf, *lp = NULL;
    if (r->params.logprobs) {
        lp = &lpbuf;
        lp->logprob = sampler_logprob(logits, s->n_vocab, token);
        lp->n_top = r->params.top_logprobs > 0
                        ? sampler_top_logprobs(logits, s->n_vocab, r->params.top_logprobs,
                                               lp->top_ids, lp->top_logprobs)
                        : 0;
    }
    r->last_token = token;
    if (!r->params.ignore_eos && tok_is_eog(s->m->tok, token)) {
        atomic_fetch_sub(&r->n_generated, 1); /* the end token is not output */
        flush_text(s, r, t);
        finish(s, r, REQ_FINISH_STOP);
        return;
    }
    char piece[512];
    int n = tok_stream_push(s->m->tok, &r->ts, token, piece, sizeof piece);
    if (n < 0) n = 0;
    memcpy(r->hold + r->hold_len, piece, (size_t)n);
    r->hold_len += (size_t)n;

    /* The earliest stop string in the held text ends generation there. */
    size_t cut = SIZE_MAX;
    for (int32_t i = 0; i < r->params.n_stop; i++) {
        const char *hit = memmem(r->hold, r->hold_len, r->params.stop[i], r->stop_len[i]);
        if (hit && (size_t)(hit - r->hold) < cut) cut = (size_t)(hit - r->hold);
    }
    if (cut != SIZE_MAX) {
        req_publish(r, token, r->hold, cut, t, lp);
        r->hold_len = 0;
        finish(s, r, REQ_FINISH_STOP);
        return;
    }
    size_t keep = stop_prefix_suffix(r, r->hold, r->hold_len);
    req_publish(r, token, r->hold, r->hold_len - keep, t, lp);
    memmove(r->hold, r->hold + r->hold_len - keep, keep);
    r->hold_len = keep;

    if (r->params.max_tokens >= 0 && n_gen >= r->params.max_tokens) {
        flush_text(s, r, t);
        finish(s, r, REQ_FINISH_LENGTH);
    } else if (r->n_past >= s->cfg.n_ctx) {
        flush_text(s, r, t);
        finish(s, r, REQ_FINISH_CONTEXT);
    }
}

/* ---- one step ---- */

/* Move queued requests into free slots (FCFS); drop cancelled waiters. */
static void admit(struct sched *s)
{
    pthread_mutex_lock(&s->qmu);
    int32_t kept = 0;
    const int32_t Q = s->q_cap;
    for (int32_t i = 0; i < s->q_len; i++) {
        struct req *r = s->queue[(s->q_head + i) % Q];
        if (req_is_cancelled(r) || s->cancel_all) {
            finish(s, r, REQ_FINISH_CANCELLED);
            req_publish_done(r, r->finish_pending); /* it never had a slot */
            notify(r);
            req_unref(r);
        } else if (s->n_free > 0 && kept == 0) {
            r->slot = s->free_slots[--s->n_free];
            r->state = REQ_PREFILL;
            s->live[s->n_live++] = r;
        } else {
            s->queue[(s->q_head + kept) % Q] = r;
            kept++;
        }
    }
    s->q_len = kept;
    atomic_store(&s->st_queue, kept);
    atomic_store(&s->st_running, s->n_live);
    pthread_mutex_unlock(&s->qmu);
}

/* Evict finished requests and compact the live list in place (order kept). */
static void evict(struct sched *s)
{
    /* Slots and counters first, then the readers are woken: a client that
     * sees its last token and asks /metrics finds its slot already free. */
    int32_t n = 0, n_done = 0;
    for (int32_t i = 0; i < s->n_live; i++) {
        struct req *r = s->live[i];
        if (r->state == REQ_DONE) {
            s->free_slots[s->n_free++] = r->slot;
            r->slot = -1;
            atomic_fetch_add(&s->st_evictions, 1);
            s->done[n_done++] = r;
        } else {
            s->live[n++] = r;
        }
    }
    s->n_live = n;
    atomic_store(&s->st_running, n);
    for (int32_t i = 0; i < n; i++) notify(s->live[i]);
    for (int32_t i = 0; i < n_done; i++) {
        req_publish_done(s->done[i], s->done[i]->finish_pending);
        notify(s->done[i]);
        req_unref(s->done[i]);
    }
}

static void add_row(struct sched *s, int32_t *n_rows, struct req *r, int32_t pos, int32_t token,
                    int32_t logits)
{
    s->rows[*n_rows] = (struct fwd_row){r->slot, pos, token, logits};
    s->info[*n_rows] = (struct sched_row){r->id, r->slot, pos, token, logits >= 0};
    (*n_rows)++;
}

/* The next `take` prompt tokens of r as rows; the prompt's last one is
 * sampled. */
static void prefill_rows(struct sched *s, int32_t *n_rows, int32_t *n_sampled, struct req *r,
                         int32_t take)
{
    for (int32_t j = 0; j < take; j++) {
        const int32_t pos = r->n_prefilled + j, tok = r->prompt[pos];
        const bool last = pos == r->n_prompt - 1;
        sampler_accept(r->smp, tok); /* penalties see the prompt */
        if (last) s->sampled[*n_sampled] = r;
        add_row(s, n_rows, r, pos, tok, last ? (*n_sampled)++ : -1);
    }
    r->n_prefilled += take;
}

int sched_step(struct sched *s)
{
    admit(s);
    int32_t n_rows = 0, n_sampled = 0, n_decode = 0, budget = s->cfg.batch_tokens;
    const double t0 = mono_now();

    /* Cancellations take effect before the batch is built. */
    for (int32_t i = 0; i < s->n_live; i++) {
        struct req *r = s->live[i];
        if (r->state != REQ_DONE && (req_is_cancelled(r) || s->cancel_all)) {
            flush_text(s, r, t0);
            finish(s, r, REQ_FINISH_CANCELLED);
        }
    }
    /* Decode rows first: one per running request whose reader keeps up. */
    for (int32_t i = 0; i < s->n_live; i++) {
        struct req *r = s->live[i];
        if (r->state != REQ_DECODE || !req_ring_has_room(r, STEP_EVENTS_MAX)) continue;
        s->sampled[n_sampled] = r;
        add_row(s, &n_rows, r, r->n_past, r->last_token, n_sampled++);
        budget--;
    }
    n_decode = n_rows;
    /* Then prompt chunks, capped per request, in admission order. */
    for (int32_t i = 0; i < s->n_live && budget > 0; i++) {
        struct req *r = s->live[i];
        if (r->state != REQ_PREFILL) continue;
        int32_t take = r->n_prompt - r->n_prefilled;
        if (take > s->cfg.prefill_cap) take = s->cfg.prefill_cap;
        if (take > budget) take = budget;
        prefill_rows(s, &n_rows, &n_sampled, r, take);
        budget -= take;
    }
    /* Fill the last 32-lane tile of the Vec-LUT kernel with more prompt
     * tokens (past the per-request cap, which bounds how long a prompt can
     * take, not how fast): a partly used tile costs about as much as a full
     * one, so these lanes are nearly free. */
    const bool lut = n_rows >= VLUT_LANES || n_rows >= kern_ops()->vlut_crossover;
    int32_t fill = lut && n_rows % VLUT_LANES ? VLUT_LANES - n_rows % VLUT_LANES : 0;
    if (fill > budget) fill = budget;
    for (int32_t i = 0; i < s->n_live && fill > 0; i++) {
        struct req *r = s->live[i];
        if (r->state != REQ_PREFILL || r->n_prefilled == r->n_prompt) continue;
        int32_t take = r->n_prompt - r->n_prefilled;
        if (take > fill) take = fill;
        prefill_rows(s, &n_rows, &n_sampled, r, take);
        fill -= take;
    }
    if (n_rows == 0) {
        evict(s);
        return 0;
    }

    char err[LF_ERRMSG_LEN];
    int rc = fwd_run(s->fwd, s->kv, s->rows, n_rows, s->logits, err, sizeof err);
    if (rc) {
        /* Cannot happen with rows built here; fail the requests, keep going. */
        lf_log(LF_LOG_ERROR, "forward pass failed: %s", err);
        for (int32_t i = 0; i < s->n_live; i++)
            finish(s, s->live[i], REQ_FINISH_CANCELLED);
        evict(s);
        return rc;
    }
    const double t1 = mono_now();
    for (int32_t i = 0; i < s->n_live; i++) {
        struct req *r = s->live[i];
        if (r->state == REQ_PREFILL) r->n_past = r->n_prefilled;
    }
    for (int32_t i = 0; i < n_sampled; i++) {
        struct req *r = s->sampled[i];
        if (r->state == REQ_DECODE) r->n_past++; /* its last token is now in KV */
        r->state = REQ_DECODE;
        const float *row = s->logits + (size_t)i * s->n_vocab;
        int32_t tok = sampler_sample(r->smp, row);
        sampler_accept(r->smp, tok);
        emit(s, r, tok, row, t1);
    }

    if (s->hook) {
        struct sched_step_info info = {s->step, n_rows, n_decode, n_rows - n_decode, s->info};
        s->hook(s->hook_ctx, &info);
    }
    s->step++;
    atomic_fetch_add(&s->st_steps, 1);
    atomic_fetch_add(&s->st_decode, (uint64_t)n_decode);
    atomic_fetch_add(&s->st_prefill, (uint64_t)(n_rows - n_decode));
    int b = 0;
    while (b < SCHED_BATCH_BUCKETS - 1 && n_rows > (1 << b))
        b++;
    atomic_fetch_add(&s->st_hist[b], 1);
    evict(s);
    return 1;
}

/* ---- the thread ---- */

/* Wait on qcv until `at` (mono_now() time), or a signal; qmu held. */
static void wait_until(struct sched *s, double at)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    const double d = at - mono_now();
    const long ns = d > 0 ? (long)(d * 1e9) : 0;
    until.tv_sec += ns / 1000000000L;
    until.tv_nsec += ns % 1000000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&s->qcv, &s->qmu, &until);
}

/* Idle gathering (SCHED_DEFAULT_GATHER_US): nothing runs and requests wait;
 * let the rest of their burst arrive first. */
static void gather(struct sched *s)
{
    if (s->cfg.gather_us <= 0) return;
    const double quiet = s->cfg.gather_us * 1e-6, latest = mono_now() + 4 * quiet;
    pthread_mutex_lock(&s->qmu);
    while (!s->exit_now && s->q_len > 0 && s->q_len < s->n_free) {
        const double at = s->last_submit + quiet < latest ? s->last_submit + quiet : latest;
        if (mono_now() >= at) break;
        wait_until(s, at);
    }
    pthread_mutex_unlock(&s->qmu);
}

static void *sched_main(void *arg)
{
    struct sched *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->qmu);
        bool exit_now = s->exit_now && s->n_live == 0 && s->q_len == 0;
        pthread_mutex_unlock(&s->qmu);
        if (exit_now) break;
        if (s->n_live == 0) gather(s);
        int did = sched_step(s);
        if (did > 0) continue;
        pthread_mutex_lock(&s->qmu);
        /* Idle: sleep until a submit. Readers behind (ring full): poll. */
        if (s->q_len == 0 && !s->exit_now) wait_until(s, mono_now() + (s->n_live ? 1e-3 : 0.1));
        pthread_mutex_unlock(&s->qmu);
    }
    return NULL;
}

int sched_start(struct sched *s)
{
    if (s->started) return LF_ERR_INVALID;
    if (pthread_create(&s->thread, NULL, sched_main, s) != 0) return LF_ERR_NOMEM;
    s->started = true;
    return 0;
}

void sched_stop(struct sched *s, int grace_ms)
{
    pthread_mutex_lock(&s->qmu);
    s->accepting = false;
    pthread_mutex_unlock(&s->qmu);
    if (s->started) {
        const double deadline = mono_now() + grace_ms / 1000.0;
        while (mono_now() < deadline &&
               atomic_load(&s->st_running) + atomic_load(&s->st_queue) > 0) {
            struct timespec ts = {0, 5000000L};
            nanosleep(&ts, NULL);
        }
    }
    pthread_mutex_lock(&s->qmu);
    atomic_store(&s->cancel_all, true);
    s->exit_now = true;
    pthread_cond_signal(&s->qcv);
    pthread_mutex_unlock(&s->qmu);
    if (s->started) {
        pthread_join(s->thread, NULL);
        s->started = false;
    } else {
        while (s->n_live || s->q_len)
            sched_step(s);
    }
}

void sched_free(struct sched *s)
{
    if (!s) return;
    sched_stop(s, 0);
    pthread_mutex_destroy(&s->qmu);
    pthread_cond_destroy(&s->qcv);
    free_memory(s);
}

void sched_get_stats(const struct sched *s, struct sched_stats *o)
{
    struct sched *m = (struct sched *)s; /* atomics are read-only here */
    memset(o, 0, sizeof *o);
    o->steps = atomic_load(&m->st_steps);
    o->prefill_tokens = atomic_load(&m->st_prefill);
    o->decode_tokens = atomic_load(&m->st_decode);
    o->submitted = atomic_load(&m->st_submitted);
    o->rejected_busy = atomic_load(&m->st_busy);
    o->finished = atomic_load(&m->st_finished);
    o->cancelled = atomic_load(&m->st_cancelled);
    o->evictions = atomic_load(&m->st_evictions);
    o->finish_stop = atomic_load(&m->st_stop);
    o->finish_length = atomic_load(&m->st_length);
    o->finish_context = atomic_load(&m->st_context);
    for (int i = 0; i < SCHED_BATCH_BUCKETS; i++)
        o->batch_hist[i] = atomic_load(&m->st_hist[i]);
    o->queue_depth = atomic_load(&m->st_queue);
    o->running = atomic_load(&m->st_running);
    o->slots_in_use = o->running;
    o->n_slots = s->cfg.n_slots;
}

const char *sched_binding(const struct sched *s)
{
    return fwd_binding(s->fwd);
}
