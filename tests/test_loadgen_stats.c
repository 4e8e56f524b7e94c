/* test_loadgen_stats.c - loadgen's figures on hand-computed data: numpy-style
 * percentiles, mean/median/std, TPOT, pooled ITL, goodput, peak concurrency
 * and the 1-s bucket token peak; the seeded gamma/Poisson arrivals; the
 * random and JSONL workloads. */
#include "tests/testutil.h"
#include "loadgen/loadgen.h"
#include "loadgen/stats.h"
#include "loadgen/workload.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPS 1e-9

/* ---- percentiles and distributions ---- */

static void test_percentiles_match_numpy(void **state)
{
    (void)state;
    const double a[] = {1, 2, 3, 4};
    /* np.percentile([1,2,3,4], q): index q/100*3 between closest ranks */
    assert_float_equal(lg_percentile(a, 4, 90), 3.7, EPS);
    assert_float_equal(lg_percentile(a, 4, 99), 3.97, EPS);
    assert_float_equal(lg_percentile(a, 4, 50), 2.5, EPS);
    assert_float_equal(lg_percentile(a, 4, 25), 1.75, EPS);
    assert_float_equal(lg_percentile(a, 4, 0), 1.0, 0);
    assert_float_equal(lg_percentile(a, 4, 100), 4.0, 0);
    const double b[] = {10, 20, 30};
    assert_float_equal(lg_percentile(b, 3, 10), 12.0, EPS);
    const double one[] = {5};
    assert_float_equal(lg_percentile(one, 1, 99), 5.0, 0);
    assert_float_equal(lg_percentile(NULL, 0, 99), 0.0, 0); /* np.percentile(0, q) */
}

static void test_dist_mean_median_std(void **state)
{
    (void)state;
    double v[] = {4, 1, 3, 2}; /* unsorted on purpose */
    const double pcts[] = {25, 75, 99.9};
    struct lg_dist d;
    lg_dist_of(v, 4, 1000.0, pcts, 3, &d);
    assert_int_equal(d.n, 4);
    assert_float_equal(d.mean, 2500.0, 1e-6);
    assert_float_equal(d.median, 2500.0, 1e-6);
    assert_float_equal(d.std, sqrt(1.25) * 1000.0, 1e-6); /* population std */
    assert_float_equal(d.p90, 3700.0, 1e-6);
    assert_float_equal(d.p99, 3970.0, 1e-6);
    assert_float_equal(d.pct[0], 1750.0, 1e-6);
    assert_float_equal(d.pct[1], 3250.0, 1e-6);
    assert_float_equal(d.pct[2], 3997.0, 1e-6);

    lg_dist_of(NULL, 0, 1000.0, pcts, 3, &d);
    assert_int_equal(d.n, 0);
    assert_float_equal(d.mean + d.median + d.std + d.p99 + d.pct[2], 0.0, 0);
}

/* ---- metrics over hand-made request timelines ---- */

static struct lg_request req(double start, double ttft, double latency, int out, int prompt,
                             const double *itl, size_t n_itl, enum lg_fail cause)
{
    struct lg_request r;
    memset(&r, 0, sizeof r);
    r.start_s = start;
    r.ttft_s = ttft;
    r.latency_s = latency;
    r.output_tokens = out;
    r.prompt_len = prompt;
    r.itl_s = (double *)itl;
    r.n_itl = n_itl;
    r.cause = cause;
    if (cause == LG_FAIL_HTTP) r.http_status = 503;
    return r;
}

static const double k_itl_a[] = {0.1, 0.1, 0.1, 0.1};
static const double k_itl_b[] = {0.2, 0.2, 0.2};
static const double k_itl_failed[] = {9.0};

/* A: 5 tokens, TTFT 0.1, E2EL 0.5  -> TPOT 0.4/4 = 0.1
 * B: 4 tokens, TTFT 0.2, E2EL 0.8  -> TPOT 0.6/3 = 0.2
 * C: 1 token,  TTFT 0.3, E2EL 0.3  -> no TPOT (0 for goodput)
 * D: timed out; E: HTTP 503 -> excluded from every distribution */
static void make_set(struct lg_request *r)
{
    r[0] = req(0.0, 0.1, 0.5, 5, 10, k_itl_a, 4, LG_FAIL_NONE);
    r[1] = req(0.2, 0.2, 0.8, 4, 20, k_itl_b, 3, LG_FAIL_NONE);
    r[2] = req(0.4, 0.3, 0.3, 1, 30, NULL, 0, LG_FAIL_NONE);
    r[3] = req(0.1, 5.0, 6.0, 7, 40, k_itl_failed, 1, LG_FAIL_TIMEOUT);
    r[4] = req(0.1, 0.0, 0.0, 0, 50, NULL, 0, LG_FAIL_HTTP);
}

static void test_tpot_of_one_request(void **state)
{
    (void)state;
    struct lg_request r[5];
    make_set(r);
    assert_float_equal(lg_request_tpot(&r[0]), 0.1, EPS);
    assert_float_equal(lg_request_tpot(&r[1]), 0.2, EPS);
    assert_float_equal(lg_request_tpot(&r[2]), 0.0, 0);
}

static void test_metrics_on_hand_made_run(void **state)
{
    (void)state;
    struct lg_request r[5];
    make_set(r);
    struct lg_metrics m;
    assert_int_equal(lg_metrics_compute(r, 5, 2.0, NULL, NULL, 0, &m), 0);
    assert_int_equal(m.completed, 3);
    assert_int_equal(m.failed, 2);
    assert_int_equal(m.fail_count[LG_FAIL_TIMEOUT], 1);
    assert_int_equal(m.fail_count[LG_FAIL_HTTP], 1);
    assert_int_equal(m.http_count[503], 1);
    assert_int_equal(m.total_input_tokens, 60);
    assert_int_equal(m.total_output_tokens, 10);
    assert_float_equal(m.request_throughput, 1.5, EPS);
    assert_float_equal(m.output_throughput, 5.0, EPS);
    assert_float_equal(m.total_token_throughput, 35.0, EPS);
    assert_false(m.has_goodput);
    /* TPOT over A and B only: [100, 200] ms */
    assert_int_equal(m.tpot.n, 2);
    assert_float_equal(m.tpot.mean, 150.0, 1e-6);
    assert_float_equal(m.tpot.median, 150.0, 1e-6);
    assert_float_equal(m.tpot.std, 50.0, 1e-6);
    assert_float_equal(m.tpot.p99, 199.0, 1e-6);
    /* ITL pooled over A and B: four 100 ms, three 200 ms; D's 9 s left out */
    assert_int_equal(m.itl.n, 7);
    assert_float_equal(m.itl.mean, 1000.0 / 7.0, 1e-6);
    assert_float_equal(m.itl.median, 100.0, 1e-6);
    assert_float_equal(m.itl.p90, 200.0, 1e-6);
    /* TTFT [100, 200, 300], E2EL [500, 800, 300] */
    assert_int_equal(m.ttft.n, 3);
    assert_float_equal(m.ttft.mean, 200.0, 1e-6);
    assert_float_equal(m.ttft.std, sqrt(20000.0 / 3.0), 1e-6);
    assert_float_equal(m.e2el.median, 500.0, 1e-6);
    assert_float_equal(m.e2el.mean, 1600.0 / 3.0, 1e-6);
}

static void test_goodput_with_slos(void **state)
{
    (void)state;
    struct lg_request r[5];
    make_set(r);
    struct lg_metrics m;
    /* ttft <= 300 ms and tpot <= 150 ms: A good, B (tpot 200) bad, C good
     * (ttft exactly 300 meets the SLO; one token counts TPOT 0). */
    struct lg_goodput slo = {300, 150, -1};
    assert_int_equal(lg_metrics_compute(r, 5, 2.0, &slo, NULL, 0, &m), 0);
    assert_true(m.has_goodput);
    assert_int_equal(m.good_completed, 2);
    assert_float_equal(m.request_goodput, 1.0, EPS);
    /* Adding e2el <= 400 ms leaves only C (A takes 500 ms). */
    slo.e2el_ms = 400;
    assert_int_equal(lg_metrics_compute(r, 5, 2.0, &slo, NULL, 0, &m), 0);
    assert_int_equal(m.good_completed, 1);
    assert_float_equal(m.request_goodput, 0.5, EPS);
    /* A TPOT SLO of 99 ms: A (100) fails it, C still passes with TPOT 0. */
    struct lg_goodput tight = {-1, 99, -1};
    assert_int_equal(lg_metrics_compute(r, 5, 2.0, &tight, NULL, 0, &m), 0);
    assert_int_equal(m.good_completed, 1);
}

static void test_peak_concurrency_half_open(void **state)
{
    (void)state;
    struct lg_request r[4];
    struct lg_metrics m;
    /* [0,1) [0.5,1.5) [1,2): the first ends as the third starts -> peak 2.
     * The failed one overlapping all of them is not counted. */
    r[0] = req(0.0, 0.1, 1.0, 2, 1, NULL, 0, LG_FAIL_NONE);
    r[1] = req(0.5, 0.1, 1.0, 2, 1, NULL, 0, LG_FAIL_NONE);
    r[2] = req(1.0, 0.1, 1.0, 2, 1, NULL, 0, LG_FAIL_NONE);
    r[3] = req(0.2, 0.1, 3.0, 2, 1, NULL, 0, LG_FAIL_DROPPED);
    assert_int_equal(lg_metrics_compute(r, 4, 3.0, NULL, NULL, 0, &m), 0);
    assert_int_equal(m.max_concurrent_requests, 2);
    r[2].start_s = 0.9; /* now all three overlap in [0.9, 1.0) */
    assert_int_equal(lg_metrics_compute(r, 4, 3.0, NULL, NULL, 0, &m), 0);
    assert_int_equal(m.max_concurrent_requests, 3);
}

static void test_peak_tokens_in_one_second_buckets(void **state)
{
    (void)state;
    /* R1 tokens at 0.2, 0.5, 0.8, 1.1; R2 (sent at 0.5) at 0.9, 0.95, 1.95.
     * Bucket [0,1) holds 5 tokens, [1,2) holds 2. */
    static const double itl1[] = {0.3, 0.3, 0.3};
    static const double itl2[] = {0.05, 1.0};
    for (int shift = 0; shift < 2; shift++) {
        double t0 = shift ? 10.3 : 0.0; /* buckets count from the earliest send */
        struct lg_request r[3];
        r[0] = req(t0 + 0.0, 0.2, 1.1, 4, 1, itl1, 3, LG_FAIL_NONE);
        r[1] = req(t0 + 0.5, 0.4, 1.45, 3, 1, itl2, 2, LG_FAIL_NONE);
        r[2] = req(t0 + 0.1, 0.1, 0.1, 1, 1, NULL, 0, LG_FAIL_TIMEOUT); /* ignored */
        struct lg_metrics m;
        assert_int_equal(lg_metrics_compute(r, 3, 2.0, NULL, NULL, 0, &m), 0);
        assert_float_equal(m.max_output_tokens_per_s, 5.0, 0);
        assert_int_equal(m.max_concurrent_requests, 2);
    }
}

static void test_all_failed_gives_zeros(void **state)
{
    (void)state;
    struct lg_request r[2];
    r[0] = req(0, 0, 0, 0, 5, NULL, 0, LG_FAIL_CONNECT);
    r[1] = req(0, 0, 0, 0, 5, NULL, 0, LG_FAIL_CONNECT);
    struct lg_metrics m;
    assert_int_equal(lg_metrics_compute(r, 2, 1.0, NULL, NULL, 0, &m), 0);
    assert_int_equal(m.completed, 0);
    assert_int_equal(m.failed, 2);
    assert_int_equal(m.fail_count[LG_FAIL_CONNECT], 2);
    assert_int_equal(m.total_input_tokens, 0);
    assert_float_equal(m.ttft.mean + m.max_output_tokens_per_s, 0.0, 0);
    assert_int_equal(m.max_concurrent_requests, 0);
}

/* ---- arrivals ---- */

static void sample_moments(double shape, double rate, uint64_t seed, double *mean, double *cv2)
{
    struct lg_rng rng;
    lg_rng_seed(&rng, seed);
    const int n = 10000;
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++) {
        double g = lg_rng_gamma(&rng, shape, 1.0 / (rate * shape));
        assert_true(g > 0);
        s += g;
        ss += g * g;
    }
    *mean = s / n;
    double var = ss / n - *mean * *mean;
    *cv2 = var / (*mean * *mean);
}

static void test_gamma_gaps_mean_and_shape(void **state)
{
    (void)state;
    const double rate = 8.0, shapes[] = {1.0, 0.5, 4.0};
    for (int i = 0; i < 3; i++) {
        double mean, cv2;
        sample_moments(shapes[i], rate, 42 + (uint64_t)i, &mean, &cv2);
        /* mean gap 1/rate within 5%; squared coefficient of variation of a
         * gamma is 1/shape (1 for Poisson), within 10% */
        assert_true(fabs(mean - 1.0 / rate) < 0.05 / rate);
        assert_true(fabs(cv2 - 1.0 / shapes[i]) < 0.1 / shapes[i]);
    }
}

static void test_arrivals_deterministic_and_scaled(void **state)
{
    (void)state;
    enum { N = 1000 };
    static double a[N], b[N], c[N];
    assert_int_equal(lg_arrival_times(10.0, 1.0, 7, N, a), 0);
    assert_int_equal(lg_arrival_times(10.0, 1.0, 7, N, b), 0);
    assert_int_equal(lg_arrival_times(10.0, 1.0, 8, N, c), 0);
    assert_memory_equal(a, b, sizeof a); /* same seed, same schedule */
    assert_memory_not_equal(a, c, sizeof a);
    assert_float_equal(a[N - 1], 100.0, 1e-9); /* last due at n/rate, as vLLM */
    assert_true(a[0] > 0);
    for (int i = 1; i < N; i++) assert_true(a[i] >= a[i - 1]);

    assert_int_equal(lg_arrival_times(INFINITY, 1.0, 7, 5, a), 0);
    for (int i = 0; i < 5; i++) assert_float_equal(a[i], 0.0, 0);
    assert_int_equal(lg_arrival_times(4.0, INFINITY, 7, 4, a), 0);
    for (int i = 0; i < 4; i++) assert_float_equal(a[i], (i + 1) * 0.25, 1e-12);
    assert_int_equal(lg_arrival_times(0.0, 1.0, 7, 4, a), LG_ERR_INVALID);
    assert_int_equal(lg_arrival_times(1.0, 0.0, 7, 4, a), LG_ERR_INVALID);
}

/* ---- workloads ---- */

static int in_word_list(const char *w, size_t len)
{
    size_t n;
    const char *const *words = lg_words(&n);
    for (size_t i = 0; i < n; i++)
        if (strlen(words[i]) == len && !memcmp(words[i], w, len)) return 1;
    return 0;
}

static int check_words(const char *s)
{
    int n = 0;
    while (*s) {
        const char *sp = strchr(s, ' ');
        size_t len = sp ? (size_t)(sp - s) : strlen(s);
        assert_true(len > 0);
        assert_true(in_word_list(s, len));
        n++;
        s += len;
        if (*s) s++;
    }
    return n;
}

static void test_word_list(void **state)
{
    (void)state;
    size_t n;
    const char *const *words = lg_words(&n);
    assert_int_equal(n, 256);
    for (size_t i = 0; i < n; i++) {
        assert_true(strlen(words[i]) > 0);
        assert_null(strchr(words[i], ' '));
        for (size_t j = 0; j < i; j++) assert_string_not_equal(words[i], words[j]);
    }
}

static void test_random_workload(void **state)
{
    (void)state;
    struct lg_config cfg;
    lg_config_defaults(&cfg);
    cfg.num_prompts = 20;
    cfg.input_len = 10;
    cfg.output_len = 5;
    struct lg_workload wl, wl2;
    char err[LG_ERRMSG_LEN];
    assert_int_equal(lg_workload_make(&cfg, &wl, err, sizeof err), 0);
    assert_int_equal(wl.n, 20);
    for (size_t i = 0; i < wl.n; i++) {
        assert_int_equal(check_words(wl.items[i].text), 10);
        assert_int_equal(wl.items[i].prompt_len, 10);
        assert_int_equal(wl.items[i].output_len, 5);
    }
    lg_workload_free(&wl);

    /* range ratio 0.5: inputs in [5, 15], outputs in [floor 2.5, ceil 7.5] */
    cfg.num_prompts = 200;
    cfg.range_ratio = 0.5;
    cfg.seed = 3;
    assert_int_equal(lg_workload_make(&cfg, &wl, err, sizeof err), 0);
    assert_int_equal(lg_workload_make(&cfg, &wl2, err, sizeof err), 0);
    int seen_lo = 0, seen_hi = 0;
    for (size_t i = 0; i < wl.n; i++) {
        const struct lg_prompt *p = &wl.items[i];
        assert_true(p->prompt_len >= 5 && p->prompt_len <= 15);
        assert_true(p->output_len >= 2 && p->output_len <= 8);
        assert_int_equal(check_words(p->text), p->prompt_len);
        assert_string_equal(p->text, wl2.items[i].text); /* seeded */
        seen_lo |= p->prompt_len == 5;
        seen_hi |= p->prompt_len == 15;
    }
    assert_true(seen_lo && seen_hi);
    lg_workload_free(&wl);
    lg_workload_free(&wl2);

    cfg.range_ratio = 0;
    cfg.token_ids = 1;
    cfg.vocab_size = 1000;
    cfg.num_prompts = 3;
    assert_int_equal(lg_workload_make(&cfg, &wl, err, sizeof err), 0);
    for (size_t i = 0; i < wl.n; i++) {
        assert_null(wl.items[i].text);
        assert_int_equal(wl.items[i].n_ids, 10);
        for (int j = 0; j < 10; j++)
            assert_true(wl.items[i].ids[j] >= 100 && wl.items[i].ids[j] < 1000);
    }
    lg_workload_free(&wl);
    lg_workload_free(NULL);
}

static void test_dataset_workload(void **state)
{
    (void)state;
    char *path = tu_tmp_path("prompts.jsonl");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"prompt\": \"one two three\", \"output_len\": 7}\n"
          "\n"
          "{\"prompt\": \"four\"}\r\n"
          "  \n",
          f);
    fclose(f);
    struct lg_config cfg;
    lg_config_defaults(&cfg);
    cfg.dataset = path;
    cfg.output_len = 9;
    struct lg_workload wl;
    char err[LG_ERRMSG_LEN];
    assert_int_equal(lg_workload_make(&cfg, &wl, err, sizeof err), 0);
    assert_int_equal(wl.n, 2); /* every line by default */
    assert_string_equal(wl.items[0].text, "one two three");
    assert_int_equal(wl.items[0].prompt_len, 3);
    assert_int_equal(wl.items[0].output_len, 7);
    assert_string_equal(wl.items[1].text, "four");
    assert_int_equal(wl.items[1].output_len, 9);
    lg_workload_free(&wl);

    cfg.num_prompts = 5; /* more than the file: lines reused in order */
    assert_int_equal(lg_workload_make(&cfg, &wl, err, sizeof err), 0);
    assert_int_equal(wl.n, 5);
    assert_string_equal(wl.items[4].text, "one two three");
    assert_string_equal(wl.items[3].text, "four");
    lg_workload_free(&wl);

    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"prompt\": \"ok\"}\n{\"prompt\": 5}\n", f);
    fclose(f);
    assert_int_equal(lg_workload_make(&cfg, &wl, err, sizeof err), LG_ERR_FORMAT);
    assert_non_null(strstr(err, ":2:")); /* names the line */
    f = fopen(path, "w");
    fputs("{\"prompt\": \"x\", \"output_len\": 0}\n", f);
    fclose(f);
    assert_int_equal(lg_workload_make(&cfg, &wl, err, sizeof err), LG_ERR_FORMAT);
    cfg.dataset = "/nonexistent/prompts.jsonl";
    assert_int_equal(lg_workload_make(&cfg, &wl, err, sizeof err), LG_ERR_IO);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentiles_match_numpy),
        cmocka_unit_test(test_dist_mean_median_std),
        cmocka_unit_test(test_tpot_of_one_request),
        cmocka_unit_test(test_metrics_on_hand_made_run),
        cmocka_unit_test(test_goodput_with_slos),
        cmocka_unit_test(test_peak_concurrency_half_open),
        cmocka_unit_test(test_peak_tokens_in_one_second_buckets),
        cmocka_unit_test(test_all_failed_gives_zeros),
        cmocka_unit_test(test_gamma_gaps_mean_and_shape),
        cmocka_unit_test(test_arrivals_deterministic_and_scaled),
        cmocka_unit_test(test_word_list),
        cmocka_unit_test(test_random_workload),
        cmocka_unit_test(test_dataset_workload),
    };
    return cmocka_run_group_tests_name("loadgen_stats", tests, NULL, NULL);
}
