/* test_sched.c - the fused step loop: batch invariance, slot reuse, dense
 * batches after eviction, cancellation, fairness, stop strings, limits.
 * Most tests drive sched_step() on the test thread so that arrivals happen at
 * chosen steps; one test runs the real scheduler thread. */
#include "tests/testutil.h"

#include "engine/mkmodel.h"
#include "engine/model.h"
#include "engine/status.h"
#include "engine/tokenizer.h"
#include "kernels/vlut.h"
#include "scheduler/request.h"
#include "scheduler/sched.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct model *g_stories, *g_bitnet;

static struct model *load(const char *path)
{
    char err[LF_ERRMSG_LEN] = "";
    struct model *m = NULL;
    if (model_load(path, &m, err, sizeof err)) fail_msg("model_load(%s): %s", path, err);
    return m;
}

static int setup(void **state)
{
    (void)state;
    char *p = tu_data_path("models/stories260K.gguf");
    g_stories = load(p);
    free(p);
    struct mkmodel_params mp = mkmodel_defaults();
    mp.n_embd = 256, mp.n_layer = 2, mp.n_head = 4, mp.n_head_kv = 2, mp.n_ff = 512;
    mp.n_vocab = 400, mp.seed = 7, mp.wtype = QT_TQ2_0;
    char *path = tu_tmp_path("sched-bitnet.gguf");
    char err[LF_ERRMSG_LEN] = "";
    if (mkmodel_write(&mp, path, err, sizeof err)) fail_msg("mkmodel: %s", err);
    g_bitnet = load(path);
    free(path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    model_free(g_stories);
    model_free(g_bitnet);
    return 0;
}

static struct sched *new_sched(const struct model *m, int32_t slots, int32_t ctx, int32_t batch,
                               int32_t cap)
{
    struct sched_config c = sched_config_default();
    c.n_slots = slots, c.n_ctx = ctx, c.batch_tokens = batch, c.prefill_cap = cap;
    struct sched *s;
    char err[LF_ERRMSG_LEN] = "";
    if (sched_new(m, &c, &s, err, sizeof err)) fail_msg("sched_new: %s", err);
    return s;
}

static struct req_params greedy_params(int32_t max_tokens)
{
    struct req_params p = {0};
    p.sampling = sampler_params_default();
    p.sampling.temperature = 0.0f;
    p.max_tokens = max_tokens;
    p.ignore_eos = true;
    return p;
}

static struct req *make_req(const int32_t *prompt, int32_t n, const struct req_params *p)
{
    struct req *r;
    char err[LF_ERRMSG_LEN] = "";
    if (req_new(prompt, n, p, &r, err, sizeof err)) fail_msg("req_new: %s", err);
    return r;
}

static void submit(struct sched *s, struct req *r)
{
    char err[LF_ERRMSG_LEN] = "";
    if (sched_submit(s, r, err, sizeof err)) fail_msg("sched_submit: %s", err);
}

/* Drain a finished request's events: the token ids (continuations skipped)
 * into toks, the text into text (NUL-terminated). Returns the token count. */
static int32_t drain(struct req *r, int32_t *toks, int32_t cap, char *text, size_t text_cap)
{
    struct req_event ev;
    int32_t n = 0;
    size_t tl = 0;
    int rc;
    while ((rc = req_poll(r, &ev)) != -1) {
        if (rc == 0) fail_msg("request %llu not finished", (unsigned long long)req_id(r));
        if (ev.token >= 0 && n < cap) toks[n++] = ev.token;
        if (text && tl + ev.len < text_cap) memcpy(text + tl, ev.text, ev.len), tl += ev.len;
    }
    if (text) text[tl] = 0;
    return n;
}

/* Deterministic pseudo-random numbers for the tests. */
static uint32_t rnd(uint64_t *st)
{
    *st = *st * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*st >> 33);
}

static void random_prompt(uint64_t *st, int32_t *p, int32_t n, int32_t vocab)
{
    p[0] = 1; /* BOS */
    for (int32_t i = 1; i < n; i++)
        p[i] = 3 + (int32_t)(rnd(st) % (uint32_t)(vocab - 3));
}

/* Output of a request run alone on a fresh scheduler. */
static int32_t run_alone(const struct model *m, const int32_t *prompt, int32_t n,
                         int32_t max_tokens, int32_t *out)
{
    struct sched *s = new_sched(m, 1, 256, 64, 16);
    struct req_params p = greedy_params(max_tokens);
    struct req *r = make_req(prompt, n, &p);
    submit(s, r);
    while (sched_step(s) > 0) {
    }
    int32_t k = drain(r, out, 64, NULL, 0);
    req_unref(r);
    sched_free(s);
    return k;
}

/* Batch invariance: each request's greedy tokens equal its solo run, when it
 * is fused with `others` more requests that arrive at random steps. */
static void check_invariance(const struct model *m, int others, uint64_t seed)
{
    enum { MAXN = 32, GEN = 12 };
    const int n = others + 1;
    int32_t prompts[MAXN][40], plen[MAXN], solo[MAXN][64], nsolo[MAXN], arrive[MAXN];
    uint64_t st = seed;
    for (int i = 0; i < n; i++) {
        plen[i] = 2 + (int32_t)(rnd(&st) % 37);
        random_prompt(&st, prompts[i], plen[i], m->hp.n_vocab);
        arrive[i] = i == 0 ? 0 : (int32_t)(rnd(&st) % 20);
        nsolo[i] = run_alone(m, prompts[i], plen[i], GEN, solo[i]);
        assert_int_equal(nsolo[i], GEN);
    }
    /* A small prefill cap and budget make prompts span steps and mix. */
    struct sched *s = new_sched(m, n, 256, n + 24, 8);
    struct req *reqs[MAXN] = {0};
    struct req_params p = greedy_params(GEN);
    int submitted = 0;
    for (int step = 0; submitted < n || sched_step(s) > 0; step++) {
        for (int i = 0; i < n; i++)
            if (!reqs[i] && arrive[i] <= step) {
                reqs[i] = make_req(prompts[i], plen[i], &p);
                submit(s, reqs[i]);
                submitted++;
            }
        if (submitted < n) sched_step(s);
    }
    for (int i = 0; i < n; i++) {
        int32_t got[64];
        int32_t k = drain(reqs[i], got, 64, NULL, 0);
        assert_int_equal(k, nsolo[i]);
        if (memcmp(got, solo[i], (size_t)k * sizeof *got))
            fail_msg("request %d of %d: fused output differs from its solo run", i, n);
        assert_int_equal(req_finish_reason(reqs[i]), REQ_FINISH_LENGTH);
        req_unref(reqs[i]);
    }
    sched_free(s);
}

static void test_invariance_stories(void **state)
{
    (void)state;
    check_invariance(g_stories, 1, 11);
    check_invariance(g_stories, 7, 12);
    check_invariance(g_stories, 31, 13);
}

static void test_invariance_bitnet(void **state)
{
    (void)state;
    check_invariance(g_bitnet, 1, 21);
    check_invariance(g_bitnet, 7, 22);
    check_invariance(g_bitnet, 31, 23);
}

/* 2,000 short requests through 4 slots: all complete with their solo output,
 * and the scheduler ends with every slot free and no queue. */
static void test_slot_reuse(void **state)
{
    (void)state;
    enum { KINDS = 8, TOTAL = 2000, GEN = 4 };
    int32_t prompts[KINDS][6], solo[KINDS][64];
    uint64_t st = 5;
    for (int k = 0; k < KINDS; k++) {
        random_prompt(&st, prompts[k], 6, 512);
        assert_int_equal(run_alone(g_stories, prompts[k], 6, GEN, solo[k]), GEN);
    }
    struct sched *s = new_sched(g_stories, 4, 64, 32, 16);
    struct req_params p = greedy_params(GEN);
    struct req *live[TOTAL];
    int next = 0, done = 0;
    while (done < TOTAL) {
        while (next < TOTAL && next - done < 16) {
            live[next] = make_req(prompts[next % KINDS], 6, &p);
            submit(s, live[next]);
            next++;
        }
        sched_step(s);
        while (done < next && req_finish_reason(live[done]) != REQ_RUNNING) {
            int32_t got[64];
            assert_int_equal(drain(live[done], got, 64, NULL, 0), GEN);
            assert_memory_equal(got, solo[done % KINDS], GEN * sizeof *got);
            req_unref(live[done]);
            done++;
        }
    }
    struct sched_stats stats;
    sched_get_stats(s, &stats);
    assert_int_equal(stats.running, 0);
    assert_int_equal(stats.queue_depth, 0);
    assert_int_equal(stats.finished, TOTAL);
    assert_int_equal(stats.evictions, TOTAL);
    assert_int_equal(stats.decode_tokens + stats.prefill_tokens, (uint64_t)TOTAL * (6 + GEN - 1));
    sched_free(s);
}

/* Records the row table of every step. */
struct step_log {
    int n_steps;
    int32_t n_rows[64];
    uint64_t ids[64][16];
    int32_t slots[64][16];
};

static void log_step(void *ctx, const struct sched_step_info *info)
{
    struct step_log *L = ctx;
    if (L->n_steps >= 64) return;
    L->n_rows[L->n_steps] = info->n_rows;
    for (int32_t i = 0; i < info->n_rows && i < 16; i++) {
        L->ids[L->n_steps][i] = info->rows[i].req_id;
        L->slots[L->n_steps][i] = info->rows[i].slot;
    }
    L->n_steps++;
}

/* Three requests decode together; the middle one finishes first. The next
 * step's batch holds exactly the two live rows, dense, in admission order. */
static void test_eviction_leaves_no_hole(void **state)
{
    (void)state;
    struct sched *s = new_sched(g_stories, 4, 64, 16, 16);
    struct step_log L = {0};
    sched_set_step_hook(s, log_step, &L);
    const int32_t prompt[1] = {1};
    struct req_params pa = greedy_params(6), pb = greedy_params(3), pc = greedy_params(6);
    struct req *a = make_req(prompt, 1, &pa), *b = make_req(prompt, 1, &pb),
               *c = make_req(prompt, 1, &pc);
    submit(s, a), submit(s, b), submit(s, c);
    while (sched_step(s) > 0) {
    }
    /* step 0: three prefill rows (sample 1st token each); steps 1, 2: three
     * decode rows (b's 2nd, 3rd token: b finishes in step 2); step 3 on: a, c. */
    assert_int_equal(L.n_rows[0], 3);
    assert_int_equal(L.n_rows[2], 3);
    assert_int_equal(L.ids[2][1], req_id(b));
    assert_int_equal(L.n_rows[3], 2);
    assert_int_equal(L.ids[3][0], req_id(a));
    assert_int_equal(L.ids[3][1], req_id(c));
    assert_int_equal(L.slots[3][1], L.slots[2][2]); /* c keeps its slot: KV never moves */
    assert_int_equal(L.n_steps, 6);
    /* b's slot is free at once: a new request takes it in the next step. */
    req_unref(a), req_unref(b), req_unref(c);
    sched_free(s);
}

/* Cancelling at some step: the row is gone from the next step, the slot is
 * free, and the others' outputs are unchanged. */
static void test_cancellation(void **state)
{
    (void)state;
    int32_t prompts[3][8], solo[3][64];
    uint64_t st = 77;
    for (int i = 0; i < 3; i++) {
        random_prompt(&st, prompts[i], 8, 512);
        run_alone(g_stories, prompts[i], 8, 10, solo[i]);
    }
    struct sched *s = new_sched(g_stories, 3, 64, 32, 8);
    struct step_log L = {0};
    sched_set_step_hook(s, log_step, &L);
    struct req_params p = greedy_params(10);
    struct req *r[3];
    for (int i = 0; i < 3; i++)
        r[i] = make_req(prompts[i], 8, &p), submit(s, r[i]);
    for (int i = 0; i < 4; i++)
        sched_step(s);
    req_cancel(r[1]);
    sched_step(s);
    assert_int_equal(L.n_rows[4], 2);
    assert_int_equal(L.ids[4][0], req_id(r[0]));
    assert_int_equal(L.ids[4][1], req_id(r[2]));
    struct sched_stats stats;
    sched_get_stats(s, &stats);
    assert_int_equal(stats.running, 2);
    assert_int_equal(stats.cancelled, 1);
    assert_int_equal(req_finish_reason(r[1]), REQ_FINISH_CANCELLED);
    while (sched_step(s) > 0) {
    }
    for (int i = 0; i < 3; i += 2) {
        int32_t got[64];
        assert_int_equal(drain(r[i], got, 64, NULL, 0), 10);
        assert_memory_equal(got, solo[i], 10 * sizeof *got);
    }
    int32_t got[64];
    assert_int_equal(drain(r[1], got, 64, NULL, 0), 4); /* 4 steps ran before the cancel */
    for (int i = 0; i < 3; i++)
        req_unref(r[i]);
    sched_free(s);
}

/* While 8 streams decode, a 2,000-token prompt arrives: every stream gets a
 * token at every step, and the prompt is prefilled within ceil(2000/cap)
 * steps. */
struct fair_log {
    uint64_t long_id;
    int steps_with_long_prefill;
    int bad_steps; /* steps where a running stream had no row */
    int streams;
};

static void fair_hook(void *ctx, const struct sched_step_info *info)
{
    struct fair_log *F = ctx;
    int prefill_rows = 0;
    for (int32_t i = 0; i < info->n_rows; i++)
        if (info->rows[i].req_id == F->long_id && !info->rows[i].sampled) prefill_rows++;
    if (prefill_rows) F->steps_with_long_prefill++;
    if (info->n_decode < F->streams) F->bad_steps++; /* (the long one joins them when prefilled) */
}

static void test_fairness_long_prompt(void **state)
{
    (void)state;
    enum { CAP = 64, LONG = 2000 };
    struct sched *s = new_sched(g_stories, 9, 2100, 128, CAP);
    struct fair_log F = {0};
    struct req_params p = greedy_params(60);
    struct req *streams[8];
    const int32_t prompt[2] = {1, 403};
    for (int i = 0; i < 8; i++)
        streams[i] = make_req(prompt, 2, &p), submit(s, streams[i]);
    sched_step(s); /* all 8 prefilled and decoding from the next step on */
    int32_t *longp = malloc(LONG * sizeof *longp);
    uint64_t st = 9;
    random_prompt(&st, longp, LONG, 512);
    struct req_params pl = greedy_params(2);
    struct req *lr = make_req(longp, LONG, &pl);
    F.long_id = req_id(lr);
    F.streams = 8;
    sched_set_step_hook(s, fair_hook, &F);
    submit(s, lr);
    for (int i = 0; i < (LONG + CAP - 1) / CAP; i++)
        sched_step(s);
    assert_int_equal(F.bad_steps, 0);
    /* Within the steps the cap implies - fewer, as each step also fills the
     * rest of the last 32-lane tile (8 decode + 64 = 72 rows, 24 more): 88
     * prompt tokens a step, 23 steps. */
    const int per_step = CAP + (VLUT_LANES - (8 + CAP) % VLUT_LANES) % VLUT_LANES;
    assert_int_equal(per_step, 88);
    assert_int_equal(F.steps_with_long_prefill, (LONG + per_step - 1) / per_step);
    /* the long prompt got its first token within those steps */
    struct req_event ev;
    assert_int_equal(req_poll(lr, &ev), 1);
    sched_set_step_hook(s, NULL, NULL);
    while (sched_step(s) > 0) {
    }
    for (int i = 0; i < 8; i++)
        req_unref(streams[i]);
    req_unref(lr);
    free(longp);
    sched_free(s);
}

/* A stop string spanning three tokens ends generation where it begins and
 * never appears in the output. */
static void test_stop_string_across_tokens(void **state)
{
    (void)state;
    const int32_t prompt[5] = {1, 403, 407, 261, 378}; /* "Once upon a time" */
    struct sched *s = new_sched(g_stories, 1, 128, 16, 16);
    struct req_params p = greedy_params(30);
    struct req *r = make_req(prompt, 5, &p);
    submit(s, r);
    while (sched_step(s) > 0) {
    }
    char full[1024];
    int32_t toks[64];
    assert_int_equal(drain(r, toks, 64, full, sizeof full), 30);
    req_unref(r);
    /* The reference continues ", there was a little girl named Lily." */
    assert_memory_equal(full, ", there was a little girl", 25);
    /* "as a little gi": tail of " was", all of " a", " little", head of " girl" */
    const char *stop = "as a little gi";
    struct req_params ps = greedy_params(30);
    ps.stop[0] = "never-matches";
    ps.stop[1] = stop;
    ps.n_stop = 2;
    r = make_req(prompt, 5, &ps);
    submit(s, r);
    while (sched_step(s) > 0) {
    }
    char text[1024];
    drain(r, toks, 64, text, sizeof text);
    assert_string_equal(text, ", there w");
    assert_null(strstr(text, stop));
    assert_int_equal(req_finish_reason(r), REQ_FINISH_STOP);
    req_unref(r);
    sched_free(s);
}

static void test_limits(void **state)
{
    (void)state;
    struct sched_config c = sched_config_default();
    c.n_slots = 1, c.n_ctx = 8, c.batch_tokens = 8, c.max_queue = 2;
    struct sched *s;
    char err[LF_ERRMSG_LEN] = "";
    assert_int_equal(sched_new(g_stories, &c, &s, err, sizeof err), 0);
    int32_t prompt[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct req_params p = greedy_params(100);
    struct req *big = make_req(prompt, 8, &p);
    assert_int_equal(sched_submit(s, big, err, sizeof err), LF_ERR_RANGE);
    assert_non_null(strstr(err, "8 tokens"));
    req_unref(big);
    int32_t bad[2] = {1, 512};
    struct req *oov = make_req(bad, 2, &p);
    assert_int_equal(sched_submit(s, oov, err, sizeof err), LF_ERR_INVALID);
    req_unref(oov);
    /* one free slot + max_queue 2: three fit before any step, the fourth is
     * refused at once; after a step took the slot, still 2 may wait */
    struct req *q[4];
    for (int i = 0; i < 4; i++)
        q[i] = make_req(prompt, 2, &p);
    assert_int_equal(sched_submit(s, q[0], err, sizeof err), 0);
    assert_int_equal(sched_submit(s, q[1], err, sizeof err), 0);
    assert_int_equal(sched_submit(s, q[2], err, sizeof err), 0);
    assert_int_equal(sched_submit(s, q[3], err, sizeof err), LF_ERR_BUSY);
    assert_non_null(strstr(err, "queue is full"));
    assert_int_equal(sched_step(s), 1);
    struct sched_stats st;
    sched_get_stats(s, &st);
    assert_int_equal(st.running, 1);
    assert_int_equal(st.queue_depth, 2);
    assert_int_equal(sched_submit(s, q[3], err, sizeof err), LF_ERR_BUSY);
    /* context full: 2 prompt tokens + generation up to position 8 */
    while (sched_step(s) > 0) {
    }
    assert_int_equal(req_finish_reason(q[0]), REQ_FINISH_CONTEXT);
    assert_int_equal(req_n_generated(q[0]), 7);
    for (int i = 0; i < 4; i++)
        req_unref(q[i]);
    sched_free(s);
}

/* The real thread: 12 requests submitted from 3 threads, read with
 * req_wait/req_poll, each equal to its solo output. */
struct client {
    struct sched *s;
    int32_t prompt[4][6];
    int32_t solo[4][64];
    int ok;
};

static void *client_main(void *arg)
{
    struct client *c = arg;
    struct req_params p = greedy_params(8);
    for (int i = 0; i < 4; i++) {
        struct req *r = make_req(c->prompt[i], 6, &p);
        char err[LF_ERRMSG_LEN];
        if (sched_submit(c->s, r, err, sizeof err)) return NULL;
        int32_t got[64], n = 0;
        struct req_event ev;
        int rc;
        while ((rc = req_poll(r, &ev)) != -1) {
            if (rc == 0)
                req_wait(r, 1000);
            else if (ev.token >= 0)
                got[n++] = ev.token;
        }
        if (n == 8 && !memcmp(got, c->solo[i], 8 * sizeof *got)) c->ok++;
        req_unref(r);
    }
    return NULL;
}

static void test_thread_mode(void **state)
{
    (void)state;
    struct sched *s = new_sched(g_stories, 4, 64, 32, 16);
    assert_int_equal(sched_start(s), 0);
    struct client cl[3];
    pthread_t th[3];
    uint64_t st = 99;
    for (int t = 0; t < 3; t++) {
        cl[t].s = s;
        cl[t].ok = 0;
        for (int i = 0; i < 4; i++) {
            random_prompt(&st, cl[t].prompt[i], 6, 512);
            run_alone(g_stories, cl[t].prompt[i], 6, 8, cl[t].solo[i]);
        }
    }
    for (int t = 0; t < 3; t++)
        pthread_create(&th[t], NULL, client_main, &cl[t]);
    for (int t = 0; t < 3; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < 3; t++)
        assert_int_equal(cl[t].ok, 4);
    sched_stop(s, 1000);
    sched_free(s);
}

/* Idle gathering: on the scheduler's thread, requests that arrive 20 ms
 * apart at an idle scheduler with a 200 ms quiet period start in one step;
 * a config outside 0..1 s is refused. */
static void test_gather(void **state)
{
    (void)state;
    struct sched_config c = sched_config_default();
    c.n_slots = 4, c.n_ctx = 64, c.batch_tokens = 16, c.prefill_cap = 16;
    struct sched *s;
    char err[LF_ERRMSG_LEN] = "";
    c.gather_us = -1;
    assert_int_equal(sched_new(g_stories, &c, &s, err, sizeof err), LF_ERR_INVALID);
    assert_non_null(strstr(err, "gather -1 us"));
    c.gather_us = 200000;
    assert_int_equal(sched_new(g_stories, &c, &s, err, sizeof err), 0);
    struct step_log L = {0};
    sched_set_step_hook(s, log_step, &L);
    assert_int_equal(sched_start(s), 0);
    const int32_t prompt[1] = {1};
    struct req_params p = greedy_params(2);
    struct req *r[3];
    for (int i = 0; i < 3; i++) {
        if (i) nanosleep(&(struct timespec){0, 20000000L}, NULL);
        r[i] = make_req(prompt, 1, &p);
        submit(s, r[i]);
    }
    for (int i = 0; i < 3; i++) {
        struct req_event ev;
        int rc;
        while ((rc = req_poll(r[i], &ev)) != -1)
            if (rc == 0) req_wait(r[i], 1000);
        req_unref(r[i]);
    }
    sched_stop(s, 1000); /* joins the thread: L is complete */
    assert_int_equal(L.n_rows[0], 3); /* the three prompts in the first step */
    assert_int_equal(L.n_steps, 2);
    sched_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eviction_leaves_no_hole),
        cmocka_unit_test(test_stop_string_across_tokens),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_cancellation),
        cmocka_unit_test(test_invariance_stories),
        cmocka_unit_test(test_invariance_bitnet),
        cmocka_unit_test(test_slot_reuse),
        cmocka_unit_test(test_fairness_long_prompt),
        cmocka_unit_test(test_thread_mode),
        cmocka_unit_test(test_gather),
    };
    /* TEST_FILTER (a cmocka glob) lets the ThreadSanitizer run pick the threaded test. */
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests_name("sched", tests, setup, teardown);
}
