/* status.h - the one error vocabulary of lutfuse.
 *
 * Every fallible function returns 0 or a negative enum lf_status, from the GGUF
 * parser up to the HTTP layer (which maps them to status codes). Functions that
 * can say more than the code take an optional (char *err, size_t err_len) buffer
 * and write one line naming what went wrong; lf_errf() fills it and tolerates a
 * NULL buffer.
 */
#ifndef LF_STATUS_H
#define LF_STATUS_H

#include <stddef.h>

enum lf_status {
    LF_OK = 0,
    LF_ERR_NOMEM = -1,       /* allocation failed */
    LF_ERR_IO = -2,          /* open/read/mmap failed */
    LF_ERR_FORMAT = -3,      /* malformed or hostile file contents */
    LF_ERR_INVALID = -4,     /* bad argument or parameter */
    LF_ERR_BUSY = -5,        /* bounded queue full; try later */
    LF_ERR_CANCELLED = -6,   /* the request was cancelled */
    LF_ERR_UNSUPPORTED = -7, /* well-formed but not something lutfuse runs */
    LF_ERR_RANGE = -8,       /* a value outside what the model/context allows */
};

/* Suggested size of an error-message buffer. */
#define LF_ERRMSG_LEN 256

/* Static, never NULL. */
const char *lf_strerror(int status);

/* Format a one-line message into err (if err != NULL) and return status.
 * Lets callers write `return lf_errf(err, len, LF_ERR_FORMAT, "...", ...);`. */
int lf_errf(char *err, size_t err_len, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
