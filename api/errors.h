/* errors.h - lutfuse status codes -> HTTP status + OpenAI error body.
 *
 * Every failure the API reports is a struct oai_error: the HTTP status, a
 * one-line message naming what was wrong (the field, the limit), and the
 * OpenAI "type" / "param" / "code" strings. The server turns it into bytes
 * with oai_error_json:
 *
 *   {"error":{"message":"...","type":"invalid_request_error","param":"top_p","code":null}}
 *
 * Types follow llama.cpp's server, which is what OpenAI-compatible clients in
 * the wild already handle: invalid_request_error (400, 405, 413),
 * authentication_error (401), permission_error (403), not_found_error (404),
 * server_error (500), not_supported_error (501), unavailable_error (503).
 *
 * Status mapping (oai_status_from_lf), chosen as follows:
 *   LF_ERR_INVALID / FORMAT / RANGE  400  the request is wrong
 *   LF_ERR_UNSUPPORTED               400  well-formed, but asks for something
 *                                         lutfuse does not do; retrying the same
 *                                         request cannot succeed, so not a 5xx
 *   LF_ERR_BUSY                      503  queue full; the server adds Retry-After
 *   LF_ERR_NOMEM / LF_ERR_IO / other 500
 *   LF_ERR_CANCELLED                 499  nginx's "client closed request": the
 *                                         client is gone, so it is only logged
 *                                         and never sent
 */
#ifndef LF_API_ERRORS_H
#define LF_API_ERRORS_H

#include "api/buf.h"

#include <stdbool.h>
#include <stddef.h>

#define OAI_HTTP_CLIENT_CLOSED 499

struct oai_error {
    int http_status;   /* 400, 401, ... (0 when no error has been set) */
    char message[256]; /* one line; may be truncated, then not valid UTF-8 at
                          the cut (oai_error_json repairs that) */
    const char *type;  /* static string, e.g. "invalid_request_error" */
    const char *param; /* static string naming the top-level field, or NULL */
    const char *code;  /* static string (e.g. "context_length_exceeded"), or NULL */
};

/* Zero *e (http_status 0, empty message, NULL strings). e may be NULL. */
void oai_error_clear(struct oai_error *e);

/* Fill *e (if e != NULL) with http_status, the type for that status
 * (oai_error_type_for_status), param, code and the formatted message, and
 * return lf_status. Lets parsers write
 * `return oai_errorf(err, LF_ERR_INVALID, 400, "n", NULL, "...", ...);`.
 * param and code must be static strings (they are stored, not copied). */
int oai_errorf(struct oai_error *e, int lf_status, int http_status, const char *param,
               const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* HTTP status for a lutfuse status (table above); 200 for LF_OK. */
int oai_status_from_lf(int lf_status);

/* OpenAI error type for an HTTP status (list above); "server_error" for any
 * 5xx not listed, "invalid_request_error" for any other 4xx. Static. */
const char *oai_error_type_for_status(int http_status);

/* Fill *e from a lutfuse status and a message (NULL: lf_strerror's text). */
void oai_error_from_lf(struct oai_error *e, int lf_status, const char *message);

/* Ready-made errors for the server's own checks. */
/* 401: key_given false -> "missing API key ...", true -> "invalid API key". */
void oai_error_unauthorized(struct oai_error *e, bool key_given);
/* 404 for an unknown route: "no route for GET /v1/nope". */
void oai_error_not_found(struct oai_error *e, const char *method, const char *path);
/* 405: "method GET is not allowed on /v1/completions (use POST)". */
void oai_error_method(struct oai_error *e, const char *method, const char *path,
                      const char *allowed);
/* 413: "request body is larger than the limit of 1048576 bytes". */
void oai_error_too_large(struct oai_error *e, size_t limit);
/* 503 for a full queue (the server adds "Retry-After: <seconds>"). */
void oai_error_busy(struct oai_error *e);
/* 503 while the model loads. */
void oai_error_loading(struct oai_error *e);

/* Append the error body for *e to b (see the top of this file). A missing
 * type is written as the type for e->http_status; an empty message as
 * lf_strerror-like text for the status. 0 or LF_ERR_NOMEM (b unchanged). */
int oai_error_json(struct oai_buf *b, const struct oai_error *e);

#endif
