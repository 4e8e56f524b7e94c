/* client.c - the libcurl multi loop that sends a workload and times it.
 *
 * One thread, one CURLM. Each in-flight request is a struct xfer: its easy
 * handle, its SSE parser and what has been seen so far. The loop
 *   1. starts every request that is due while a concurrency slot is free,
 *   2. lets libcurl move bytes (callbacks parse SSE and take timestamps),
 *   3. collects finished transfers, and fails idle ones (our own timeout, so
 *      that it measures silence rather than total time),
 *   4. waits in curl_multi_poll until the next due request, the next idle
 *      deadline or 100 ms, whichever is first.
 * The first failure seen for a request wins; finish() turns what was seen
 * into the request's record.
 */
#include "loadgen/client.h"
#include "loadgen/sse.h"
#include "loadgen/stats.h"
#include "loadgen/workload.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define ERRBODY_MAX 400 /* bytes of a non-200 body kept for the message */

struct run;

/* One request in flight. */
struct xfer {
    struct run *run;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    struct lg_request *rec;
    struct lg_sse *sse;
    double start;        /* lg_now() at send */
    double last_byte;    /* lg_now() of the last header or body byte */
    double last_choice;  /* lg_now() of the last chunk with choices */
    double now;          /* time of the bytes being parsed */
    size_t itl_cap;
    int seen_choices, got_done, got_finish;
    long status;         /* HTTP status once known */
    size_t body_bytes;
    char errbody[ERRBODY_MAX + 1];
    size_t errbody_len;
    char retry_after[32];
    enum lg_fail cause;  /* first failure seen, LG_FAIL_NONE so far */
    char *msg;
};

struct run {
    const struct lg_config *cfg;
    CURLM *multi;
    const char *url;
    const char *model;
    const struct lg_workload *wl;
    struct lg_request *recs;
    double t0;
    struct xfer **active; /* in flight, unordered */
    size_t n_active;
    size_t n_done, n_failed;
    int tty;
    double next_progress;
    int last_tenth;
    size_t last_printed; /* n_done of the last plain progress line, +1 */
};

/* ---- failures ---- */

static void set_fail(struct xfer *x, enum lg_fail cause, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_fail(struct xfer *x, enum lg_fail cause, const char *fmt, ...)
{
    if (x->cause != LG_FAIL_NONE) return;
    x->cause = cause;
    char buf[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* One line: newlines and tabs of server text become spaces. */
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
    x->msg = strdup(buf); /* a NULL here only loses the message */
}

/* ---- SSE events ---- */

/* A short, printable excerpt of data for error messages. */
static void excerpt(const char *s, size_t len, char *out, size_t out_len)
{
    size_t n = len < out_len - 1 ? len : out_len - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    out[n] = 0;
}

/* Read a non-negative integer member if present; -1 if absent or null,
 * -2 if present with another type or a negative value. */
static long long get_count(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return -1;
    if (!json_is_integer(v) || json_integer_value(v) < 0) return -2;
    return json_integer_value(v);
}

static int note_choice_chunk(struct xfer *x)
{
    struct lg_request *rec = x->rec;
    if (!x->seen_choices) {
        x->seen_choices = 1;
        rec->ttft_s = x->now - x->start;
    } else {
        if (rec->n_itl == x->itl_cap) {
            size_t cap = x->itl_cap ? x->itl_cap * 2 : 64;
            double *t = realloc(rec->itl_s, cap * sizeof *t);
            if (!t) {
                set_fail(x, LG_FAIL_OTHER, "out of memory");
                return 1;
            }
            rec->itl_s = t;
            x->itl_cap = cap;
        }
        rec->itl_s[rec->n_itl++] = x->now - x->last_choice;
    }
    x->last_choice = x->now;
    rec->chunks++;
    return 0;
}

static int on_event(void *ctx, const struct lg_sse_event *ev)
{
    struct xfer *x = ctx;
    struct lg_request *rec = x->rec;
    char ex[120];
    if (strcmp(ev->data, "[DONE]") == 0) {
        x->got_done = 1;
        return 0;
    }
    json_error_t jerr;
    json_t *obj = json_loadb(ev->data, ev->data_len, 0, &jerr);
    excerpt(ev->data, ev->data_len, ex, sizeof ex);
    if (!obj) {
        set_fail(x, LG_FAIL_MALFORMED, "invalid JSON in SSE data (%s): %s", jerr.text, ex);
        return 1;
    }
    int stop = 1;
    json_t *error = json_object_get(obj, "error");
    if (strcmp(ev->event, "error") == 0 || (error && !json_is_null(error))) {
        json_t *m = json_is_object(error) ? json_object_get(error, "message") : NULL;
        set_fail(x, LG_FAIL_SERVER_ERROR, "error event in stream: %s",
                 json_is_string(m) ? json_string_value(m)
                 : json_is_string(error) ? json_string_value(error) : ex);
        goto done;
    }
    if (!json_is_object(obj)) {
        set_fail(x, LG_FAIL_MALFORMED, "SSE data is not a JSON object: %s", ex);
        goto done;
    }
    json_t *choices = json_object_get(obj, "choices");
    if (choices && !json_is_null(choices) && !json_is_array(choices)) {
        set_fail(x, LG_FAIL_MALFORMED, "\"choices\" is not an array: %s", ex);
        goto done;
    }
    if (json_is_array(choices) && json_array_size(choices) > 0) {
        json_t *c0 = json_array_get(choices, 0);
        if (!json_is_object(c0)) {
            set_fail(x, LG_FAIL_MALFORMED, "choice is not an object: %s", ex);
            goto done;
        }
        json_t *text;
        if (x->run->cfg->endpoint == LG_ENDPOINT_CHAT) {
            json_t *delta = json_object_get(c0, "delta");
            if (delta && !json_is_null(delta) && !json_is_object(delta)) {
                set_fail(x, LG_FAIL_MALFORMED, "\"delta\" is not an object: %s", ex);
                goto done;
            }
            text = delta ? json_object_get(delta, "content") : NULL;
        } else {
            text = json_object_get(c0, "text");
        }
        if (text && !json_is_null(text) && !json_is_string(text)) {
            set_fail(x, LG_FAIL_MALFORMED, "chunk text is not a string: %s", ex);
            goto done;
        }
        json_t *fin = json_object_get(c0, "finish_reason");
        if (fin && !json_is_null(fin) && !json_is_string(fin)) {
            set_fail(x, LG_FAIL_MALFORMED, "\"finish_reason\" is not a string: %s", ex);
            goto done;
        }
        if (json_is_string(fin)) x->got_finish = 1;
        if (json_is_string(text) && json_string_length(text) > 0) rec->text_chunks++;
        if (note_choice_chunk(x)) goto done;
    }
    json_t *usage = json_object_get(obj, "usage");
    if (usage && !json_is_null(usage)) {
        long long ct = json_is_object(usage) ? get_count(usage, "completion_tokens") : -2;
        long long pt = json_is_object(usage) ? get_count(usage, "prompt_tokens") : -2;
        if (ct == -2 || pt == -2 || ct > 100000000 || pt > 100000000) {
            set_fail(x, LG_FAIL_MALFORMED, "bad \"usage\": %s", ex);
            goto done;
        }
        if (ct > 0) { /* vLLM falls back to counting when this is 0 or absent */
            rec->output_tokens = (int)ct;
            rec->usage_reported = 1;
        }
        if (pt >= 0) rec->prompt_len = (int)pt;
    }
    stop = 0;
done:
    json_decref(obj);
    return stop;
}

/* ---- libcurl callbacks ---- */

static size_t on_header(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * nmemb;
    x->last_byte = lg_now();
    static const char key[] = "retry-after:";
    if (len > sizeof key - 1 && strncasecmp(buf, key, sizeof key - 1) == 0) {
        size_t i = sizeof key - 1;
        while (i < len && (buf[i] == ' ' || buf[i] == '\t')) i++;
        size_t j = len;
        while (j > i && (buf[j - 1] == '\r' || buf[j - 1] == '\n' || buf[j - 1] == ' ')) j--;
        excerpt(buf + i, j - i, x->retry_after, sizeof x->retry_after);
    }
    return len;
}

static size_t on_body(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * nmemb;
    x->now = lg_now();
    x->last_byte = x->now;
    x->body_bytes += len;
    if (x->status == 0) curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    if (x->status != 200) { /* keep the start of an error body for the message */
        size_t room = ERRBODY_MAX - x->errbody_len;
        size_t n = len < room ? len : room;
        memcpy(x->errbody + x->errbody_len, buf, n);
        x->errbody_len += n;
        x->errbody[x->errbody_len] = 0;
        return len;
    }
    if (x->cause != LG_FAIL_NONE) return 0;
    int rc = lg_sse_feed(x->sse, buf, len, on_event, x);
    if (rc == LG_ERR_FORMAT) set_fail(x, LG_FAIL_MALFORMED, "SSE line or event over 1 MiB");
    else if (rc == LG_ERR_NOMEM) set_fail(x, LG_FAIL_OTHER, "out of memory");
    return rc ? 0 : len; /* 0 makes libcurl abort the transfer */
}

/* ---- building and ending requests ---- */

static char *request_body(const struct run *r, const struct lg_prompt *p)
{
    const struct lg_config *cfg = r->cfg;
    json_t *o = json_object();
    json_t *prompt = NULL;
    char *s = NULL;
    if (!o) return NULL;
    if (p->ids) {
        prompt = json_array();
        for (int i = 0; prompt && i < p->n_ids; i++)
            if (json_array_append_new(prompt, json_integer(p->ids[i]))) goto done;
    } else if (cfg->endpoint == LG_ENDPOINT_CHAT) {
        prompt = json_pack("[{s:s, s:s}]", "role", "user", "content", p->text);
    } else {
        prompt = json_string(p->text);
    }
    if (!prompt) goto done;
    if (json_object_set_new(o, "model", json_string(r->model))) goto done;
    int rc = json_object_set_new(
        o, cfg->endpoint == LG_ENDPOINT_CHAT ? "messages" : "prompt", prompt);
    prompt = NULL;
    if (rc) goto done;
    if (json_object_set_new(o, "max_tokens", json_integer(p->output_len)) ||
        json_object_set_new(o, "stream", json_true()) ||
        json_object_set_new(o, "stream_options", json_pack("{s:b}", "include_usage", 1)))
        goto done;
    if (cfg->temperature >= 0 &&
        json_object_set_new(o, "temperature", json_real(cfg->temperature)))
        goto done;
    if (cfg->ignore_eos && json_object_set_new(o, "ignore_eos", json_true())) goto done;
    s = json_dumps(o, JSON_COMPACT);
done:
    json_decref(prompt);
    json_decref(o);
    return s;
}

static void xfer_free(struct xfer *x)
{
    if (!x) return;
    if (x->easy) {
        if (x->run) curl_multi_remove_handle(x->run->multi, x->easy);
        curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->headers);
    free(x->body);
    lg_sse_free(x->sse);
    free(x->msg);
    free(x);
}

static struct curl_slist *request_headers(const struct lg_config *cfg)
{
    struct curl_slist *h = NULL, *t;
    const char *fixed[] = {"Content-Type: application/json", "Accept: text/event-stream",
                           "Expect:"}; /* no 100-continue wait on large bodies */
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (!(t = curl_slist_append(h, fixed[i]))) goto fail;
        h = t;
    }
    if (cfg->api_key && cfg->api_key[0]) {
        size_t n = strlen(cfg->api_key) + 32;
        char *auth = malloc(n);
        if (!auth) goto fail;
        snprintf(auth, n, "Authorization: Bearer %s", cfg->api_key);
        t = curl_slist_append(h, auth);
        free(auth);
        if (!t) goto fail;
        h = t;
    }
    return h;
fail:
    curl_slist_free_all(h);
    return NULL;
}

/* Record what happened to x, release it and remove it from the active set. */
static void finish(struct run *r, struct xfer *x, CURLcode code)
{
    struct lg_request *rec = x->rec;
    double now = lg_now();
    if (x->status == 0) curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    rec->http_status = (int)x->status;
    if (x->cause == LG_FAIL_NONE && x->status == 200 && code == CURLE_OK) {
        int rc = lg_sse_finish(x->sse, on_event, x);
        if (rc == LG_ERR_NOMEM) set_fail(x, LG_FAIL_OTHER, "out of memory");
        else if (rc == LG_ERR_FORMAT) set_fail(x, LG_FAIL_MALFORMED, "SSE event over 1 MiB");
    }
    if (x->cause != LG_FAIL_NONE) {
        /* decided earlier (timeout, malformed, error event, cancel) */
    } else if (x->status != 0 && x->status != 200) {
        char body[ERRBODY_MAX + 1];
        excerpt(x->errbody, x->errbody_len, body, sizeof body);
        set_fail(x, LG_FAIL_HTTP, "HTTP %ld%s%s%s: %s", x->status,
                 x->retry_after[0] ? " (Retry-After: " : "", x->retry_after,
                 x->retry_after[0] ? ")" : "", body);
    } else if (code != CURLE_OK) {
        const char *what = curl_easy_strerror(code);
        switch (code) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_SSL_CONNECT_ERROR:
            set_fail(x, LG_FAIL_CONNECT, "connect: %s", what);
            break;
        case CURLE_OPERATION_TIMEDOUT:
            set_fail(x, LG_FAIL_TIMEOUT, "timeout: %s", what);
            break;
        case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
            set_fail(x, LG_FAIL_DROPPED, "connection dropped after %d chunks: %s", rec->chunks,
                     what);
            break;
        default:
            set_fail(x, LG_FAIL_OTHER, "transfer failed: %s", what);
        }
    } else if (!x->seen_choices) {
        if (lg_sse_unknown_fields(x->sse) > 0)
            set_fail(x, LG_FAIL_MALFORMED, "response is not an event stream (%zu bytes)",
                     x->body_bytes);
        else if (x->got_done)
            set_fail(x, LG_FAIL_EMPTY, "stream ended without a chunk with choices");
        else
            set_fail(x, LG_FAIL_DROPPED, "stream ended after %zu bytes without any chunk",
                     x->body_bytes);
    } else if (!x->got_done && !x->got_finish) {
        set_fail(x, LG_FAIL_DROPPED,
                 "stream ended after %d chunks without [DONE] or a finish_reason", rec->chunks);
    }

    rec->cause = x->cause;
    rec->end_s = now - r->t0;
    rec->latency_s = x->seen_choices ? x->last_choice - x->start : now - x->start;
    if (!rec->usage_reported) rec->output_tokens = rec->text_chunks;
    if (x->cause != LG_FAIL_NONE) {
        rec->error = x->msg;
        x->msg = NULL;
        if (!rec->error) rec->error = strdup(lg_fail_name(x->cause));
        r->n_failed++;
    }
    r->n_done++;
    for (size_t i = 0; i < r->n_active; i++)
        if (r->active[i] == x) {
            r->active[i] = r->active[--r->n_active];
            break;
        }
    xfer_free(x);
}

/* Send request i now. A failure to even build it is recorded as its end. */
static int start(struct run *r, size_t i)
{
    const struct lg_prompt *p = &r->wl->items[i];
    struct lg_request *rec = &r->recs[i];
    struct xfer *x = calloc(1, sizeof *x);
    if (!x) return LG_ERR_NOMEM;
    x->rec = rec;
    x->start = lg_now();
    x->last_byte = x->start;
    rec->start_s = x->start - r->t0;
    x->itl_cap = p->output_len > 1 ? (size_t)p->output_len : 0;
    if (x->itl_cap && !(rec->itl_s = malloc(x->itl_cap * sizeof *rec->itl_s))) goto nomem;
    if (!(x->sse = lg_sse_new(0))) goto nomem;
    if (!(x->body = request_body(r, p))) goto nomem;
    if (!(x->headers = request_headers(r->cfg))) goto nomem;
    if (!(x->easy = curl_easy_init())) goto nomem;
    CURL *e = x->easy;
    long connect_ms = (long)(r->cfg->timeout_s * 1000.0);
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms > 0 ? connect_ms : 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "lutfuse-loadgen");
    if (curl_multi_add_handle(r->multi, e) != CURLM_OK) goto nomem;
    x->run = r; /* from here on xfer_free removes the handle */
    r->active[r->n_active++] = x;
    return 0;
nomem:
    xfer_free(x);
    return LG_ERR_NOMEM;
}

/* ---- progress ---- */

static void progress(struct run *r, double now, int final)
{
    if (!r->cfg->progress) return;
    size_t n = r->wl->n;
    double el = now - r->t0;
    if (r->tty) {
        if (!final && now < r->next_progress) return;
        r->next_progress = now + 0.1;
        int width = 30, fill = n ? (int)(width * r->n_done / n) : width;
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r[%s] %zu/%zu done, %zu failed, %zu in flight, %.1f s ", bar,
                r->n_done, n, r->n_failed, r->n_active, el);
        if (final) fputc('\n', stderr);
        fflush(stderr);
        return;
    }
    /* Not a terminal: a plain line at every tenth, and at least every 10 s. */
    int tenth = n ? (int)(10 * r->n_done / n) : 10;
    if (r->last_printed == r->n_done + 1) return; /* nothing new to say */
    if (final || tenth > r->last_tenth || now >= r->next_progress) {
        r->last_tenth = tenth;
        r->last_printed = r->n_done + 1;
        r->next_progress = now + 10.0;
        fprintf(stderr, "progress: %zu/%zu done, %zu failed, %.1f s\n", r->n_done, n,
                r->n_failed, el);
    }
}

/* ---- the loop ---- */

static void collect_finished(struct run *r)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(r->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        struct xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode code = m->data.result; /* m is invalid once the handle is removed */
        if (x) finish(r, x, code);
    }
}

/* Mark requests never sent as cancelled (the run was stopped). */
static void cancel_unsent(struct run *r, size_t next)
{
    for (size_t i = next; i < r->wl->n; i++) {
        struct lg_request *rec = &r->recs[i];
        rec->cause = LG_FAIL_CANCELLED;
        rec->error = strdup("cancelled before it was sent");
        rec->start_s = rec->end_s = lg_now() - r->t0;
        r->n_done++;
        r->n_failed++;
    }
}

static int loop(struct run *r, const double *arrivals)
{
    const struct lg_config *cfg = r->cfg;
    size_t n = r->wl->n, next = 0;
    size_t cap = cfg->max_concurrency > 0 ? (size_t)cfg->max_concurrency : n;
    r->t0 = lg_now();
    r->next_progress = r->t0;
    while (r->n_done < n) {
        double now = lg_now();
        if (cfg->stop && *cfg->stop) {
            while (r->n_active) {
                struct xfer *x = r->active[r->n_active - 1];
                set_fail(x, LG_FAIL_CANCELLED, "cancelled while in flight");
                finish(r, x, CURLE_OK);
            }
            cancel_unsent(r, next);
            break;
        }
        while (next < n && r->t0 + arrivals[next] <= now && r->n_active < cap) {
            int rc = start(r, next);
            if (rc) return rc;
            next++;
        }
        int running;
        curl_multi_perform(r->multi, &running);
        collect_finished(r);

        now = lg_now();
        double wake = now + 0.1;
        for (size_t i = r->n_active; i-- > 0;) {
            struct xfer *x = r->active[i];
            double deadline = x->last_byte + cfg->timeout_s;
            if (now >= deadline) {
                set_fail(x, LG_FAIL_TIMEOUT, "no data for %.3g s (%d chunks received)",
                         cfg->timeout_s, x->rec->chunks);
                finish(r, x, CURLE_OK);
            } else if (deadline < wake) {
                wake = deadline;
            }
        }
        if (next < n && r->n_active < cap && r->t0 + arrivals[next] < wake)
            wake = r->t0 + arrivals[next];
        progress(r, now, 0);
        if (r->n_done >= n) break;
        double wait_ms = ceil((wake - now) * 1000.0);
        if (wait_ms > 0) curl_multi_poll(r->multi, NULL, 0, (int)wait_ms, NULL);
    }
    progress(r, lg_now(), 1);
    return 0;
}

char *lg_request_url(const struct lg_config *cfg)
{
    const char *base = cfg->base_url ? cfg->base_url : "http://127.0.0.1:8000";
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/') blen--;
    if (blen >= 3 && memcmp(base + blen - 3, "/v1", 3) == 0) blen -= 3;
    const char *path = cfg->endpoint_path ? cfg->endpoint_path
                       : cfg->endpoint == LG_ENDPOINT_CHAT ? "/v1/chat/completions"
                                                           : "/v1/completions";
    size_t n = blen + strlen(path) + 2;
    char *url = malloc(n);
    if (url) snprintf(url, n, "%.*s%s%s", (int)blen, base, path[0] == '/' ? "" : "/", path);
    return url;
}

/* ---- /v1/models ---- */

struct grow_buf {
    char *p;
    size_t len, cap;
};

static size_t on_grow(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct grow_buf *b = ud;
    size_t len = size * nmemb;
    if (b->len + len > (1u << 20)) return 0; /* a model list over 1 MiB is not one */
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1) cap *= 2;
        char *t = realloc(b->p, cap);
        if (!t) return 0;
        b->p = t;
        b->cap = cap;
    }
    memcpy(b->p + b->len, buf, len);
    b->len += len;
    b->p[b->len] = 0;
    return len;
}

int lg_fetch_model(const struct lg_config *cfg, char **model, char *err, size_t err_len)
{
    *model = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return lg_errf(err, err_len, LG_ERR_NOMEM, "libcurl failed to initialize");
    struct lg_config c = *cfg;
    c.endpoint_path = "/v1/models";
    char *url = lg_request_url(&c);
    struct curl_slist *headers = request_headers(cfg);
    CURL *e = curl_easy_init();
    struct grow_buf b = {0};
    json_t *root = NULL;
    int rc = LG_ERR_NOMEM;
    if (!url || !headers || !e) {
        lg_errf(err, err_len, rc, "out of memory");
        goto done;
    }
    double t = cfg->timeout_s > 0 && cfg->timeout_s < 60 ? cfg->timeout_s : 60;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_grow);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(t * 1000));
    curl_easy_setopt(e, CURLOPT_USERAGENT, "lutfuse-loadgen");
    CURLcode code = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    rc = LG_ERR_NET;
    if (code != CURLE_OK) {
        lg_errf(err, err_len, rc, "GET %s: %s", url, curl_easy_strerror(code));
        goto done;
    }
    if (status != 200) {
        lg_errf(err, err_len, rc, "GET %s: HTTP %ld", url, status);
        goto done;
    }
    root = json_loadb(b.p ? b.p : "", b.len, 0, NULL);
    json_t *data = json_is_object(root) ? json_object_get(root, "data") : NULL;
    json_t *first = json_is_array(data) ? json_array_get(data, 0) : NULL;
    json_t *id = json_is_object(first) ? json_object_get(first, "id") : NULL;
    if (!json_is_string(id)) {
        lg_errf(err, err_len, rc, "GET %s: no model id in the answer (use --model)", url);
        goto done;
    }
    if (!(*model = strdup(json_string_value(id)))) {
        rc = lg_errf(err, err_len, LG_ERR_NOMEM, "out of memory");
        goto done;
    }
    rc = 0;
done:
    json_decref(root);
    free(b.p);
    if (e) curl_easy_cleanup(e);
    curl_slist_free_all(headers);
    free(url);
    curl_global_cleanup(); /* paired with the init above (libcurl counts them) */
    return rc;
}

/* ---- lg_run ---- */

static int check_config(const struct lg_config *cfg, char *err, size_t err_len)
{
    if (cfg->num_prompts < 0)
        return lg_errf(err, err_len, LG_ERR_INVALID, "--num-prompts must be >= 0");
    if (!(cfg->request_rate > 0))
        return lg_errf(err, err_len, LG_ERR_INVALID, "--request-rate must be > 0");
    if (!(cfg->burstiness > 0))
        return lg_errf(err, err_len, LG_ERR_INVALID, "--burstiness must be > 0");
    if (cfg->max_concurrency < 0)
        return lg_errf(err, err_len, LG_ERR_INVALID, "--max-concurrency must be >= 0");
    if (!(cfg->timeout_s > 0))
        return lg_errf(err, err_len, LG_ERR_INVALID, "--timeout must be > 0");
    if (cfg->token_ids && (cfg->endpoint == LG_ENDPOINT_CHAT || cfg->dataset))
        return lg_errf(err, err_len, LG_ERR_INVALID,
                       "token-id prompts need the completions endpoint and no dataset");
    return 0;
}

int lg_run(const struct lg_config *cfg, struct lg_result *res, char *err, size_t err_len)
{
    memset(res, 0, sizeof *res);
    int rc = check_config(cfg, err, err_len);
    if (rc) return rc;

    struct run r = {.cfg = cfg};
    struct lg_workload wl = {0};
    double *arrivals = NULL;
    char *url = NULL, *model = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return lg_errf(err, err_len, LG_ERR_NOMEM, "libcurl failed to initialize");

    if (cfg->model) {
        model = strdup(cfg->model);
        rc = model ? 0 : lg_errf(err, err_len, LG_ERR_NOMEM, "out of memory");
    } else {
        rc = lg_fetch_model(cfg, &model, err, err_len);
    }
    if (rc) goto done;
    rc = lg_workload_make(cfg, &wl, err, err_len);
    if (rc) goto done;
    rc = LG_ERR_NOMEM;
    arrivals = malloc(wl.n * sizeof *arrivals);
    r.recs = calloc(wl.n, sizeof *r.recs);
    r.active = malloc(wl.n * sizeof *r.active);
    url = lg_request_url(cfg);
    r.multi = curl_multi_init();
    if (!arrivals || !r.recs || !r.active || !url || !r.multi) {
        lg_errf(err, err_len, rc, "out of memory");
        goto done;
    }
    rc = lg_arrival_times(cfg->request_rate, cfg->burstiness, cfg->seed, wl.n, arrivals);
    if (rc) {
        lg_errf(err, err_len, rc, "bad request rate or burstiness");
        goto done;
    }
    for (size_t i = 0; i < wl.n; i++) {
        r.recs[i].index = (int)i;
        r.recs[i].prompt_len = wl.items[i].prompt_len;
        r.recs[i].max_tokens = wl.items[i].output_len;
        r.recs[i].arrival_s = arrivals[i];
    }
    /* Keep as many idle connections as can be in use at once, for reuse. */
    long keep = cfg->max_concurrency > 0 ? cfg->max_concurrency : (long)wl.n;
    curl_multi_setopt(r.multi, CURLMOPT_MAXCONNECTS, keep < 1024 ? keep : 1024L);
    r.url = url;
    r.model = model;
    r.wl = &wl;
    r.tty = isatty(STDERR_FILENO);

    rc = loop(&r, arrivals);
    double duration = lg_now() - r.t0;
    if (rc) {
        lg_errf(err, err_len, rc, "out of memory while sending requests");
        goto done;
    }
    rc = lg_metrics_compute(r.recs, wl.n, duration, &cfg->goodput, cfg->percentiles,
                            cfg->n_percentiles, &res->metrics);
    if (rc) {
        lg_errf(err, err_len, rc, "out of memory");
        goto done;
    }
    res->model = model;
    model = NULL;
    res->requests = r.recs;
    res->n_requests = wl.n;
    r.recs = NULL;
    res->max_concurrency = cfg->max_concurrency;
    res->request_rate = cfg->request_rate;
done:
    while (r.n_active) {
        struct xfer *x = r.active[--r.n_active];
        xfer_free(x);
    }
    if (r.recs) {
        struct lg_result tmp = {.requests = r.recs, .n_requests = wl.n};
        lg_result_free(&tmp);
    }
    if (r.multi) curl_multi_cleanup(r.multi);
    free(r.active);
    free(arrivals);
    free(url);
    free(model);
    lg_workload_free(&wl);
    curl_global_cleanup();
    return rc;
}
