/* request_internal.h - the inside of struct req, shared by request.c and
 * sched.c only. Fields under "scheduler" belong to the scheduler thread once
 * the request is submitted; the ring indices and flags are the only fields
 * both sides touch, always through atomics. */
#ifndef LF_REQUEST_INTERNAL_H
#define LF_REQUEST_INTERNAL_H

#include "engine/tokenizer.h"
#include "scheduler/request.h"

#include <pthread.h>
#include <stdatomic.h>

#define REQ_HOLD_MAX (REQ_MAX_STOP_LEN + 1024) /* held-back text */

enum req_state { REQ_QUEUED, REQ_PREFILL, REQ_DECODE, REQ_DONE };

struct req {
    atomic_int refs;
    uint64_t id;
    int32_t *prompt;
    int32_t n_prompt;
    struct req_params params;
    char *stop_copy[REQ_MAX_STOP];
    size_t stop_len[REQ_MAX_STOP];
    double t_arrival; /* CLOCK_MONOTONIC seconds */

    /* shared: single-producer single-consumer ring + flags */
    struct req_event ring[REQ_RING];
    atomic_uint head; /* written by the scheduler */
    atomic_uint tail; /* written by the reader */
    atomic_bool cancelled;
    atomic_bool done;  /* set (release) after the last event and finish */
    atomic_int finish; /* enum req_finish */
    atomic_int n_generated;
    atomic_int waiters;
    pthread_mutex_t wait_mu;
    pthread_cond_t wait_cv;
    req_notify_fn notify;
    void *notify_ctx;

    /* scheduler */
    enum req_state state;
    enum req_finish finish_pending; /* set by the step that finished it, published at eviction */
    struct sampler *smp;
    int32_t slot;
    int32_t n_prefilled; /* prompt tokens in KV */
    int32_t n_past;      /* positions in KV */
    int32_t last_token;  /* sampled, not yet in KV */
    bool touched;        /* published events this step */
    struct tok_stream ts;
    char hold[REQ_HOLD_MAX];
    size_t hold_len;
};

/* Scheduler side: room for at least n more events? */
static inline bool req_ring_has_room(struct req *r, unsigned n)
{
    unsigned used = atomic_load_explicit(&r->head, memory_order_relaxed) -
                    atomic_load_explicit(&r->tail, memory_order_acquire);
    return REQ_RING - used >= n;
}

/* Publish text (any length, whole UTF-8 characters) as events; the first
 * carries `token` (and the log probabilities in *lp, if not NULL), later
 * ones -1. Caller checked room. */
void req_publish(struct req *r, int32_t token, const char *text, size_t len, double t,
                 const struct req_event *lp);
/* Mark finished (after the last event) and wake the reader. */
void req_publish_done(struct req *r, enum req_finish f);
/* Wake a thread blocked in req_wait (no-op if none). */
void req_wake(struct req *r);

#endif
