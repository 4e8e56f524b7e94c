/* tu_server.h - start the real lutfuse server for end-to-end tests.
 *
 * The server runs as a child process (`lutfuse serve --port 0 ...`) bound to
 * 127.0.0.1 on a free port, which is read from its "listening on" line. Its
 * stderr is collected by a thread so that tests can look at it (e.g. for
 * sanitizer reports) and the pipe never fills up.
 */
#ifndef LF_TU_SERVER_H
#define LF_TU_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

struct tu_server {
    pid_t pid;
    int port;
    char base[64]; /* "http://127.0.0.1:PORT" */
    int err_fd;
    pthread_t reader;
    pthread_mutex_t mu;
    char *log; /* everything the server wrote to stderr */
    size_t log_len;
};

/* Start `$LUTFUSE_BIN serve --port 0 --host 127.0.0.1 <args>`; waits up to
 * 60 s for it to listen. Returns 0, or -1 (s->log says why). */
int tu_server_start(struct tu_server *s, const char *args);
/* Send sig (SIGTERM/SIGINT/SIGKILL), wait up to timeout_s; returns the exit
 * code (128+signal if killed, -1 on timeout, after which it is killed). */
int tu_server_stop(struct tu_server *s, int sig, int timeout_s);
/* A copy of the log so far (caller frees). */
char *tu_server_log(struct tu_server *s);
/* A response body collected by libcurl: pass tu_body_append as
 * CURLOPT_WRITEFUNCTION and a zeroed struct tu_body as CURLOPT_WRITEDATA.
 * data is NUL-terminated (NULL until the first byte); the caller frees it. */
struct tu_body {
    char *data;
    size_t len;
};
size_t tu_body_append(char *p, size_t sz, size_t n, void *body);
/* Resident set size of the running server in KiB (VmRSS of /proc/PID/status),
 * or -1 if it cannot be read. */
long tu_server_rss_kib(const struct tu_server *s);
/* The body of GET /metrics (malloc'd, caller frees), or NULL when the server
 * does not answer 200 within 10 s. Uses libcurl (curl_global_init is the
 * caller's business). */
char *tu_server_metrics(const struct tu_server *s);
/* The value of the sample line "NAME VALUE" in a /metrics text (NAME may carry
 * labels, e.g. "lutfuse_http_responses_total{class=\"2xx\"}"), or -1 if there
 * is none (every lutfuse metric is >= 0). */
double tu_metrics_value(const char *text, const char *name);

#endif
