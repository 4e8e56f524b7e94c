/* http.c - routes, limits, auth, SSE streaming and disconnects over
 * libmicrohttpd.
 *
 * The pattern is libmicrohttpd's own: per-request state lives in *req_cls
 * (struct conn) and is freed in the completion callback. A generation request
 * becomes one scheduler request per choice. The connection then waits without
 * a thread:
 *   - streaming: the response's reader callback writes whatever events are
 *     ready as SSE chunks; when none are, it suspends the connection and
 *     returns 0 (returning 0 without suspending would busy-loop);
 *   - non-streaming: the access handler drains events and suspends until all
 *     choices are finished, then answers with one JSON body.
 * The scheduler's notify callback resumes a suspended connection exactly
 * once. It cannot point at struct conn (a request may outlive its
 * connection), so it names a "waker": a slot in a table that lives as long as
 * the server, with a generation number that invalidates stale wake-ups after
 * the connection is gone. The suspend decision and the resume both happen
 * under the waker's mutex, so a wake-up can never fall between "nothing is
 * ready" and "suspend".
 *
 * The heartbeat thread polls the sockets of in-flight generation requests for
 * a hang-up (a suspended connection notices nothing by itself) and cancels
 * their requests within its period; it also resumes streams that are still
 * queued so that the reader writes a keep-alive comment.
 */
#include "server/http.h"

#include "api/chat.h"
#include "api/errors.h"
#include "api/openai.h"
#include "engine/gguf.h"
#include "engine/log.h"
#include "engine/model.h"
#include "engine/status.h"
#include "engine/tokenizer.h"
#include "scheduler/request.h"
#include "scheduler/sched.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TTFT_BUCKETS 12
static const double k_lat_buckets[TTFT_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                   0.5,   1.0,  2.5,   5.0,  10.0, 30.0};

/* ---- wakers ---- */

struct waker {
    pthread_mutex_t mu;
    uint32_t gen;
    bool in_use;
    bool suspended;
    struct MHD_Connection *mhd;
    struct conn *conn; /* for the heartbeat; valid while in_use */
    int fd;
};

enum route { R_NONE, R_HEALTH, R_METRICS, R_MODELS, R_COMPLETIONS, R_CHAT, R_TOKENIZE, R_DETOKENIZE };

struct choice {
    struct req *r;
    int32_t index;
    bool role_sent, finished, finish_sent;
    struct oai_buf text; /* non-streaming: collected text */
    struct oai_logprob *lps;
    size_t n_lps, cap_lps;
    struct oai_token_logprob *tops; /* (cap_lps * REQ_MAX_TOP) */
    double last_t;
    bool got_first;
};

struct conn {
    struct http *h;
    struct MHD_Connection *mhd;
    enum route route;
    const char *method;
    char path[128];
    struct oai_buf body;
    bool too_large;
    int status;
    double t_start;

    /* generation */
    struct oai_request *oreq;
    struct oai_meta meta;
    char id[48];
    struct choice *choices;
    int32_t n_choices;
    int64_t prompt_tokens, completion_tokens;
    int waker; /* index, or -1 */
    uint32_t waker_gen;
    bool streaming, waiting, queued_keepalive, usage_sent, done_sent, client_gone;
    atomic_bool keepalive_due;
    struct oai_buf out; /* streaming: bytes not yet handed to MHD */
    size_t out_pos;
    char *echo_text;
    size_t echo_len;
};

struct http {
    struct http_config cfg;
    struct MHD_Daemon *d;
    int port;
    atomic_bool ready, quiescing;
    const struct model *m;
    struct sched *s;
    int32_t n_ctx;
    enum chat_kind chat;
    int64_t created;

    struct waker *wakers;
    int n_wakers;
    pthread_mutex_t free_mu;
    int *free_wakers;
    int n_free;
    atomic_int in_flight;

    pthread_t heartbeat;
    atomic_bool hb_stop;
    bool hb_started;

    /* metrics */
    atomic_uint_fast64_t req_total, req_2xx, req_4xx, req_5xx, prompt_tokens, completion_tokens,
        disconnects;
    atomic_uint_fast64_t ttft_hist[TTFT_BUCKETS + 1], itl_hist[TTFT_BUCKETS + 1];
    _Atomic double ttft_sum, itl_sum;
    atomic_uint_fast64_t ttft_count, itl_count;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void add_double(_Atomic double *a, double v)
{
    double old = atomic_load(a);
    while (!atomic_compare_exchange_weak(a, &old, old + v)) {
    }
}

static void observe(atomic_uint_fast64_t *hist, _Atomic double *sum, atomic_uint_fast64_t *count,
                    double v)
{
    int b = 0;
    while (b < TTFT_BUCKETS && v > k_lat_buckets[b]) b++;
    atomic_fetch_add(&hist[b], 1);
    add_double(sum, v);
    atomic_fetch_add(count, 1);
}

struct http_config http_config_default(void)
{
    return (struct http_config){.host = "127.0.0.1",
                                .port = 8080,
                                .model_id = "lutfuse",
                                .max_body = 4u << 20,
                                .max_connections = 1024,
                                .timeout_s = 600,
                                .heartbeat_ms = 2000};
}

/* The scheduler's notify callback. ctx is the waker's address with the low
 * 16 bits of its generation in the top bits (user-space addresses fit in 48
 * bits). A stale or spurious wake-up is harmless: the woken side re-checks
 * its requests and suspends again. */
static void wake(void *ctx)
{
    const uintptr_t v = (uintptr_t)ctx;
    struct waker *w = (struct waker *)(v & ((UINT64_C(1) << 48) - 1));
    const uint32_t gen = (uint32_t)(v >> 48);
    pthread_mutex_lock(&w->mu);
    if (w->in_use && (w->gen & 0xFFFF) == gen && w->suspended) {
        w->suspended = false;
        MHD_resume_connection(w->mhd);
    }
    pthread_mutex_unlock(&w->mu);
}

static int waker_take(struct http *h, struct conn *c)
{
    pthread_mutex_lock(&h->free_mu);
    int idx = h->n_free ? h->free_wakers[--h->n_free] : -1;
    pthread_mutex_unlock(&h->free_mu);
    if (idx < 0) return -1;
    struct waker *w = &h->wakers[idx];
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c->mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
    pthread_mutex_lock(&w->mu);
    w->in_use = true;
    w->suspended = false;
    w->mhd = c->mhd;
    w->conn = c;
    w->fd = ci ? ci->connect_fd : -1;
    c->waker_gen = w->gen;
    pthread_mutex_unlock(&w->mu);
    c->waker = idx;
    atomic_fetch_add(&h->in_flight, 1);
    return idx;
}

static void waker_release(struct http *h, struct conn *c)
{
    if (c->waker < 0) return;
    struct waker *w = &h->wakers[c->waker];
    pthread_mutex_lock(&w->mu);
    w->gen++;
    w->in_use = false;
    w->suspended = false;
    w->conn = NULL;
    w->mhd = NULL;
    w->fd = -1;
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_lock(&h->free_mu);
    h->free_wakers[h->n_free++] = c->waker;
    pthread_mutex_unlock(&h->free_mu);
    c->waker = -1;
    atomic_fetch_sub(&h->in_flight, 1);
}

static void *wake_ctx(const struct conn *c)
{
    return (void *)((uintptr_t)&c->h->wakers[c->waker] | ((uintptr_t)(c->waker_gen & 0xFFFF) << 48));
}

static bool any_ready(const struct conn *c)
{
    for (int32_t i = 0; i < c->n_choices; i++)
        if (!c->choices[i].finished && req_ready(c->choices[i].r)) return true;
    return false;
}

/* Suspend c unless output became ready meanwhile (checked under the waker's
 * lock, so the scheduler's resume cannot be lost). Returns true if suspended. */
static bool suspend_unless_ready(struct http *h, struct conn *c)
{
    struct waker *w = &h->wakers[c->waker];
    pthread_mutex_lock(&w->mu);
    bool ready = any_ready(c) || atomic_load(&c->keepalive_due) || c->client_gone;
    if (!ready) {
        w->suspended = true;
        MHD_suspend_connection(c->mhd);
    }
    pthread_mutex_unlock(&w->mu);
    return !ready;
}

/* ---- responses ---- */

static enum MHD_Result send_buf(struct conn *c, int status, const char *ctype, const char *data,
                                size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == 503) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == 405) {
        const char *allow = (c->route == R_HEALTH || c->route == R_METRICS || c->route == R_MODELS)
                                ? "GET"
                                : "POST";
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    }
    if (status == 401) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    c->status = status;
    enum MHD_Result ret = MHD_queue_response(c->mhd, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct conn *c, int status, struct oai_buf *b)
{
    if (b->failed) {
        static const char oom[] =
            "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,"
            "\"code\":null}}";
        return send_buf(c, 500, "application/json", oom, sizeof oom - 1);
    }
    return send_buf(c, status, "application/json", b->data ? b->data : "", b->len);
}

static enum MHD_Result send_error(struct conn *c, const struct oai_error *e)
{
    struct oai_buf b = OAI_BUF_INIT;
    oai_error_json(&b, e);
    enum MHD_Result r = send_json(c, e->http_status ? e->http_status : 500, &b);
    oai_buf_free(&b);
    return r;
}

/* ---- routes that answer at once ---- */

static enum MHD_Result handle_health(struct conn *c)
{
    struct oai_buf b = OAI_BUF_INIT;
    bool ready = atomic_load(&c->h->ready);
    oai_health_json(&b, ready);
    enum MHD_Result r = send_json(c, ready ? 200 : 503, &b);
    oai_buf_free(&b);
    return r;
}

static enum MHD_Result handle_models(struct conn *c)
{
    struct http *h = c->h;
    struct oai_buf b = OAI_BUF_INIT;
    oai_models_json(&b, h->cfg.model_id, h->created, h->n_ctx, h->m ? h->m->hp.n_vocab : 0);
    enum MHD_Result r = send_json(c, 200, &b);
    oai_buf_free(&b);
    return r;
}

static void metric(struct oai_buf *b, const char *name, const char *type, const char *help,
                   double v)
{
    oai_buf_printf(b, "# HELP lutfuse_%s %s\n# TYPE lutfuse_%s %s\nlutfuse_%s %.17g\n", name, help,
                   name, type, name, v);
}

static void histogram(struct oai_buf *b, const char *name, const char *help,
                      atomic_uint_fast64_t *hist, _Atomic double *sum, atomic_uint_fast64_t *count)
{
    oai_buf_printf(b, "# HELP lutfuse_%s %s\n# TYPE lutfuse_%s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < TTFT_BUCKETS; i++) {
        cum += atomic_load(&hist[i]);
        oai_buf_printf(b, "lutfuse_%s_bucket{le=\"%g\"} %llu\n", name, k_lat_buckets[i],
                       (unsigned long long)cum);
    }
    cum += atomic_load(&hist[TTFT_BUCKETS]);
    oai_buf_printf(b, "lutfuse_%s_bucket{le=\"+Inf\"} %llu\nlutfuse_%s_sum %.9g\nlutfuse_%s_count %llu\n",
                   name, (unsigned long long)cum, name, atomic_load(sum), name,
                   (unsigned long long)atomic_load(count));
}

static enum MHD_Result handle_metrics(struct conn *c)
{
    struct http *h = c->h;
    struct oai_buf b = OAI_BUF_INIT;
    struct sched_stats st = {0};
    if (h->s) sched_get_stats(h->s, &st);
    metric(&b, "requests_total", "counter", "HTTP requests answered", (double)atomic_load(&h->req_total));
    oai_buf_printf(&b, "# HELP lutfuse_http_responses_total HTTP responses by status class\n"
                       "# TYPE lutfuse_http_responses_total counter\n"
                       "lutfuse_http_responses_total{class=\"2xx\"} %llu\n"
                       "lutfuse_http_responses_total{class=\"4xx\"} %llu\n"
                       "lutfuse_http_responses_total{class=\"5xx\"} %llu\n",
                   (unsigned long long)atomic_load(&h->req_2xx),
                   (unsigned long long)atomic_load(&h->req_4xx),
                   (unsigned long long)atomic_load(&h->req_5xx));
    metric(&b, "prompt_tokens_total", "counter", "prompt tokens of finished requests",
           (double)atomic_load(&h->prompt_tokens));
    metric(&b, "generation_tokens_total", "counter", "tokens generated",
           (double)atomic_load(&h->completion_tokens));
    metric(&b, "client_disconnects_total", "counter", "requests cancelled because the client left",
           (double)atomic_load(&h->disconnects));
    histogram(&b, "time_to_first_token_seconds", "arrival to first token", h->ttft_hist,
              &h->ttft_sum, &h->ttft_count);
    histogram(&b, "inter_token_latency_seconds", "gap between consecutive tokens", h->itl_hist,
              &h->itl_sum, &h->itl_count);
    metric(&b, "steps_total", "counter", "fused forward steps", (double)st.steps);
    metric(&b, "prefill_tokens_total", "counter", "prompt tokens computed", (double)st.prefill_tokens);
    metric(&b, "decode_tokens_total", "counter", "decode rows computed", (double)st.decode_tokens);
    metric(&b, "requests_cancelled_total", "counter", "scheduler requests cancelled", (double)st.cancelled);
    metric(&b, "requests_rejected_total", "counter", "requests refused because the queue was full",
           (double)st.rejected_busy);
    metric(&b, "evictions_total", "counter", "sequences evicted from the batch", (double)st.evictions);
    metric(&b, "queue_depth", "gauge", "requests waiting for a slot", st.queue_depth);
    metric(&b, "running_sequences", "gauge", "sequences holding a KV slot", st.running);
    metric(&b, "kv_slots_used", "gauge", "KV slots in use", st.slots_in_use);
    metric(&b, "kv_slots_total", "gauge", "KV slots", st.n_slots);
    oai_buf_printf(&b, "# HELP lutfuse_batch_rows fused batch rows per step\n"
                       "# TYPE lutfuse_batch_rows histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i < SCHED_BATCH_BUCKETS; i++) {
        cum += st.batch_hist[i];
        if (i < SCHED_BATCH_BUCKETS - 1)
            oai_buf_printf(&b, "lutfuse_batch_rows_bucket{le=\"%d\"} %llu\n", 1 << i,
                           (unsigned long long)cum);
    }
    oai_buf_printf(&b, "lutfuse_batch_rows_bucket{le=\"+Inf\"} %llu\nlutfuse_batch_rows_count %llu\n",
                   (unsigned long long)cum, (unsigned long long)cum);
    enum MHD_Result r = b.failed ? send_json(c, 500, &b)
                                 : send_buf(c, 200, "text/plain; version=0.0.4", b.data, b.len);
    oai_buf_free(&b);
    return r;
}

static enum MHD_Result handle_tokenize(struct conn *c)
{
    struct http *h = c->h;
    struct oai_limits lim = oai_limits_default(h->m->hp.n_vocab, h->n_ctx);
    struct oai_error e;
    oai_error_clear(&e);
    struct oai_tokenize_request *tr = NULL;
    if (oai_parse_tokenize(c->body.data, c->body.len, &lim, &tr, &e)) return send_error(c, &e);
    size_t cap = tr->content_len + 8, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    const char **pieces = tr->with_pieces ? malloc(cap * sizeof *pieces) : NULL;
    size_t *lens = tr->with_pieces ? malloc(cap * sizeof *lens) : NULL;
    enum MHD_Result r;
    if (!ids || (tr->with_pieces && (!pieces || !lens)) ||
        tok_encode(h->m->tok, tr->content, tr->content_len, tr->add_special, tr->parse_special, ids,
                   cap, &n)) {
        oai_error_from_lf(&e, LF_ERR_NOMEM, "cannot tokenize the content");
        r = send_error(c, &e);
    } else {
        for (size_t i = 0; pieces && i < n; i++) pieces[i] = tok_piece(h->m->tok, ids[i], true, &lens[i]);
        struct oai_buf b = OAI_BUF_INIT;
        oai_tokenize_json(&b, ids, n, pieces, lens);
        r = send_json(c, 200, &b);
        oai_buf_free(&b);
    }
    free(ids);
    free(pieces);
    free(lens);
    free(tr);
    return r;
}

static enum MHD_Result handle_detokenize(struct conn *c)
{
    struct http *h = c->h;
    struct oai_limits lim = oai_limits_default(h->m->hp.n_vocab, h->n_ctx);
    struct oai_error e;
    oai_error_clear(&e);
    struct oai_detokenize_request *dr = NULL;
    if (oai_parse_detokenize(c->body.data, c->body.len, &lim, &dr, &e)) return send_error(c, &e);
    struct oai_buf text = OAI_BUF_INIT;
    for (size_t i = 0; i < dr->n_tokens; i++) {
        size_t len;
        const char *p = tok_piece(h->m->tok, dr->tokens[i], false, &len);
        if (p) oai_buf_append(&text, p, len);
    }
    struct oai_buf b = OAI_BUF_INIT;
    oai_detokenize_json(&b, text.data, text.len);
    enum MHD_Result r = send_json(c, 200, &b);
    oai_buf_free(&b);
    oai_buf_free(&text);
    free(dr);
    return r;
}

/* ---- generation ---- */

static uint64_t random_seed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    static atomic_uint_fast64_t counter;
    return (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec ^
           (atomic_fetch_add(&counter, 1) << 32);
}

/* Tokenize prompt text (BOS added by the model's rule unless the text starts
 * with the BOS text, as chat templates often do; special tokens parsed). */
static int tokenize_text(const struct tok *t, const char *text, size_t len, int32_t **ids,
                         size_t *n)
{
    size_t cap = len + 8;
    *ids = malloc(cap * sizeof **ids);
    if (!*ids) return LF_ERR_NOMEM;
    bool add = true;
    int32_t bos = tok_bos(t);
    if (bos >= 0) {
        size_t bl;
        const char *bt = tok_text(t, bos, &bl);
        if (bt && bl && len >= bl && !memcmp(text, bt, bl)) add = false;
    }
    return tok_encode(t, text, len, add, true, *ids, cap, n);
}

static void conn_free_generation(struct conn *c)
{
    for (int32_t i = 0; i < c->n_choices; i++) {
        struct choice *ch = &c->choices[i];
        if (ch->r) {
            req_cancel(ch->r);
            req_unref(ch->r);
        }
        oai_buf_free(&ch->text);
        free(ch->lps);
        free(ch->tops);
    }
    free(c->choices);
    c->choices = NULL;
    c->n_choices = 0;
    oai_request_free(c->oreq);
    c->oreq = NULL;
    oai_buf_free(&c->out);
    free(c->echo_text);
}

/* Record timing of a token event for the metrics. */
static void note_token(struct http *h, struct choice *ch, const struct req_event *ev)
{
    if (!ch->got_first) {
        ch->got_first = true;
        observe(h->ttft_hist, &h->ttft_sum, &h->ttft_count, ev->t);
    } else {
        observe(h->itl_hist, &h->itl_sum, &h->itl_count, ev->t - ch->last_t);
    }
    ch->last_t = ev->t;
}

/* Fill lp (and its alternatives in tops) from a token event. */
static void event_logprob(const struct tok *t, const struct req_event *ev, struct oai_logprob *lp,
                          struct oai_token_logprob *tops, size_t text_offset)
{
    size_t len;
    const char *p = tok_piece(t, ev->token, true, &len);
    lp->chosen = (struct oai_token_logprob){p ? p : "", p ? len : 0, ev->logprob};
    for (int32_t k = 0; k < ev->n_top; k++) {
        const char *q = tok_piece(t, ev->top_ids[k], true, &len);
        tops[k] = (struct oai_token_logprob){q ? q : "", q ? len : 0, ev->top_logprobs[k]};
    }
    lp->top = tops;
    lp->n_top = (size_t)ev->n_top;
    lp->text_offset = text_offset;
}

static const char *finish_name(struct choice *ch)
{
    const char *f = req_finish_name(req_finish_reason(ch->r));
    return f && !strcmp(f, "cancelled") ? NULL : f;
}

/* Streaming: turn ready events of every choice into SSE bytes in c->out. */
static void stream_fill(struct conn *c)
{
    struct http *h = c->h;
    const bool chat = c->route == R_CHAT;
    struct req_event ev;
    for (int32_t i = 0; i < c->n_choices; i++) {
        struct choice *ch = &c->choices[i];
        if (ch->finish_sent) continue;
        if (chat && !ch->role_sent) {
            oai_chunk_role(&c->out, &c->meta, ch->index);
            ch->role_sent = true;
        }
        if (c->echo_text && !ch->role_sent) {
            oai_chunk_text(&c->out, &c->meta, ch->index, c->echo_text, c->echo_len, NULL);
            ch->role_sent = true;
        }
        int rc;
        while ((rc = req_poll(ch->r, &ev)) == 1) {
            struct oai_logprob lp, *lpp = NULL;
            struct oai_token_logprob tops[REQ_MAX_TOP];
            if (ev.token >= 0) {
                note_token(h, ch, &ev);
                if (c->oreq->logprobs) {
                    event_logprob(h->m->tok, &ev, &lp, tops, 0);
                    lpp = &lp;
                }
            }
            if (ev.len || lpp) oai_chunk_text(&c->out, &c->meta, ch->index, ev.text, ev.len, lpp);
        }
        if (rc == -1) {
            ch->finished = true;
            if (req_finish_reason(ch->r) == REQ_FINISH_CANCELLED && !c->client_gone) {
                oai_buf_puts(&c->out, "data: {\"error\":{\"message\":\"the request was cancelled "
                                      "(server shutting down)\",\"type\":\"server_error\","
                                      "\"param\":null,\"code\":null}}\n\n");
            } else {
                oai_chunk_finish(&c->out, &c->meta, ch->index, finish_name(ch));
            }
            ch->finish_sent = true;
            c->completion_tokens += req_n_generated(ch->r);
        }
    }
    bool all = true;
    for (int32_t i = 0; i < c->n_choices; i++) all = all && c->choices[i].finish_sent;
    if (all && !c->done_sent) {
        if (c->oreq->include_usage && !c->usage_sent) {
            struct oai_usage u = {c->prompt_tokens, c->completion_tokens};
            oai_chunk_usage(&c->out, &c->meta, &u);
            c->usage_sent = true;
        }
        oai_chunk_done(&c->out);
        c->done_sent = true;
    }
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct conn *c = cls;
    for (;;) {
        if (c->out_pos < c->out.len) {
            size_t n = c->out.len - c->out_pos;
            if (n > max) n = max;
            memcpy(buf, c->out.data + c->out_pos, n);
            c->out_pos += n;
            if (c->out_pos == c->out.len) oai_buf_reset(&c->out), c->out_pos = 0;
            return (ssize_t)n;
        }
        if (c->done_sent) return MHD_CONTENT_READER_END_OF_STREAM;
        if (c->client_gone) return MHD_CONTENT_READER_END_WITH_ERROR;
        stream_fill(c);
        if (c->out.failed) return MHD_CONTENT_READER_END_WITH_ERROR;
        if (c->out.len) continue;
        if (atomic_exchange(&c->keepalive_due, false)) {
            oai_chunk_keepalive(&c->out);
            continue;
        }
        if (suspend_unless_ready(c->h, c)) return 0;
    }
}

/* Non-streaming: move ready events into each choice's text. True when all
 * choices are finished. */
static bool collect(struct conn *c)
{
    struct http *h = c->h;
    struct req_event ev;
    bool all = true;
    for (int32_t i = 0; i < c->n_choices; i++) {
        struct choice *ch = &c->choices[i];
        int rc;
        while (!ch->finished && (rc = req_poll(ch->r, &ev)) != 0) {
            if (rc == -1) {
                ch->finished = true;
                c->completion_tokens += req_n_generated(ch->r);
                break;
            }
            if (ev.token >= 0) {
                note_token(h, ch, &ev);
                if (c->oreq->logprobs) {
                    if (ch->n_lps == ch->cap_lps) {
                        size_t cap = ch->cap_lps ? 2 * ch->cap_lps : 64;
                        struct oai_logprob *nl = realloc(ch->lps, cap * sizeof *nl);
                        struct oai_token_logprob *nt =
                            nl ? realloc(ch->tops, cap * REQ_MAX_TOP * sizeof *nt) : NULL;
                        if (nl) ch->lps = nl;
                        if (!nl || !nt) {
                            ch->text.failed = true;
                            continue;
                        }
                        ch->tops = nt;
                        ch->cap_lps = cap;
                    }
                    event_logprob(h->m->tok, &ev, &ch->lps[ch->n_lps],
                                  ch->tops + ch->n_lps * REQ_MAX_TOP, ch->text.len);
                    ch->n_lps++;
                }
            }
            oai_buf_append(&ch->text, ev.text, ev.len);
        }
        all = all && ch->finished;
    }
    return all;
}

static enum MHD_Result respond_complete(struct conn *c)
{
    struct http *h = c->h;
    for (int32_t i = 0; i < c->n_choices; i++)
        if (req_finish_reason(c->choices[i].r) == REQ_FINISH_CANCELLED) {
            struct oai_error e;
            oai_errorf(&e, LF_ERR_CANCELLED, 503, NULL, NULL,
                       "the request was cancelled (server shutting down)");
            return send_error(c, &e);
        }
    const size_t n_choices = c->n_choices > 0 ? (size_t)c->n_choices : 1;
    struct oai_choice *oc = calloc(n_choices, sizeof *oc);
    if (!oc) {
        struct oai_error e;
        oai_error_from_lf(&e, LF_ERR_NOMEM, NULL);
        return send_error(c, &e);
    }
    /* Point each logprob's alternatives into the choice's tops array again:
     * the array may have moved while it grew. */
    for (int32_t i = 0; i < c->n_choices; i++) {
        struct choice *ch = &c->choices[i];
        for (size_t k = 0; k < ch->n_lps; k++) {
            struct oai_logprob *lp = &ch->lps[k];
            lp->top = ch->tops + k * REQ_MAX_TOP;
        }
    }
    struct oai_buf *texts = calloc(n_choices, sizeof *texts);
    for (int32_t i = 0; texts && i < c->n_choices; i++) {
        struct choice *ch = &c->choices[i];
        if (c->echo_text) oai_buf_append(&texts[i], c->echo_text, c->echo_len);
        oai_buf_append(&texts[i], ch->text.data ? ch->text.data : "", ch->text.len);
        oc[ch->index] = (struct oai_choice){texts[i].data ? texts[i].data : "", texts[i].len,
                                            finish_name(ch), c->oreq->logprobs ? ch->lps : NULL,
                                            ch->n_lps};
    }
    struct oai_buf b = OAI_BUF_INIT;
    struct oai_usage u = {c->prompt_tokens, c->completion_tokens};
    enum MHD_Result r;
    if (!texts) {
        struct oai_error e;
        oai_error_from_lf(&e, LF_ERR_NOMEM, NULL);
        r = send_error(c, &e);
    } else {
        oai_response_json(&b, &c->meta, oc, (size_t)c->n_choices, &u);
        r = send_json(c, 200, &b);
    }
    for (int32_t i = 0; texts && i < c->n_choices; i++) oai_buf_free(&texts[i]);
    free(texts);
    oai_buf_free(&b);
    free(oc);
    (void)h;
    return r;
}

static enum MHD_Result handle_generate(struct conn *c)
{
    struct http *h = c->h;
    const enum oai_endpoint ep = c->route == R_CHAT ? OAI_CHAT : OAI_COMPLETIONS;
    struct oai_limits lim = oai_limits_default(h->m->hp.n_vocab, h->n_ctx);
    struct oai_error e;
    oai_error_clear(&e);
    if (oai_parse_request(ep, c->body.data, c->body.len, &lim, &c->oreq, &e)) return send_error(c, &e);
    const struct oai_request *q = c->oreq;

    /* Prompts as token ids. */
    size_t n_prompts = ep == OAI_CHAT ? 1 : q->n_prompts;
    int32_t **ids = calloc(n_prompts, sizeof *ids);
    size_t *n_ids = calloc(n_prompts, sizeof *n_ids);
    int rc = ids && n_ids ? 0 : LF_ERR_NOMEM;
    for (size_t p = 0; !rc && p < n_prompts; p++) {
        if (ep == OAI_CHAT) {
            char *text = NULL;
            enum chat_kind kind = h->chat;
            if (kind == CHAT_UNKNOWN) {
                oai_errorf(&e, LF_ERR_UNSUPPORTED, 400, "messages", NULL,
                           "this model has no chat template lutfuse knows; start the server with "
                           "--chat-template llama3|llama2|chatml|bitnet");
                rc = LF_ERR_UNSUPPORTED;
                break;
            }
            rc = chat_apply(kind, q->messages, q->n_messages, true, &text);
            if (!rc) rc = tokenize_text(h->m->tok, text, strlen(text), &ids[p], &n_ids[p]);
            free(text);
        } else if (q->prompts[p].tokens) {
            ids[p] = malloc(q->prompts[p].n_tokens * sizeof **ids);
            if (!ids[p]) rc = LF_ERR_NOMEM;
            else memcpy(ids[p], q->prompts[p].tokens, q->prompts[p].n_tokens * sizeof **ids);
            n_ids[p] = q->prompts[p].n_tokens;
        } else {
            rc = tokenize_text(h->m->tok, q->prompts[p].text, q->prompts[p].text_len, &ids[p],
                               &n_ids[p]);
        }
        if (!rc && n_ids[p] == 0) {
            oai_errorf(&e, LF_ERR_INVALID, 400, "prompt", NULL, "the prompt is empty");
            rc = LF_ERR_INVALID;
        }
        if (!rc && oai_check_context(q, &lim, n_ids[p], &e)) rc = LF_ERR_RANGE;
    }
    if (rc && !e.http_status) oai_error_from_lf(&e, rc, NULL);

    /* One scheduler request per choice. */
    if (!rc) {
        c->n_choices = (int32_t)n_prompts * q->n;
        c->choices = calloc((size_t)c->n_choices, sizeof *c->choices);
        if (!c->choices) rc = LF_ERR_NOMEM, oai_error_from_lf(&e, rc, NULL);
    }
    if (!rc && waker_take(h, c) < 0) {
        oai_errorf(&e, LF_ERR_BUSY, 503, NULL, NULL, "too many requests in flight");
        rc = LF_ERR_BUSY;
    }
    const uint64_t base_seed = q->seed_given ? q->sampling.seed : random_seed();
    for (size_t p = 0; !rc && p < n_prompts; p++) {
        c->prompt_tokens += (int64_t)n_ids[p] * q->n;
        for (int32_t i = 0; !rc && i < q->n; i++) {
            struct choice *ch = &c->choices[p * (size_t)q->n + (size_t)i];
            ch->index = oai_choice_index(p, q->n, i);
            struct req_params rp = {0};
            rp.sampling = q->sampling;
            rp.sampling.seed = base_seed + (uint64_t)ch->index;
            rp.max_tokens = q->max_tokens;
            rp.n_stop = (int32_t)(q->n_stop < REQ_MAX_STOP ? q->n_stop : REQ_MAX_STOP);
            for (int32_t k = 0; k < rp.n_stop; k++) rp.stop[k] = q->stop[k];
            rp.ignore_eos = q->ignore_eos;
            rp.logprobs = q->logprobs;
            rp.top_logprobs = q->top_logprobs < REQ_MAX_TOP ? q->top_logprobs : REQ_MAX_TOP;
            char err[LF_ERRMSG_LEN] = "";
            rc = req_new(ids[p], (int32_t)n_ids[p], &rp, &ch->r, err, sizeof err);
            if (!rc) {
                req_set_notify(ch->r, wake, wake_ctx(c));
                rc = sched_submit(h->s, ch->r, err, sizeof err);
            }
            if (rc == LF_ERR_BUSY) oai_error_busy(&e);
            else if (rc) oai_error_from_lf(&e, rc, err);
        }
    }
    if (!rc && ep == OAI_COMPLETIONS && q->echo && n_prompts == 1) {
        /* echo: the prompt text first (token prompts: their pieces). */
        struct oai_buf eb = OAI_BUF_INIT;
        if (q->prompts[0].text) oai_buf_append(&eb, q->prompts[0].text, q->prompts[0].text_len);
        else
            for (size_t k = 0; k < n_ids[0]; k++) {
                size_t len;
                const char *pc = tok_piece(h->m->tok, ids[0][k], false, &len);
                if (pc) oai_buf_append(&eb, pc, len);
            }
        c->echo_text = eb.data;
        c->echo_len = eb.len;
    }
    for (size_t p = 0; ids && p < n_prompts; p++) free(ids[p]);
    free(ids);
    free(n_ids);
    if (rc) return send_error(c, &e);

    snprintf(c->id, sizeof c->id, "%s-%016llx", ep == OAI_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)random_seed());
    c->meta = (struct oai_meta){ep, c->id, q->model && q->model[0] ? q->model : h->cfg.model_id,
                                (int64_t)time(NULL), q->include_usage};
    c->meta.include_usage = q->stream && q->include_usage;
    c->waiting = true;
    if (q->stream) {
        c->streaming = true;
        struct MHD_Response *r =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, c, NULL);
        if (!r) return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        c->status = 200;
        enum MHD_Result ret = MHD_queue_response(c->mhd, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (collect(c)) return respond_complete(c);
    suspend_unless_ready(h, c);
    return MHD_YES;
}

/* ---- dispatch ---- */

static enum route route_of(const char *path)
{
    static const struct {
        const char *path;
        enum route r;
    } table[] = {{"/health", R_HEALTH},
                 {"/metrics", R_METRICS},
                 {"/v1/models", R_MODELS},
                 {"/models", R_MODELS},
                 {"/v1/completions", R_COMPLETIONS},
                 {"/completions", R_COMPLETIONS},
                 {"/v1/chat/completions", R_CHAT},
                 {"/chat/completions", R_CHAT},
                 {"/tokenize", R_TOKENIZE},
                 {"/detokenize", R_DETOKENIZE}};
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (!strcmp(path, table[i].path)) return table[i].r;
    return R_NONE;
}

static bool route_is_get(enum route r)
{
    return r == R_HEALTH || r == R_METRICS || r == R_MODELS;
}

static bool authorized(struct http *h, struct conn *c, bool *given)
{
    *given = false;
    if (!h->cfg.api_key || !h->cfg.api_key[0]) return true;
    if (c->route == R_HEALTH || c->route == R_METRICS) return true;
    const char *auth = MHD_lookup_connection_value(c->mhd, MHD_HEADER_KIND, "Authorization");
    if (!auth) return false;
    *given = true;
    if (strncasecmp(auth, "Bearer ", 7) != 0) return false;
    return strcmp(auth + 7, h->cfg.api_key) == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mhd, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    (void)version;
    struct http *h = cls;
    struct conn *c = *req_cls;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) return MHD_NO;
        c->h = h;
        c->mhd = mhd;
        c->waker = -1;
        c->t_start = now_s();
        c->method = method;
        snprintf(c->path, sizeof c->path, "%s", url);
        c->route = route_of(url);
        atomic_init(&c->keepalive_due, false);
        *req_cls = c;
        return MHD_YES; /* headers only; the body (if any) comes next */
    }
    if (*upload_size) {
        if (!c->too_large && c->body.len + *upload_size <= h->cfg.max_body)
            oai_buf_append(&c->body, upload, *upload_size);
        else
            c->too_large = true, oai_buf_free(&c->body);
        *upload_size = 0;
        return MHD_YES;
    }

    /* A generation in progress: resumed (non-streaming) or re-entered. */
    if (c->waiting) {
        if (c->streaming) return MHD_YES;
        if (c->client_gone) return MHD_NO;
        if (collect(c)) return respond_complete(c);
        suspend_unless_ready(h, c);
        return MHD_YES;
    }

    struct oai_error e;
    oai_error_clear(&e);
    const bool is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    const bool is_post = !strcmp(method, "POST");
    if (c->route == R_NONE) {
        oai_error_not_found(&e, method, url);
        return send_error(c, &e);
    }
    if (route_is_get(c->route) ? !is_get : !is_post) {
        oai_error_method(&e, method, url, route_is_get(c->route) ? "GET" : "POST");
        return send_error(c, &e);
    }
    bool given;
    if (!authorized(h, c, &given)) {
        oai_error_unauthorized(&e, given);
        return send_error(c, &e);
    }
    if (c->too_large || c->body.failed) {
        oai_error_too_large(&e, h->cfg.max_body);
        return send_error(c, &e);
    }
    if (c->route == R_HEALTH) return handle_health(c);
    if (c->route == R_METRICS) return handle_metrics(c);
    if (!atomic_load(&h->ready)) {
        oai_error_loading(&e);
        return send_error(c, &e);
    }
    if (c->route == R_MODELS) return handle_models(c);
    if (c->route == R_TOKENIZE) return handle_tokenize(c);
    if (c->route == R_DETOKENIZE) return handle_detokenize(c);
    if (atomic_load(&h->quiescing)) {
        oai_errorf(&e, LF_ERR_CANCELLED, 503, NULL, NULL, "the server is shutting down");
        return send_error(c, &e);
    }
    return handle_generate(c);
}

static void on_completed(void *cls, struct MHD_Connection *mhd, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)mhd;
    struct http *h = cls;
    struct conn *c = *req_cls;
    if (!c) return;
    *req_cls = NULL;
    if (c->n_choices && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        /* The client left (or the write failed): cancel what still runs. */
        bool running = false;
        for (int32_t i = 0; i < c->n_choices; i++)
            if (c->choices[i].r && !c->choices[i].finished) running = true;
        if (running) atomic_fetch_add(&h->disconnects, 1);
    }
    if (c->n_choices) {
        atomic_fetch_add(&h->prompt_tokens, (uint64_t)c->prompt_tokens);
        atomic_fetch_add(&h->completion_tokens, (uint64_t)c->completion_tokens);
    }
    waker_release(h, c); /* no wake-up reaches c after this */
    atomic_fetch_add(&h->req_total, 1);
    if (c->status >= 200 && c->status < 300) atomic_fetch_add(&h->req_2xx, 1);
    else if (c->status >= 400 && c->status < 500) atomic_fetch_add(&h->req_4xx, 1);
    else if (c->status >= 500) atomic_fetch_add(&h->req_5xx, 1);
    if (!h->cfg.quiet)
        fprintf(stderr, "lutfuse: %s %s %d %lld+%lld tokens %.3f s%s\n", c->method, c->path,
                c->status, (long long)c->prompt_tokens, (long long)c->completion_tokens,
                now_s() - c->t_start,
                toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed early)");
    conn_free_generation(c);
    oai_buf_free(&c->body);
    free(c);
}

/* ---- heartbeat ---- */

static void *heartbeat_main(void *arg)
{
    struct http *h = arg;
    const int period_ms = 100;
    int ticks = 0, keepalive_ticks = h->cfg.heartbeat_ms / period_ms;
    if (keepalive_ticks < 1) keepalive_ticks = 1;
    while (!atomic_load(&h->hb_stop)) {
        struct timespec ts = {0, period_ms * 1000000L};
        nanosleep(&ts, NULL);
        bool keepalive = ++ticks % keepalive_ticks == 0;
        for (int i = 0; i < h->n_wakers; i++) {
            struct waker *w = &h->wakers[i];
            pthread_mutex_lock(&w->mu);
            if (w->in_use && w->fd >= 0) {
                struct conn *c = w->conn;
                struct pollfd pfd = {w->fd, POLLRDHUP, 0};
                bool gone = poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
                if (gone && !c->client_gone) {
                    c->client_gone = true;
                    for (int32_t k = 0; k < c->n_choices; k++)
                        if (c->choices[k].r) req_cancel(c->choices[k].r);
                }
                bool queued = c->streaming;
                for (int32_t k = 0; queued && k < c->n_choices; k++)
                    if (c->choices[k].got_first || c->choices[k].finished) queued = false;
                if (keepalive && queued) atomic_store(&c->keepalive_due, true);
                if (w->suspended && (gone || (keepalive && queued))) {
                    w->suspended = false;
                    MHD_resume_connection(w->mhd);
                }
            }
            pthread_mutex_unlock(&w->mu);
        }
    }
    return NULL;
}

/* ---- life cycle ---- */

int http_start(const struct http_config *cfg, struct http **out, char *err, size_t err_len)
{
    *out = NULL;
    struct http *h = calloc(1, sizeof *h);
    if (!h) return LF_ERR_NOMEM;
    h->cfg = *cfg;
    h->created = (int64_t)time(NULL);
    h->n_wakers = cfg->max_connections;
    h->wakers = calloc((size_t)h->n_wakers, sizeof *h->wakers);
    h->free_wakers = malloc((size_t)h->n_wakers * sizeof *h->free_wakers);
    if (!h->wakers || !h->free_wakers) {
        free(h->wakers);
        free(h->free_wakers);
        free(h);
        return LF_ERR_NOMEM;
    }
    for (int i = 0; i < h->n_wakers; i++) {
        pthread_mutex_init(&h->wakers[i].mu, NULL);
        h->wakers[i].fd = -1;
        h->free_wakers[i] = h->n_wakers - 1 - i;
    }
    h->n_free = h->n_wakers;
    pthread_mutex_init(&h->free_mu, NULL);

    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)cfg->port);
    if (inet_pton(AF_INET, cfg->host, &addr.sin_addr) != 1) {
        http_stop(h);
        return lf_errf(err, err_len, LF_ERR_INVALID, "--host '%s' is not an IPv4 address",
                       cfg->host);
    }
    h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                                MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC,
                            (uint16_t)cfg->port, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->timeout_s,
                            MHD_OPTION_END);
    if (!h->d) {
        http_stop(h);
        return lf_errf(err, err_len, LF_ERR_IO, "cannot listen on %s:%d (in use? no permission?)",
                       cfg->host, cfg->port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : cfg->port;
    if (pthread_create(&h->heartbeat, NULL, heartbeat_main, h) == 0) h->hb_started = true;
    *out = h;
    return 0;
}

int http_port(const struct http *h)
{
    return h->port;
}

void http_set_ready(struct http *h, const struct model *m, struct sched *s, int32_t n_ctx)
{
    h->m = m;
    h->s = s;
    h->n_ctx = n_ctx;
    h->chat = CHAT_UNKNOWN;
    if (h->cfg.chat_template) {
        h->chat = chat_from_name(h->cfg.chat_template);
    } else {
        struct gguf_str tpl;
        if (gguf_get_str(m->gguf, "tokenizer.chat_template", &tpl) == 0) {
            char *z = strndup(tpl.ptr, (size_t)tpl.len);
            if (z) h->chat = chat_detect(z);
            free(z);
        }
    }
    atomic_store(&h->ready, true);
}

void http_quiesce(struct http *h)
{
    atomic_store(&h->quiescing, true);
    if (h->d) {
        MHD_socket fd = MHD_quiesce_daemon(h->d);
        if (fd != MHD_INVALID_SOCKET) close(fd);
    }
}

int http_drain(struct http *h, int ms)
{
    const double deadline = now_s() + ms / 1000.0;
    while (atomic_load(&h->in_flight) > 0 && now_s() < deadline) {
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    return atomic_load(&h->in_flight);
}

void http_stop(struct http *h)
{
    if (!h) return;
    if (h->hb_started) {
        atomic_store(&h->hb_stop, true);
        pthread_join(h->heartbeat, NULL);
    }
    /* Resume every suspended connection so the daemon can close it. */
    for (int i = 0; h->d && i < h->n_wakers; i++) {
        struct waker *w = &h->wakers[i];
        pthread_mutex_lock(&w->mu);
        if (w->in_use && w->suspended) {
            if (w->conn) w->conn->client_gone = true;
            w->suspended = false;
            MHD_resume_connection(w->mhd);
        }
        pthread_mutex_unlock(&w->mu);
    }
    if (h->d) MHD_stop_daemon(h->d);
    for (int i = 0; i < h->n_wakers; i++) pthread_mutex_destroy(&h->wakers[i].mu);
    pthread_mutex_destroy(&h->free_mu);
    free(h->wakers);
    free(h->free_wakers);
    free(h);
}
