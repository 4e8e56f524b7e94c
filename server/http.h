/* http.h - the HTTP server: routes, limits, auth, streaming, disconnects.
 *
 * libmicrohttpd runs its own epoll thread; every handler here runs on it and
 * never blocks. Generation requests go to the scheduler; their connections
 * are suspended while no output is ready and resumed by the scheduler's
 * notify callback (exactly once per suspension). A heartbeat thread notices
 * clients that went away (their socket reports a hang-up) and cancels their
 * requests, and sends keep-alive comments to streams still waiting in the
 * queue.
 */
#ifndef LF_HTTP_H
#define LF_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct model;
struct sched;

struct http_config {
    const char *host;      /* bind address, default "127.0.0.1" */
    int port;              /* 0 = any free port */
    const char *api_key;   /* NULL or "": no authentication */
    const char *model_id;  /* name in /v1/models and responses */
    const char *chat_template; /* NULL: detect from the model */
    size_t max_body;       /* bytes; larger bodies get 413 */
    int max_connections;
    int timeout_s;         /* idle connection timeout */
    int heartbeat_ms;      /* keep-alive comment period for queued streams */
    bool quiet;            /* no access log */
};

struct http_config http_config_default(void);

struct http;

/* Start listening. The model and scheduler are attached later with
 * http_set_ready (until then generation routes answer 503 "loading").
 * LF_ERR_IO with a message if the address cannot be bound. */
int http_start(const struct http_config *cfg, struct http **out, char *err, size_t err_len);
/* The port actually bound (useful with port 0). */
int http_port(const struct http *h);
/* Attach a loaded model and a started scheduler (both borrowed; they must
 * outlive http_stop). */
void http_set_ready(struct http *h, const struct model *m, struct sched *s, int32_t n_ctx);
/* Stop accepting new connections and new generation requests. */
void http_quiesce(struct http *h);
/* Wait up to ms for in-flight generation requests to complete; returns the
 * number still in flight. */
int http_drain(struct http *h, int ms);
/* Resume every suspended connection, stop the daemon and free. NULL no-op. */
void http_stop(struct http *h);

#endif
