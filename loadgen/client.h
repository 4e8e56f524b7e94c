/* client.h - running a workload against a server: libcurl's multi interface
 * drives every request from one thread (hundreds of concurrent streams,
 * keep-alive connections reused), an SSE parser per stream, and a timestamp
 * per chunk.
 *
 * Each request is a streaming POST ("stream": true, "stream_options":
 * {"include_usage": true}, "max_tokens" = the planned output length). It is
 * due at its arrival time and sent when fewer than max_concurrency are in
 * flight (vLLM's semaphore); "send" is the moment it is handed to libcurl.
 * A request fails, with its cause recorded, when: the connection cannot be
 * made; the status is not 200 (the body and any Retry-After are kept in the
 * message); no byte arrives for timeout_s (first byte or between chunks);
 * the connection ends before "data: [DONE]" or a chunk with a finish_reason;
 * an SSE data line is not the expected JSON; the stream carries an error
 * event ("event: error" or an object with "error"); or a complete stream
 * has no chunk with choices. Nothing is retried.
 */
#ifndef LG_CLIENT_H
#define LG_CLIENT_H

#include "loadgen/loadgen.h"

/* Run cfg's workload once and fill *res (records and metrics). Request
 * failures are counted in res, not returned. Returns 0, or LG_ERR_INVALID
 * (bad setting), LG_ERR_NET (no model given and /v1/models failed),
 * LG_ERR_IO/LG_ERR_FORMAT (dataset), LG_ERR_NOMEM; err gets one line. On
 * error *res is left empty. Blocks until every request has ended or
 * cfg->stop is set; call from one thread at a time. */
int lg_run(const struct lg_config *cfg, struct lg_result *res, char *err, size_t err_len);

/* The first model id of GET {base_url}/v1/models, malloc'd into *model.
 * Returns 0, LG_ERR_NET (no answer, not 200, or not the OpenAI list shape),
 * or LG_ERR_NOMEM. */
int lg_fetch_model(const struct lg_config *cfg, char **model, char *err, size_t err_len);

/* The full request URL for cfg (base without trailing '/' or "/v1", plus the
 * endpoint path); malloc'd, NULL when out of memory. */
char *lg_request_url(const struct lg_config *cfg);

#endif
