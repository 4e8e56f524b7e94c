/* sched.h - the temporal-fusion scheduler.
 *
 * One scheduler thread owns every running request. At each step it admits
 * queued requests into free KV slots, fuses the next token of every running
 * request plus capped chunks of waiting prompts into one dense batch, runs the
 * forward pass once, samples, publishes tokens, and evicts finished requests
 * at once (their slots are free for the next step; the live list is compacted
 * so batch rows are 0..n-1 with no holes; KV data never moves).
 *
 * Other threads only submit (never blocking: a full queue is LF_ERR_BUSY),
 * cancel, read output through struct req, and read statistics.
 */
#ifndef LF_SCHED_H
#define LF_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/kv.h"

struct model;
struct req;
struct tpool;

struct sched_config {
    int32_t n_slots;      /* sequences decoding at once (KV slots) */
    int32_t n_ctx;        /* positions per slot */
    int32_t batch_tokens; /* token budget per step (decode rows + prefill) */
    int32_t prefill_cap;  /* prompt tokens per request per step */
    int32_t gather_us;    /* idle gathering quiet period, microseconds (0: off) */
    int32_t max_queue;    /* requests waiting for a slot before submit says LF_ERR_BUSY */
    int32_t n_threads;    /* compute threads of the forward pass (<= 0: all cores) */
    enum kv_type kv_type; /* element type of the KV cache */
};

/* Default step budget and per-request prompt chunk. A wave of requests
 * that arrive together (a closed loop, a burst) then has its prompts done
 * in one or two steps before any of them decodes, instead of interleaving
 * long prefill steps with the first decode steps of the wave: 64 requests
 * at concurrency 16 (SMALL, 64 + 64 tokens, 3 runs each) measured ITL p99
 * 22-32 ms, TTFT p99 476-551 ms and 716-828 output tok/s, against 132-152,
 * 583-663 and 612-666 with 256 / 64; Poisson arrivals at 8 and 12 requests
 * a second were no worse (ITL p99 40 / 61 against 63 / 88 ms). As in
 * llama.cpp's server, whose default batch is 2,048 tokens. */
#define SCHED_DEFAULT_BATCH_TOKENS 1024
#define SCHED_DEFAULT_PREFILL_CAP 256

/* Idle gathering: when nothing is running and requests wait, the step loop
 * first waits until no request has arrived for gather_us (at most 4 x
 * gather_us in all, and not at all once every free slot is claimed), so
 * that requests arriving together - a burst, a closed loop's next wave,
 * whose submits spread over a millisecond - start in one step instead of
 * the first few running alone while the rest wait a whole prefill step for
 * them. It costs a request that arrives alone at an idle server up to
 * gather_us of TTFT. Only the scheduler's thread gathers (sched_start);
 * sched_step called directly never waits. */
#define SCHED_DEFAULT_GATHER_US 2000

/* n_slots 4, n_ctx 2048, batch_tokens, prefill_cap, gather_us the defaults above,
 * max_queue 256, 1 thread, f16 KV cache. */
struct sched_config sched_config_default(void);

/* One row of a step, for observers and tests. */
struct sched_row {
    uint64_t req_id;
    int32_t slot, pos, token;
    bool sampled; /* this row's logits were sampled */
};

struct sched_step_info {
    uint64_t step;
    int32_t n_rows, n_decode, n_prefill;
    const struct sched_row *rows;
};
typedef void (*sched_step_fn)(void *ctx, const struct sched_step_info *info);

#define SCHED_BATCH_BUCKETS 10 /* histogram of rows per step: <=1,2,4,...,256, more */

/* Counters, read with relaxed atomics (each value consistent, the set not). */
struct sched_stats {
    uint64_t steps, prefill_tokens, decode_tokens;
    uint64_t submitted, rejected_busy, finished, cancelled, evictions;
    uint64_t finish_stop, finish_length, finish_context;
    uint64_t batch_hist[SCHED_BATCH_BUCKETS];
    int32_t queue_depth, running, slots_in_use, n_slots;
};

struct sched;

/* The model is borrowed and must outlive the scheduler. tpool may be NULL. */
int sched_new(const struct model *m, const struct sched_config *cfg, struct sched **out, char *err,
              size_t err_len);
/* Stops the thread if running, cancels what is left, frees. NULL is a no-op. */
void sched_free(struct sched *s);

/* Observer of every step (tests, tracing); call before sched_start. */
void sched_set_step_hook(struct sched *s, sched_step_fn fn, void *ctx);

/* Start the scheduler thread. */
int sched_start(struct sched *s);
/* Stop accepting; wait up to grace_ms for running requests to finish, then
 * cancel the rest and join the thread. */
void sched_stop(struct sched *s, int grace_ms);

/* Any thread. Takes a reference to r on success. LF_ERR_BUSY if max_queue
 * requests already wait with no free slot for them (never blocks),
 * LF_ERR_RANGE if the prompt does not fit the context,
 * LF_ERR_CANCELLED after sched_stop, LF_ERR_NOMEM. */
int sched_submit(struct sched *s, struct req *r, char *err, size_t err_len);

/* Run one step on the calling thread (only when the thread is not started):
 * returns 1 if it did work, 0 if there was nothing to do, < 0 on error. For
 * deterministic tests. */
int sched_step(struct sched *s);

void sched_get_stats(const struct sched *s, struct sched_stats *out);

/* The compute threads' binding, as "2 threads: worker 0 -> core 0 ...". */
const char *sched_binding(const struct sched *s);

#endif
