/* sse.c - incremental event-stream parser (see sse.h for the rules).
 *
 * State between calls: the unfinished line (line/line_len), whether the last
 * byte seen was a CR (so an LF that follows in the next piece is not a second
 * line end), and the event being built (data, event name). Each complete
 * line is handled by process_line(); a blank line dispatches.
 */
#include "loadgen/sse.h"
#include "loadgen/loadgen.h"

#include <stdlib.h>
#include <string.h>

struct lg_sse {
    size_t max_bytes;
    char *line;           /* current unfinished line, not NUL-terminated */
    size_t line_len, line_cap;
    char *data;           /* data lines joined with '\n' (with a trailing '\n') */
    size_t data_len, data_cap;
    int has_data;         /* a data line was seen since the last dispatch */
    char event[64];       /* event name, "" when not given */
    int after_cr;         /* last byte was CR: skip one LF that follows */
    int at_start;         /* nothing seen yet: a UTF-8 BOM may be skipped */
    size_t bom_seen;      /* bytes of a leading BOM matched so far */
    size_t comments, unknown_fields;
};

struct lg_sse *lg_sse_new(size_t max_event_bytes)
{
    struct lg_sse *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->max_bytes = max_event_bytes ? max_event_bytes : (size_t)1 << 20;
    p->at_start = 1;
    return p;
}

void lg_sse_free(struct lg_sse *p)
{
    if (!p) return;
    free(p->line);
    free(p->data);
    free(p);
}

size_t lg_sse_comments(const struct lg_sse *p) { return p->comments; }
size_t lg_sse_unknown_fields(const struct lg_sse *p) { return p->unknown_fields; }

/* Grow *buf to hold need bytes (need <= bound checked by the caller). */
static int reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need) n *= 2;
    char *b = realloc(*buf, n);
    if (!b) return LG_ERR_NOMEM;
    *buf = b;
    *cap = n;
    return 0;
}

static int dispatch(struct lg_sse *p, lg_sse_event_fn fn, void *ctx)
{
    if (!p->has_data) { /* no data: the event is dropped, the name reset */
        p->event[0] = 0;
        return 0;
    }
    /* Joined data ends with the '\n' of its last line; drop that one. */
    size_t n = p->data_len ? p->data_len - 1 : 0;
    int rc = reserve(&p->data, &p->data_cap, n + 1);
    if (rc) return rc;
    p->data[n] = 0;
    struct lg_sse_event ev = {p->event[0] ? p->event : "message", p->data, n};
    rc = fn(ctx, &ev);
    p->data_len = 0;
    p->has_data = 0;
    p->event[0] = 0;
    return rc;
}

/* One complete line (without its line end). */
static int process_line(struct lg_sse *p, const char *line, size_t len, lg_sse_event_fn fn,
                        void *ctx)
{
    if (len == 0) return dispatch(p, fn, ctx);
    if (line[0] == ':') {
        p->comments++;
        return 0;
    }
    const char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t value_len = (size_t)(line + len - value);
    if (value_len && value[0] == ' ') {
        value++;
        value_len--;
    }
    if (name_len == 4 && memcmp(line, "data", 4) == 0) {
        if (p->data_len + value_len + 1 > p->max_bytes) return LG_ERR_FORMAT;
        int rc = reserve(&p->data, &p->data_cap, p->data_len + value_len + 1);
        if (rc) return rc;
        memcpy(p->data + p->data_len, value, value_len);
        p->data_len += value_len;
        p->data[p->data_len++] = '\n';
        p->has_data = 1;
    } else if (name_len == 5 && memcmp(line, "event", 5) == 0) {
        size_t n = value_len < sizeof p->event - 1 ? value_len : sizeof p->event - 1;
        memcpy(p->event, value, n);
        p->event[n] = 0;
    } else if ((name_len == 2 && memcmp(line, "id", 2) == 0) ||
               (name_len == 5 && memcmp(line, "retry", 5) == 0)) {
        /* not needed by a load generator */
    } else {
        p->unknown_fields++;
    }
    return 0;
}

int lg_sse_feed(struct lg_sse *p, const char *buf, size_t len, lg_sse_event_fn fn, void *ctx)
{
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    size_t i = 0;
    /* A UTF-8 byte-order mark may open the stream; it may itself be split. */
    while (p->at_start && i < len) {
        if ((unsigned char)buf[i] == bom[p->bom_seen]) {
            p->bom_seen++;
            i++;
            if (p->bom_seen == 3) p->at_start = 0;
        } else {
            /* Not a BOM after all: the bytes matched so far are line bytes. */
            if (p->bom_seen) {
                int rc = reserve(&p->line, &p->line_cap, p->bom_seen);
                if (rc) return rc;
                memcpy(p->line, bom, p->bom_seen);
                p->line_len = p->bom_seen;
            }
            p->at_start = 0;
        }
    }
    while (i < len) {
        char c = buf[i];
        if (p->after_cr) {
            p->after_cr = 0;
            if (c == '\n') { /* the LF of a CRLF split across calls or not */
                i++;
                continue;
            }
        }
        /* Fast path: a run of ordinary bytes goes into the line at once. */
        size_t j = i;
        while (j < len && buf[j] != '\n' && buf[j] != '\r') j++;
        if (j > i) {
            size_t add = j - i;
            if (p->line_len + add > p->max_bytes) return LG_ERR_FORMAT;
            int rc = reserve(&p->line, &p->line_cap, p->line_len + add);
            if (rc) return rc;
            memcpy(p->line + p->line_len, buf + i, add);
            p->line_len += add;
            i = j;
            continue;
        }
        /* buf[i] is a line end. */
        if (c == '\r') p->after_cr = 1;
        i++;
        size_t n = p->line_len;
        p->line_len = 0;
        int rc = process_line(p, p->line, n, fn, ctx);
        if (rc) return rc;
    }
    return 0;
}

int lg_sse_finish(struct lg_sse *p, lg_sse_event_fn fn, void *ctx)
{
    if (p->at_start && p->bom_seen) { /* a stream of only part of a BOM */
        p->at_start = 0;
        p->unknown_fields++;
        p->bom_seen = 0;
    }
    if (p->line_len) {
        size_t n = p->line_len;
        p->line_len = 0;
        int rc = process_line(p, p->line, n, fn, ctx);
        if (rc) return rc;
    }
    return dispatch(p, fn, ctx);
}
