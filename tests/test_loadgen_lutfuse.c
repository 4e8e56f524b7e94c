/* test_loadgen_lutfuse.c - lutfuse-loadgen against the real lutfuse server,
 * and a bounded soak with random client disconnects.
 *
 * test_loadgen_vs_lutfuse: the loadgen library (lg_run) drives `lutfuse
 * serve` on stories260K with 64 requests at concurrency 16. Every
 * per-request record must be complete and self-consistent, and the JSON
 * report (vLLM's field names) must agree with figures recomputed here from
 * the records with vLLM's definitions. Then the lutfuse-loadgen binary runs
 * once, end to end, with --json.
 *
 * test_soak_with_disconnects: one thread keeps SOAK_POOL streaming requests
 * in flight (libcurl multi) against a tiny synthetic model for
 * LUTFUSE_SOAK_SECONDS (default 60). A seeded random share of them is
 * dropped by the client: after k SSE events (mid-decode), or at a random
 * moment after the response headers (possibly while still queued or in
 * prefill). At the deadline every request still in flight is dropped too.
 * The RSS baseline is taken after a warm-up that also ran every KV slot to
 * the end of its context (KV pages are mapped in on first write).
 * Afterwards the server must be idle again (no running sequence, no KV
 * slot, empty queue, every connection counted as answered), its RSS within
 * SOAK_RSS_BOUND_KIB of the post-warm-up figure, still answering correctly,
 * and it must exit 0 on SIGTERM (under ASan: without a leak report).
 */
#include "tests/testutil.h"
#include "tests/tu_server.h"
#include "loadgen/client.h"
#include "loadgen/loadgen.h"
#include "loadgen/report.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *loadgen_bin(void)
{
    const char *b = getenv("LUTFUSE_LOADGEN_BIN");
    return b ? b : "build/lutfuse-loadgen";
}

static int group_setup(void **state)
{
    (void)state;
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    curl_global_cleanup();
    return 0;
}

/* ---- JSON and statistics helpers ---- */

static json_t *load_json(const char *path)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) fail_msg("%s does not parse: %s (line %d)", path, je.text, je.line);
    return j;
}

/* A number field of a JSON object; fails the test when missing. */
static double jnum(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v)) fail_msg("JSON field \"%s\" is missing or not a number", key);
    return json_number_value(v);
}

static void assert_close(double got, double want, const char *what)
{
    if (!(fabs(got - want) <= 1e-6 * fabs(want) + 1e-6))
        fail_msg("%s: got %.10g, expected %.10g", what, got, want);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.percentile's default ("linear") on sorted values. */
static double percentile(const double *sorted, size_t n, double p)
{
    double idx = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(idx);
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    return sorted[lo] + (idx - (double)lo) * (sorted[hi] - sorted[lo]);
}

/* Check mean_/median_/std_/p99_<name>_ms of the report against values (ms),
 * recomputed here: population std (numpy's default), linear percentiles. */
static void check_dist(const json_t *report, const char *name, double *values, size_t n)
{
    assert_true(n > 0);
    qsort(values, n, sizeof *values, cmp_double);
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++)
        mean += values[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++)
        var += (values[i] - mean) * (values[i] - mean);
    const double want[4] = {mean, percentile(values, n, 50), sqrt(var / (double)n),
                            percentile(values, n, 99)};
    static const char *const stat[4] = {"mean", "median", "std", "p99"};
    for (int k = 0; k < 4; k++) {
        char key[64];
        snprintf(key, sizeof key, "%s_%s_ms", stat[k], name);
        assert_close(jnum(report, key), want[k], key);
    }
    /* p99 inside the observed range (gaps may be 0: two events in one read) */
    assert_true(values[0] >= 0);
    char key[64];
    snprintf(key, sizeof key, "p99_%s_ms", name);
    assert_true(jnum(report, key) <= values[n - 1] + 1e-9);
}

/* ---- 1. loadgen against lutfuse ---- */

#define E2E_PROMPTS 64
#define E2E_CONCURRENCY 16
#define E2E_INPUT_WORDS 32
#define E2E_OUTPUT 24
#define E2E_CTX 512

/* Peak number of requests in flight at once, from the records' [start, end]
 * intervals (an end and a start at the same instant do not overlap). */
static int peak_in_flight(const struct lg_result *res)
{
    int peak = 0;
    for (size_t i = 0; i < res->n_requests; i++) {
        int n = 0;
        double t = res->requests[i].start_s;
        for (size_t j = 0; j < res->n_requests; j++)
            if (res->requests[j].start_s <= t && res->requests[j].end_s > t) n++;
        if (n > peak) peak = n;
    }
    return peak;
}

/* The loadgen binary, end to end: 8 prompts, --json; exit 0, 8 completed
 * with 5 tokens each. */
static void run_loadgen_cli(const struct tu_server *s)
{
    char *json_path = tu_tmp_path("cli.json"), *out_path = tu_tmp_path("cli.out");
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s --base-url %s --num-prompts 8 --max-concurrency 4 --input-len 8 --output-len 5 "
             "--ignore-eos --seed 3 --no-progress --json %s > %s 2>&1",
             loadgen_bin(), s->base, json_path, out_path);
    int st = system(cmd);
    char *out = tu_read_file(out_path, NULL);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("`%s` failed (status %d):\n%s", cmd, st, out ? out : "(no output)");
    assert_non_null(strstr(out, "Successful requests:                     8\n"));
    assert_non_null(strstr(out, "Failed requests:                         0\n"));
    json_t *j = load_json(json_path);
    assert_int_equal((int)jnum(j, "completed"), 8);
    assert_int_equal((int)jnum(j, "failed"), 0);
    assert_int_equal((int)jnum(j, "total_output_tokens"), 8 * 5);
    assert_string_equal(json_string_value(json_object_get(j, "model_id")), "stories260K.gguf");
    json_t *lens = json_object_get(j, "output_lens");
    assert_int_equal(json_array_size(lens), 8);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(json_integer_value(json_array_get(lens, i)), 5);
    json_decref(j);
    free(out), free(json_path), free(out_path);
}

static void test_loadgen_vs_lutfuse(void **state)
{
    (void)state;
    struct tu_server s;
    char *model = tu_data_path("models/stories260K.gguf");
    char args[1024];
    snprintf(args, sizeof args, "-m %s --max-seqs 16 --ctx %d --quiet", model, E2E_CTX);
    free(model);
    if (tu_server_start(&s, args)) fail_msg("server did not start: %s", s.log);

    struct lg_config cfg;
    lg_config_defaults(&cfg);
    cfg.base_url = s.base;
    cfg.num_prompts = E2E_PROMPTS;
    cfg.max_concurrency = E2E_CONCURRENCY;
    cfg.input_len = E2E_INPUT_WORDS;
    cfg.output_len = E2E_OUTPUT;
    cfg.ignore_eos = 1;
    cfg.seed = 20240611;
    cfg.timeout_s = 60;
    struct lg_result res;
    char err[LG_ERRMSG_LEN];
    const double t0 = mono();
    int rc = lg_run(&cfg, &res, err, sizeof err);
    const double wall = mono() - t0;
    if (rc) fail_msg("lg_run: %s", err);
    printf("loadgen vs lutfuse: %d requests in %.2f s\n", E2E_PROMPTS, wall);

    /* the run as a whole */
    assert_string_equal(res.model, "stories260K.gguf");
    assert_int_equal(res.n_requests, E2E_PROMPTS);
    assert_int_equal(res.metrics.completed, E2E_PROMPTS);
    assert_int_equal(res.metrics.failed, 0);
    assert_int_equal(res.metrics.total_output_tokens, E2E_PROMPTS * E2E_OUTPUT);
    assert_int_equal(peak_in_flight(&res), E2E_CONCURRENCY);
    assert_true(res.metrics.max_concurrent_requests <= E2E_CONCURRENCY);

    /* every record: complete, exact token count, consistent timestamps */
    long long total_in = 0;
    size_t n_itl = 0;
    int seen[E2E_PROMPTS] = {0};
    for (size_t i = 0; i < res.n_requests; i++) {
        const struct lg_request *r = &res.requests[i];
        if (r->cause != LG_FAIL_NONE)
            fail_msg("request %d failed (%s): %s", r->index, lg_fail_name(r->cause),
                     r->error ? r->error : "");
        assert_true(r->index >= 0 && r->index < E2E_PROMPTS);
        seen[r->index]++;
        assert_int_equal(r->http_status, 200);
        assert_int_equal(r->usage_reported, 1);
        assert_int_equal(r->max_tokens, E2E_OUTPUT);
        assert_int_equal(r->output_tokens, E2E_OUTPUT);
        /* 32 words are at least 32 tokens; prompt + output fit the context */
        assert_true(r->prompt_len >= E2E_INPUT_WORDS);
        assert_true(r->prompt_len + E2E_OUTPUT <= E2E_CTX);
        total_in += r->prompt_len;
        assert_true(r->ttft_s > 0);
        assert_true(r->ttft_s <= r->latency_s);
        assert_true(r->start_s >= r->arrival_s);
        assert_true(r->start_s + r->latency_s <= r->end_s + 1e-9);
        /* gaps lie between consecutive chunks: TTFT + sum(ITL) == E2EL */
        assert_true(r->chunks >= 1 && r->chunks <= E2E_OUTPUT + 1);
        assert_int_equal(r->n_itl, (size_t)r->chunks - 1);
        double sum = r->ttft_s;
        for (size_t k = 0; k < r->n_itl; k++)
            sum += r->itl_s[k];
        assert_close(sum, r->latency_s, "ttft + sum(itl) vs e2el");
        n_itl += r->n_itl;
    }
    for (int i = 0; i < E2E_PROMPTS; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(res.metrics.total_input_tokens, total_in);

    /* the JSON report against figures recomputed from the records */
    char *json_path = tu_tmp_path("run.json");
    if (lg_report_json(json_path, &cfg, &res, 1, 0, err, sizeof err)) fail_msg("json: %s", err);
    json_t *j = load_json(json_path);
    assert_int_equal((int)jnum(j, "completed"), E2E_PROMPTS);
    assert_int_equal((int)jnum(j, "failed"), 0);
    assert_int_equal((long long)jnum(j, "total_input_tokens"), total_in);
    assert_int_equal((long long)jnum(j, "total_output_tokens"), E2E_PROMPTS * E2E_OUTPUT);
    assert_int_equal((int)jnum(j, "max_concurrency"), E2E_CONCURRENCY);
    assert_int_equal((int)jnum(j, "num_prompts"), E2E_PROMPTS);
    assert_string_equal(json_string_value(json_object_get(j, "model_id")), "stories260K.gguf");
    const double duration = jnum(j, "duration");
    assert_true(duration > 0 && duration <= wall);
    assert_close(jnum(j, "request_throughput"), E2E_PROMPTS / duration, "request_throughput");
    assert_close(jnum(j, "output_throughput"), E2E_PROMPTS * E2E_OUTPUT / duration,
                 "output_throughput");
    assert_close(jnum(j, "total_token_throughput"),
                 ((double)total_in + E2E_PROMPTS * E2E_OUTPUT) / duration,
                 "total_token_throughput");
    double *ttft = malloc(E2E_PROMPTS * sizeof *ttft), *tpot = malloc(E2E_PROMPTS * sizeof *tpot);
    double *e2el = malloc(E2E_PROMPTS * sizeof *e2el), *itl = malloc(n_itl * sizeof *itl);
    size_t k_itl = 0;
    for (size_t i = 0; i < res.n_requests; i++) {
        const struct lg_request *r = &res.requests[i];
        ttft[i] = r->ttft_s * 1000;
        e2el[i] = r->latency_s * 1000;
        tpot[i] = (r->latency_s - r->ttft_s) / (E2E_OUTPUT - 1) * 1000; /* vLLM's TPOT */
        for (size_t k = 0; k < r->n_itl; k++)
            itl[k_itl++] = r->itl_s[k] * 1000;
    }
    check_dist(j, "ttft", ttft, E2E_PROMPTS);
    check_dist(j, "tpot", tpot, E2E_PROMPTS);
    check_dist(j, "itl", itl, n_itl);
    check_dist(j, "e2el", e2el, E2E_PROMPTS);
    assert_true(jnum(j, "mean_ttft_ms") <= jnum(j, "mean_e2el_ms"));
    /* vLLM's per-request arrays, in record order */
    json_t *in_lens = json_object_get(j, "input_lens"),
           *out_lens = json_object_get(j, "output_lens");
    assert_int_equal(json_array_size(in_lens), E2E_PROMPTS);
    assert_int_equal(json_array_size(out_lens), E2E_PROMPTS);
    for (size_t i = 0; i < E2E_PROMPTS; i++) {
        assert_int_equal(json_integer_value(json_array_get(in_lens, i)),
                         res.requests[i].prompt_len);
        assert_int_equal(json_integer_value(json_array_get(out_lens, i)), E2E_OUTPUT);
    }
    json_decref(j);
    free(ttft), free(tpot), free(e2el), free(itl), free(json_path);
    lg_result_free(&res);

    run_loadgen_cli(&s);

    int code = tu_server_stop(&s, SIGTERM, 30);
    if (code != 0) fail_msg("server exit code %d; log:\n%s", code, s.log ? s.log : "");
    free(s.log);
}

/* ---- 2. soak with random client disconnects ---- */

#define SOAK_POOL 12 /* in flight; more than --max-seqs 8, so some wait in the queue */
/* Request shapes: most are short (prompt 1..200 bytes, 1..160 tokens out) so
 * that many start and end; one in ten is long (prompt 400..700 bytes, 100..300
 * tokens out). The byte vocabulary makes a prompt of B bytes B + 2 tokens, so
 * prompt + output stays under --ctx 1024. */
#define SOAK_MAX_PROMPT 700
#define SOAK_MAX_DROP_MS 400 /* time-based drops come 0..400 ms after the headers */
#define SOAK_WARMUP 16       /* requests in the warm-up round */
#define SOAK_SEED 0x50a4c0deULL
#define SOAK_SLOTS 8  /* --max-seqs */
#define SOAK_CTX 1024 /* --ctx */
/* Allowed RSS growth over the soak, measured after the warm-up and after the
 * soak once the server is idle again. The server allocates its KV cache and
 * scratch at start, but the kernel maps KV pages in only when a position is
 * first written (8 slots x 1024 positions x 4 layers x 2 x 256 floats = 64
 * MiB here), so the warm-up first runs every slot to the end of its context.
 * After that, growth should stay near zero; 16 MiB leaves room for malloc
 * arenas and (under ASan) the quarantine, while a leak of a few KiB per
 * request over the soak's hundreds of requests would break it. */
#define SOAK_RSS_BOUND_KIB (16L * 1024)

struct rng {
    uint64_t s;
};

/* splitmix64 */
static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static int rng_range(struct rng *r, int lo, int hi)
{
    return lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

enum soak_plan {
    PLAN_FINISH,            /* read the whole stream and check it */
    PLAN_DROP_AFTER_EVENTS, /* close the connection after drop_events SSE events */
    PLAN_DROP_AT_TIME,      /* close it drop_ms after the response headers */
};

struct soak_req {
    CURL *easy; /* NULL: the slot is free */
    enum soak_plan plan;
    int max_tokens;
    int drop_events;
    int drop_ms;
    double headers_at;   /* monotonic time the headers arrived, 0 before */
    int events;          /* complete SSE events received ("\n\n" seen) */
    int dropped;         /* the write callback refused data */
    struct tu_body resp; /* the response body so far */
    char body[SOAK_MAX_PROMPT + 256];
};

struct soak_stats {
    int started, finished;
    int dropped_events, dropped_time, dropped_deadline;
    int dropped_headerless; /* dropped before any response header (server may not count it) */
    int unexpected;
    char first_error[512];
    long long tokens; /* completion tokens of finished requests */
    long rss_peak_kib;
};

static size_t soak_on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct soak_req *q = ud;
    (void)p;
    if (q->headers_at == 0) q->headers_at = mono();
    return sz * n;
}

static size_t soak_on_data(char *p, size_t sz, size_t n, void *ud)
{
    struct soak_req *q = ud;
    size_t len = sz * n;
    /* count event ends, including a "\n\n" split across two calls */
    size_t from = q->resp.len ? q->resp.len - 1 : 0;
    if (tu_body_append(p, sz, n, &q->resp) != len) return 0;
    const char *nd = q->resp.data;
    for (size_t i = from; i + 1 < q->resp.len; i++)
        if (nd[i] == '\n' && nd[i + 1] == '\n') q->events++;
    if (q->plan == PLAN_DROP_AFTER_EVENTS && q->events >= q->drop_events) {
        q->dropped = 1;
        return 0; /* libcurl ends the transfer and closes the connection */
    }
    return len;
}

static void soak_note(struct soak_stats *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void soak_note(struct soak_stats *st, const char *fmt, ...)
{
    if (st->unexpected++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(st->first_error, sizeof st->first_error, fmt, ap);
        va_end(ap);
    }
}

/* A finished stream must hold chunks, one finish_reason "length" (ignore_eos),
 * a usage chunk with completion_tokens == max_tokens, and end with [DONE].
 * Returns the completion tokens, or -1 with why filled. */
static int check_stream(const char *data, int max_tokens, char *why, size_t why_len)
{
    int lengths = 0, completion = -1;
    const char *p = data;
    while ((p = strstr(p, "data: "))) {
        p += 6;
        const char *end = strstr(p, "\n\n");
        if (!end) return snprintf(why, why_len, "unterminated event"), -1;
        if (!strncmp(p, "[DONE]", 6)) {
            if (end[2] != 0) return snprintf(why, why_len, "events after [DONE]"), -1;
            if (lengths != 1) return snprintf(why, why_len, "%d finish_reason length", lengths), -1;
            if (completion != max_tokens)
                return snprintf(why, why_len, "completion_tokens %d, asked %d", completion,
                                max_tokens),
                       -1;
            return completion;
        }
        json_error_t je;
        json_t *j = json_loadb(p, (size_t)(end - p), 0, &je);
        if (!j) return snprintf(why, why_len, "bad chunk: %.*s", (int)(end - p), p), -1;
        json_t *fr =
            json_object_get(json_array_get(json_object_get(j, "choices"), 0), "finish_reason");
        if (json_is_string(fr) && !strcmp(json_string_value(fr), "length")) lengths++;
        json_t *u = json_object_get(j, "usage");
        if (json_is_object(u))
            completion = (int)json_integer_value(json_object_get(u, "completion_tokens"));
        json_decref(j);
        p = end + 2;
    }
    return snprintf(why, why_len, "no [DONE]"), -1;
}

static void soak_release(CURLM *multi, struct soak_req *q)
{
    curl_multi_remove_handle(multi, q->easy);
    curl_easy_cleanup(q->easy);
    free(q->resp.data);
    memset(q, 0, sizeof *q);
}

static void soak_start(CURLM *multi, struct soak_req *q, const char *url, struct curl_slist *hdr,
                       struct rng *rng)
{
    memset(q, 0, sizeof *q);
    char prompt[SOAK_MAX_PROMPT + 1];
    const int is_long = rng_range(rng, 0, 9) == 0;
    int plen = is_long ? rng_range(rng, 400, SOAK_MAX_PROMPT) : rng_range(rng, 1, 200);
    for (int i = 0; i < plen; i++)
        prompt[i] = rng_range(rng, 0, 5) == 0 ? ' ' : (char)('a' + rng_range(rng, 0, 25));
    prompt[plen] = 0;
    q->max_tokens = is_long ? rng_range(rng, 100, 300) : rng_range(rng, 1, 160);
    int pick = rng_range(rng, 0, 99);
    q->plan = pick < 60 ? PLAN_FINISH : pick < 80 ? PLAN_DROP_AFTER_EVENTS : PLAN_DROP_AT_TIME;
    q->drop_events = rng_range(rng, 1, q->max_tokens);
    q->drop_ms = rng_range(rng, 0, SOAK_MAX_DROP_MS);
    snprintf(q->body, sizeof q->body,
             "{\"prompt\":\"%s\",\"max_tokens\":%d,\"ignore_eos\":true,\"temperature\":%s,"
             "\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
             prompt, q->max_tokens, rng_range(rng, 0, 1) ? "0" : "0.8");
    q->easy = curl_easy_init();
    assert_non_null(q->easy);
    curl_easy_setopt(q->easy, CURLOPT_URL, url);
    curl_easy_setopt(q->easy, CURLOPT_POSTFIELDS, q->body);
    curl_easy_setopt(q->easy, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(q->easy, CURLOPT_HEADERFUNCTION, soak_on_header);
    curl_easy_setopt(q->easy, CURLOPT_HEADERDATA, q);
    curl_easy_setopt(q->easy, CURLOPT_WRITEFUNCTION, soak_on_data);
    curl_easy_setopt(q->easy, CURLOPT_WRITEDATA, q);
    curl_easy_setopt(q->easy, CURLOPT_PRIVATE, q);
    curl_easy_setopt(q->easy, CURLOPT_TIMEOUT, 120L); /* a hung server fails, not hangs */
    assert_int_equal(curl_multi_add_handle(multi, q->easy), CURLM_OK);
}

/* A transfer libcurl reports done: sort it into dropped / finished /
 * unexpected. */
static void soak_done(CURLM *multi, struct soak_req *q, CURLcode rc, struct soak_stats *st)
{
    long status = 0;
    curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
    char why[256];
    if (q->dropped && rc == CURLE_WRITE_ERROR) {
        st->dropped_events++;
        if (status != 200) soak_note(st, "dropped stream had status %ld", status);
    } else if (rc != CURLE_OK) {
        soak_note(st, "transfer failed: %s (status %ld)", curl_easy_strerror(rc), status);
    } else if (status != 200) {
        soak_note(st, "status %ld: %.200s", status, q->resp.data ? q->resp.data : "");
    } else {
        int n = check_stream(q->resp.data ? q->resp.data : "", q->max_tokens, why, sizeof why);
        if (n < 0) {
            soak_note(st, "bad stream (%s): %.300s", why, q->resp.data ? q->resp.data : "");
        } else {
            st->finished++;
            st->tokens += n;
        }
    }
    soak_release(multi, q);
}

/* Keep SOAK_POOL requests in flight: start new ones until `total` have been
 * started (0: no limit) or the deadline passes; then wait for the rest. At
 * the deadline (or at the first unexpected outcome) every request still in
 * flight is dropped, once its headers have arrived (or 2 s later at the
 * latest). Samples the server's RSS. */
static void soak_drive(const struct tu_server *s, struct rng *rng, int total, double deadline,
                       struct soak_stats *st)
{
    char url[128];
    snprintf(url, sizeof url, "%s/v1/completions", s->base);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    CURLM *multi = curl_multi_init();
    assert_non_null(multi);
    struct soak_req *pool = calloc(SOAK_POOL, sizeof *pool);
    assert_non_null(pool);
    double next_rss = 0, stop_at = 0;
    for (;;) {
        const double now = mono();
        if (stop_at == 0 && (now >= deadline || st->unexpected > 0))
            stop_at = now; /* or at the first problem */
        const int stopping = stop_at > 0;
        int active = 0;
        for (int i = 0; i < SOAK_POOL; i++) {
            struct soak_req *q = &pool[i];
            if (!q->easy && !stopping && (total == 0 || st->started < total)) {
                soak_start(multi, q, url, hdr, rng);
                st->started++;
            }
            if (!q->easy) continue;
            if (stopping && (q->headers_at > 0 || now >= stop_at + 2.0)) {
                if (q->headers_at == 0) st->dropped_headerless++;
                st->dropped_deadline++;
                soak_release(multi, q); /* a transfer removed half-way closes its connection */
                continue;
            }
            if (q->plan == PLAN_DROP_AT_TIME && q->headers_at > 0 &&
                now >= q->headers_at + q->drop_ms / 1000.0) {
                st->dropped_time++;
                soak_release(multi, q);
                continue;
            }
            active++;
        }
        if (!active && (stopping || (total && st->started >= total))) break;
        if (now >= next_rss) {
            long rss = tu_server_rss_kib(s);
            if (rss > st->rss_peak_kib) st->rss_peak_kib = rss;
            next_rss = now + 0.5;
        }
        int running;
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            char *priv = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            soak_done(multi, (struct soak_req *)priv, msg->data.result,
                      st); /* msg is invalid after this */
        }
        curl_multi_poll(multi, NULL, 0, 10, NULL);
    }
    free(pool);
    curl_multi_cleanup(multi);
    curl_slist_free_all(hdr);
}

/* Wait up to timeout_s for the server to be idle: nothing running, no KV
 * slot, an empty queue, and `answered` requests counted (every connection
 * closed and freed). *gets counts the /metrics requests made, which the
 * server counts too. Returns the last /metrics text (caller frees). */
static char *wait_idle(struct tu_server *s, double answered, int *gets, double timeout_s)
{
    const double t_end = mono() + timeout_s;
    for (;;) {
        char *m = tu_server_metrics(s);
        if (!m) {
            int code = tu_server_stop(s, SIGTERM, 5); /* the exit code if it died */
            fail_msg("GET /metrics failed; server exit code %d; log:\n%s", code,
                     s->log ? s->log : "");
        }
        /* this GET is counted only after its response, so not in m */
        const double want = answered + *gets;
        ++*gets;
        if ((tu_metrics_value(m, "lutfuse_running_sequences") == 0 &&
             tu_metrics_value(m, "lutfuse_kv_slots_used") == 0 &&
             tu_metrics_value(m, "lutfuse_queue_depth") == 0 &&
             tu_metrics_value(m, "lutfuse_requests_total") == want) ||
            mono() >= t_end)
            return m;
        free(m);
        sleep_ms(50);
    }
}

static double soak_seconds(void)
{
    const char *e = getenv("LUTFUSE_SOAK_SECONDS");
    char *end;
    double v = e ? strtod(e, &end) : 0;
    if (!e || end == e || *end || !(v > 0) || v > 3600) return 60;
    return v;
}

/* One ordinary (non-streamed) request after the soak: 200, 64 tokens. */
static void final_request(const struct tu_server *s)
{
    char url[128];
    snprintf(url, sizeof url, "%s/v1/completions", s->base);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    CURL *c = curl_easy_init();
    struct tu_body resp = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS,
                     "{\"prompt\":\"after the soak\",\"max_tokens\":64,\"ignore_eos\":true}");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tu_body_append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        fail_msg("final request: status %ld: %s", status, resp.data ? resp.data : "");
    json_error_t je;
    json_t *j = json_loads(resp.data ? resp.data : "", 0, &je);
    if (!j) fail_msg("final request: bad JSON: %s", resp.data);
    json_t *u = json_object_get(j, "usage");
    assert_int_equal(json_integer_value(json_object_get(u, "completion_tokens")), 64);
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(ch, "finish_reason")), "length");
    json_decref(j);
    free(resp.data);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdr);
}

/* Run every KV slot to the end of its context at once: SOAK_SLOTS
 * non-streamed requests of prompt "a" (3 tokens: BOS, the byte vocabulary's
 * space prefix, "a") and SOAK_CTX - 3 tokens each, so that every position of
 * every slot has been written once. */
static void fill_kv(const struct tu_server *s)
{
    char url[128];
    snprintf(url, sizeof url, "%s/v1/completions", s->base);
    char body[160];
    snprintf(body, sizeof body, "{\"prompt\":\"a\",\"max_tokens\":%d,\"ignore_eos\":true}",
             SOAK_CTX - 3);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    CURLM *multi = curl_multi_init();
    CURL *e[SOAK_SLOTS];
    struct tu_body out[SOAK_SLOTS] = {{0}};
    for (int i = 0; i < SOAK_SLOTS; i++) {
        e[i] = curl_easy_init();
        curl_easy_setopt(e[i], CURLOPT_URL, url);
        curl_easy_setopt(e[i], CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e[i], CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(e[i], CURLOPT_WRITEFUNCTION, tu_body_append);
        curl_easy_setopt(e[i], CURLOPT_WRITEDATA, &out[i]);
        curl_easy_setopt(e[i], CURLOPT_TIMEOUT, 120L);
        curl_multi_add_handle(multi, e[i]);
    }
    int running = SOAK_SLOTS;
    while (running) {
        curl_multi_perform(multi, &running);
        if (running) curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    for (int i = 0; i < SOAK_SLOTS; i++) {
        long status = 0;
        curl_easy_getinfo(e[i], CURLINFO_RESPONSE_CODE, &status);
        json_t *j = out[i].data ? json_loads(out[i].data, 0, NULL) : NULL;
        json_t *u = json_object_get(j, "usage");
        if (status != 200 || !json_is_object(u))
            fail_msg("KV fill request %d: status %ld: %s", i, status,
                     out[i].data ? out[i].data : "");
        assert_int_equal(json_integer_value(json_object_get(u, "prompt_tokens")), 3);
        assert_int_equal(json_integer_value(json_object_get(u, "completion_tokens")), SOAK_CTX - 3);
        json_decref(j);
        free(out[i].data);
        curl_multi_remove_handle(multi, e[i]);
        curl_easy_cleanup(e[i]);
    }
    curl_multi_cleanup(multi);
    curl_slist_free_all(hdr);
}

static void test_soak_with_disconnects(void **state)
{
    (void)state;
    const double soak_s = soak_seconds();
    char *model = tu_tmp_path("soak.gguf");
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s mkmodel --n-layer 4 --n-embd 256 --n-ff 512 --seed 3 -o %s 2>/dev/null",
             tu_lutfuse_bin(), model);
    if (system(cmd) != 0) fail_msg("mkmodel failed: %s", cmd);
    /* Under ASan, freed blocks wait in a quarantine (256 MiB by default)
     * before reuse, which reads as RSS growth; cap it for this server so the
     * bound measures leaks, not the quarantine. No effect without ASan. */
    const char *asan_env = getenv("ASAN_OPTIONS");
    char saved[256], asan_opts[512];
    const char *asan = asan_env ? strncpy(saved, asan_env, sizeof saved - 1) : NULL;
    saved[sizeof saved - 1] = 0;
    snprintf(asan_opts, sizeof asan_opts, "%s%squarantine_size_mb=4", asan ? asan : "",
             asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", asan_opts, 1);
    struct tu_server s;
    char args[1024];
    snprintf(args, sizeof args, "-m %s --max-seqs %d --ctx %d --quiet", model, SOAK_SLOTS,
             SOAK_CTX);
    free(model);
    const int started = tu_server_start(&s, args);
    if (asan)
        setenv("ASAN_OPTIONS", asan, 1);
    else
        unsetenv("ASAN_OPTIONS");
    if (started) fail_msg("server did not start: %s", s.log);
    struct rng rng = {SOAK_SEED};
    int gets = 0;

    /* warm-up: SOAK_WARMUP requests of the same mix, all ended normally or
     * by plan (the 60 s deadline only guards against a hang) */
    struct soak_stats warm = {0};
    soak_drive(&s, &rng, SOAK_WARMUP, mono() + 60, &warm);
    if (warm.unexpected)
        fail_msg("warm-up: %d unexpected, first: %s", warm.unexpected, warm.first_error);
    assert_int_equal(warm.dropped_deadline, 0);
    fill_kv(&s);
    const int pre = SOAK_WARMUP + SOAK_SLOTS; /* requests before the soak */
    char *m = wait_idle(&s, pre, &gets, 5);
    assert_true(tu_metrics_value(m, "lutfuse_requests_total") == pre + gets - 1);
    free(m);
    const long rss_warm = tu_server_rss_kib(&s);
    assert_true(rss_warm > 0);

    /* the soak */
    struct soak_stats st = {0};
    const double t0 = mono();
    soak_drive(&s, &rng, 0, t0 + soak_s, &st);
    const double soak_wall = mono() - t0;
    const double t_idle = mono();
    m = wait_idle(&s, pre + st.started, &gets, 5);
    const double idle_after = mono() - t_idle;
    const long rss_after = tu_server_rss_kib(&s);
    const int dropped = st.dropped_events + st.dropped_time + st.dropped_deadline;
    const double running = tu_metrics_value(m, "lutfuse_running_sequences");
    const double kv = tu_metrics_value(m, "lutfuse_kv_slots_used");
    const double queue = tu_metrics_value(m, "lutfuse_queue_depth");
    const double answered = tu_metrics_value(m, "lutfuse_requests_total");
    const double disconnects = tu_metrics_value(m, "lutfuse_client_disconnects_total");
    const double cancelled = tu_metrics_value(m, "lutfuse_requests_cancelled_total");
    printf("warm-up: %d requests: %d finished, dropped %d after events + %d at a time\n",
           warm.started, warm.finished, warm.dropped_events, warm.dropped_time);
    printf(
        "soak: %.1f s (asked %.1f), %d requests started: %d finished (%lld tokens), dropped "
        "%d after events + %d at a time + %d at the deadline (%d before headers), %d unexpected\n",
        soak_wall, soak_s, st.started, st.finished, st.tokens, st.dropped_events, st.dropped_time,
        st.dropped_deadline, st.dropped_headerless, st.unexpected);
    printf("soak: server counted %.0f disconnects, %.0f cancelled, %.0f requests answered; idle "
           "%.2f s after the soak\n",
           disconnects, cancelled, answered, idle_after);
    printf("soak: RSS %ld KiB after warm-up, %ld KiB after the soak (growth %+ld KiB, peak %ld "
           "KiB; bound %ld KiB)\n",
           rss_warm, rss_after, rss_after - rss_warm, st.rss_peak_kib, SOAK_RSS_BOUND_KIB);
    fflush(stdout);
    if (st.unexpected) fail_msg("%d unexpected outcomes, first: %s", st.unexpected, st.first_error);
    /* the soak ran for its time, not much longer (2 s covers the last drops) */
    assert_true(soak_wall >= soak_s && soak_wall <= soak_s + 3);
    assert_true(st.finished > 0 && st.dropped_events > 0 && st.dropped_time > 0);
    assert_int_equal(st.finished + dropped, st.started);
    /* idle again: no sequence, no KV slot, nothing queued */
    assert_true(running == 0);
    assert_true(kv == 0);
    assert_true(queue == 0);
    assert_true(tu_metrics_value(m, "lutfuse_kv_slots_total") == SOAK_SLOTS);
    /* every connection was answered and freed; a request dropped before its
     * headers may never have reached the server (expected: none) */
    if (!(answered <= pre + st.started + gets - 1 &&
          answered >= pre + st.started + gets - 1 - st.dropped_headerless))
        fail_msg("server answered %.0f requests, expected %d (+%d /metrics)", answered,
                 pre + st.started, gets - 1);
    assert_true(tu_metrics_value(m, "lutfuse_http_responses_total{class=\"4xx\"}") == 0);
    assert_true(tu_metrics_value(m, "lutfuse_http_responses_total{class=\"5xx\"}") == 0);
    assert_true(tu_metrics_value(m, "lutfuse_requests_rejected_total") == 0);
    /* the server saw the drops: only dropped requests can be cancelled */
    assert_true(disconnects > 0 &&
                disconnects <= dropped + warm.dropped_events + warm.dropped_time);
    assert_true(cancelled > 0 && cancelled <= dropped + warm.dropped_events + warm.dropped_time);
    free(m);
    /* no growth beyond the bound */
    assert_true(rss_after > 0);
    assert_true(rss_after - rss_warm <= SOAK_RSS_BOUND_KIB);

    /* still serving correctly */
    final_request(&s);
    m = wait_idle(&s, pre + st.started + 1, &gets, 5);
    assert_true(tu_metrics_value(m, "lutfuse_running_sequences") == 0);
    assert_true(tu_metrics_value(m, "lutfuse_kv_slots_used") == 0);
    assert_true(tu_metrics_value(m, "lutfuse_requests_total") == pre + st.started + gets);
    free(m);

    int code = tu_server_stop(&s, SIGTERM, 30);
    if (code != 0) fail_msg("server exit code %d; log:\n%s", code, s.log ? s.log : "");
    free(s.log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loadgen_vs_lutfuse),
        cmocka_unit_test(test_soak_with_disconnects),
    };
    return cmocka_run_group_tests_name("loadgen_lutfuse", tests, group_setup, group_teardown);
}
