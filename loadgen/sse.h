/* sse.h - an incremental parser for server-sent events (text/event-stream).
 *
 * Bytes arrive in whatever pieces the network delivers: an event, a line, a
 * CRLF pair or a UTF-8 sequence may be split anywhere. The parser keeps the
 * unfinished line and the event being built between calls, and calls back
 * once per complete event, so any split of the same stream yields the same
 * events. It follows the WHATWG event-stream rules:
 *   - lines end with CRLF, LF or a lone CR;
 *   - a line starting with ':' is a comment (servers send them as pings);
 *   - "field: value" (one space after the colon is dropped; a line without a
 *     colon is a field with an empty value);
 *   - "data" lines are joined with '\n'; "event" names the event; "id" and
 *     "retry" are ignored; other field names are counted, not fatal;
 *   - a blank line dispatches the event if it has data.
 * One difference from the browser rule, on purpose: at the end of the stream
 * (lg_sse_finish) a last event that lacks its closing blank line is still
 * dispatched, as vLLM's client does, since servers do end streams that way.
 * "[DONE]" is ordinary data here; the client gives it meaning.
 */
#ifndef LG_SSE_H
#define LG_SSE_H

#include <stddef.h>

struct lg_sse;

/* One dispatched event. Both strings are NUL-terminated and borrowed until
 * the callback returns. event is "message" when no "event:" line was given. */
struct lg_sse_event {
    const char *event;
    const char *data;
    size_t data_len;
};

/* Called once per event. Return 0 to go on; any other value stops the feed,
 * which returns that value. */
typedef int (*lg_sse_event_fn)(void *ctx, const struct lg_sse_event *ev);

/* A new parser. max_event_bytes bounds one line and one event's data (0:
 * 1 MiB); a longer one makes lg_sse_feed fail with LG_ERR_FORMAT.
 * Returns NULL when out of memory. */
struct lg_sse *lg_sse_new(size_t max_event_bytes);

/* NULL is a no-op. */
void lg_sse_free(struct lg_sse *p);

/* Parse len bytes, calling fn for every event they complete. Returns 0, the
 * callback's non-zero value, LG_ERR_NOMEM, or LG_ERR_FORMAT (a line or event
 * over the bound). After a non-zero return the parser must not be fed again. */
int lg_sse_feed(struct lg_sse *p, const char *buf, size_t len, lg_sse_event_fn fn, void *ctx);

/* End of stream: process an unterminated last line and dispatch a pending
 * event. Same returns as lg_sse_feed. */
int lg_sse_finish(struct lg_sse *p, lg_sse_event_fn fn, void *ctx);

/* Counters since lg_sse_new: comment lines, and lines whose field name is not
 * one of data/event/id/retry (a body that is not an event stream shows up
 * here). */
size_t lg_sse_comments(const struct lg_sse *p);
size_t lg_sse_unknown_fields(const struct lg_sse *p);

#endif
