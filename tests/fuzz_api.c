/* fuzz_api.c - libFuzzer target for api/: request parsers and the JSON writer.
 *
 * Every input goes through all four parsers (completions, chat, tokenize,
 * detokenize) with fixed limits. A failure must leave *out NULL and fill the
 * error with a 400 (or a 500 for out-of-memory) and a message; a success
 * must satisfy the contract in openai.h (ids inside the vocabulary, n and
 * max_tokens in range, ...). Whatever the parsers accept is then rendered
 * through every chat template and every response writer, and the bytes the
 * writers produce - including the error body, whose message can quote the
 * input - must parse back as JSON. Finally the raw input itself is written
 * as a JSON string, which must always be valid JSON (the U+FFFD guard).
 * ASan/UBSan/LSan turn any overflow or leak into a finding. Built by
 * `make fuzz-api`.
 */
#include "api/buf.h"
#include "api/chat.h"
#include "api/errors.h"
#include "api/openai.h"
#include "engine/status.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_api: invariant broken: %s\n", what);
        abort();
    }
}

/* b[start..len) must be one JSON value (an escaped NUL is valid JSON, but jansson
 * accepts it only with JSON_ALLOW_NUL). */
static void check_json(const struct oai_buf *b, size_t start, const char *what)
{
    json_error_t je;
    json_t *j = json_loadb(b->data + start, b->len - start, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!j) fprintf(stderr, "fuzz_api: %s: %s\n", what, je.text);
    check(j != NULL, what);
    json_decref(j);
}

/* An SSE event "data: {...}\n\n" must wrap one JSON object. */
static void check_event(struct oai_buf *b, const char *what)
{
    check(b->len > 8 && !memcmp(b->data, "data: ", 6), what);
    check(!memcmp(b->data + b->len - 2, "\n\n", 2), what);
    json_error_t je;
    json_t *j = json_loadb(b->data + 6, b->len - 8, JSON_ALLOW_NUL, &je);
    check(j != NULL, what);
    json_decref(j);
    oai_buf_reset(b);
}

static void check_error(int rc, const struct oai_error *e, const void *out)
{
    check(rc < 0, "failure returns a negative status");
    check(out == NULL, "failure leaves *out NULL");
    check(e->http_status == 400 || e->http_status == 500, "failure is a 400 or a 500");
    check(e->message[0] != 0, "failure has a message");
    struct oai_buf b = OAI_BUF_INIT;
    check(oai_error_json(&b, e) == 0, "error body written");
    check_json(&b, 0, "error body is JSON");
    oai_buf_free(&b);
}

static void check_request(const struct oai_request *r, const struct oai_limits *lim)
{
    check(r->n >= 1 && r->n <= lim->max_n, "n in range");
    check(r->max_tokens >= -1 && r->max_tokens <= lim->n_ctx, "max_tokens in range");
    check(r->n_stop <= (size_t)lim->max_stop, "stop count in range");
    for (size_t i = 0; i < r->n_stop; i++)
        check(r->stop_len[i] >= 1 && r->stop_len[i] == strlen(r->stop[i]), "stop string");
    check(r->top_logprobs >= 0 && r->top_logprobs <= 20, "top_logprobs in range");
    check(sampler_params_validate(&r->sampling, NULL, 0) == 0, "sampling params valid");
    for (size_t p = 0; p < r->n_prompts; p++) {
        const struct oai_prompt *pr = &r->prompts[p];
        check((pr->text != NULL) != (pr->tokens != NULL), "prompt is text xor tokens");
        if (pr->text) check(strlen(pr->text) == pr->text_len, "prompt text length");
        for (size_t i = 0; pr->tokens && i < pr->n_tokens; i++)
            check(pr->tokens[i] >= 0 && pr->tokens[i] < lim->n_vocab, "prompt token in vocab");
    }
    for (size_t i = 0; i < r->n_messages; i++)
        check(strlen(r->messages[i].content) == r->messages[i].content_len, "message length");
}

/* Render what a parsed request holds through the writers. */
static void exercise_writers(const struct oai_request *r)
{
    struct oai_buf b = OAI_BUF_INIT;
    struct oai_meta m = {r->endpoint, "id-1", r->model, 1, r->include_usage};
    const char *text = "";
    size_t len = 0;
    if (r->n_prompts && r->prompts[0].text) {
        text = r->prompts[0].text;
        len = r->prompts[0].text_len;
    } else if (r->n_messages) {
        text = r->messages[0].content;
        len = r->messages[0].content_len;
    }
    struct oai_token_logprob top[2] = {{text, len, -0.5f}, {text, len / 2, -1.0f}};
    struct oai_logprob lp = {{text, len, -0.25f}, top, 2, 0};
    struct oai_choice ch = {text, len, "stop", &lp, 1};
    struct oai_usage u = {1, 2};
    check(oai_response_json(&b, &m, &ch, 1, &u) == 0, "response written");
    check_json(&b, 0, "response is JSON");
    oai_buf_reset(&b);
    check(oai_chunk_role(&b, &m, 0) == 0, "role chunk");
    check_event(&b, "role chunk is an event");
    check(oai_chunk_text(&b, &m, 0, text, len, &lp) == 0, "text chunk");
    check_event(&b, "text chunk is an event");
    check(oai_chunk_finish(&b, &m, 0, "length") == 0, "finish chunk");
    check_event(&b, "finish chunk is an event");
    check(oai_chunk_usage(&b, &m, &u) == 0, "usage chunk");
    check_event(&b, "usage chunk is an event");
    oai_buf_free(&b);

    for (int k = CHAT_LLAMA3; k <= CHAT_BITNET; k++) {
        char *out = NULL;
        if (r->n_messages) {
            check(chat_apply((enum chat_kind)k, r->messages, r->n_messages, true, &out) == 0,
                  "template rendered");
            free(out);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    struct oai_limits lim = oai_limits_default(512, 256);
    lim.max_prompt_bytes = 4096;
    struct oai_error e;

    for (int ep = OAI_COMPLETIONS; ep <= OAI_CHAT; ep++) {
        struct oai_request *r = NULL;
        int rc = oai_parse_request((enum oai_endpoint)ep, body, size, &lim, &r, &e);
        if (rc) {
            check_error(rc, &e, r);
            continue;
        }
        check(r != NULL && (int)r->endpoint == ep, "success gives a request");
        check_request(r, &lim);
        exercise_writers(r);
        oai_request_free(r);
    }

    struct oai_tokenize_request *t = NULL;
    int rc = oai_parse_tokenize(body, size, &lim, &t, &e);
    if (rc)
        check_error(rc, &e, t);
    else
        check(strlen(t->content) == t->content_len, "tokenize content length");
    free(t);

    struct oai_detokenize_request *d = NULL;
    rc = oai_parse_detokenize(body, size, &lim, &d, &e);
    if (rc) {
        check_error(rc, &e, d);
    } else {
        for (size_t i = 0; i < d->n_tokens; i++)
            check(d->tokens[i] >= 0 && d->tokens[i] < lim.n_vocab, "detokenize id in vocab");
    }
    free(d);

    /* Any bytes at all must come out as a valid JSON string. */
    struct oai_buf b = OAI_BUF_INIT;
    oai_buf_json_str(&b, body, size);
    check(!b.failed, "json string written");
    check_json(&b, 0, "json string of raw bytes");
    oai_buf_free(&b);
    return 0;
}
