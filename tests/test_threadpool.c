/* test_threadpool.c - the compute thread pool: every worker once per region,
 * the barrier, row splitting, pinning as described, sleeping and waking. */
#include "tests/testutil.h"
#include "kernels/threadpool.h"
#include "engine/status.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXW 64

/* Threads of this process, from /proc/self/status. */
static int process_threads(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1) break;
    fclose(f);
    assert_true(n > 0);
    return n;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- every index exactly once per region, and the barrier ---- */

struct count_ctx {
    atomic_int calls[MAXW];  /* calls per worker index, over all runs */
    atomic_int calls_in_run; /* calls in the current run */
    atomic_int bad_nth;      /* calls that saw a wrong nth */
    int last_run[MAXW];      /* plain writes, read by the caller after the barrier */
    int run;
    int expect_nth;
};

static void count_fn(void *vctx, int ith, int nth)
{
    struct count_ctx *c = vctx;
    if (nth != c->expect_nth || ith < 0 || ith >= nth) {
        atomic_fetch_add(&c->bad_nth, 1);
        return;
    }
    atomic_fetch_add(&c->calls[ith], 1);
    atomic_fetch_add(&c->calls_in_run, 1);
    c->last_run[ith] = c->run;
}

/* Run `runs` regions; after each one every worker must have finished. */
static void check_each_index_once(struct tpool *p, int runs, int sleep_every, int sleep_for_ms)
{
    int n = tpool_n_threads(p);
    assert_true(n >= 1 && n <= MAXW);
    struct count_ctx *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->expect_nth = n;
    for (int i = 0; i < MAXW; i++) c->last_run[i] = -1;
    int bad_barrier = 0;
    for (int r = 0; r < runs; r++) {
        c->run = r;
        atomic_store(&c->calls_in_run, 0);
        tpool_run(p, count_fn, c);
        if (atomic_load(&c->calls_in_run) != n) bad_barrier++;
        for (int i = 0; i < n; i++)
            if (c->last_run[i] != r) bad_barrier++;
        if (sleep_every && r % sleep_every == 0) sleep_ms(sleep_for_ms);
    }
    assert_int_equal(bad_barrier, 0);
    assert_int_equal(atomic_load(&c->bad_nth), 0);
    for (int i = 0; i < n; i++) assert_int_equal(atomic_load(&c->calls[i]), runs);
    for (int i = n; i < MAXW; i++) assert_int_equal(atomic_load(&c->calls[i]), 0);
    free(c);
}

static void test_each_index_once_over_10000_runs(void **state)
{
    (void)state;
    struct tpool *p = NULL;
    assert_int_equal(tpool_new(2, &p, NULL, 0), 0);
    assert_int_equal(tpool_n_threads(p), 2);
    check_each_index_once(p, 10000, 0, 0);
    tpool_free(p);

    /* Default size: one per core (at least one). */
    assert_int_equal(tpool_new(0, &p, NULL, 0), 0);
    assert_true(tpool_n_threads(p) >= 1);
    check_each_index_once(p, 2000, 0, 0);
    tpool_free(p);
}

/* tpool_chunks: over many regions, every chunk is taken by exactly one
 * worker, none past n, at several chunk counts (none, fewer than the
 * workers, many), with as many workers as cores and with more. */
struct chunk_ctx {
    struct tpool_chunks chunks;
    atomic_int taken[1000];
    atomic_int by_worker[MAXW];
};

static void chunk_fn(void *ctx, int ith, int nth)
{
    (void)nth;
    struct chunk_ctx *c = ctx;
    int64_t i;
    while (tpool_chunks_take(&c->chunks, &i)) {
        atomic_fetch_add(&c->taken[i], 1);
        atomic_fetch_add(&c->by_worker[ith], 1);
    }
}

static void test_chunks_each_taken_once(void **state)
{
    (void)state;
    static const int64_t counts[] = {0, 1, 2, 5, 1000};
    struct chunk_ctx *c = calloc(1, sizeof *c);
    assert_non_null(c);
    for (int nth = 2; nth <= 3; nth++) {
        struct tpool *p = NULL;
        assert_int_equal(tpool_new(nth, &p, NULL, 0), 0);
        for (int run = 0; run < 2000; run++) {
            const int64_t n = counts[run % 5];
            for (int i = 0; i < 1000; i++)
                atomic_store(&c->taken[i], 0);
            for (int i = 0; i < MAXW; i++)
                atomic_store(&c->by_worker[i], 0);
            tpool_chunks_reset(&c->chunks, n);
            tpool_run(p, chunk_fn, c);
            for (int64_t i = 0; i < 1000; i++)
                if (atomic_load(&c->taken[i]) != (i < n ? 1 : 0))
                    fail_msg("%d threads, run %d: chunk %lld of %lld taken %d times", nth, run,
                             (long long)i, (long long)n, atomic_load(&c->taken[i]));
            int total = 0;
            for (int i = 0; i < MAXW; i++)
                total += atomic_load(&c->by_worker[i]);
            assert_int_equal(total, n);
        }
        tpool_free(p);
    }
    free(c);
}

/* Workers that went to sleep between regions (gaps far above the spin
 * budget) must all wake for the next one. */
static void test_wakes_sleeping_workers(void **state)
{
    (void)state;
    struct tpool *p = NULL;
    assert_int_equal(tpool_new(3, &p, NULL, 0), 0);
    check_each_index_once(p, 30, 1, 2);
    tpool_free(p);
}

/* ---- splitting rows ---- */

static void check_split(int64_t n, int64_t align, int nth)
{
    int64_t prev_end = 0, min_size = INT64_MAX, max_size = -1;
    for (int i = 0; i < nth; i++) {
        int64_t b, e;
        tpool_split_aligned(n, align, i, nth, &b, &e);
        assert_int_equal(b, prev_end); /* contiguous, in order, no overlap */
        assert_true(e >= b);
        if (e != n) assert_int_equal(e % align, 0);
        prev_end = e;
        /* Balance in whole blocks, ignoring the clipped last one. */
        int64_t blocks = (e - b + align - 1) / align;
        if (e != n || b == e) {
            if (blocks < min_size) min_size = blocks;
            if (blocks > max_size) max_size = blocks;
        }
    }
    assert_int_equal(prev_end, n);
    if (max_size >= 0) assert_true(max_size - min_size <= 1);
}

static void test_split_covers_exactly(void **state)
{
    (void)state;
    int64_t b, e;
    /* Hand-computed: 10 rows over 3 workers -> 4, 3, 3. */
    tpool_split(10, 0, 3, &b, &e);
    assert_int_equal(b, 0);
    assert_int_equal(e, 4);
    tpool_split(10, 1, 3, &b, &e);
    assert_int_equal(b, 4);
    assert_int_equal(e, 7);
    tpool_split(10, 2, 3, &b, &e);
    assert_int_equal(b, 7);
    assert_int_equal(e, 10);
    /* Fewer rows than workers: one row each, then empty ranges at n. */
    tpool_split(2, 1, 4, &b, &e);
    assert_int_equal(b, 1);
    assert_int_equal(e, 2);
    tpool_split(2, 3, 4, &b, &e);
    assert_int_equal(b, 2);
    assert_int_equal(e, 2);
    /* Aligned: 70 rows in blocks of 32 = 3 blocks over 2 workers -> [0,64) [64,70). */
    tpool_split_aligned(70, 32, 0, 2, &b, &e);
    assert_int_equal(b, 0);
    assert_int_equal(e, 64);
    tpool_split_aligned(70, 32, 1, 2, &b, &e);
    assert_int_equal(b, 64);
    assert_int_equal(e, 70);

    for (int64_t n = 0; n <= 130; n++)
        for (int nth = 1; nth <= 17; nth++) {
            check_split(n, 1, nth);
            check_split(n, 4, nth);
            check_split(n, 32, nth);
        }
    check_split((int64_t)1 << 40, 1, 7);
    check_split(((int64_t)1 << 40) + 5, 64, 13);
}

/* ---- a parallel reduction equals the serial one ---- */

#define SUM_N 1000003

struct sum_ctx {
    const int64_t *v;
    int64_t partial[MAXW];
};

static void sum_fn(void *vctx, int ith, int nth)
{
    struct sum_ctx *c = vctx;
    int64_t b, e, s = 0;
    tpool_split(SUM_N, ith, nth, &b, &e);
    for (int64_t i = b; i < e; i++) s += c->v[i];
    c->partial[ith] = s;
}

static void test_parallel_sum_equals_serial(void **state)
{
    (void)state;
    int64_t *v = malloc(SUM_N * sizeof *v);
    assert_non_null(v);
    int64_t serial = 0;
    for (int64_t i = 0; i < SUM_N; i++) {
        v[i] = (i * 7919) % 1000 - 500;
        serial += v[i];
    }
    for (int nt = 1; nt <= 5; nt++) {
        struct tpool *p = NULL;
        assert_int_equal(tpool_new(nt, &p, NULL, 0), 0);
        struct sum_ctx c = {.v = v};
        for (int rep = 0; rep < 3; rep++) {
            memset(c.partial, 0x55, sizeof c.partial);
            tpool_run(p, sum_fn, &c);
            int64_t total = 0;
            for (int i = 0; i < nt; i++) total += c.partial[i];
            assert_int_equal(total, serial);
        }
        tpool_free(p);
    }
    free(v);
}

/* A thread that pthread_join has returned for can still be in /proc's task
 * list for a moment (seen under ASan right after another test freed its
 * pools), so counts are read once they are steady: two equal readings 10 ms
 * apart (within 1 s), or the first reading equal to what is expected. */
static int steady_threads(void)
{
    int n = process_threads();
    for (int i = 0; i < 100; i++) {
        sleep_ms(10);
        const int m = process_threads();
        if (m == n) break;
        n = m;
    }
    return n;
}

static int threads_reach(int want)
{
    int n = process_threads();
    for (int i = 0; i < 100 && n != want; i++) {
        sleep_ms(10);
        n = process_threads();
    }
    return n;
}

/* ---- one thread: no pthread, fn runs on the caller ---- */

struct self_ctx {
    pthread_t caller;
    int calls;
    int on_caller;
};

static void self_fn(void *vctx, int ith, int nth)
{
    struct self_ctx *c = vctx;
    c->calls += (ith == 0 && nth == 1);
    c->on_caller += pthread_equal(pthread_self(), c->caller) != 0;
}

static void test_one_thread_starts_no_thread(void **state)
{
    (void)state;
    int before = steady_threads();
    struct tpool *p = NULL;
    assert_int_equal(tpool_new(1, &p, NULL, 0), 0);
    assert_int_equal(process_threads(), before);
    assert_int_equal(tpool_n_threads(p), 1);
    struct self_ctx c = {.caller = pthread_self()};
    for (int i = 0; i < 5; i++) tpool_run(p, self_fn, &c);
    assert_int_equal(c.calls, 5);
    assert_int_equal(c.on_caller, 5);
    const char *b = tpool_binding(p);
    assert_non_null(b);
    assert_memory_equal(b, "1 thread: worker 0 -> ", strlen("1 thread: worker 0 -> "));
    tpool_free(p);

    /* And n threads start exactly n-1, all joined by free. */
    assert_int_equal(tpool_new(4, &p, NULL, 0), 0);
    assert_int_equal(process_threads(), before + 3);
    tpool_free(p);
    assert_int_equal(threads_reach(before), before);
}

/* ---- binding: described per worker, and true ---- */

struct affinity_ctx {
    int n_cpus[MAXW];    /* CPUs in the worker's affinity mask */
    int first_cpu[MAXW]; /* lowest of them */
};

static void affinity_fn(void *vctx, int ith, int nth)
{
    (void)nth;
    struct affinity_ctx *c = vctx;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) != 0) return;
    c->n_cpus[ith] = CPU_COUNT(&set);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &set)) {
            c->first_cpu[ith] = cpu;
            break;
        }
}

/* Check that tpool_binding names every worker and that each worker's real
 * affinity matches what the text says. */
static void check_binding(struct tpool *p, int process_cpus)
{
    int n = tpool_n_threads(p);
    const char *text = tpool_binding(p);
    assert_non_null(text);
    char head[32];
    snprintf(head, sizeof head, "%d thread%s: ", n, n == 1 ? "" : "s");
    assert_memory_equal(text, head, strlen(head));

    struct affinity_ctx c;
    memset(&c, 0, sizeof c);
    tpool_run(p, affinity_fn, &c);
    int pinned_pu[MAXW];
    for (int i = 0; i < n; i++) {
        pinned_pu[i] = -1;
        char key[32];
        snprintf(key, sizeof key, "worker %d -> ", i);
        const char *at = strstr(text, key);
        assert_non_null(at);
        at += strlen(key);
        const char *stop = strstr(at, ", worker ");
        size_t seg_len = stop ? (size_t)(stop - at) : strlen(at);
        char seg[200];
        assert_true(seg_len < sizeof seg);
        memcpy(seg, at, seg_len);
        seg[seg_len] = '\0';
        int core, pu;
        if (!strstr(seg, "not pinned") && (sscanf(seg, "core %d (PU %d)", &core, &pu) == 2 ||
                                           sscanf(seg, "PU %d", &pu) == 1)) {
            /* Pinned: exactly that one CPU. */
            assert_int_equal(c.n_cpus[i], 1);
            assert_int_equal(c.first_cpu[i], pu);
            pinned_pu[i] = pu;
        } else if (strstr(seg, "more threads than")) {
            /* An extra worker keeps the process's CPUs (not the caller's core). */
            assert_int_equal(c.n_cpus[i], process_cpus);
        } else {
            assert_non_null(strstr(seg, "not pinned"));
        }
    }
    /* Two pinned workers never share a CPU. */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (pinned_pu[i] >= 0) assert_int_not_equal(pinned_pu[i], pinned_pu[j]);
}

static void test_binding_names_each_worker(void **state)
{
    (void)state;
    cpu_set_t set;
    CPU_ZERO(&set);
    assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
    int process_cpus = CPU_COUNT(&set);

    struct tpool *p = NULL;
    assert_int_equal(tpool_new(0, &p, NULL, 0), 0);
    check_binding(p, process_cpus);
    tpool_free(p);

    /* The creator's own binding comes back after free. */
    CPU_ZERO(&set);
    assert_int_equal(pthread_getaffinity_np(pthread_self(), sizeof set, &set), 0);
    assert_int_equal(CPU_COUNT(&set), process_cpus);
}

/* More threads than cores: the extras run unpinned, and regions still work. */
static void test_more_threads_than_cores(void **state)
{
    (void)state;
    cpu_set_t set;
    CPU_ZERO(&set);
    assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
    int process_cpus = CPU_COUNT(&set);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int n = (int)online * 2 + 1;
    if (n > MAXW) n = MAXW;

    struct tpool *p = NULL;
    assert_int_equal(tpool_new(n, &p, NULL, 0), 0);
    assert_int_equal(tpool_n_threads(p), n);
    check_binding(p, process_cpus);
    /* The last worker is beyond every core. */
    char key[48];
    snprintf(key, sizeof key, "worker %d -> not pinned", n - 1);
    assert_non_null(strstr(tpool_binding(p), key));
    check_each_index_once(p, 300, 0, 0);
    tpool_free(p);
}

/* Bind every thread of the process (as `taskset` does; sanitizers may have
 * threads of their own). */
static void bind_all_threads(const cpu_set_t *set)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        assert_int_equal(sched_setaffinity(tid, sizeof *set, set), 0);
    }
    closedir(d);
}

/* A process bound to one CPU (as under `taskset -c N`) gets a one-core pool
 * on that CPU; a second worker is not pinned and stays on that CPU too. */
static void test_respects_process_binding(void **state)
{
    (void)state;
    cpu_set_t orig, one;
    CPU_ZERO(&orig);
    assert_int_equal(sched_getaffinity(0, sizeof orig, &orig), 0);
    int cpu = 0;
    while (!CPU_ISSET(cpu, &orig)) cpu++;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    bind_all_threads(&one);

    struct tpool *p = NULL;
    assert_int_equal(tpool_new(2, &p, NULL, 0), 0);
    check_binding(p, 1);
    char key[64];
    snprintf(key, sizeof key, "PU %d", cpu); /* "core 0 (PU n)", or "PU n" without cores */
    assert_non_null(strstr(tpool_binding(p), key));
    assert_non_null(strstr(tpool_binding(p), "worker 1 -> not pinned (more threads than 1 cores)"));
    check_each_index_once(p, 100, 0, 0);
    tpool_free(p);

    bind_all_threads(&orig);
    assert_int_equal(tpool_new(0, &p, NULL, 0), 0);
    /* One per core: as many as the CPUs, or fewer with SMT. */
    assert_true(tpool_n_threads(p) >= 1 && tpool_n_threads(p) <= CPU_COUNT(&orig));
    tpool_free(p);
}

static void test_bad_arguments_and_free_null(void **state)
{
    (void)state;
    tpool_free(NULL);
    struct tpool *p = (struct tpool *)&p;
    char err[LF_ERRMSG_LEN];
    assert_int_equal(tpool_new(TPOOL_MAX_THREADS + 1, &p, err, sizeof err), LF_ERR_INVALID);
    assert_null(p);
    assert_non_null(strstr(err, "threads"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_index_once_over_10000_runs),
        cmocka_unit_test(test_wakes_sleeping_workers),
        cmocka_unit_test(test_chunks_each_taken_once),
        cmocka_unit_test(test_split_covers_exactly),
        cmocka_unit_test(test_parallel_sum_equals_serial),
        cmocka_unit_test(test_one_thread_starts_no_thread),
        cmocka_unit_test(test_binding_names_each_worker),
        cmocka_unit_test(test_more_threads_than_cores),
        cmocka_unit_test(test_respects_process_binding),
        cmocka_unit_test(test_bad_arguments_and_free_null),
    };
    return cmocka_run_group_tests_name("threadpool", tests, NULL, NULL);
}
