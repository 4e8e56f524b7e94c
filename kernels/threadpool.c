/* threadpool.c - pthreads workers pinned with hwloc, woken by a generation counter.
 *
 * The one idea: a parallel region is announced by bumping an atomic
 * `generation` counter, and finished when an atomic `pending` count of
 * workers reaches zero. Nothing else is shared per region, so a region costs
 * two cache-line transfers per worker and no lock or allocation.
 *
 *   caller (worker 0)                    worker i (1..n-1)
 *   fn, ctx, pending = n-1               spin on generation (bounded, ~100 us),
 *   generation++          ───────────>   then sleep on a condvar until it moves
 *   if anyone sleeps: broadcast          run fn(ctx, i, n)
 *   run fn(ctx, 0, n)                    pending--
 *   spin until pending == 0  <───────
 *
 * Sleeping must never lose a wake-up. A worker going to sleep takes the
 * mutex, increments n_sleeping, then re-reads generation; the caller bumps
 * generation, then reads n_sleeping. Both use sequentially consistent
 * operations, so at least one of them sees the other's write: either the
 * worker sees the new generation and does not sleep, or the caller sees the
 * sleeper and broadcasts under the mutex (which it can only take once the
 * worker is inside pthread_cond_wait).
 *
 * fn and ctx are plain fields: the caller writes them before the release
 * increment of generation and workers read them after an acquire load of
 * it; the caller does not write them again until every worker has
 * decremented pending, so there is no race on them.
 */
#include "kernels/threadpool.h"

#include "engine/status.h"

#include <errno.h>
#include <hwloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long an idle worker (or the waiting caller) spins before it sleeps
 * (or yields). A decode step runs ~200 regions a few microseconds apart;
 * 100 us covers the gaps between them with room to spare, and bounds what
 * an idle pool burns. */
#define TPOOL_SPIN_NS 100000ull

#define CACHE_LINE 64

struct tpool_worker {
    struct tpool *pool;
    pthread_t thread;
    int index;
    int core;      /* hwloc logical index of the core it is pinned to, -1 if none */
    int pu;        /* OS index of the PU it is pinned to, -1 if none */
    int pin_errno; /* 0, or why hwloc_set_cpubind failed */
};

struct tpool {
    /* Bumped by the caller to start a region (and once more to stop). Own
     * cache line: spinning workers only read it. */
    _Alignas(CACHE_LINE) atomic_uint generation;
    /* Workers 1..n-1 that have not finished the current region. */
    _Alignas(CACHE_LINE) atomic_int pending;

    /* Written by the caller before a region, read-only for workers during it. */
    _Alignas(CACHE_LINE) tpool_fn fn;
    void *ctx;
    int n_threads;
    bool oversubscribed; /* more threads than PUs: yield instead of pause */
    atomic_bool stop;
    atomic_int n_sleeping; /* workers inside (or entering) pthread_cond_wait */
    atomic_int n_started;  /* workers that have pinned themselves and entered their loop */

    pthread_mutex_t sleep_mu;
    pthread_cond_t wake;
    bool sync_ready; /* sleep_mu and wake are initialized */

    struct tpool_worker *workers; /* (n_threads) */
    int n_created;                /* pthreads started (workers 1..n_created) */

    hwloc_topology_t topo;     /* NULL if hwloc could not load the topology */
    hwloc_obj_type_t pin_type; /* HWLOC_OBJ_CORE, or PU if hwloc shows no cores */
    int n_cores;               /* objects of pin_type, or the sysconf CPU count */

    pthread_t creator;
    hwloc_bitmap_t creator_set; /* creator's binding before tpool_new, NULL if unknown */

    char *binding; /* tpool_binding() text */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One step of a spin loop: pause the core, or give it away when threads
 * outnumber PUs (a spinning worker would then steal time from a working one). */
static inline void spin_step(const struct tpool *p)
{
    if (p->oversubscribed)
        sched_yield();
    else
        cpu_relax();
}

/* Wait until generation differs from seen; return the new value. */
static unsigned wait_generation(struct tpool *p, unsigned seen)
{
    unsigned gen;
    uint64_t start = now_ns();
    for (unsigned i = 1;; i++) {
        gen = atomic_load_explicit(&p->generation, memory_order_acquire);
        if (gen != seen) return gen;
        spin_step(p);
        /* Read the clock only every 64 spins: it costs more than a pause. */
        if ((i & 63) == 0 && now_ns() - start > TPOOL_SPIN_NS) break;
    }
    pthread_mutex_lock(&p->sleep_mu);
    atomic_fetch_add(&p->n_sleeping, 1); /* seq_cst: see the essay at the top */
    while ((gen = atomic_load(&p->generation)) == seen)
        pthread_cond_wait(&p->wake, &p->sleep_mu);
    atomic_fetch_sub(&p->n_sleeping, 1);
    pthread_mutex_unlock(&p->sleep_mu);
    return gen;
}

static void wake_sleepers(struct tpool *p)
{
    pthread_mutex_lock(&p->sleep_mu);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->sleep_mu);
}

/* Pin the calling thread to the index-th core (one PU of it) and record the
 * outcome in w. Workers beyond the core count stay unpinned (core = -1). */
static void pin_self(struct tpool *p, struct tpool_worker *w)
{
    w->core = -1;
    w->pu = -1;
    w->pin_errno = 0;
    if (!p->topo || w->index >= p->n_cores) return;
    hwloc_obj_t obj = hwloc_get_obj_by_type(p->topo, p->pin_type, (unsigned)w->index);
    if (!obj || !obj->cpuset) {
        w->pin_errno = ENODEV;
        return;
    }
    hwloc_bitmap_t set = hwloc_bitmap_dup(obj->cpuset);
    if (!set) {
        w->pin_errno = ENOMEM;
        return;
    }
    /* One PU of the core: the thread does not wander between SMT siblings. */
    hwloc_bitmap_singlify(set);
    w->core = (int)obj->logical_index;
    w->pu = hwloc_bitmap_first(set);
    errno = 0;
    if (hwloc_set_cpubind(p->topo, set, HWLOC_CPUBIND_THREAD) != 0)
        w->pin_errno = errno ? errno : EINVAL;
    hwloc_bitmap_free(set);
}

static void *worker_main(void *arg)
{
    struct tpool_worker *w = arg;
    struct tpool *p = w->pool;
    pin_self(p, w);
    atomic_fetch_add(&p->n_started, 1);
    /* No region can start before tpool_new has seen every worker start, so
     * the generation a worker first waits past is the initial 0. */
    unsigned seen = 0;
    for (;;) {
        seen = wait_generation(p, seen);
        if (atomic_load_explicit(&p->stop, memory_order_relaxed)) break;
        p->fn(p->ctx, w->index, p->n_threads);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
    return NULL;
}

/* CPUs this process may run on, without hwloc. */
static int fallback_cpu_count(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

/* Find the cores (and PUs) to pin to: only those the process is bound to,
 * so `taskset -c 2,3 lutfuse` keeps the workers on CPUs 2 and 3. Leaves
 * p->topo NULL if hwloc fails. */
static void discover_topology(struct tpool *p, int *n_pus)
{
    p->n_cores = fallback_cpu_count();
    *n_pus = p->n_cores;
    p->pin_type = HWLOC_OBJ_CORE;

    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) return;
    /* Best effort: without the flag the topology is the whole machine. */
    hwloc_topology_set_flags(topo, HWLOC_TOPOLOGY_FLAG_IS_THISSYSTEM |
                                       HWLOC_TOPOLOGY_FLAG_RESTRICT_TO_CPUBINDING);
    if (hwloc_topology_load(topo) != 0) {
        hwloc_topology_destroy(topo);
        return;
    }
    int cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    int pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    if (pus <= 0) {
        hwloc_topology_destroy(topo);
        return;
    }
    if (cores <= 0) { /* some virtual machines expose no cores: pin to PUs */
        p->pin_type = HWLOC_OBJ_PU;
        cores = pus;
    }
    p->topo = topo;
    p->n_cores = cores;
    *n_pus = pus;
}

/* Append to a buffer of cap bytes at *len; output that does not fit is cut. */
__attribute__((format(printf, 4, 5))) static void append(char *buf, size_t cap, size_t *len,
                                                         const char *fmt, ...)
{
    if (*len + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    *len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

static int describe_binding(struct tpool *p)
{
    /* "worker 1023 -> core 1023 (PU 4095) not pinned: <strerror>" fits in 160. */
    size_t cap = 64 + (size_t)p->n_threads * 160;
    p->binding = malloc(cap);
    if (!p->binding) return LF_ERR_NOMEM;
    size_t len = 0;
    p->binding[0] = '\0';
    append(p->binding, cap, &len, "%d thread%s: ", p->n_threads, p->n_threads == 1 ? "" : "s");
    for (int i = 0; i < p->n_threads; i++) {
        const struct tpool_worker *w = &p->workers[i];
        append(p->binding, cap, &len, "%sworker %d -> ", i ? ", " : "", i);
        if (w->core >= 0) {
            if (p->pin_type == HWLOC_OBJ_CORE)
                append(p->binding, cap, &len, "core %d (PU %d)", w->core, w->pu);
            else
                append(p->binding, cap, &len, "PU %d", w->pu);
            if (w->pin_errno)
                append(p->binding, cap, &len, " not pinned: %s", strerror(w->pin_errno));
        } else if (!p->topo) {
            append(p->binding, cap, &len, "not pinned (no hwloc topology)");
        } else if (w->pin_errno) {
            append(p->binding, cap, &len, "not pinned: %s", strerror(w->pin_errno));
        } else {
            append(p->binding, cap, &len, "not pinned (more threads than %d cores)", p->n_cores);
        }
    }
    return 0;
}

int tpool_new(int n_threads, struct tpool **out, char *err, size_t err_len)
{
    *out = NULL;
    if (n_threads > TPOOL_MAX_THREADS)
        return lf_errf(err, err_len, LF_ERR_INVALID, "thread pool: %d threads is more than %d",
                       n_threads, TPOOL_MAX_THREADS);

    int rc = LF_ERR_NOMEM;
    /* Rounded up to whole cache lines, as aligned_alloc requires. */
    size_t size = (sizeof(struct tpool) + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    struct tpool *p = aligned_alloc(CACHE_LINE, size);
    if (!p) return lf_errf(err, err_len, LF_ERR_NOMEM, "thread pool: out of memory");
    memset(p, 0, sizeof *p);
    atomic_init(&p->generation, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, false);
    atomic_init(&p->n_sleeping, 0);
    atomic_init(&p->n_started, 0);
    p->creator = pthread_self();

    int n_pus;
    discover_topology(p, &n_pus);
    p->n_threads = n_threads > 0 ? n_threads : p->n_cores;
    p->oversubscribed = p->n_threads > n_pus;

    p->workers = calloc((size_t)p->n_threads, sizeof *p->workers);
    if (!p->workers) {
        lf_errf(err, err_len, LF_ERR_NOMEM, "thread pool: out of memory");
        goto fail;
    }
    if (pthread_mutex_init(&p->sleep_mu, NULL) != 0) goto fail_nomem;
    if (pthread_cond_init(&p->wake, NULL) != 0) {
        pthread_mutex_destroy(&p->sleep_mu);
        goto fail_nomem;
    }
    p->sync_ready = true;

    /* The caller is worker 0: remember its binding (it is pinned below). */
    if (p->topo) {
        p->creator_set = hwloc_bitmap_alloc();
        if (p->creator_set &&
            hwloc_get_cpubind(p->topo, p->creator_set, HWLOC_CPUBIND_THREAD) != 0) {
            hwloc_bitmap_free(p->creator_set);
            p->creator_set = NULL;
        }
    }
    for (int i = 0; i < p->n_threads; i++) {
        p->workers[i].pool = p;
        p->workers[i].index = i;
    }

    /* Start the workers before pinning the caller: a new thread inherits its
     * creator's binding, and workers beyond the core count must keep the
     * caller's original (usually all CPUs), not core 0. */
    for (int i = 1; i < p->n_threads; i++) {
        int e = pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]);
        if (e != 0) {
            rc = lf_errf(err, err_len, LF_ERR_IO, "thread pool: cannot start worker %d: %s", i,
                         strerror(e));
            goto fail;
        }
        p->n_created = i;
    }
    /* Wait until every worker has pinned itself, so the binding text is final. */
    while (atomic_load(&p->n_started) < p->n_created)
        sched_yield();
    pin_self(p, &p->workers[0]);

    if (describe_binding(p) != 0) goto fail_nomem;
    *out = p;
    return 0;

fail_nomem:
    rc = lf_errf(err, err_len, LF_ERR_NOMEM, "thread pool: out of memory");
fail:
    tpool_free(p);
    return rc;
}

void tpool_free(struct tpool *p)
{
    if (!p) return;
    if (p->n_created > 0) {
        atomic_store(&p->stop, true);
        atomic_fetch_add(&p->generation, 1);
        wake_sleepers(p);
        for (int i = 1; i <= p->n_created; i++)
            pthread_join(p->workers[i].thread, NULL);
    }
    if (p->creator_set) {
        if (pthread_equal(pthread_self(), p->creator))
            hwloc_set_cpubind(p->topo, p->creator_set, HWLOC_CPUBIND_THREAD);
        hwloc_bitmap_free(p->creator_set);
    }
    if (p->sync_ready) {
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->sleep_mu);
    }
    if (p->topo) hwloc_topology_destroy(p->topo);
    free(p->binding);
    free(p->workers);
    free(p);
}

void tpool_run(struct tpool *p, tpool_fn fn, void *ctx)
{
    const int n = p->n_threads;
    if (n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->pending, n - 1, memory_order_relaxed);
    /* seq_cst: publishes fn/ctx/pending (it is also a release) and is ordered
     * before the n_sleeping load below (see the essay at the top). */
    atomic_fetch_add(&p->generation, 1);
    if (atomic_load(&p->n_sleeping) > 0) wake_sleepers(p);

    fn(ctx, 0, n);

    /* The barrier: spin while the others finish; if one of them was
     * preempted, stop burning the core it may need. */
    uint64_t start = now_ns();
    for (unsigned i = 1; atomic_load_explicit(&p->pending, memory_order_acquire) != 0; i++) {
        if ((i & 63) == 0 && now_ns() - start > TPOOL_SPIN_NS)
            sched_yield();
        else
            spin_step(p);
    }
}

int tpool_n_threads(const struct tpool *p)
{
    return p->n_threads;
}

const char *tpool_binding(const struct tpool *p)
{
    return p->binding;
}

void tpool_split(int64_t n, int ith, int nth, int64_t *begin, int64_t *end)
{
    tpool_split_aligned(n, 1, ith, nth, begin, end);
}

void tpool_split_aligned(int64_t n, int64_t align, int ith, int nth, int64_t *begin, int64_t *end)
{
    /* Programmer errors, checked always (cheap next to any region's work). */
    if (n < 0 || align <= 0 || nth <= 0 || ith < 0 || ith >= nth) {
        fprintf(stderr, "tpool_split: bad arguments n=%lld align=%lld ith=%d nth=%d\n",
                (long long)n, (long long)align, ith, nth);
        abort();
    }
    /* Blocks of align rows; the first (blocks % nth) workers get one extra. */
    int64_t blocks = n / align + (n % align != 0);
    int64_t base = blocks / nth, extra = blocks % nth;
    int64_t b = ith * base + (ith < extra ? ith : extra);
    int64_t e = b + base + (ith < extra);
    b *= align;
    e *= align;
    *begin = b < n ? b : n;
    *end = e < n ? e : n;
}
