/* threadpool.h - the one compute thread pool: pthreads pinned one per core.
 *
 * A pool of n threads runs a parallel region with tpool_run(): the same
 * function is called once on every worker with its index 0..n-1, and the call
 * returns when all of them are done (one barrier per region). The thread that
 * calls tpool_run is worker 0 and does its share of the work, so a pool of n
 * threads starts n-1 pthreads. Workers split rows by index (tpool_split) or
 * take chunks of a region's work as they come for them (tpool_chunks), and
 * never take a lock inside a region.
 *
 * Between regions workers spin briefly, then sleep; a decode step runs a few
 * hundred small regions back to back, so the spin keeps wake-up latency out of
 * them, while an idle server does not burn its cores.
 *
 * Workers are pinned one per physical core with hwloc (worker i on the i-th
 * core in hwloc's logical order, one PU of it). Extra threads beyond the core
 * count are left unpinned; a pin the OS refuses is recorded, not fatal.
 * tpool_binding() says what happened.
 */
#ifndef LF_THREADPOOL_H
#define LF_THREADPOOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tpool;

/* Work of one parallel region: called once per worker with ith in
 * [0, nth), nth = tpool_n_threads(). All calls of a region share ctx; each
 * must touch only its own part of the output (or use atomics). */
typedef void (*tpool_fn)(void *ctx, int ith, int nth);

/* Largest pool tpool_new accepts. */
#define TPOOL_MAX_THREADS 1024

/* Create a pool of n_threads workers (n_threads <= 0: one per physical core,
 * counted by hwloc, or by sysconf(_SC_NPROCESSORS_ONLN) if hwloc fails). The
 * calling thread becomes worker 0: it is pinned to the first core now (its
 * previous binding comes back in tpool_free if the same thread frees the
 * pool), and it is the only thread that may call tpool_run. Returns 0 and
 * *out (owned by the caller), LF_ERR_INVALID for n_threads >
 * TPOOL_MAX_THREADS, LF_ERR_NOMEM, or LF_ERR_IO if a thread cannot be
 * started; err (may be NULL) gets a one-line message. */
int tpool_new(int n_threads, struct tpool **out, char *err, size_t err_len);

/* Stop and join the workers, restore the creator's binding if called from
 * the creating thread, free everything. NULL is a no-op. Must not be called
 * while a tpool_run is in progress. */
void tpool_free(struct tpool *p);

/* Run fn(ctx, ith, nth) on every worker, the caller as ith = 0, and return
 * when all have returned. Only the thread that created the pool may call it,
 * and not from inside fn (regions do not nest). Does not allocate or lock
 * unless a worker has gone to sleep (then one mutex + broadcast to wake it). */
void tpool_run(struct tpool *p, tpool_fn fn, void *ctx);

/* Number of workers, including the caller. */
int tpool_n_threads(const struct tpool *p);

/* How workers are bound, for `lutfuse info`, e.g.
 * "2 threads: worker 0 -> core 0 (PU 0), worker 1 -> core 1 (PU 1)".
 * Core numbers are hwloc logical indexes, PU numbers the OS cpu numbers.
 * Unpinned workers say why. Borrowed; lives as long as the pool. */
const char *tpool_binding(const struct tpool *p);

/* The part of [0, n) that worker ith of nth owns: contiguous, balanced (sizes
 * differ by at most one), in worker order, covering [0, n) exactly. Workers
 * beyond n get an empty range (begin == end). n >= 0, 0 <= ith < nth. */
void tpool_split(int64_t n, int ith, int nth, int64_t *begin, int64_t *end);

/* Like tpool_split, but every boundary except the final n is a multiple of
 * align (> 0): [0, n) is cut into ceil(n/align) blocks of align rows, split
 * as evenly as possible, and the last block is clipped to n. */
void tpool_split_aligned(int64_t n, int64_t align, int ith, int nth, int64_t *begin, int64_t *end);

/* Work shared out while a region runs: the caller sets the number of chunks
 * before tpool_run (tpool_chunks_reset; tpool_run publishes it), and every
 * worker takes chunk indexes with tpool_chunks_take until none is left, so
 * a core that runs slower (a busy neighbour on a shared machine, a late
 * wake-up) simply takes fewer chunks instead of holding up the region's
 * barrier. Each chunk goes to exactly one worker; which one depends on
 * timing, so what a chunk computes must not depend on the worker. One
 * atomic add per chunk, no lock. */
struct tpool_chunks {
    _Alignas(64) atomic_llong next;
    int64_t n;
};

static inline void tpool_chunks_reset(struct tpool_chunks *c, int64_t n)
{
    atomic_store_explicit(&c->next, 0, memory_order_relaxed);
    c->n = n;
}

/* The next untaken chunk in *i, or false when all are taken. */
static inline bool tpool_chunks_take(struct tpool_chunks *c, int64_t *i)
{
    if (atomic_load_explicit(&c->next, memory_order_relaxed) >= c->n) return false;
    *i = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
    return *i < c->n;
}

#endif
