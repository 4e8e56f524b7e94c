/* buf.h - a growable byte buffer and a JSON writer on top of it.
 *
 * Everything api/ sends back to a client (response bodies, SSE chunks, error
 * bodies) is appended to a struct oai_buf. A connection keeps one buffer and
 * reuses it for every chunk, so a stream costs no allocation per token once
 * the buffer has grown to its working size.
 *
 * Errors are sticky: an append that cannot grow the buffer sets `failed` and
 * every later append does nothing, so a writer can emit a whole object and
 * check once at the end (oai_buf_end). JSON strings are written by
 * oai_buf_json_str, which escapes what JSON requires and replaces every byte
 * that is not part of valid UTF-8 with U+FFFD, so the output is always valid
 * JSON whatever bytes the caller passes.
 */
#ifndef LF_API_BUF_H
#define LF_API_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct oai_buf {
    char *data;  /* NUL-terminated after every append (when cap > 0) */
    size_t len;  /* bytes written, not counting the NUL */
    size_t cap;  /* bytes allocated */
    bool failed; /* an allocation failed since the last oai_buf_end/reset */
};

/* A zeroed struct oai_buf is an empty buffer; this is the same. */
#define OAI_BUF_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0, false                                                                          \
    }

/* Release the memory; the buffer is empty and usable again. NULL is a no-op. */
void oai_buf_free(struct oai_buf *b);

/* Forget the contents (keeps the memory) and clear `failed`. */
void oai_buf_reset(struct oai_buf *b);

/* Append n raw bytes / a C string / printf output. On allocation failure
 * they set b->failed and append nothing. */
void oai_buf_append(struct oai_buf *b, const void *p, size_t n);
void oai_buf_puts(struct oai_buf *b, const char *s);
void oai_buf_printf(struct oai_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append s[0..len) as a quoted JSON string: '"' and '\' escaped, control
 * characters as \n \r \t \b \f or \u00XX, valid UTF-8 copied as is, and each
 * byte that does not start a valid UTF-8 sequence (stray continuation byte,
 * overlong form, surrogate, value above U+10FFFF, truncated sequence) replaced
 * by U+FFFD. s may be NULL when len is 0. */
void oai_buf_json_str(struct oai_buf *b, const char *s, size_t len);

/* Same for a NUL-terminated string; NULL writes the JSON literal null. */
void oai_buf_json_cstr(struct oai_buf *b, const char *s);

/* A JSON number for a float: up to 9 significant digits (enough to read the
 * same float back); NaN and -inf become -9999 and +inf 9999, because JSON
 * has no spelling for them. */
void oai_buf_json_float(struct oai_buf *b, float v);

/* Finish a writer that started when b->len was `start`: if an allocation
 * failed on the way, cut the buffer back to `start`, clear `failed` and return
 * LF_ERR_NOMEM; otherwise return 0. */
int oai_buf_end(struct oai_buf *b, size_t start);

/* True if s[0..len) is valid UTF-8 (the same rules oai_buf_json_str uses). */
bool oai_utf8_valid(const char *s, size_t len);

#endif
