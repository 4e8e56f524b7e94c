/* request.c - requests: creation, reference counting, the output ring.
 *
 * The ring is a classic single-producer single-consumer queue of fixed
 * events: head and tail only grow (unsigned wrap-around is fine because the
 * capacity is a power of two); the producer fills ring[head % N] and then
 * stores head with release order; the consumer reads ring[tail % N] after an
 * acquire load of head, then stores tail with release order so the producer
 * knows the entry is free. No lock is taken on either side per event.
 */
#include "scheduler/request_internal.h"

#include "engine/status.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

_Static_assert((REQ_RING & (REQ_RING - 1)) == 0, "REQ_RING must be a power of two");

static atomic_uint_fast64_t g_next_id = 1;

const char *req_finish_name(enum req_finish f)
{
    switch (f) {
    case REQ_RUNNING: return NULL;
    case REQ_FINISH_STOP: return "stop";
    case REQ_FINISH_LENGTH:
    case REQ_FINISH_CONTEXT: return "length";
    case REQ_FINISH_CANCELLED: return "cancelled";
    }
    return NULL;
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int req_new(const int32_t *prompt, int32_t n_prompt, const struct req_params *p, struct req **out,
            char *err, size_t err_len)
{
    *out = NULL;
    if (n_prompt <= 0) return lf_errf(err, err_len, LF_ERR_INVALID, "the prompt is empty");
    if (p->n_stop < 0 || p->n_stop > REQ_MAX_STOP)
        return lf_errf(err, err_len, LF_ERR_INVALID, "at most %d stop strings", REQ_MAX_STOP);
    for (int32_t i = 0; i < p->n_stop; i++) {
        size_t n = p->stop[i] ? strlen(p->stop[i]) : 0;
        if (n == 0 || n > REQ_MAX_STOP_LEN)
            return lf_errf(err, err_len, LF_ERR_INVALID,
                           "stop string %d must have 1 to %d bytes", i, REQ_MAX_STOP_LEN);
    }
    if (p->top_logprobs < 0 || p->top_logprobs > REQ_MAX_TOP)
        return lf_errf(err, err_len, LF_ERR_INVALID, "top_logprobs must be 0 to %d", REQ_MAX_TOP);
    struct req *r = calloc(1, sizeof *r);
    if (!r) return LF_ERR_NOMEM;
    r->prompt = malloc((size_t)n_prompt * sizeof *r->prompt);
    if (!r->prompt) {
        free(r);
        return LF_ERR_NOMEM;
    }
    memcpy(r->prompt, prompt, (size_t)n_prompt * sizeof *prompt);
    r->n_prompt = n_prompt;
    r->params = *p;
    for (int32_t i = 0; i < p->n_stop; i++) {
        r->stop_len[i] = strlen(p->stop[i]);
        r->stop_copy[i] = strdup(p->stop[i]);
        r->params.stop[i] = r->stop_copy[i];
        if (!r->stop_copy[i]) {
            r->params.n_stop = i;
            atomic_init(&r->refs, 1);
            req_unref(r);
            return LF_ERR_NOMEM;
        }
    }
    atomic_init(&r->refs, 1);
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->cancelled, false);
    atomic_init(&r->done, false);
    atomic_init(&r->finish, REQ_RUNNING);
    atomic_init(&r->n_generated, 0);
    atomic_init(&r->waiters, 0);
    pthread_mutex_init(&r->wait_mu, NULL);
    pthread_cond_init(&r->wait_cv, NULL);
    r->id = atomic_fetch_add(&g_next_id, 1);
    r->t_arrival = mono_now();
    r->slot = -1;
    r->state = REQ_QUEUED;
    *out = r;
    return 0;
}

void req_ref(struct req *r)
{
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

void req_unref(struct req *r)
{
    if (!r || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1) return;
    for (int32_t i = 0; i < r->params.n_stop; i++) free(r->stop_copy[i]);
    sampler_free(r->smp);
    pthread_mutex_destroy(&r->wait_mu);
    pthread_cond_destroy(&r->wait_cv);
    free(r->prompt);
    free(r);
}

void req_set_notify(struct req *r, req_notify_fn fn, void *ctx)
{
    r->notify = fn;
    r->notify_ctx = ctx;
}

void req_cancel(struct req *r)
{
    atomic_store(&r->cancelled, true);
}

bool req_is_cancelled(const struct req *r)
{
    return atomic_load(&r->cancelled);
}

int req_poll(struct req *r, struct req_event *ev)
{
    unsigned tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    unsigned head = atomic_load_explicit(&r->head, memory_order_acquire);
    if (tail != head) {
        *ev = r->ring[tail % REQ_RING];
        atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
        return 1;
    }
    if (!atomic_load_explicit(&r->done, memory_order_acquire)) return 0;
    /* done was set after the last event: look once more. */
    head = atomic_load_explicit(&r->head, memory_order_acquire);
    if (tail != head) {
        *ev = r->ring[tail % REQ_RING];
        atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
        return 1;
    }
    return -1;
}

bool req_ready(struct req *r)
{
    return atomic_load(&r->head) != atomic_load(&r->tail) || atomic_load(&r->done);
}

void req_wait(struct req *r, int timeout_ms)
{
    atomic_fetch_add(&r->waiters, 1);
    pthread_mutex_lock(&r->wait_mu);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    while (!req_ready(r))
        if (pthread_cond_timedwait(&r->wait_cv, &r->wait_mu, &until) != 0) break;
    pthread_mutex_unlock(&r->wait_mu);
    atomic_fetch_sub(&r->waiters, 1);
}

void req_wake(struct req *r)
{
    if (atomic_load(&r->waiters) == 0) return;
    pthread_mutex_lock(&r->wait_mu);
    pthread_cond_broadcast(&r->wait_cv);
    pthread_mutex_unlock(&r->wait_mu);
}

void req_publish(struct req *r, int32_t token, const char *text, size_t len, double t,
                 const struct req_event *lp)
{
    do {
        size_t n = len < REQ_TEXT_MAX ? len : REQ_TEXT_MAX;
        /* never split a UTF-8 character between two events */
        while (n < len && n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) n--;
        if (n == 0 && len > 0) n = len < REQ_TEXT_MAX ? len : REQ_TEXT_MAX;
        unsigned head = atomic_load_explicit(&r->head, memory_order_relaxed);
        struct req_event *ev = &r->ring[head % REQ_RING];
        ev->token = token;
        ev->len = (uint16_t)n;
        memcpy(ev->text, text, n);
        ev->t = t - r->t_arrival;
        ev->n_top = 0;
        ev->logprob = 0.0f;
        if (lp && token >= 0) {
            ev->logprob = lp->logprob;
            ev->n_top = lp->n_top;
            memcpy(ev->top_ids, lp->top_ids, (size_t)lp->n_top * sizeof *ev->top_ids);
            memcpy(ev->top_logprobs, lp->top_logprobs, (size_t)lp->n_top * sizeof(float));
        }
        atomic_store_explicit(&r->head, head + 1, memory_order_release);
        text += n;
        len -= n;
        token = -1;
    } while (len > 0);
    r->touched = true;
}

void req_publish_done(struct req *r, enum req_finish f)
{
    atomic_store(&r->finish, f);
    atomic_store_explicit(&r->done, true, memory_order_release);
    r->touched = true;
}

enum req_finish req_finish_reason(const struct req *r)
{
    return (enum req_finish)atomic_load(&r->finish);
}

int32_t req_n_prompt(const struct req *r)
{
    return r->n_prompt;
}

int32_t req_n_generated(const struct req *r)
{
    return atomic_load(&r->n_generated);
}

uint64_t req_id(const struct req *r)
{
    return r->id;
}
