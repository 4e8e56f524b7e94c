/* test_e2e_server.c - the real server on 127.0.0.1 with real HTTP clients
 * (libcurl and the curl command): streaming vs non-streaming, 32 concurrent
 * streams, a client killed mid-stream, bad input, graceful shutdown. */
#include "tests/testutil.h"
#include "tests/tu_server.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *g_tiny; /* a synthetic model slow enough to interrupt */

/* ---- HTTP helpers ---- */

struct body {
    char *data;
    size_t len;
    int chunks_seen;  /* "data:" events so far */
    int abort_after;  /* >0: drop the connection after this many events */
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    struct body *b = ud;
    size_t len = sz * n;
    char *nd = realloc(b->data, b->len + len + 1);
    if (!nd) return 0;
    memcpy(nd + b->len, p, len);
    b->len += len;
    nd[b->len] = 0;
    b->data = nd;
    b->chunks_seen = 0;
    for (const char *q = b->data; (q = strstr(q, "data: ")); q += 6) b->chunks_seen++;
    if (b->abort_after > 0 && b->chunks_seen >= b->abort_after) return 0; /* curl closes */
    return len;
}

/* method "GET"/"POST"/...; body may be NULL. Returns the HTTP status. */
static long http(const char *url, const char *method, const char *body, const char *auth,
                 struct body *out, char *retry_after)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    char ab[256];
    if (auth) {
        snprintf(ab, sizeof ab, "Authorization: Bearer %s", auth);
        hdr = curl_slist_append(hdr, ab);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (retry_after) {
        struct curl_header *h;
        retry_after[0] = 0;
        if (curl_easy_header(c, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
            snprintf(retry_after, 16, "%s", h->value);
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK && !(out->abort_after && rc == CURLE_WRITE_ERROR)) return -1;
    return status;
}

static char *url(const struct tu_server *s, const char *path)
{
    char *u = malloc(256);
    snprintf(u, 256, "%s%s", s->base, path);
    return u;
}

/* Text of a non-streamed response's first choice (malloc'd). */
static char *response_text(const char *body, json_int_t *completion_tokens)
{
    json_error_t je;
    json_t *j = json_loads(body, 0, &je);
    if (!j) fail_msg("bad JSON: %s", body);
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    json_t *t = json_object_get(ch, "text");
    if (!t) t = json_object_get(json_object_get(ch, "message"), "content");
    char *s = strdup(json_string_value(t));
    if (completion_tokens)
        *completion_tokens = json_integer_value(json_object_get(json_object_get(j, "usage"), "completion_tokens"));
    json_decref(j);
    return s;
}

/* Concatenated deltas of an SSE body; checks it ends with [DONE]. */
static char *stream_text(const char *body, json_int_t *completion_tokens, int *n_chunks)
{
    size_t cap = strlen(body) + 1, len = 0;
    char *text = calloc(1, cap);
    *n_chunks = 0;
    if (completion_tokens) *completion_tokens = -1;
    const char *p = body;
    while ((p = strstr(p, "data: "))) {
        p += 6;
        const char *end = strstr(p, "\n\n");
        if (!end) fail_msg("unterminated event: %s", p);
        if (!strncmp(p, "[DONE]", 6)) {
            assert_string_equal(end + 2, ""); /* [DONE] is last */
            return text;
        }
        json_error_t je;
        json_t *j = json_loadb(p, (size_t)(end - p), 0, &je);
        if (!j) fail_msg("bad chunk JSON: %.*s", (int)(end - p), p);
        json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
        json_t *t = json_object_get(ch, "text");
        if (!t) t = json_object_get(json_object_get(ch, "delta"), "content");
        json_t *fr = json_object_get(ch, "finish_reason");
        if (t && json_string_value(t) && json_is_null(fr)) {
            size_t l = strlen(json_string_value(t));
            memcpy(text + len, json_string_value(t), l);
            len += l;
            (*n_chunks)++;
        }
        json_t *u = json_object_get(j, "usage");
        if (u && json_is_object(u) && completion_tokens)
            *completion_tokens = json_integer_value(json_object_get(u, "completion_tokens"));
        json_decref(j);
        p = end + 2;
    }
    fail_msg("stream did not end with [DONE]");
    return NULL;
}

static double metric_value(const struct tu_server *s, const char *name)
{
    char *m = tu_server_metrics(s);
    assert_non_null(m);
    const double v = tu_metrics_value(m, name);
    free(m);
    return v;
}

/* ---- tests ---- */

static struct tu_server g_stories;

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char *m = tu_data_path("models/stories260K.gguf");
    char args[1024];
    snprintf(args, sizeof args, "-m %s --quiet --max-seqs 32 --ctx 512 --chat-template chatml", m);
    free(m);
    if (tu_server_start(&g_stories, args)) fail_msg("server did not start: %s", g_stories.log);
    g_tiny = tu_tmp_path("tiny.gguf");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s mkmodel --n-layer 8 --n-embd 512 --n-ff 1536 --seed 5 -o %s 2>/dev/null",
             tu_lutfuse_bin(), g_tiny);
    if (system(cmd) != 0) fail_msg("mkmodel failed");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int code = tu_server_stop(&g_stories, SIGTERM, 30);
    char *log = tu_server_log(&g_stories);
    if (code != 0) fprintf(stderr, "server log:\n%s\n", log);
    free(log);
    free(g_stories.log);
    free(g_tiny);
    curl_global_cleanup();
    return code == 0 ? 0 : -1;
}

static void test_stream_equals_non_stream(void **state)
{
    (void)state;
    char *u = url(&g_stories, "/v1/completions");
    const char *req = "{\"prompt\":\"Once upon a time\",\"max_tokens\":40,\"temperature\":0.9,"
                      "\"seed\":1234%s}";
    char body[512];
    snprintf(body, sizeof body, req, "");
    struct body a = {0}, b = {0};
    assert_int_equal(http(u, "POST", body, NULL, &a, NULL), 200);
    json_int_t na, nb;
    char *ta = response_text(a.data, &na);
    snprintf(body, sizeof body, req, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
    assert_int_equal(http(u, "POST", body, NULL, &b, NULL), 200);
    int chunks;
    char *tb = stream_text(b.data, &nb, &chunks);
    assert_string_equal(ta, tb);
    assert_int_equal(na, 40);
    assert_int_equal(nb, 40);
    assert_int_equal(chunks, 40); /* one token per chunk (no stop strings here) */
    assert_true(strlen(ta) > 40);
    free(ta), free(tb), free(a.data), free(b.data), free(u);
}

static void test_greedy_matches_reference_and_chat_streams(void **state)
{
    (void)state;
    char *u = url(&g_stories, "/v1/completions");
    struct body a = {0};
    assert_int_equal(http(u, "POST", "{\"prompt\":\"Once upon a time\",\"max_tokens\":12,\"temperature\":0}",
                          NULL, &a, NULL), 200);
    char *t = response_text(a.data, NULL);
    assert_string_equal(t, ", there was a little girl named Lily. She");
    free(t), free(a.data), free(u);
    /* chat: role chunk first, then content deltas, finish, [DONE] */
    u = url(&g_stories, "/v1/chat/completions");
    struct body c = {0};
    assert_int_equal(http(u, "POST", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                                     "\"max_tokens\":5,\"stream\":true}", NULL, &c, NULL), 200);
    assert_non_null(strstr(c.data, "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}"));
    assert_non_null(strstr(c.data, "\"finish_reason\":\"length\""));
    int chunks;
    char *ct = stream_text(c.data, NULL, &chunks);
    assert_int_equal(chunks, 6); /* the role chunk + 5 tokens */
    free(ct), free(c.data), free(u);
}

/* 32 concurrent streaming clients, each with its own prompt, each getting
 * exactly its solo greedy output. */
struct client {
    const struct tu_server *s;
    char body[256];
    char *want, *got;
};

static void *client_main(void *arg)
{
    struct client *c = arg;
    char *u = url(c->s, "/v1/completions");
    struct body b = {0};
    if (http(u, "POST", c->body, NULL, &b, NULL) == 200) {
        int n;
        c->got = stream_text(b.data, NULL, &n);
    }
    free(b.data);
    free(u);
    return NULL;
}

static void test_32_concurrent_streams(void **state)
{
    (void)state;
    static const char *starts[] = {"Once upon a time", "Lily and Tom were", "The cat sat on the",
                                   "One day, a little boy", "The sun", "A big dog", "Mom said",
                                   "They played"};
    struct client cl[32];
    pthread_t th[32];
    char *u = url(&g_stories, "/v1/completions");
    for (int i = 0; i < 32; i++) {
        cl[i].s = &g_stories;
        cl[i].got = NULL;
        char solo[256];
        snprintf(solo, sizeof solo, "{\"prompt\":\"%s\",\"max_tokens\":%d,\"temperature\":0}",
                 starts[i % 8], 10 + i);
        struct body b = {0};
        assert_int_equal(http(u, "POST", solo, NULL, &b, NULL), 200);
        cl[i].want = response_text(b.data, NULL);
        free(b.data);
        snprintf(cl[i].body, sizeof cl[i].body,
                 "{\"prompt\":\"%s\",\"max_tokens\":%d,\"temperature\":0,\"stream\":true}",
                 starts[i % 8], 10 + i);
    }
    for (int i = 0; i < 32; i++) pthread_create(&th[i], NULL, client_main, &cl[i]);
    for (int i = 0; i < 32; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 32; i++) {
        assert_non_null(cl[i].got);
        assert_string_equal(cl[i].got, cl[i].want);
        free(cl[i].got), free(cl[i].want);
    }
    free(u);
}

struct bg {
    const struct tu_server *s;
    const char *body;
    char *text;
    long status;
};

static void *bg_main(void *arg)
{
    struct bg *g = arg;
    char *u = url(g->s, "/v1/completions");
    struct body b = {0};
    g->status = http(u, "POST", g->body, NULL, &b, NULL);
    int n;
    if (g->status == 200 && b.data && strstr(b.data, "[DONE]")) g->text = stream_text(b.data, NULL, &n);
    free(b.data);
    free(u);
    return NULL;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A client killed mid-stream: slot free within a second, the cancellation in
 * /metrics, the other streams unaffected. */
static void test_client_killed_mid_stream(void **state)
{
    (void)state;
    struct tu_server s;
    char args[512];
    snprintf(args, sizeof args, "-m %s --quiet --max-seqs 4 --ctx 8192", g_tiny);
    if (tu_server_start(&s, args)) fail_msg("server: %s", s.log);
    const char *other = "{\"prompt\":\"abc\",\"max_tokens\":120,\"temperature\":0,\"stream\":true}";
    /* the solo output of the other stream */
    struct bg solo = {&s, other, NULL, 0};
    bg_main(&solo);
    assert_non_null(solo.text);
    struct bg others[2] = {{&s, other, NULL, 0}, {&s, other, NULL, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, bg_main, &others[i]);
    char *u = url(&s, "/v1/completions");
    struct body b = {0};
    b.abort_after = 3;
    http(u, "POST", "{\"prompt\":\"x\",\"max_tokens\":8000,\"ignore_eos\":true,\"stream\":true}", NULL, &b, NULL);
    const double t0 = mono();
    assert_true(b.chunks_seen >= 3);
    /* Its slot is free within a second: it was cancelled and evicted, and
     * at most the two other streams still hold slots. */
    double cancelled = 0, running = 3;
    while (mono() - t0 < 1.0) {
        cancelled = metric_value(&s, "lutfuse_requests_cancelled_total");
        running = metric_value(&s, "lutfuse_running_sequences");
        if (cancelled == 1 && running <= 2) break;
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    assert_true(cancelled == 1);
    assert_true(running <= 2);
    assert_true(mono() - t0 < 1.0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    assert_true(metric_value(&s, "lutfuse_running_sequences") == 0);
    assert_true(metric_value(&s, "lutfuse_client_disconnects_total") == 1);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(others[i].status, 200);
        assert_string_equal(others[i].text, solo.text);
        free(others[i].text);
    }
    free(solo.text), free(b.data), free(u);
    assert_int_equal(tu_server_stop(&s, SIGTERM, 30), 0);
    free(s.log);
}

struct bad_case {
    const char *method, *path, *body;
    long status;
    const char *needle; /* substring of the error message */
};

static void test_bad_input(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        {"POST", "/v1/completions", "{\"prompt\": \"hi\"", 400, "line 1"},
        {"POST", "/v1/completions", "[1,2]", 400, "object"},
        {"POST", "/v1/completions", "{\"prompt\":\"hi\",\"max_tokens\":-1}", 400, "max_tokens"},
        {"POST", "/v1/completions", "{\"prompt\":\"hi\",\"temperature\":1e9}", 400, "temperature"},
        {"POST", "/v1/completions", "{\"prompt\":\"hi\",\"top_p\":2}", 400, "top_p"},
        {"POST", "/v1/completions", "{\"prompt\":\"hi\",\"n\":1000000}", 400, "'n'"},
        {"POST", "/v1/completions", "{\"prompt\":\"hi\",\"max_tokens\":\"ten\"}", 400, "max_tokens"},
        {"POST", "/v1/completions", "{\"prompt\":[1,2,99999]}", 400, "99999"},
        {"POST", "/v1/completions", "{\"prompt\":\"\xff\xfe\"}", 400, "UTF-8"},
        {"POST", "/v1/completions", "{\"prompt\":[1,2,3],\"max_tokens\":600}", 400, "context"},
        {"POST", "/v1/chat/completions", "{\"messages\":[{\"content\":\"hi\"}]}", 400, "role"},
        {"GET", "/v1/completions", NULL, 405, "POST"},
        {"POST", "/health", "{}", 405, "GET"},
        {"GET", "/v1/nope", NULL, 404, "/v1/nope"},
    };
    char *good = url(&g_stories, "/v1/completions");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *u = url(&g_stories, cases[i].path);
        struct body b = {0};
        long st = http(u, cases[i].method, cases[i].body, NULL, &b, NULL);
        if (st != cases[i].status || !b.data || !strstr(b.data, cases[i].needle) ||
            !strstr(b.data, "\"error\":{\"message\":"))
            fail_msg("case %zu (%s %s): status %ld, body %s", i, cases[i].method, cases[i].path, st,
                     b.data ? b.data : "(none)");
        free(b.data), free(u);
        /* the server stays up and serves the next request correctly */
        struct body ok = {0};
        assert_int_equal(http(good, "POST", "{\"prompt\":\"Once upon a time\",\"max_tokens\":3,\"temperature\":0}",
                              NULL, &ok, NULL), 200);
        char *t = response_text(ok.data, NULL);
        assert_string_equal(t, ", there was");
        free(t), free(ok.data);
    }
    /* unknown fields are ignored */
    struct body b = {0};
    assert_int_equal(http(good, "POST", "{\"prompt\":\"Once\",\"max_tokens\":2,\"frobnicate\":{\"x\":[1]}}",
                          NULL, &b, NULL), 200);
    free(b.data), free(good);
}

/* The curl command line against a server with an API key, a body limit and
 * a queue of one: 401, 413, 503 + Retry-After. */
static void test_limits_auth_busy_with_curl(void **state)
{
    (void)state;
    struct tu_server s;
    char args[512], cmd[2048];
    snprintf(args, sizeof args, "-m %s --quiet --max-seqs 1 --max-queue 1 --max-body 4096 --api-key sekret --ctx 16384", g_tiny);
    if (tu_server_start(&s, args)) fail_msg("server: %s", s.log);
    char *out = tu_tmp_path("curl.out");
    struct {
        const char *extra;
        const char *want_code;
        const char *needle;
    } cases[] = {
        {"", "401", "API key"},
        {"-H 'Authorization: Bearer wrong'", "401", "invalid API key"},
        {"-H 'Authorization: Bearer sekret'", "200", "\"choices\""},
    };
    for (size_t i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd,
                 "curl -s -o %s -w '%%{http_code}' %s/v1/completions %s -d '{\"prompt\":\"a\",\"max_tokens\":2}' > %s.code",
                 out, s.base, cases[i].extra, out);
        assert_int_equal(system(cmd), 0);
        char codefile[512];
        snprintf(codefile, sizeof codefile, "%s.code", out);
        char *code = tu_read_file(codefile, NULL), *body = tu_read_file(out, NULL);
        if (strcmp(code, cases[i].want_code) || !strstr(body, cases[i].needle))
            fail_msg("curl case %zu: %s %s", i, code, body);
        free(code), free(body);
    }
    /* 413: a body over 4096 bytes */
    char *big = malloc(6000);
    memset(big, 'a', 5999);
    big[5999] = 0;
    char *bigbody = malloc(6100);
    snprintf(bigbody, 6100, "{\"prompt\":\"%s\"}", big);
    char *u = url(&s, "/v1/completions");
    struct body b = {0};
    assert_int_equal(http(u, "POST", bigbody, "sekret", &b, NULL), 413);
    assert_non_null(strstr(b.data, "4096"));
    free(b.data), free(big), free(bigbody);
    /* 503: one slot busy, one queued, the third is refused (the two long
     * requests go out together through libcurl's multi interface) */
    /* 16,000 tokens: seconds even for a fast engine, so both stay in */
    const char *lb = "{\"prompt\":\"x\",\"max_tokens\":16000,\"ignore_eos\":true}";
    CURLM *multi = curl_multi_init();
    CURL *e[2];
    struct body eb[2] = {{0}, {0}};
    struct curl_slist *hdr = curl_slist_append(NULL, "Authorization: Bearer sekret");
    for (int i = 0; i < 2; i++) {
        e[i] = curl_easy_init();
        curl_easy_setopt(e[i], CURLOPT_URL, u);
        curl_easy_setopt(e[i], CURLOPT_POSTFIELDS, lb);
        curl_easy_setopt(e[i], CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(e[i], CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(e[i], CURLOPT_WRITEDATA, &eb[i]);
        curl_multi_add_handle(multi, e[i]);
    }
    int running = 2;
    double t0 = mono();
    bool both_in = false;
    /* drive until both are in the server: one running, one queued */
    while (!both_in && mono() - t0 < 20) {
        curl_multi_perform(multi, &running);
        curl_multi_poll(multi, NULL, 0, 20, NULL);
        double r = metric_value(&s, "lutfuse_running_sequences"), q = metric_value(&s, "lutfuse_queue_depth");
        if (getenv("E2E_DEBUG")) fprintf(stderr, "running %g queue %g (curl running %d)\n", r, q, running);
        both_in = r == 1 && q == 1;
    }
    if (!both_in) {
        long st[2] = {0, 0};
        for (int i = 0; i < 2; i++) curl_easy_getinfo(e[i], CURLINFO_RESPONSE_CODE, &st[i]);
        fail_msg("the two long requests are not running + queued after %.1f s (curl running %d; "
                 "status %ld %.200s / %ld %.200s)",
                 mono() - t0, running, st[0], eb[0].data ? eb[0].data : "", st[1],
                 eb[1].data ? eb[1].data : "");
    }
    char ra[16];
    struct body b3 = {0};
    long st3 = http(u, "POST", lb, "sekret", &b3, ra);
    if (st3 != 503) fail_msg("third request: %ld %s", st3, b3.data);
    assert_string_equal(ra, "1");
    assert_non_null(strstr(b3.data, "queue"));
    free(b3.data);
    /* the two long requests are dropped by the client: the server cancels them */
    for (int i = 0; i < 2; i++) {
        curl_multi_remove_handle(multi, e[i]);
        curl_easy_cleanup(e[i]);
        free(eb[i].data);
    }
    curl_multi_cleanup(multi);
    curl_slist_free_all(hdr);
    free(u), free(out);
    assert_int_equal(tu_server_stop(&s, SIGTERM, 30), 0);
    free(s.log);
}

/* SIGTERM with streams in flight and --grace 0: the streams end (error event
 * + [DONE]), the server exits 0 (under ASan: with no leak). */
static void test_graceful_shutdown(void **state)
{
    (void)state;
    struct tu_server s;
    char args[512];
    snprintf(args, sizeof args, "-m %s --quiet --max-seqs 2 --ctx 8192 --grace 0", g_tiny);
    if (tu_server_start(&s, args)) fail_msg("server: %s", s.log);
    struct bg g[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        g[i] = (struct bg){&s, "{\"prompt\":\"x\",\"max_tokens\":8000,\"ignore_eos\":true,\"stream\":true}", NULL, 0};
        pthread_create(&th[i], NULL, bg_main, &g[i]);
    }
    struct timespec ts = {0, 500000000L};
    nanosleep(&ts, NULL);
    int code = tu_server_stop(&s, SIGTERM, 30);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        free(g[i].text);
    }
    char *log = tu_server_log(&s);
    if (code != 0) fail_msg("exit code %d; log:\n%s", code, log);
    assert_non_null(strstr(log, "lutfuse: stopped"));
    free(log);
    free(s.log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_equals_non_stream),
        cmocka_unit_test(test_greedy_matches_reference_and_chat_streams),
        cmocka_unit_test(test_32_concurrent_streams),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_client_killed_mid_stream),
        cmocka_unit_test(test_limits_auth_busy_with_curl),
        cmocka_unit_test(test_graceful_shutdown),
    };
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests_name("e2e_server", tests, setup, teardown);
}
