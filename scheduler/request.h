/* request.h - one generation request, shared by the HTTP side and the
 * scheduler thread.
 *
 * A request is reference-counted: whoever creates it holds one reference,
 * sched_submit() takes another for the scheduler, and each side drops its own
 * with req_unref(). The two sides meet only in three places:
 *   - the output ring, single-producer (scheduler) single-consumer (reader),
 *     lock-free: the scheduler publishes events with a release store, the
 *     reader consumes them with req_poll();
 *   - the cancel flag, an atomic any thread may set with req_cancel();
 *   - the wake-up: after a step that produced output for the request, the
 *     scheduler calls the request's notify callback (e.g. resume an HTTP
 *     connection), and wakes a thread blocked in req_wait().
 * Everything else in struct req belongs to the scheduler thread once the
 * request is submitted.
 */
#ifndef LF_REQUEST_H
#define LF_REQUEST_H

#include "engine/sampler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REQ_MAX_STOP 16      /* stop strings per request */
#define REQ_MAX_STOP_LEN 256 /* bytes per stop string */
#define REQ_TEXT_MAX 120     /* text bytes per event (longer text is split) */
#define REQ_RING 256         /* events the ring holds before the request pauses */
#define REQ_MAX_TOP 20       /* alternatives per token with logprobs */

enum req_finish {
    REQ_RUNNING = 0,
    REQ_FINISH_STOP,      /* end-of-generation token or a stop string */
    REQ_FINISH_LENGTH,    /* max_tokens reached */
    REQ_FINISH_CONTEXT,   /* the context is full */
    REQ_FINISH_CANCELLED, /* req_cancel() or shutdown */
};

/* "stop", "length", "length", "cancelled"; NULL while running. */
const char *req_finish_name(enum req_finish f);

struct req_params {
    struct sampler_params sampling;
    int32_t max_tokens;          /* < 0: until the context is full */
    const char *stop[REQ_MAX_STOP]; /* copied by req_new */
    int32_t n_stop;
    bool ignore_eos;
    bool logprobs;        /* events carry the token's log probability */
    int32_t top_logprobs; /* and this many alternatives (0..REQ_MAX_TOP) */
};

/* One output item. Text is whole UTF-8 characters; text of a possible stop
 * string is held back until it is known not to be one. */
struct req_event {
    int32_t token;  /* the generated token; -1 for a continuation of text */
    uint16_t len;
    char text[REQ_TEXT_MAX];
    double t;       /* seconds since the request arrived */
    /* with params.logprobs, on token events: log-softmax of the model's
     * logits (before sampling filters) for the token and the top alternatives */
    float logprob;
    int32_t n_top;
    int32_t top_ids[REQ_MAX_TOP];
    float top_logprobs[REQ_MAX_TOP];
};

struct req;
typedef void (*req_notify_fn)(void *ctx);

/* Create a request for prompt[0..n_prompt) (copied). LF_ERR_INVALID with a
 * message for an empty prompt, too many/too long stop strings, too many
 * top_logprobs. */
int req_new(const int32_t *prompt, int32_t n_prompt, const struct req_params *p, struct req **out,
            char *err, size_t err_len);
void req_ref(struct req *r);
/* Drops a reference; the last one frees. req_unref(NULL) is a no-op. */
void req_unref(struct req *r);

/* Set before submitting. fn runs on the scheduler thread after each step that
 * published events for this request and once when it finishes; it must not
 * block. */
void req_set_notify(struct req *r, req_notify_fn fn, void *ctx);

/* Any thread: ask the scheduler to stop this request at its next step. */
void req_cancel(struct req *r);
bool req_is_cancelled(const struct req *r);

/* Reader side. Returns 1 and fills *ev if an event is ready, 0 if none is
 * ready yet, -1 if the request has finished and every event was read. */
int req_poll(struct req *r, struct req_event *ev);
/* Whether req_poll would return something other than 0 now. */
bool req_ready(struct req *r);
/* Block until req_poll would not return 0 or timeout_ms passes. */
void req_wait(struct req *r, int timeout_ms);

/* Valid once req_poll returned -1 (or from the scheduler thread). */
enum req_finish req_finish_reason(const struct req *r);
int32_t req_n_prompt(const struct req *r);
int32_t req_n_generated(const struct req *r);
/* Unique per process, assigned at req_new. */
uint64_t req_id(const struct req *r);

#endif
