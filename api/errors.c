/* errors.c - status mapping and the OpenAI error body (see errors.h). */
#include "api/errors.h"

#include "engine/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void oai_error_clear(struct oai_error *e)
{
    if (e) memset(e, 0, sizeof *e);
}

static void fill(struct oai_error *e, int http_status, const char *param, const char *code)
{
    e->http_status = http_status;
    e->type = oai_error_type_for_status(http_status);
    e->param = param;
    e->code = code;
}

int oai_errorf(struct oai_error *e, int lf_status, int http_status, const char *param,
               const char *code, const char *fmt, ...)
{
    if (!e) return lf_status;
    fill(e, http_status, param, code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return lf_status;
}

int oai_status_from_lf(int lf_status)
{
    switch (lf_status) {
    case LF_OK:
        return 200;
    case LF_ERR_INVALID:
    case LF_ERR_FORMAT:
    case LF_ERR_RANGE:
    case LF_ERR_UNSUPPORTED:
        return 400;
    case LF_ERR_BUSY:
        return 503;
    case LF_ERR_CANCELLED:
        return OAI_HTTP_CLIENT_CLOSED;
    default:
        return 500; /* LF_ERR_NOMEM, LF_ERR_IO, anything unknown */
    }
}

const char *oai_error_type_for_status(int http_status)
{
    switch (http_status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 501:
        return "not_supported_error";
    case 503:
        return "unavailable_error";
    default:
        return http_status >= 500 ? "server_error" : "invalid_request_error";
    }
}

void oai_error_from_lf(struct oai_error *e, int lf_status, const char *message)
{
    if (!e) return;
    fill(e, oai_status_from_lf(lf_status), NULL, NULL);
    snprintf(e->message, sizeof e->message, "%s", message ? message : lf_strerror(lf_status));
}

void oai_error_unauthorized(struct oai_error *e, bool key_given)
{
    if (key_given)
        oai_errorf(e, LF_ERR_INVALID, 401, NULL, "invalid_api_key", "invalid API key");
    else
        oai_errorf(e, LF_ERR_INVALID, 401, NULL, "invalid_api_key",
                   "missing API key: send it as \"Authorization: Bearer <key>\"");
}

void oai_error_not_found(struct oai_error *e, const char *method, const char *path)
{
    oai_errorf(e, LF_ERR_INVALID, 404, NULL, NULL, "no route for %.16s %.200s", method, path);
}

void oai_error_method(struct oai_error *e, const char *method, const char *path,
                      const char *allowed)
{
    oai_errorf(e, LF_ERR_INVALID, 405, NULL, NULL,
               "method %.16s is not allowed on %.160s (use %.32s)", method, path, allowed);
}

void oai_error_too_large(struct oai_error *e, size_t limit)
{
    oai_errorf(e, LF_ERR_RANGE, 413, NULL, NULL,
               "request body is larger than the limit of %zu bytes", limit);
}

void oai_error_busy(struct oai_error *e)
{
    oai_errorf(e, LF_ERR_BUSY, 503, NULL, NULL,
               "the server is busy: the request queue is full, retry later");
}

void oai_error_loading(struct oai_error *e)
{
    oai_errorf(e, LF_ERR_BUSY, 503, NULL, NULL, "the model is loading, retry later");
}

int oai_error_json(struct oai_buf *b, const struct oai_error *e)
{
    size_t start = b->len;
    int status = e->http_status ? e->http_status : 500;
    const char *type = e->type ? e->type : oai_error_type_for_status(status);
    /* The message array may lack its NUL only if a caller wrote it by hand. */
    size_t mlen = strnlen(e->message, sizeof e->message);
    oai_buf_puts(b, "{\"error\":{\"message\":");
    if (mlen)
        oai_buf_json_str(b, e->message, mlen);
    else
        oai_buf_json_cstr(b, status >= 500 ? "internal server error" : "bad request");
    oai_buf_puts(b, ",\"type\":");
    oai_buf_json_cstr(b, type);
    oai_buf_puts(b, ",\"param\":");
    oai_buf_json_cstr(b, e->param);
    oai_buf_puts(b, ",\"code\":");
    oai_buf_json_cstr(b, e->code);
    oai_buf_puts(b, "}}");
    return oai_buf_end(b, start);
}
