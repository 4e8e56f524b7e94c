/* test_loadgen_sse.c - the SSE parser gives the same events however the
 * stream is split: whole, at every single byte boundary, at every pair of
 * boundaries, and one byte at a time. */
#include "tests/testutil.h"
#include "loadgen/loadgen.h"
#include "loadgen/sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A stream with a BOM, CRLF / LF / lone-CR line ends, comments, an event
 * name, multi-line data (with and without the space after the colon, and an
 * empty data line), id/retry fields, an unknown field, [DONE], and a final
 * event without its closing blank line. */
static const char k_stream[] =
    "\xEF\xBB\xBF"
    ": keep-alive\r\n"
    "\r\n"
    "data: {\"a\":1}\r\n"
    "\r\n"
    "event: error\n"
    "data: line one\n"
    "data:line two\n"
    "data\n"
    ": inside\n"
    "id: 7\n"
    "retry: 100\n"
    "bogus: field\n"
    "\n"
    "data: cr only\r"
    "\r"
    "data: x\r\n"
    "data: y\r\n"
    "\r\n"
    "data:  two spaces\n"
    "\n"
    "data: [DONE]\n"
    "\n"
    "data: {\"tail\":true}";

/* Each event as "name|data" followed by '\x1e'. */
static const char k_expected[] = "message|{\"a\":1}\x1e"
                                 "error|line one\nline two\n\x1e"
                                 "message|cr only\x1e"
                                 "message|x\ny\x1e"
                                 "message| two spaces\x1e"
                                 "message|[DONE]\x1e"
                                 "message|{\"tail\":true}\x1e";

struct sink {
    char buf[1024];
    size_t len;
    int stop_with; /* non-zero: return it from the first event */
};

static int collect(void *ctx, const struct lg_sse_event *ev)
{
    struct sink *s = ctx;
    int n = snprintf(s->buf + s->len, sizeof s->buf - s->len, "%s|%s\x1e", ev->event, ev->data);
    assert_true(n > 0 && (size_t)n < sizeof s->buf - s->len);
    assert_int_equal(strlen(ev->data), ev->data_len);
    s->len += (size_t)n;
    return s->stop_with;
}

/* Feed k_stream cut at the given points (ascending), then finish; check. */
static void feed_cut(const size_t *cuts, int n_cuts)
{
    size_t len = sizeof k_stream - 1;
    struct lg_sse *p = lg_sse_new(0);
    assert_non_null(p);
    struct sink s = {0};
    size_t at = 0;
    for (int i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : len;
        assert_int_equal(lg_sse_feed(p, k_stream + at, end - at, collect, &s), 0);
        at = end;
    }
    assert_int_equal(lg_sse_finish(p, collect, &s), 0);
    s.buf[s.len] = 0;
    if (strcmp(s.buf, k_expected) != 0) {
        fprintf(stderr, "cuts:");
        for (int i = 0; i < n_cuts; i++) fprintf(stderr, " %zu", cuts[i]);
        fprintf(stderr, "\n");
    }
    assert_string_equal(s.buf, k_expected);
    assert_int_equal(lg_sse_comments(p), 2);
    assert_int_equal(lg_sse_unknown_fields(p), 1);
    lg_sse_free(p);
}

static void test_whole_stream(void **state)
{
    (void)state;
    feed_cut(NULL, 0);
}

static void test_every_single_split(void **state)
{
    (void)state;
    for (size_t i = 0; i <= sizeof k_stream - 1; i++) feed_cut(&i, 1);
}

static void test_every_pair_of_splits(void **state)
{
    (void)state;
    size_t len = sizeof k_stream - 1;
    for (size_t i = 0; i <= len; i++)
        for (size_t j = i; j <= len; j++) {
            size_t cuts[2] = {i, j};
            feed_cut(cuts, 2);
        }
}

static void test_single_bytes(void **state)
{
    (void)state;
    size_t len = sizeof k_stream - 1;
    size_t *cuts = malloc(len * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i < len; i++) cuts[i] = i + 1;
    feed_cut(cuts, (int)len - 1);
    free(cuts);
}

static void test_callback_value_stops_the_feed(void **state)
{
    (void)state;
    struct lg_sse *p = lg_sse_new(0);
    struct sink s = {.stop_with = 7};
    const char two[] = "data: a\n\ndata: b\n\n";
    assert_int_equal(lg_sse_feed(p, two, sizeof two - 1, collect, &s), 7);
    s.buf[s.len] = 0;
    assert_string_equal(s.buf, "message|a\x1e"); /* the second event was not parsed */
    lg_sse_free(p);
}

static void test_oversized_line_is_format_error(void **state)
{
    (void)state;
    struct lg_sse *p = lg_sse_new(16);
    struct sink s = {0};
    const char ok[] = "data: 0123456789\n\n"; /* 16-byte line, 11 bytes of data */
    assert_int_equal(lg_sse_feed(p, ok, sizeof ok - 1, collect, &s), 0);
    const char big[] = "data: 0123456789a\n"; /* 17 bytes before the line end */
    assert_int_equal(lg_sse_feed(p, big, sizeof big - 1, collect, &s), LG_ERR_FORMAT);
    lg_sse_free(p);
    /* Data joined from many short lines is bounded too. */
    p = lg_sse_new(16);
    const char many[] = "data: 01234\ndata: 56789\ndata: abcde\n";
    assert_int_equal(lg_sse_feed(p, many, sizeof many - 1, collect, &s), LG_ERR_FORMAT);
    lg_sse_free(p);
}

static void test_no_data_no_event_and_partial_bom(void **state)
{
    (void)state;
    struct lg_sse *p = lg_sse_new(0);
    struct sink s = {0};
    /* An event name without data dispatches nothing and does not leak into
     * the next event; "\xEF\xBB" that is not a full BOM is kept as bytes. */
    const char in[] = "event: ping\n\ndata: after\n\n";
    assert_int_equal(lg_sse_feed(p, in, sizeof in - 1, collect, &s), 0);
    assert_int_equal(lg_sse_finish(p, collect, &s), 0);
    s.buf[s.len] = 0;
    assert_string_equal(s.buf, "message|after\x1e");
    lg_sse_free(p);

    p = lg_sse_new(0);
    s.len = 0;
    const char odd[] = "\xEF\xBBx: 1\ndata: z\n\n";
    assert_int_equal(lg_sse_feed(p, odd, sizeof odd - 1, collect, &s), 0);
    s.buf[s.len] = 0;
    assert_string_equal(s.buf, "message|z\x1e");
    assert_int_equal(lg_sse_unknown_fields(p), 1); /* field "\xEF\xBBx" */
    lg_sse_free(p);
    lg_sse_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_stream),
        cmocka_unit_test(test_every_single_split),
        cmocka_unit_test(test_every_pair_of_splits),
        cmocka_unit_test(test_single_bytes),
        cmocka_unit_test(test_callback_value_stops_the_feed),
        cmocka_unit_test(test_oversized_line_is_format_error),
        cmocka_unit_test(test_no_data_no_event_and_partial_bom),
    };
    return cmocka_run_group_tests_name("loadgen_sse", tests, NULL, NULL);
}
