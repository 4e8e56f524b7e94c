/* test_loadgen_e2e.c - lg_run against a deliberately misbehaving local server.
 *
 * The server (plain sockets + one pthread per connection on 127.0.0.1, an
 * ephemeral port) picks its behaviour from the word "mode:X" in the prompt,
 * so a JSONL dataset decides what each request meets:
 *   good       SSE over chunked encoding with CRLF line ends, a comment
 *              first, 60 ms to the first token, then a chunk every 15 ms,
 *              every event split over two HTTP chunks; usage chunk; [DONE]
 *   twotok     half as many chunks of two tokens each; usage says the total
 *   nousage    LF line ends, no usage chunk (tokens must be counted)
 *   slow       never answers (longer than --timeout)
 *   drop       chunked, three chunks, then the socket is closed mid-body
 *   dropclose  "Connection: close" body, three chunks, clean close, no [DONE]
 *   503 / 500  an OpenAI-style error body (503 with Retry-After: 2)
 *   malformed  one chunk, then SSE data that is not JSON
 *   errorevent one chunk, then {"error": {...}} in the stream
 *   empty      200 with only "data: [DONE]"
 *   chatgood   chat chunks: a role-only delta at once, content after 150 ms
 * Each failure must be counted under its cause, the good requests counted
 * complete with exact token counts, and the run must still report.
 */
#include "tests/testutil.h"
#include "loadgen/client.h"
#include "loadgen/loadgen.h"
#include "loadgen/report.h"
#include "loadgen/stats.h"
#include "loadgen/workload.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- the fake server ---- */

#define MAX_CONNS 256

struct fake {
    int listen_fd;
    int port;
    pthread_t accept_thread;
    pthread_mutex_t mu;
    int stop; /* under mu */
    pthread_t conns[MAX_CONNS];
    int n_conns;
    int n_posts, n_bad_bodies; /* under mu */
    int models_status;         /* status of GET /v1/models */
    int expect_ignore_eos;
};

struct conn {
    struct fake *srv;
    int fd;
};

static int fake_stopping(struct fake *s)
{
    pthread_mutex_lock(&s->mu);
    int v = s->stop;
    pthread_mutex_unlock(&s->mu);
    return v;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int send_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_str(int fd, const char *s)
{
    return send_all(fd, s, strlen(s));
}

/* Wait until fd is readable or ms pass; -1 when the server is stopping. */
static int wait_readable(struct fake *s, int fd, int ms)
{
    while (ms > 0) {
        if (fake_stopping(s)) return -1;
        struct pollfd p = {fd, POLLIN, 0};
        int step = ms < 50 ? ms : 50;
        int r = poll(&p, 1, step);
        if (r > 0) return 1;
        ms -= step;
    }
    return 0;
}

/* One HTTP chunk of the body. */
static int send_chunk(int fd, const char *data, size_t len)
{
    char head[32];
    snprintf(head, sizeof head, "%zx\r\n", len);
    if (send_str(fd, head) || send_all(fd, data, len) || send_str(fd, "\r\n")) return -1;
    return 0;
}

/* An SSE event sent as two HTTP chunks split at byte 7, 1 ms apart, so the
 * client sees it in pieces. */
static int send_event_split(int fd, const char *ev)
{
    size_t len = strlen(ev), cut = len > 7 ? 7 : len;
    if (send_chunk(fd, ev, cut)) return -1;
    sleep_ms(1);
    return send_chunk(fd, ev + cut, len - cut);
}

static const char k_sse_head_chunked[] = "HTTP/1.1 200 OK\r\n"
                                         "Content-Type: text/event-stream\r\n"
                                         "Cache-Control: no-cache\r\n"
                                         "Transfer-Encoding: chunked\r\n\r\n";

static void completion_event(char *buf, size_t n, const char *text, int last, const char *eol)
{
    snprintf(buf, n,
             "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,"
             "\"text\":\"%s\",\"finish_reason\":%s}]}%s%s",
             text, last ? "\"length\"" : "null", eol, eol);
}

static void usage_event(char *buf, size_t n, int prompt, int completion, const char *eol)
{
    snprintf(buf, n,
             "data: {\"id\":\"cmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":%d,"
             "\"completion_tokens\":%d,\"total_tokens\":%d}}%s%s",
             prompt, completion, prompt + completion, eol, eol);
}

static const char k_error_json[] =
    "{\"error\":{\"message\":\"queue full\",\"type\":\"server_busy\",\"param\":null,\"code\":503}}";

/* Serve one POST; returns 0 to keep the connection, -1 to close it. */
static int serve_post(struct fake *s, int fd, const char *path, const char *body)
{
    char mode[32] = "";
    const char *m = strstr(body, "mode:");
    if (m) sscanf(m + 5, "%31[a-z0-9]", mode);
    const char *mt = strstr(body, "\"max_tokens\":");
    int n = mt ? atoi(mt + 13) : 0;
    int chat = strstr(path, "chat") != NULL;
    int ok = strstr(body, "\"stream\":true") && strstr(body, "\"include_usage\":true") &&
             strstr(body, "\"model\":\"fake-model\"") &&
             (chat ? strstr(body, "\"messages\":[{\"role\":\"user\"") != NULL
                   : strstr(body, "\"prompt\":\"mode:") != NULL) &&
             (!s->expect_ignore_eos || strstr(body, "\"ignore_eos\":true")) && n > 0;
    pthread_mutex_lock(&s->mu);
    s->n_posts++;
    s->n_bad_bodies += !ok;
    pthread_mutex_unlock(&s->mu);

    char ev[512];
    if (!strcmp(mode, "good")) {
        if (send_str(fd, k_sse_head_chunked) || send_chunk(fd, ": ping\r\n\r\n", 10)) return -1;
        sleep_ms(60);
        for (int k = 0; k < n; k++) {
            completion_event(ev, sizeof ev, " w", k == n - 1, "\r\n");
            if (send_event_split(fd, ev)) return -1;
            if (k < n - 1) sleep_ms(15);
        }
        usage_event(ev, sizeof ev, 42, n, "\r\n");
        if (send_event_split(fd, ev) || send_event_split(fd, "data: [DONE]\r\n\r\n")) return -1;
        return send_str(fd, "0\r\n\r\n");
    }
    if (!strcmp(mode, "twotok") || !strcmp(mode, "nousage")) {
        int two = !strcmp(mode, "twotok");
        int chunks = two ? n / 2 : n;
        if (send_str(fd, k_sse_head_chunked)) return -1;
        for (int k = 0; k < chunks; k++) {
            sleep_ms(10);
            completion_event(ev, sizeof ev, two ? "ab" : "a", k == chunks - 1, "\n");
            if (send_chunk(fd, ev, strlen(ev))) return -1;
        }
        if (two) {
            usage_event(ev, sizeof ev, 42, n, "\n");
            if (send_chunk(fd, ev, strlen(ev))) return -1;
        }
        if (send_chunk(fd, "data: [DONE]\n\n", 14)) return -1;
        return send_str(fd, "0\r\n\r\n");
    }
    if (!strcmp(mode, "chatgood")) {
        if (send_str(fd, k_sse_head_chunked)) return -1;
        const char *role = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                           "\"content\":\"\"},\"finish_reason\":null}]}\n\n";
        if (send_chunk(fd, role, strlen(role))) return -1;
        sleep_ms(150);
        for (int k = 0; k < n; k++) {
            snprintf(ev, sizeof ev,
                     "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},"
                     "\"finish_reason\":%s}]}\n\n",
                     k == n - 1 ? "\"stop\"" : "null");
            if (send_chunk(fd, ev, strlen(ev))) return -1;
            sleep_ms(5);
        }
        usage_event(ev, sizeof ev, 17, n, "\n");
        if (send_chunk(fd, ev, strlen(ev)) || send_chunk(fd, "data: [DONE]\n\n", 14)) return -1;
        return send_str(fd, "0\r\n\r\n");
    }
    if (!strcmp(mode, "slow")) {
        /* Say nothing for 3 s, or until the client gives up and closes. */
        wait_readable(s, fd, 3000);
        return -1;
    }
    if (!strcmp(mode, "drop") || !strcmp(mode, "dropclose")) {
        int chunked = !strcmp(mode, "drop");
        if (send_str(fd, chunked ? k_sse_head_chunked
                                 : "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                   "Connection: close\r\n\r\n"))
            return -1;
        for (int k = 0; k < 3; k++) {
            completion_event(ev, sizeof ev, "a", 0, "\n");
            if (chunked ? send_chunk(fd, ev, strlen(ev)) : send_str(fd, ev)) return -1;
            sleep_ms(10);
        }
        return -1; /* close with the body unfinished */
    }
    if (!strcmp(mode, "503") || !strcmp(mode, "500")) {
        int busy = !strcmp(mode, "503");
        char head[256];
        snprintf(head, sizeof head,
                 "HTTP/1.1 %s\r\n%sContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                 busy ? "503 Service Unavailable" : "500 Internal Server Error",
                 busy ? "Retry-After: 2\r\n" : "", strlen(k_error_json));
        if (send_str(fd, head) || send_str(fd, k_error_json)) return -1;
        return 0;
    }
    if (!strcmp(mode, "malformed") || !strcmp(mode, "errorevent")) {
        if (send_str(fd, k_sse_head_chunked)) return -1;
        completion_event(ev, sizeof ev, "a", 0, "\n");
        if (send_chunk(fd, ev, strlen(ev))) return -1;
        sleep_ms(10);
        const char *bad = !strcmp(mode, "malformed")
                              ? "data: {\"choices\":[{\"text\": oops}]}\n\n"
                              : "data: {\"error\":{\"message\":\"out of memory\","
                                "\"type\":\"server_error\"}}\n\n";
        send_chunk(fd, bad, strlen(bad));
        send_chunk(fd, "data: [DONE]\n\n", 14);
        send_str(fd, "0\r\n\r\n");
        return -1;
    }
    if (!strcmp(mode, "empty")) {
        if (send_str(fd, k_sse_head_chunked) || send_chunk(fd, "data: [DONE]\n\n", 14)) return -1;
        return send_str(fd, "0\r\n\r\n");
    }
    send_str(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    return 0;
}

static int serve_get(struct fake *s, int fd, const char *path)
{
    const char *list =
        "{\"object\":\"list\",\"data\":[{\"id\":\"fake-model\",\"object\":\"model\"}]}";
    char head[160];
    if (!strcmp(path, "/v1/models") && s->models_status == 200) {
        snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                 strlen(list));
        return send_str(fd, head) || send_str(fd, list) ? -1 : 0;
    }
    return send_str(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n") ? -1 : 0;
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    struct fake *s = c->srv;
    int fd = c->fd;
    free(c);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    static const size_t cap = 1 << 16;
    char *buf = malloc(cap + 1);
    size_t len = 0;
    while (buf) {
        /* Read the header block, then Content-Length bytes of body. */
        char *end;
        while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
            if (len == cap || wait_readable(s, fd, 10000) <= 0) goto out;
            ssize_t n = recv(fd, buf + len, cap - len, 0);
            if (n <= 0) goto out;
            len += (size_t)n;
        }
        size_t head_len = (size_t)(end + 4 - buf), body_len = 0;
        buf[head_len - 1] = 0;
        const char *cl = strcasestr(buf, "content-length:");
        if (cl) body_len = strtoul(cl + 15, NULL, 10);
        if (head_len + body_len > cap) goto out;
        while (len < head_len + body_len) {
            if (wait_readable(s, fd, 10000) <= 0) goto out;
            ssize_t n = recv(fd, buf + len, cap - len, 0);
            if (n <= 0) goto out;
            len += (size_t)n;
        }
        char method[8] = "", path[128] = "";
        sscanf(buf, "%7s %127s", method, path);
        char saved = buf[head_len + body_len];
        buf[head_len + body_len] = 0;
        int rc = !strcmp(method, "POST") ? serve_post(s, fd, path, buf + head_len)
                                         : serve_get(s, fd, path);
        buf[head_len + body_len] = saved;
        if (rc) goto out;
        memmove(buf, buf + head_len + body_len, len - head_len - body_len);
        len -= head_len + body_len;
    }
out:
    free(buf);
    close(fd);
    return NULL;
}

static void *accept_main(void *arg)
{
    struct fake *s = arg;
    while (!fake_stopping(s)) {
        struct pollfd p = {s->listen_fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) continue;
        struct conn *c = malloc(sizeof *c);
        pthread_mutex_lock(&s->mu);
        int room = s->n_conns < MAX_CONNS;
        pthread_mutex_unlock(&s->mu);
        if (!c || !room) {
            free(c);
            close(fd);
            continue;
        }
        c->srv = s;
        c->fd = fd;
        pthread_t t;
        if (pthread_create(&t, NULL, conn_main, c) != 0) {
            free(c);
            close(fd);
            continue;
        }
        pthread_mutex_lock(&s->mu);
        s->conns[s->n_conns++] = t;
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

static struct fake *fake_start(void)
{
    struct fake *s = calloc(1, sizeof *s);
    assert_non_null(s);
    pthread_mutex_init(&s->mu, NULL);
    s->models_status = 200;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->listen_fd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0; /* ephemeral */
    assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->listen_fd, 64), 0);
    socklen_t alen = sizeof a;
    assert_int_equal(getsockname(s->listen_fd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->accept_thread, NULL, accept_main, s), 0);
    return s;
}

static void fake_stop(struct fake *s)
{
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->accept_thread, NULL);
    for (int i = 0; i < s->n_conns; i++)
        pthread_join(s->conns[i], NULL);
    close(s->listen_fd);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- helpers ---- */

static char *write_dataset(const char *name, const char *const *lines, int n)
{
    char *path = tu_tmp_path(name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s\n", lines[i]);
    fclose(f);
    return path;
}

static void base_config(struct lg_config *cfg, char *url, size_t url_len, int port)
{
    lg_config_defaults(cfg);
    snprintf(url, url_len, "http://127.0.0.1:%d", port);
    cfg->base_url = url;
    cfg->progress = 0;
}

/* Largest number of requests in flight at once, over [start, end). */
static int peak_in_flight(const struct lg_result *res)
{
    int peak = 0;
    for (size_t i = 0; i < res->n_requests; i++) {
        double t = res->requests[i].start_s;
        int k = 0;
        for (size_t j = 0; j < res->n_requests; j++)
            if (res->requests[j].start_s <= t && t < res->requests[j].end_s) k++;
        if (k > peak) peak = k;
    }
    return peak;
}

static const char *const k_mixed[] = {
    "{\"prompt\": \"mode:good alpha beta\", \"output_len\": 8}",
    "{\"prompt\": \"mode:slow alpha\", \"output_len\": 4}",
    "{\"prompt\": \"mode:good alpha beta\", \"output_len\": 8}",
    "{\"prompt\": \"mode:drop alpha\", \"output_len\": 4}",
    "{\"prompt\": \"mode:twotok alpha\", \"output_len\": 8}",
    "{\"prompt\": \"mode:503 alpha\", \"output_len\": 4}",
    "{\"prompt\": \"mode:good alpha beta\", \"output_len\": 8}",
    "{\"prompt\": \"mode:malformed alpha\", \"output_len\": 4}",
    "{\"prompt\": \"mode:nousage alpha beta\", \"output_len\": 6}",
    "{\"prompt\": \"mode:dropclose alpha\", \"output_len\": 4}",
    "{\"prompt\": \"mode:good alpha beta\", \"output_len\": 8}",
    "{\"prompt\": \"mode:errorevent alpha\", \"output_len\": 4}",
    "{\"prompt\": \"mode:twotok alpha\", \"output_len\": 8}",
    "{\"prompt\": \"mode:500 alpha\", \"output_len\": 4}",
    "{\"prompt\": \"mode:nousage alpha beta\", \"output_len\": 6}",
    "{\"prompt\": \"mode:empty alpha\", \"output_len\": 4}",
};

static const enum lg_fail k_mixed_cause[] = {
    LG_FAIL_NONE, LG_FAIL_TIMEOUT, LG_FAIL_NONE, LG_FAIL_DROPPED,
    LG_FAIL_NONE, LG_FAIL_HTTP,    LG_FAIL_NONE, LG_FAIL_MALFORMED,
    LG_FAIL_NONE, LG_FAIL_DROPPED, LG_FAIL_NONE, LG_FAIL_SERVER_ERROR,
    LG_FAIL_NONE, LG_FAIL_HTTP,    LG_FAIL_NONE, LG_FAIL_EMPTY,
};

static void check_json_report(const char *path)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_integer_value(json_object_get(root, "completed")), 8);
    assert_int_equal(json_integer_value(json_object_get(root, "failed")), 8);
    assert_int_equal(json_integer_value(json_object_get(root, "total_input_tokens")), 258);
    assert_int_equal(json_integer_value(json_object_get(root, "total_output_tokens")), 60);
    assert_int_equal(json_integer_value(json_object_get(root, "max_concurrency")), 6);
    assert_string_equal(json_string_value(json_object_get(root, "request_rate")), "inf");
    assert_string_equal(json_string_value(json_object_get(root, "model_id")), "fake-model");
    assert_true(json_is_real(json_object_get(root, "request_goodput")));
    assert_true(json_is_real(json_object_get(root, "duration")));
    static const char *const fields[] = {"request_throughput", "output_throughput",
                                         "total_token_throughput", "max_output_tokens_per_s",
                                         "burstiness"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        assert_true(json_is_number(json_object_get(root, fields[i])));
    static const char *const metrics[] = {"ttft", "tpot", "itl", "e2el"};
    static const char *const stats[] = {"mean", "median", "std", "p90", "p99"};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 5; j++) {
            char key[32];
            snprintf(key, sizeof key, "%s_%s_ms", stats[j], metrics[i]);
            assert_true(json_is_real(json_object_get(root, key)));
        }
    json_t *fails = json_object_get(root, "failures");
    assert_int_equal(json_integer_value(json_object_get(fails, "timeout")), 1);
    assert_int_equal(json_integer_value(json_object_get(fails, "dropped")), 2);
    assert_int_equal(json_integer_value(json_object_get(fails, "http")), 2);
    assert_int_equal(json_integer_value(json_object_get(fails, "http_503")), 1);
    assert_int_equal(json_integer_value(json_object_get(fails, "http_500")), 1);
    assert_int_equal(json_integer_value(json_object_get(fails, "malformed")), 1);
    assert_int_equal(json_integer_value(json_object_get(fails, "server_error")), 1);
    assert_int_equal(json_integer_value(json_object_get(fails, "empty")), 1);
    assert_int_equal(json_integer_value(json_object_get(fails, "connect")), 0);
    json_t *outl = json_object_get(root, "output_lens");
    assert_int_equal(json_array_size(outl), 16);
    assert_int_equal(json_integer_value(json_array_get(outl, 0)), 8);
    assert_int_equal(json_integer_value(json_array_get(outl, 1)), 0);
    assert_int_equal(json_array_size(json_array_get(json_object_get(root, "itls"), 0)), 7);
    json_t *errs = json_object_get(root, "errors");
    assert_string_equal(json_string_value(json_array_get(errs, 0)), "");
    assert_non_null(strstr(json_string_value(json_array_get(errs, 5)), "503"));
    assert_int_equal(json_real_value(json_object_get(json_object_get(root, "goodput"), "ttft")),
                     1000);
    json_t *settings = json_object_get(root, "settings");
    assert_true(json_is_true(json_object_get(settings, "ignore_eos")));
    json_decref(root);
}

/* ---- tests ---- */

static void test_misbehaving_server_failures_by_cause(void **state)
{
    (void)state;
    struct fake *srv = fake_start();
    srv->expect_ignore_eos = 1;
    char *dataset = write_dataset("mixed.jsonl", k_mixed, 16);
    char url[64];
    struct lg_config cfg;
    base_config(&cfg, url, sizeof url, srv->port);
    cfg.dataset = dataset;
    cfg.max_concurrency = 6;
    cfg.timeout_s = 0.4;
    cfg.ignore_eos = 1;
    cfg.goodput.ttft_ms = 1000;
    struct lg_result res;
    char err[LG_ERRMSG_LEN] = "";
    double t0 = lg_now();
    int rc = lg_run(&cfg, &res, err, sizeof err);
    double wall = lg_now() - t0;
    if (rc) fprintf(stderr, "lg_run: %s\n", err);
    assert_int_equal(rc, 0);
    assert_true(wall < 5.0);
    assert_string_equal(res.model, "fake-model"); /* from GET /v1/models */
    assert_int_equal(res.n_requests, 16);

    const struct lg_metrics *m = &res.metrics;
    assert_int_equal(m->completed, 8);
    assert_int_equal(m->failed, 8);
    assert_int_equal(m->fail_count[LG_FAIL_TIMEOUT], 1);
    assert_int_equal(m->fail_count[LG_FAIL_DROPPED], 2);
    assert_int_equal(m->fail_count[LG_FAIL_HTTP], 2);
    assert_int_equal(m->http_count[503], 1);
    assert_int_equal(m->http_count[500], 1);
    assert_int_equal(m->fail_count[LG_FAIL_MALFORMED], 1);
    assert_int_equal(m->fail_count[LG_FAIL_SERVER_ERROR], 1);
    assert_int_equal(m->fail_count[LG_FAIL_EMPTY], 1);
    assert_int_equal(m->fail_count[LG_FAIL_CONNECT], 0);
    assert_int_equal(m->fail_count[LG_FAIL_OTHER], 0);

    double tpot_sum = 0;
    for (int i = 0; i < 16; i++) {
        const struct lg_request *r = &res.requests[i];
        assert_int_equal(r->index, i);
        if (r->cause != k_mixed_cause[i]) fprintf(stderr, "#%d: %s\n", i, r->error);
        assert_int_equal(r->cause, k_mixed_cause[i]);
        assert_true(r->start_s >= 0 && r->end_s >= r->start_s);
        if (r->cause != LG_FAIL_NONE) {
            assert_non_null(r->error);
            continue;
        }
        assert_null(r->error);
        assert_int_equal(r->http_status, 200);
        assert_true(r->ttft_s > 0 && r->ttft_s <= r->latency_s);
        /* The server paces content chunks 10-15 ms apart. One gap can be
         * ~0 when a loaded client reads two events in one go (seen under
         * ASan with the machine busy), so each gap is only >= 0 and their
         * mean, which such coalescing leaves nearly unchanged, > 2 ms. */
        double gaps = 0;
        for (size_t j = 0; j < r->n_itl; j++) {
            assert_true(r->itl_s[j] >= 0);
            gaps += r->itl_s[j];
        }
        if (r->n_itl > 0) assert_true(gaps / (double)r->n_itl > 0.002);
        /* E2EL is the last chunk: TTFT plus every gap */
        assert_float_equal(r->ttft_s + gaps, r->latency_s, 1e-9);
        tpot_sum += lg_request_tpot(r);
        const char *mode = strstr(k_mixed[i], "mode:") + 5;
        if (!strncmp(mode, "good", 4)) {
            assert_int_equal(r->output_tokens, 8);
            assert_int_equal(r->usage_reported, 1);
            assert_int_equal(r->chunks, 8);
            assert_int_equal(r->n_itl, 7);
            assert_int_equal(r->prompt_len, 42);
            assert_true(r->ttft_s >= 0.055);               /* the server waits 60 ms */
            assert_true(r->latency_s - r->ttft_s >= 0.09); /* 7 gaps of >= 15 ms */
        } else if (!strncmp(mode, "twotok", 6)) {
            assert_int_equal(r->output_tokens, 8); /* from usage, not the 4 chunks */
            assert_int_equal(r->chunks, 4);
            assert_int_equal(r->n_itl, 3);
            assert_int_equal(r->prompt_len, 42);
        } else {
            assert_int_equal(r->output_tokens, 6); /* counted: no usage */
            assert_int_equal(r->usage_reported, 0);
            assert_int_equal(r->chunks, 6);
            assert_int_equal(r->prompt_len, 3); /* planned: three words */
        }
    }
    assert_int_equal(m->total_input_tokens, 4 * 42 + 2 * 42 + 2 * 3);
    assert_int_equal(m->total_output_tokens, 4 * 8 + 2 * 8 + 2 * 6);
    assert_int_equal(m->itl.n, 4 * 7 + 2 * 3 + 2 * 5);
    assert_int_equal(m->tpot.n, 8);
    assert_float_equal(m->tpot.mean, tpot_sum / 8 * 1000.0, 1e-6);
    assert_true(m->has_goodput);
    assert_int_equal(m->good_completed, 8);
    assert_true(m->max_concurrent_requests >= 1 && m->max_concurrent_requests <= 6);
    assert_true(peak_in_flight(&res) <= 6);
    assert_true(m->max_output_tokens_per_s >= 44); /* every chunk fell within ~1 s */

    const struct lg_request *slow = &res.requests[1];
    assert_true(slow->end_s - slow->start_s >= 0.4);
    assert_true(slow->end_s - slow->start_s < 2.0);
    assert_non_null(strstr(res.requests[5].error, "HTTP 503"));
    assert_non_null(strstr(res.requests[5].error, "Retry-After: 2"));
    assert_non_null(strstr(res.requests[5].error, "queue full"));
    assert_int_equal(res.requests[5].http_status, 503);
    assert_non_null(strstr(res.requests[11].error, "out of memory"));

    pthread_mutex_lock(&srv->mu);
    assert_int_equal(srv->n_posts, 16);
    assert_int_equal(srv->n_bad_bodies, 0);
    pthread_mutex_unlock(&srv->mu);

    /* The run still reports: table, JSON, CSV. */
    char *table = NULL;
    size_t table_len = 0;
    FILE *mem = open_memstream(&table, &table_len);
    lg_report_print(mem, &cfg, &res);
    fclose(mem);
    assert_non_null(strstr(table, "Successful requests:                     8\n"));
    assert_non_null(strstr(table, "Failed requests:                         8\n"));
    assert_non_null(strstr(table, "HTTP 503:"));
    assert_non_null(strstr(table, "timeout:                                 1\n"));
    assert_non_null(strstr(table, "P99 TTFT (ms):"));
    free(table);

    char *json = tu_tmp_path("mixed.json");
    assert_int_equal(lg_report_json(json, &cfg, &res, 1, 0, err, sizeof err), 0);
    check_json_report(json);
    char *csv = tu_tmp_path("mixed.csv");
    assert_int_equal(lg_report_csv(csv, &res, 1, err, sizeof err), 0);
    size_t csv_len;
    char *text = tu_read_file(csv, &csv_len);
    assert_non_null(text);
    int lines = 0;
    for (size_t i = 0; i < csv_len; i++)
        lines += text[i] == '\n';
    assert_int_equal(lines, 17);
    assert_non_null(strstr(text, "\n6,1,failed,timeout,"));
    assert_non_null(strstr(text, "\n6,0,ok,ok,200,"));
    free(text);
    free(csv);
    free(json);
    lg_result_free(&res);
    free(dataset);
    fake_stop(srv);
}

static void test_chat_counts_role_chunk_as_first(void **state)
{
    (void)state;
    struct fake *srv = fake_start();
    static const char *const lines[] = {"{\"prompt\": \"mode:chatgood a\", \"output_len\": 5}"};
    char *dataset = write_dataset("chat.jsonl", lines, 1);
    char url[64];
    struct lg_config cfg;
    base_config(&cfg, url, sizeof url, srv->port);
    cfg.endpoint = LG_ENDPOINT_CHAT;
    cfg.model = "fake-model";
    cfg.dataset = dataset;
    cfg.num_prompts = 3;
    struct lg_result res;
    char err[LG_ERRMSG_LEN] = "";
    assert_int_equal(lg_run(&cfg, &res, err, sizeof err), 0);
    assert_int_equal(res.metrics.completed, 3);
    for (int i = 0; i < 3; i++) {
        const struct lg_request *r = &res.requests[i];
        /* vLLM: the first chunk with choices, here the role-only delta, ends
         * TTFT; the 150 ms wait shows up as the first ITL. */
        assert_int_equal(r->chunks, 6);
        assert_int_equal(r->text_chunks, 5);
        assert_int_equal(r->output_tokens, 5);
        assert_int_equal(r->prompt_len, 17);
        assert_int_equal(r->n_itl, 5);
        assert_true(r->ttft_s < 0.14);
        assert_true(r->itl_s[0] >= 0.14);
    }
    pthread_mutex_lock(&srv->mu);
    assert_int_equal(srv->n_bad_bodies, 0);
    pthread_mutex_unlock(&srv->mu);
    lg_result_free(&res);
    free(dataset);
    fake_stop(srv);
}

static void test_paced_arrivals_follow_the_schedule(void **state)
{
    (void)state;
    struct fake *srv = fake_start();
    static const char *const lines[] = {"{\"prompt\": \"mode:nousage a\", \"output_len\": 2}"};
    char *dataset = write_dataset("paced.jsonl", lines, 1);
    char url[64];
    struct lg_config cfg;
    base_config(&cfg, url, sizeof url, srv->port);
    cfg.model = "fake-model";
    cfg.dataset = dataset;
    cfg.num_prompts = 8;
    cfg.request_rate = 20;
    cfg.seed = 5;
    struct lg_result res;
    char err[LG_ERRMSG_LEN] = "";
    assert_int_equal(lg_run(&cfg, &res, err, sizeof err), 0);
    assert_int_equal(res.metrics.completed, 8);
    double want[8];
    assert_int_equal(lg_arrival_times(20, 1, 5, 8, want), 0);
    for (int i = 0; i < 8; i++) {
        const struct lg_request *r = &res.requests[i];
        assert_float_equal(r->arrival_s, want[i], 0);
        assert_true(r->start_s >= r->arrival_s);
        assert_true(r->start_s - r->arrival_s < 0.25);
    }
    assert_float_equal(want[7], 0.4, 1e-12);
    assert_true(res.metrics.duration_s >= 0.4);
    lg_result_free(&res);
    free(dataset);
    fake_stop(srv);
}

static void test_connect_errors_and_no_models(void **state)
{
    (void)state;
    /* A port nobody listens on: bind one, note it, close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t alen = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &alen);
    close(fd);
    char url[64];
    struct lg_config cfg;
    base_config(&cfg, url, sizeof url, ntohs(a.sin_port));
    cfg.model = "m";
    cfg.num_prompts = 3;
    cfg.input_len = 4;
    cfg.output_len = 4;
    cfg.timeout_s = 2;
    struct lg_result res;
    char err[LG_ERRMSG_LEN] = "";
    assert_int_equal(lg_run(&cfg, &res, err, sizeof err), 0);
    assert_int_equal(res.metrics.completed, 0);
    assert_int_equal(res.metrics.failed, 3);
    assert_int_equal(res.metrics.fail_count[LG_FAIL_CONNECT], 3);
    assert_non_null(strstr(res.requests[0].error, "connect"));
    assert_float_equal(res.metrics.output_throughput, 0.0, 0);
    lg_result_free(&res);

    /* No --model and /v1/models answers 404: the run cannot start. */
    struct fake *srv = fake_start();
    srv->models_status = 404;
    base_config(&cfg, url, sizeof url, srv->port);
    cfg.num_prompts = 1;
    assert_int_equal(lg_run(&cfg, &res, err, sizeof err), LG_ERR_NET);
    assert_non_null(strstr(err, "/v1/models"));
    assert_non_null(strstr(err, "404"));
    assert_null(res.requests);
    fake_stop(srv);
}

struct stopper {
    volatile sig_atomic_t flag;
};

static void *stop_later(void *arg)
{
    struct stopper *s = arg;
    sleep_ms(200);
    s->flag = 1;
    return NULL;
}

static void test_stop_flag_cancels_and_reports(void **state)
{
    (void)state;
    struct fake *srv = fake_start();
    static const char *const lines[] = {"{\"prompt\": \"mode:slow a\", \"output_len\": 2}"};
    char *dataset = write_dataset("stop.jsonl", lines, 1);
    char url[64];
    struct lg_config cfg;
    base_config(&cfg, url, sizeof url, srv->port);
    cfg.model = "fake-model";
    cfg.dataset = dataset;
    cfg.num_prompts = 4;
    cfg.max_concurrency = 2;
    cfg.timeout_s = 10;
    struct stopper st = {0};
    cfg.stop = &st.flag;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stop_later, &st), 0);
    struct lg_result res;
    char err[LG_ERRMSG_LEN] = "";
    double t0 = lg_now();
    assert_int_equal(lg_run(&cfg, &res, err, sizeof err), 0);
    assert_true(lg_now() - t0 < 2.0);
    pthread_join(t, NULL);
    assert_int_equal(res.n_requests, 4);
    assert_int_equal(res.metrics.fail_count[LG_FAIL_CANCELLED], 4);
    assert_non_null(strstr(res.requests[0].error, "in flight"));
    assert_non_null(strstr(res.requests[3].error, "before it was sent"));
    lg_result_free(&res);
    free(dataset);
    fake_stop(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_misbehaving_server_failures_by_cause),
        cmocka_unit_test(test_chat_counts_role_chunk_as_first),
        cmocka_unit_test(test_paced_arrivals_follow_the_schedule),
        cmocka_unit_test(test_connect_errors_and_no_models),
        cmocka_unit_test(test_stop_flag_cancels_and_reports),
    };
    return cmocka_run_group_tests_name("loadgen_e2e", tests, NULL, NULL);
}
