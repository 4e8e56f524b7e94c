/* status.c - status strings and the error-message helper. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>

const char *lf_strerror(int status)
{
    switch (status) {
    case LF_OK: return "ok";
    case LF_ERR_NOMEM: return "out of memory";
    case LF_ERR_IO: return "i/o error";
    case LF_ERR_FORMAT: return "bad format";
    case LF_ERR_INVALID: return "invalid argument";
    case LF_ERR_BUSY: return "busy";
    case LF_ERR_CANCELLED: return "cancelled";
    case LF_ERR_UNSUPPORTED: return "unsupported";
    case LF_ERR_RANGE: return "out of range";
    }
    return "unknown error";
}

int lf_errf(char *err, size_t err_len, int status, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return status;
}
