/* test_openai.c - request parsing, response/chunk bytes and error bodies of api/.
 *
 * Parsing tests check every field's value and, for each bad input, the exact
 * message, the HTTP status and the param. Response tests compare exact bytes
 * where the output is fully determined, and parse the JSON back with jansson
 * to check each field.
 */
#include "tests/testutil.h"

#include "api/buf.h"
#include "api/errors.h"
#include "api/openai.h"
#include "engine/sampler.h"
#include "engine/status.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Vocabulary 512 (stories260K) and a 4096-token context. */
static struct oai_limits limits(void)
{
    return oai_limits_default(512, 4096);
}

static struct oai_request *parse_with(enum oai_endpoint ep, const char *body,
                                      const struct oai_limits *lim)
{
    struct oai_request *r = NULL;
    struct oai_error e;
    int rc = oai_parse_request(ep, body, strlen(body), lim, &r, &e);
    if (rc != 0) fail_msg("unexpected error %d: %s", rc, e.message);
    assert_non_null(r);
    return r;
}

static struct oai_request *parse_ok(enum oai_endpoint ep, const char *body)
{
    struct oai_limits lim = limits();
    return parse_with(ep, body, &lim);
}

/* The body must fail with 400, exactly `message` and `param` (NULL: none). */
static void expect_error_with(enum oai_endpoint ep, const char *body, const struct oai_limits *lim,
                              const char *message, const char *param)
{
    struct oai_request *r = (struct oai_request *)1;
    struct oai_error e;
    int rc = oai_parse_request(ep, body, strlen(body), lim, &r, &e);
    assert_true(rc == LF_ERR_INVALID);
    assert_null(r);
    assert_int_equal(e.http_status, 400);
    assert_string_equal(e.type, "invalid_request_error");
    assert_string_equal(e.message, message);
    if (param) {
        assert_non_null(e.param);
        assert_string_equal(e.param, param);
    } else {
        assert_null(e.param);
    }
    assert_null(e.code);
}

static void expect_error(enum oai_endpoint ep, const char *body, const char *message,
                         const char *param)
{
    struct oai_limits lim = limits();
    expect_error_with(ep, body, &lim, message, param);
}

/* ---- completions: fields ---- */

static void test_completions_defaults(void **state)
{
    (void)state;
    struct oai_request *r = parse_ok(OAI_COMPLETIONS, "{\"prompt\":\"Once upon\"}");
    struct sampler_params d = sampler_params_default();
    assert_int_equal(r->endpoint, OAI_COMPLETIONS);
    assert_string_equal(r->model, "");
    assert_int_equal(r->n_prompts, 1);
    assert_string_equal(r->prompts[0].text, "Once upon");
    assert_int_equal(r->prompts[0].text_len, 9);
    assert_null(r->prompts[0].tokens);
    assert_null(r->messages);
    assert_int_equal(r->max_tokens, 16);
    assert_true(r->sampling.temperature == d.temperature);
    assert_true(r->sampling.top_p == d.top_p);
    assert_int_equal(r->sampling.top_k, d.top_k);
    assert_true(r->sampling.min_p == d.min_p);
    assert_true(r->sampling.repeat_penalty == d.repeat_penalty);
    assert_int_equal(r->sampling.repeat_last_n, d.repeat_last_n);
    assert_true(r->sampling.presence_penalty == 0.0f);
    assert_true(r->sampling.frequency_penalty == 0.0f);
    assert_false(r->seed_given);
    assert_int_equal(r->n_stop, 0);
    assert_int_equal(r->n, 1);
    assert_false(r->echo);
    assert_false(r->logprobs);
    assert_int_equal(r->top_logprobs, 0);
    assert_false(r->stream);
    assert_false(r->include_usage);
    assert_false(r->ignore_eos);
    oai_request_free(r);
}

static void test_completions_every_field(void **state)
{
    (void)state;
    struct oai_request *r =
        parse_ok(OAI_COMPLETIONS,
                 "{\"model\":\"bitnet-2b\",\"prompt\":\"x\",\"max_tokens\":5,\"temperature\":0.5,"
                 "\"top_p\":0.9,\"top_k\":10,\"min_p\":0.1,\"stop\":[\"a\",\"bb\"],\"seed\":42,"
                 "\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,\"repetition_penalty\":1.1,"
                 "\"repeat_last_n\":-1,\"n\":2,\"echo\":true,\"logprobs\":3,\"stream\":true,"
                 "\"stream_options\":{\"include_usage\":true},\"ignore_eos\":true,\"user\":\"u\"}");
    assert_string_equal(r->model, "bitnet-2b");
    assert_int_equal(r->max_tokens, 5);
    assert_true(r->sampling.temperature == 0.5f);
    assert_true(r->sampling.top_p == 0.9f);
    assert_int_equal(r->sampling.top_k, 10);
    assert_true(r->sampling.min_p == 0.1f);
    assert_true(r->sampling.presence_penalty == 0.5f);
    assert_true(r->sampling.frequency_penalty == -0.5f);
    assert_true(r->sampling.repeat_penalty == 1.1f);
    assert_int_equal(r->sampling.repeat_last_n, -1);
    assert_true(r->seed_given);
    assert_int_equal(r->sampling.seed, 42);
    assert_int_equal(r->n_stop, 2);
    assert_string_equal(r->stop[0], "a");
    assert_int_equal(r->stop_len[0], 1);
    assert_string_equal(r->stop[1], "bb");
    assert_int_equal(r->stop_len[1], 2);
    assert_int_equal(r->n, 2);
    assert_true(r->echo);
    assert_true(r->logprobs);
    assert_int_equal(r->top_logprobs, 3);
    assert_true(r->stream);
    assert_true(r->include_usage);
    assert_true(r->ignore_eos);
    oai_request_free(r);
}

static void test_completions_alternate_spellings(void **state)
{
    (void)state;
    /* stop as one string, repeat_penalty (llama.cpp's name), top_k -1 (vLLM's
     * "off"), seed -1 (llama.cpp's "random"), an integral real for an
     * integer, logprobs 0 (chosen tokens only). */
    struct oai_request *r =
        parse_ok(OAI_COMPLETIONS,
                 "{\"prompt\":\"x\",\"stop\":\"\\n\\n\",\"repeat_penalty\":1.3,\"top_k\":-1,"
                 "\"seed\":-1,\"max_tokens\":32.0,\"logprobs\":0,\"temperature\":0}");
    assert_int_equal(r->n_stop, 1);
    assert_string_equal(r->stop[0], "\n\n");
    assert_true(r->sampling.repeat_penalty == 1.3f);
    assert_int_equal(r->sampling.top_k, 0);
    assert_false(r->seed_given);
    assert_int_equal(r->sampling.seed, 0);
    assert_int_equal(r->max_tokens, 32);
    assert_true(r->logprobs);
    assert_int_equal(r->top_logprobs, 0);
    assert_true(r->sampling.temperature == 0.0f);
    oai_request_free(r);
}

static void test_completions_nulls_are_defaults(void **state)
{
    (void)state;
    struct oai_request *r = parse_ok(
        OAI_COMPLETIONS, "{\"prompt\":\"x\",\"max_tokens\":null,\"temperature\":null,\"stop\":null,"
                         "\"n\":null,\"logprobs\":null,\"stream\":null,\"stream_options\":null,"
                         "\"seed\":null,\"model\":null}");
    assert_int_equal(r->max_tokens, 16);
    assert_true(r->sampling.temperature == sampler_params_default().temperature);
    assert_int_equal(r->n_stop, 0);
    assert_int_equal(r->n, 1);
    assert_false(r->logprobs);
    assert_false(r->stream);
    assert_false(r->seed_given);
    assert_string_equal(r->model, "");
    oai_request_free(r);
}

static void test_unknown_fields_ignored(void **state)
{
    (void)state;
    struct oai_request *r = parse_ok(
        OAI_COMPLETIONS, "{\"prompt\":\"x\",\"best_of\":\"whatever\",\"logit_bias\":{\"1\":5},"
                         "\"suffix\":[1,2,{}],\"nested\":{\"max_tokens\":-5},\"max_tokens\":7}");
    assert_int_equal(r->max_tokens, 7);
    oai_request_free(r);
}

static void test_prompt_forms(void **state)
{
    (void)state;
    struct oai_request *r = parse_ok(OAI_COMPLETIONS, "{\"prompt\":[\"ab\",\"\",\"c\\u00e9\"]}");
    assert_int_equal(r->n_prompts, 3);
    assert_string_equal(r->prompts[0].text, "ab");
    assert_string_equal(r->prompts[1].text, "");
    assert_int_equal(r->prompts[1].text_len, 0);
    assert_string_equal(r->prompts[2].text, "c\xc3\xa9");
    assert_int_equal(r->prompts[2].text_len, 3);
    oai_request_free(r);

    r = parse_ok(OAI_COMPLETIONS, "{\"prompt\":[1,2,511]}");
    assert_int_equal(r->n_prompts, 1);
    assert_null(r->prompts[0].text);
    assert_int_equal(r->prompts[0].n_tokens, 3);
    assert_int_equal(r->prompts[0].tokens[0], 1);
    assert_int_equal(r->prompts[0].tokens[1], 2);
    assert_int_equal(r->prompts[0].tokens[2], 511);
    oai_request_free(r);

    r = parse_ok(OAI_COMPLETIONS, "{\"prompt\":[[5,6],[0]],\"n\":3}");
    assert_int_equal(r->n_prompts, 2);
    assert_int_equal(r->prompts[0].n_tokens, 2);
    assert_int_equal(r->prompts[0].tokens[0], 5);
    assert_int_equal(r->prompts[0].tokens[1], 6);
    assert_int_equal(r->prompts[1].n_tokens, 1);
    assert_int_equal(r->prompts[1].tokens[0], 0);
    /* choice i of prompt p is p * n + i */
    assert_int_equal(oai_choice_index(0, r->n, 2), 2);
    assert_int_equal(oai_choice_index(1, r->n, 0), 3);
    assert_int_equal(oai_choice_index(1, r->n, 2), 5);
    oai_request_free(r);
}

static void test_large_prompt_spans_arena_chunks(void **state)
{
    (void)state;
    /* A 20000-byte prompt and 64 more strings: several arena chunks. */
    size_t big = 20000;
    char *body = malloc(big + 2000);
    assert_non_null(body);
    size_t o = (size_t)sprintf(body, "{\"prompt\":[\"");
    for (size_t i = 0; i < big; i++)
        body[o++] = (char)('a' + i % 26);
    o += (size_t)sprintf(body + o, "\",\"z\"],\"stop\":[");
    for (int i = 0; i < 16; i++)
        o += (size_t)sprintf(body + o, "%s\"stop%02d\"", i ? "," : "", i);
    sprintf(body + o, "]}");
    struct oai_request *r = parse_ok(OAI_COMPLETIONS, body);
    assert_int_equal(r->n_prompts, 2);
    assert_int_equal(r->prompts[0].text_len, big);
    assert_int_equal(r->prompts[0].text[0], 'a');
    assert_int_equal(r->prompts[0].text[big - 1], (char)('a' + (big - 1) % 26));
    assert_int_equal(r->prompts[0].text[big], 0);
    assert_string_equal(r->prompts[1].text, "z");
    assert_int_equal(r->n_stop, 16);
    assert_string_equal(r->stop[15], "stop15");
    oai_request_free(r);
    free(body);
}

/* ---- completions: errors ---- */

static void test_completions_type_errors(void **state)
{
    (void)state;
    static const char *const forms = "'prompt' must be a string, an array of strings, an array of "
                                     "token ids or an array of token-id arrays";
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"max_tokens\":\"10\"}",
                 "'max_tokens' must be an integer", "max_tokens");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"max_tokens\":1.5}",
                 "'max_tokens' must be an integer (got 1.5)", "max_tokens");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"temperature\":\"hot\"}",
                 "'temperature' must be a number", "temperature");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"top_p\":[1]}", "'top_p' must be a number",
                 "top_p");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"n\":true}", "'n' must be an integer", "n");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"seed\":\"7\"}", "'seed' must be an integer",
                 "seed");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"stream\":\"yes\"}",
                 "'stream' must be a boolean", "stream");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"echo\":1}", "'echo' must be a boolean",
                 "echo");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"ignore_eos\":0}",
                 "'ignore_eos' must be a boolean", "ignore_eos");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"logprobs\":true}",
                 "'logprobs' must be an integer", "logprobs");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"stream_options\":1}",
                 "'stream_options' must be an object", "stream_options");
    expect_error(OAI_COMPLETIONS,
                 "{\"prompt\":\"x\",\"stream\":true,\"stream_options\":{\"include_usage\":\"y\"}}",
                 "'stream_options.include_usage' must be a boolean", "stream_options");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"model\":5}", "'model' must be a string",
                 "model");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"stop\":5}",
                 "'stop' must be a string or an array of strings", "stop");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"stop\":[\"a\",null]}",
                 "'stop' must be a string or an array of strings", "stop");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":{\"text\":\"x\"}}", forms, "prompt");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":5}", forms, "prompt");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":[true]}", forms, "prompt");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":[\"a\",1]}", forms, "prompt");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":[[1],\"a\"]}", forms, "prompt");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":[1,\"a\"]}", "'prompt' token ids must be integers",
                 "prompt");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":[[1,2.5]]}", "'prompt' token ids must be integers",
                 "prompt");
    expect_error(OAI_COMPLETIONS, "{\"max_tokens\":3}", "'prompt' is missing", "prompt");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":null}", "'prompt' is missing", "prompt");
}

static void test_completions_range_errors(void **state)
{
    (void)state;
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"max_tokens\":-1}",
                 "'max_tokens' must be >= 0 (got -1)", "max_tokens");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"max_tokens\":5000}",
                 "'max_tokens' must be at most the context size of 4096 (got 5000)", "max_tokens");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"max_tokens\":9223372036854775807}",
                 "'max_tokens' must be at most the context size of 4096 (got 9223372036854775807)",
                 "max_tokens");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"temperature\":1e9}",
                 "'temperature' must be between 0 and 2 (got 1e+09)", "temperature");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"temperature\":-0.1}",
                 "'temperature' must be between 0 and 2 (got -0.1)", "temperature");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"top_p\":2}",
                 "'top_p' must be in (0, 1] (got 2)", "top_p");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"top_p\":0}",
                 "'top_p' must be in (0, 1] (got 0)", "top_p");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"min_p\":1.5}",
                 "'min_p' must be between 0 and 1 (got 1.5)", "min_p");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"top_k\":-2}",
                 "'top_k' must be between -1 and 2147483647 (got -2)", "top_k");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"presence_penalty\":3}",
                 "'presence_penalty' must be between -2 and 2 (got 3)", "presence_penalty");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"frequency_penalty\":-2.5}",
                 "'frequency_penalty' must be between -2 and 2 (got -2.5)", "frequency_penalty");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"repetition_penalty\":0}",
                 "'repetition_penalty' must be in (0, 10] (got 0)", "repetition_penalty");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"repeat_last_n\":-2}",
                 "'repeat_last_n' must be between -1 and 1048576 (got -2)", "repeat_last_n");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"n\":1000000}",
                 "'n' must be between 1 and 16 (got 1000000)", "n");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"n\":0}",
                 "'n' must be between 1 and 16 (got 0)", "n");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"logprobs\":99}",
                 "'logprobs' must be between 0 and 5 (got 99)", "logprobs");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"stop\":[\"\"]}",
                 "'stop' strings must not be empty", "stop");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":[99999]}",
                 "prompt token 99999 is outside the vocabulary (512)", "prompt");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":[[1],[512]]}",
                 "prompt token 512 is outside the vocabulary (512)", "prompt");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":[-1]}",
                 "prompt token -1 is outside the vocabulary (512)", "prompt");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":[]}", "'prompt' must not be empty", "prompt");
    expect_error(OAI_COMPLETIONS, "{\"prompt\":[[1],[]]}",
                 "'prompt' token arrays must not be empty", "prompt");
}

static void test_stop_limits(void **state)
{
    (void)state;
    char body[8192];
    size_t o = (size_t)sprintf(body, "{\"prompt\":\"x\",\"stop\":[");
    for (int i = 0; i < 100; i++)
        o += (size_t)sprintf(body + o, "%s\"s%d\"", i ? "," : "", i);
    sprintf(body + o, "]}");
    expect_error(OAI_COMPLETIONS, body, "'stop' has 100 strings, more than the limit of 16",
                 "stop");

    o = (size_t)sprintf(body, "{\"prompt\":\"x\",\"stop\":\"");
    memset(body + o, 'q', 300);
    sprintf(body + o + 300, "\"}");
    expect_error(OAI_COMPLETIONS, body, "'stop' strings must be at most 256 bytes (got 300)",
                 "stop");

    /* Exactly 16 strings of 256 bytes pass. */
    o = (size_t)sprintf(body, "{\"prompt\":\"x\",\"stop\":[");
    for (int i = 0; i < 16; i++) {
        o += (size_t)sprintf(body + o, "%s\"", i ? "," : "");
        memset(body + o, 'a' + i, 256);
        o += 256;
        body[o++] = '"';
    }
    sprintf(body + o, "]}");
    struct oai_request *r = parse_ok(OAI_COMPLETIONS, body);
    assert_int_equal(r->n_stop, 16);
    assert_int_equal(r->stop_len[15], 256);
    assert_int_equal(r->stop[15][255], 'p');
    oai_request_free(r);
}

static void test_prompt_limits(void **state)
{
    (void)state;
    struct oai_limits lim = limits();
    lim.n_ctx = 8;
    expect_error_with(OAI_COMPLETIONS, "{\"prompt\":[1,2,3,4,5,6,7,8,9]}", &lim,
                      "'prompt' has 9 tokens, more than the context size of 8", "prompt");
    lim = limits();
    lim.max_prompt_bytes = 10;
    expect_error_with(OAI_COMPLETIONS, "{\"prompt\":[\"123456\",\"78901\"]}", &lim,
                      "'prompt' is too long: more than the limit of 10 bytes", "prompt");
    struct oai_request *r = parse_with(OAI_COMPLETIONS, "{\"prompt\":[\"123456\",\"7890\"]}", &lim);
    oai_request_free(r);
    lim = limits();
    lim.max_prompts = 2;
    expect_error_with(OAI_COMPLETIONS, "{\"prompt\":[\"a\",\"b\",\"c\"]}", &lim,
                      "'prompt' has 3 prompts, more than the limit of 2", "prompt");
    lim = limits();
    lim.max_choices = 4;
    expect_error_with(OAI_COMPLETIONS, "{\"prompt\":[\"a\",\"b\"],\"n\":3}", &lim,
                      "'n' times the number of prompts is 6, more than the limit of 4 choices",
                      "n");
}

static void test_body_errors(void **state)
{
    (void)state;
    struct oai_limits lim = limits();
    struct oai_request *r;
    struct oai_error e;
    assert_int_equal(oai_parse_request(OAI_COMPLETIONS, NULL, 0, &lim, &r, &e), LF_ERR_INVALID);
    assert_string_equal(e.message, "request body is empty");
    assert_int_equal(e.http_status, 400);
    expect_error(OAI_COMPLETIONS, "", "request body is empty", NULL);
    expect_error(OAI_COMPLETIONS, "[1,2]", "request body must be a JSON object", NULL);
    expect_error(OAI_CHAT, "5", "invalid JSON at line 1, column 1: '[' or '{' expected near '5'",
                 NULL);
    expect_error(OAI_COMPLETIONS, "{\"prompt\": \"x\",}",
                 "invalid JSON at line 1, column 16: string or '}' expected near '}'", NULL);
    expect_error(OAI_COMPLETIONS, "{\n  \"prompt\": tru\n}",
                 "invalid JSON at line 2, column 15: invalid token near 'tru'", NULL);
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"\xff\"}",
                 "request body is not valid UTF-8 (line 1, column 11: unable to decode byte 0xff "
                 "near '\"')",
                 NULL);
    expect_error(OAI_COMPLETIONS, "{\"prompt\":\"a\\u0000b\"}",
                 "invalid JSON at line 1, column 20: strings must not contain \\u0000", NULL);
    /* A NUL byte inside the body (len covers it). */
    static const char nul_body[] = "{\"prompt\":\"a\0b\"}";
    assert_int_equal(
        oai_parse_request(OAI_COMPLETIONS, nul_body, sizeof nul_body - 1, &lim, &r, &e),
        LF_ERR_INVALID);
    assert_null(r);
    assert_string_equal(e.message,
                        "invalid JSON at line 1, column 12: control character 0x0 near '\"a'");
}

/* ---- chat ---- */

static void test_chat_messages(void **state)
{
    (void)state;
    struct oai_request *r = parse_ok(
        OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                  "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hello\"},"
                  "{\"type\":\"text\",\"text\":\"there\"}],\"name\":\"bob\"},"
                  "{\"role\":\"assistant\",\"content\":null},"
                  "{\"role\":\"developer\",\"content\":\"\"},{\"role\":\"tool\",\"content\":[]}]}");
    assert_int_equal(r->endpoint, OAI_CHAT);
    assert_null(r->prompts);
    assert_int_equal(r->n_prompts, 0);
    assert_int_equal(r->n_messages, 5);
    assert_int_equal(r->messages[0].role, OAI_ROLE_SYSTEM);
    assert_string_equal(r->messages[0].content, "Be brief.");
    assert_int_equal(r->messages[0].content_len, 9);
    assert_int_equal(r->messages[1].role, OAI_ROLE_USER);
    assert_string_equal(r->messages[1].content, "Hello\nthere");
    assert_int_equal(r->messages[1].content_len, 11);
    assert_int_equal(r->messages[2].role, OAI_ROLE_ASSISTANT);
    assert_string_equal(r->messages[2].content, "");
    assert_int_equal(r->messages[3].role, OAI_ROLE_SYSTEM);
    assert_int_equal(r->messages[4].role, OAI_ROLE_TOOL);
    assert_string_equal(r->messages[4].content, "");
    assert_int_equal(r->max_tokens, -1);
    assert_false(r->logprobs);
    assert_int_equal(r->top_logprobs, 0);
    assert_string_equal(oai_role_name(OAI_ROLE_TOOL), "tool");
    oai_request_free(r);
}

static void test_chat_fields(void **state)
{
    (void)state;
    struct oai_request *r = parse_ok(
        OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":50,"
                  "\"max_completion_tokens\":20,\"logprobs\":true,\"top_logprobs\":20,\"n\":4,"
                  "\"stream\":true,\"stream_options\":{\"include_usage\":false},\"stop\":\"END\","
                  "\"seed\":0,\"temperature\":2,\"echo\":\"ignored in chat\"}");
    assert_int_equal(r->max_tokens, 20);
    assert_true(r->logprobs);
    assert_int_equal(r->top_logprobs, 20);
    assert_int_equal(r->n, 4);
    assert_true(r->stream);
    assert_false(r->include_usage);
    assert_int_equal(r->n_stop, 1);
    assert_string_equal(r->stop[0], "END");
    assert_true(r->seed_given);
    assert_int_equal(r->sampling.seed, 0);
    assert_true(r->sampling.temperature == 2.0f);
    assert_false(r->echo);
    oai_request_free(r);

    r = parse_ok(OAI_CHAT,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":9}");
    assert_int_equal(r->max_tokens, 9);
    oai_request_free(r);
}

static void test_chat_errors(void **state)
{
    (void)state;
    const char *M = "messages";
    expect_error(OAI_CHAT, "{}", "'messages' is missing", M);
    expect_error(OAI_CHAT, "{\"messages\":\"hi\"}", "'messages' must be an array of messages", M);
    expect_error(OAI_CHAT, "{\"messages\":[]}", "'messages' must not be empty", M);
    expect_error(OAI_CHAT, "{\"messages\":[\"hi\"]}", "'messages[0]' must be an object", M);
    expect_error(OAI_CHAT,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"content\":\"b\"}]}",
                 "'messages[1].role' is missing", M);
    expect_error(OAI_CHAT, "{\"messages\":[{\"role\":7,\"content\":\"b\"}]}",
                 "'messages[0].role' must be a string", M);
    expect_error(OAI_CHAT, "{\"messages\":[{\"role\":\"bot\",\"content\":\"b\"}]}",
                 "'messages[0].role' must be system, user, assistant or tool (got \"bot\")", M);
    expect_error(OAI_CHAT, "{\"messages\":[{\"role\":\"user\"}]}",
                 "'messages[0].content' is missing", M);
    expect_error(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":42}]}",
                 "'messages[0].content' must be a string or an array of content parts", M);
    expect_error(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[\"x\"]}]}",
                 "'messages[0].content[0]' must be an object", M);
    expect_error(
        OAI_CHAT,
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}",
        "'messages[0].content[1].type' must be \"text\" (got \"image_url\"): only text "
        "content is supported",
        M);
    expect_error(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}]}",
                 "'messages[0].content[0].type' must be a string", M);
    expect_error(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}",
                 "'messages[0].content[0].text' must be a string", M);
    const char *ok = "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],";
    char body[256];
    snprintf(body, sizeof body, "%s\"max_completion_tokens\":0}", ok);
    expect_error(OAI_CHAT, body, "'max_completion_tokens' must be >= 1 (got 0)",
                 "max_completion_tokens");
    snprintf(body, sizeof body, "%s\"max_tokens\":-3}", ok);
    expect_error(OAI_CHAT, body, "'max_tokens' must be >= 1 (got -3)", "max_tokens");
    snprintf(body, sizeof body, "%s\"logprobs\":1}", ok);
    expect_error(OAI_CHAT, body, "'logprobs' must be a boolean", "logprobs");
    snprintf(body, sizeof body, "%s\"logprobs\":true,\"top_logprobs\":21}", ok);
    expect_error(OAI_CHAT, body, "'top_logprobs' must be between 0 and 20 (got 21)",
                 "top_logprobs");
    snprintf(body, sizeof body, "%s\"top_logprobs\":2}", ok);
    expect_error(OAI_CHAT, body, "'top_logprobs' requires 'logprobs' to be true", "top_logprobs");
    snprintf(body, sizeof body, "%s\"temperature\":1e9}", ok);
    expect_error(OAI_CHAT, body, "'temperature' must be between 0 and 2 (got 1e+09)",
                 "temperature");
    snprintf(body, sizeof body, "%s\"n\":1000000}", ok);
    expect_error(OAI_CHAT, body, "'n' must be between 1 and 16 (got 1000000)", "n");
}

static void test_chat_limits(void **state)
{
    (void)state;
    struct oai_limits lim = limits();
    lim.max_messages = 2;
    expect_error_with(
        OAI_CHAT,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\","
        "\"content\":\"b\"},{\"role\":\"user\",\"content\":\"c\"}]}",
        &lim, "'messages' has 3 messages, more than the limit of 2", "messages");
    lim = limits();
    lim.max_prompt_bytes = 8;
    expect_error_with(
        OAI_CHAT,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"abcd\"},{\"role\":\"user\","
        "\"content\":[{\"type\":\"text\",\"text\":\"ef\"},{\"type\":\"text\",\"text\":\"gh\"}]}]}",
        &lim, "'messages' are too long: more than the limit of 8 bytes", "messages");
    /* 4 + "ef\ngh" = 9 bytes fails above; 4 + "ef\ng" = 8 fits. */
    struct oai_request *r = parse_with(
        OAI_CHAT,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"abcd\"},{\"role\":\"user\","
        "\"content\":[{\"type\":\"text\",\"text\":\"ef\"},{\"type\":\"text\",\"text\":\"g\"}]}]}",
        &lim);
    assert_string_equal(r->messages[1].content, "ef\ng");
    oai_request_free(r);
}

static void test_check_context(void **state)
{
    (void)state;
    struct oai_limits lim = limits();
    struct oai_request *r = parse_ok(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"max_tokens\":200}");
    struct oai_error e;
    assert_int_equal(oai_check_context(r, &lim, 3896, &e), 0);
    assert_int_equal(oai_check_context(r, &lim, 3897, &e), LF_ERR_RANGE);
    assert_int_equal(e.http_status, 400);
    assert_string_equal(e.code, "context_length_exceeded");
    assert_string_equal(e.param, "max_tokens");
    assert_string_equal(e.message, "the context holds 4096 tokens, but the prompt has 3897 and "
                                   "max_tokens asks for 200 more");
    assert_int_equal(oai_check_context(r, &lim, 4096, &e), LF_ERR_RANGE);
    assert_string_equal(e.param, "prompt");
    assert_string_equal(e.message, "the prompt has 4096 tokens, but the context holds 4096");
    oai_request_free(r);
    /* chat without max_tokens: only the prompt must leave room */
    r = parse_ok(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}");
    assert_int_equal(oai_check_context(r, &lim, 4095, &e), 0);
    assert_int_equal(oai_check_context(r, &lim, 5000, &e), LF_ERR_RANGE);
    assert_string_equal(e.param, "messages");
    oai_request_free(r);
}

/* ---- tokenize / detokenize ---- */

static void test_tokenize_parse(void **state)
{
    (void)state;
    struct oai_limits lim = limits();
    struct oai_tokenize_request *t;
    struct oai_error e;
    const char *b1 = "{\"content\":\"Hello world\",\"add_special\":true,\"with_pieces\":true,"
                     "\"parse_special\":false}";
    assert_int_equal(oai_parse_tokenize(b1, strlen(b1), &lim, &t, &e), 0);
    assert_string_equal(t->content, "Hello world");
    assert_int_equal(t->content_len, 11);
    assert_true(t->add_special);
    assert_false(t->parse_special);
    assert_true(t->with_pieces);
    free(t);
    const char *b2 = "{}";
    assert_int_equal(oai_parse_tokenize(b2, strlen(b2), &lim, &t, &e), 0);
    assert_string_equal(t->content, "");
    assert_false(t->add_special);
    assert_true(t->parse_special);
    assert_false(t->with_pieces);
    free(t);
    const char *b3 = "{\"content\":5}";
    assert_int_equal(oai_parse_tokenize(b3, strlen(b3), &lim, &t, &e), LF_ERR_INVALID);
    assert_null(t);
    assert_string_equal(e.message, "'content' must be a string");
    assert_string_equal(e.param, "content");
    const char *b4 = "{\"content\":\"x\",\"add_special\":\"yes\"}";
    assert_int_equal(oai_parse_tokenize(b4, strlen(b4), &lim, &t, &e), LF_ERR_INVALID);
    assert_string_equal(e.message, "'add_special' must be a boolean");
    lim.max_prompt_bytes = 3;
    const char *b5 = "{\"content\":\"abcd\"}";
    assert_int_equal(oai_parse_tokenize(b5, strlen(b5), &lim, &t, &e), LF_ERR_INVALID);
    assert_string_equal(e.message, "'content' is too long: more than the limit of 3 bytes");
    assert_int_equal(oai_parse_tokenize("{", 1, &lim, &t, &e), LF_ERR_INVALID);
    assert_int_equal(e.http_status, 400);
}

static void test_detokenize_parse(void **state)
{
    (void)state;
    struct oai_limits lim = limits();
    struct oai_detokenize_request *d;
    struct oai_error e;
    const char *b1 = "{\"tokens\":[1,2,511]}";
    assert_int_equal(oai_parse_detokenize(b1, strlen(b1), &lim, &d, &e), 0);
    assert_int_equal(d->n_tokens, 3);
    assert_int_equal(d->tokens[0], 1);
    assert_int_equal(d->tokens[2], 511);
    free(d);
    assert_int_equal(oai_parse_detokenize("{}", 2, &lim, &d, &e), 0);
    assert_int_equal(d->n_tokens, 0);
    free(d);
    const char *b2 = "{\"tokens\":[1,600]}";
    assert_int_equal(oai_parse_detokenize(b2, strlen(b2), &lim, &d, &e), LF_ERR_INVALID);
    assert_null(d);
    assert_string_equal(e.message, "token 600 is outside the vocabulary (512)");
    assert_string_equal(e.param, "tokens");
    const char *b3 = "{\"tokens\":\"1 2\"}";
    assert_int_equal(oai_parse_detokenize(b3, strlen(b3), &lim, &d, &e), LF_ERR_INVALID);
    assert_string_equal(e.message, "'tokens' must be an array of token ids");
    const char *b4 = "{\"tokens\":[1,\"a\"]}";
    assert_int_equal(oai_parse_detokenize(b4, strlen(b4), &lim, &d, &e), LF_ERR_INVALID);
    assert_string_equal(e.message, "'tokens' token ids must be integers");
    lim.n_ctx = 2;
    assert_int_equal(oai_parse_detokenize(b1, strlen(b1), &lim, &d, &e), LF_ERR_INVALID);
    assert_string_equal(e.message, "'tokens' has 3 tokens, more than the context size of 2");
}

/* ---- response writers ---- */

static json_t *load(const char *s, size_t len)
{
    json_error_t je;
    json_t *j = json_loadb(s, len, 0, &je);
    if (!j) fail_msg("output is not JSON: %s in [%.*s]", je.text, (int)len, s);
    return j;
}

/* The JSON object of one SSE event "data: {...}\n\n" at s[0..len). */
static json_t *load_event(const char *s, size_t len)
{
    assert_true(len > 8);
    assert_memory_equal(s, "data: ", 6);
    assert_memory_equal(s + len - 2, "\n\n", 2);
    return load(s + 6, len - 8);
}

static const char *sget(json_t *o, const char *path_key)
{
    json_t *v = json_object_get(o, path_key);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static long long iget(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static void test_completion_response(void **state)
{
    (void)state;
    struct oai_meta m = {OAI_COMPLETIONS, "cmpl-1", "stories", 1700000000, false};
    struct oai_token_logprob top0[] = {{"Once", 4, -0.25f}, {"One", 3, -1.5f}};
    struct oai_token_logprob top1[] = {{" upon", 5, -0.125f}};
    struct oai_logprob lps[] = {
        {{"Once", 4, -0.25f}, top0, 2, 0},
        {{" upon", 5, -0.125f}, top1, 1, 4},
    };
    struct oai_choice ch[] = {
        {"Once upon", 9, "length", lps, 2},
        {"The \"end\"\n", 10, "stop", NULL, 0},
    };
    struct oai_usage u = {5, 4};
    struct oai_buf b = OAI_BUF_INIT;
    assert_int_equal(oai_response_json(&b, &m, ch, 2, &u), 0);
    assert_string_equal(
        b.data, "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1700000000,"
                "\"model\":\"stories\","
                "\"choices\":[{\"text\":\"Once "
                "upon\",\"index\":0,\"logprobs\":{\"tokens\":[\"Once\",\" upon\"],"
                "\"token_logprobs\":[-0.25,-0.125],\"top_logprobs\":[{\"Once\":-0.25,\"One\":-1.5},"
                "{\" upon\":-0.125}],\"text_offset\":[0,4]},\"finish_reason\":\"length\"},"
                "{\"text\":\"The "
                "\\\"end\\\"\\n\",\"index\":1,\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":4,\"total_tokens\":9}}");
    json_t *j = load(b.data, b.len);
    json_t *c1 = json_array_get(json_object_get(j, "choices"), 1);
    assert_string_equal(sget(c1, "text"), "The \"end\"\n");
    assert_int_equal(iget(c1, "index"), 1);
    assert_int_equal(iget(json_object_get(j, "usage"), "total_tokens"), 9);
    json_decref(j);
    oai_buf_free(&b);
}

static void test_chat_response(void **state)
{
    (void)state;
    struct oai_meta m = {OAI_CHAT, "chatcmpl-9", "bitnet", 42, false};
    /* "é" split over two tokens: each token's bytes are a partial character. */
    struct oai_token_logprob top[] = {{"\xc3", 1, -0.5f}, {"x", 1, -INFINITY}};
    struct oai_logprob lps[] = {{{"\xc3", 1, -0.5f}, top, 2, 0}, {{"\xa9", 1, -0.75f}, NULL, 0, 0}};
    struct oai_choice ch = {"\xc3\xa9", 2, NULL, lps, 2};
    struct oai_buf b = OAI_BUF_INIT;
    assert_int_equal(oai_response_json(&b, &m, &ch, 1, NULL), 0);
    assert_string_equal(
        b.data,
        "{\"id\":\"chatcmpl-9\",\"object\":\"chat.completion\",\"created\":42,\"model\":\"bitnet\","
        "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"\xc3\xa9\"},"
        "\"logprobs\":{\"content\":[{\"token\":\"\xef\xbf\xbd\",\"logprob\":-0.5,\"bytes\":[195],"
        "\"top_logprobs\":[{\"token\":\"\xef\xbf\xbd\",\"logprob\":-0.5,\"bytes\":[195]},"
        "{\"token\":\"x\",\"logprob\":-9999,\"bytes\":[120]}]},"
        "{\"token\":\"\xef\xbf\xbd\",\"logprob\":-0.75,\"bytes\":[169],\"top_logprobs\":[]}]},"
        "\"finish_reason\":null}]}");
    json_t *j = load(b.data, b.len);
    json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
    assert_string_equal(sget(json_object_get(c0, "message"), "content"), "\xc3\xa9");
    assert_true(json_is_null(json_object_get(c0, "finish_reason")));
    assert_null(json_object_get(j, "usage"));
    json_decref(j);
    oai_buf_free(&b);
}

static void test_chat_stream_chunks(void **state)
{
    (void)state;
    struct oai_meta m = {OAI_CHAT, "chatcmpl-a", "m", 7, true};
    struct oai_buf b = OAI_BUF_INIT;

    assert_int_equal(oai_chunk_role(&b, &m, 0), 0);
    assert_string_equal(
        b.data, "data: {\"id\":\"chatcmpl-a\",\"object\":\"chat.completion.chunk\",\"created\":7,"
                "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                "\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n");
    json_t *j = load_event(b.data, b.len);
    json_t *c = json_array_get(json_object_get(j, "choices"), 0);
    assert_string_equal(sget(json_object_get(c, "delta"), "role"), "assistant");
    json_decref(j);

    oai_buf_reset(&b);
    assert_int_equal(oai_chunk_text(&b, &m, 1, "Hel\nlo", 6, NULL), 0);
    j = load_event(b.data, b.len);
    assert_string_equal(sget(j, "object"), "chat.completion.chunk");
    assert_string_equal(sget(j, "id"), "chatcmpl-a");
    assert_int_equal(iget(j, "created"), 7);
    assert_true(json_is_null(json_object_get(j, "usage")));
    c = json_array_get(json_object_get(j, "choices"), 0);
    assert_int_equal(iget(c, "index"), 1);
    json_t *delta = json_object_get(c, "delta");
    assert_int_equal(json_object_size(delta), 1);
    assert_string_equal(sget(delta, "content"), "Hel\nlo");
    assert_true(json_is_null(json_object_get(c, "finish_reason")));
    json_decref(j);

    oai_buf_reset(&b);
    struct oai_logprob lp = {{"lo", 2, -1.0f}, NULL, 0, 0};
    assert_int_equal(oai_chunk_text(&b, &m, 0, "lo", 2, &lp), 0);
    j = load_event(b.data, b.len);
    c = json_array_get(json_object_get(j, "choices"), 0);
    json_t *lc = json_array_get(json_object_get(json_object_get(c, "logprobs"), "content"), 0);
    assert_string_equal(sget(lc, "token"), "lo");
    assert_true(json_number_value(json_object_get(lc, "logprob")) == -1.0);
    json_decref(j);

    oai_buf_reset(&b);
    assert_int_equal(oai_chunk_finish(&b, &m, 0, "stop"), 0);
    j = load_event(b.data, b.len);
    c = json_array_get(json_object_get(j, "choices"), 0);
    assert_int_equal(json_object_size(json_object_get(c, "delta")), 0);
    assert_string_equal(sget(c, "finish_reason"), "stop");
    json_decref(j);

    oai_buf_reset(&b);
    struct oai_usage u = {11, 3};
    assert_int_equal(oai_chunk_usage(&b, &m, &u), 0);
    assert_string_equal(
        b.data, "data: {\"id\":\"chatcmpl-a\",\"object\":\"chat.completion.chunk\",\"created\":7,"
                "\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,"
                "\"completion_tokens\":3,\"total_tokens\":14}}\n\n");

    oai_buf_reset(&b);
    assert_int_equal(oai_chunk_done(&b), 0);
    assert_string_equal(b.data, "data: [DONE]\n\n");
    assert_int_equal(b.len, 14);
    oai_buf_reset(&b);
    assert_int_equal(oai_chunk_keepalive(&b), 0);
    assert_string_equal(b.data, ": keep-alive\n\n");
    oai_buf_free(&b);
}

static void test_completion_stream_chunks(void **state)
{
    (void)state;
    struct oai_meta m = {OAI_COMPLETIONS, "cmpl-s", "m", 1, false};
    struct oai_buf b = OAI_BUF_INIT;
    /* Chunks append: a writer may batch several events in one buffer. */
    assert_int_equal(oai_chunk_text(&b, &m, 2, " upon", 5, NULL), 0);
    size_t first = b.len;
    assert_string_equal(b.data,
                        "data: {\"id\":\"cmpl-s\",\"object\":\"text_completion\",\"created\":1,"
                        "\"model\":\"m\",\"choices\":[{\"text\":\" upon\",\"index\":2,"
                        "\"logprobs\":null,\"finish_reason\":null}]}\n\n");
    struct oai_token_logprob top[] = {{" a", 2, -0.5f}, {" the", 4, -2.0f}};
    struct oai_logprob lp = {{" a", 2, -0.5f}, top, 2, 5};
    assert_int_equal(oai_chunk_text(&b, &m, 2, " a", 2, &lp), 0);
    json_t *j = load_event(b.data + first, b.len - first);
    json_t *c = json_array_get(json_object_get(j, "choices"), 0);
    json_t *l = json_object_get(c, "logprobs");
    assert_string_equal(json_string_value(json_array_get(json_object_get(l, "tokens"), 0)), " a");
    assert_true(json_number_value(json_array_get(json_object_get(l, "token_logprobs"), 0)) == -0.5);
    json_t *t0 = json_array_get(json_object_get(l, "top_logprobs"), 0);
    assert_int_equal(json_object_size(t0), 2);
    assert_true(json_number_value(json_object_get(t0, " the")) == -2.0);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(l, "text_offset"), 0)), 5);
    assert_null(json_object_get(j, "usage"));
    json_decref(j);
    oai_buf_reset(&b);
    assert_int_equal(oai_chunk_finish(&b, &m, 2, "length"), 0);
    assert_string_equal(b.data,
                        "data: {\"id\":\"cmpl-s\",\"object\":\"text_completion\",\"created\":1,"
                        "\"model\":\"m\",\"choices\":[{\"text\":\"\",\"index\":2,"
                        "\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n");
    oai_buf_free(&b);
}

static void test_json_string_escaping(void **state)
{
    (void)state;
    struct oai_buf b = OAI_BUF_INIT;
    static const char in[] = "q\"b\\s/\x01\x1f\t\r\n\b\f\x7f";
    oai_buf_json_str(&b, in, sizeof in - 1);
    assert_string_equal(b.data, "\"q\\\"b\\\\s/\\u0001\\u001f\\t\\r\\n\\b\\f\x7f\"");
    json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(j), in);
    json_decref(j);

    /* Invalid UTF-8: one U+FFFD per bad byte; valid sequences kept. */
    struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"a\xff"
         "b",
         3,
         "\"a\xef\xbf\xbd"
         "b\""},
        {"\xe2\x82", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\""},                 /* truncated */
        {"\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\""},                 /* overlong '/' */
        {"\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""}, /* surrogate */
        {"\xf4\x90\x80\x80", 4, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
        {"\xf0\x9f\x98\x80\xe2\x82\xac\xc3\xa9", 9, "\"\xf0\x9f\x98\x80\xe2\x82\xac\xc3\xa9\""},
        {"\x80", 1, "\"\xef\xbf\xbd\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        oai_buf_reset(&b);
        oai_buf_json_str(&b, cases[i].in, cases[i].len);
        assert_string_equal(b.data, cases[i].out);
        j = json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
        assert_non_null(j); /* jansson accepts it: valid UTF-8 JSON */
        json_decref(j);
    }
    assert_true(oai_utf8_valid("\xf0\x9f\x98\x80 ok", 7));
    assert_false(oai_utf8_valid("\xe2\x82", 2));
    assert_true(oai_utf8_valid(NULL, 0));

    oai_buf_reset(&b);
    oai_buf_json_float(&b, -INFINITY);
    oai_buf_puts(&b, " ");
    oai_buf_json_float(&b, NAN);
    oai_buf_puts(&b, " ");
    oai_buf_json_float(&b, INFINITY);
    oai_buf_puts(&b, " ");
    oai_buf_json_float(&b, -0.1f);
    assert_string_equal(b.data, "-9999 -9999 9999 -0.100000001");
    oai_buf_free(&b);
}

static void test_failed_write_rolls_back(void **state)
{
    (void)state;
    struct oai_buf b = OAI_BUF_INIT;
    assert_int_equal(oai_chunk_keepalive(&b), 0);
    size_t len = b.len;
    b.failed = true; /* as if an allocation had failed */
    assert_int_equal(oai_chunk_done(&b), LF_ERR_NOMEM);
    assert_int_equal(b.len, len);
    assert_false(b.failed);
    assert_string_equal(b.data, ": keep-alive\n\n");
    oai_buf_free(&b);
    oai_buf_free(NULL);
}

static void test_other_bodies(void **state)
{
    (void)state;
    struct oai_buf b = OAI_BUF_INIT;
    assert_int_equal(oai_models_json(&b, "stories260K", 1700000000, 512, 512), 0);
    assert_string_equal(b.data, "{\"object\":\"list\",\"data\":[{\"id\":\"stories260K\",\"object\":"
                                "\"model\",\"created\":1700000000,\"owned_by\":\"lutfuse\","
                                "\"meta\":{\"n_ctx\":512,\"n_vocab\":512}}]}");
    oai_buf_reset(&b);
    assert_int_equal(oai_models_json(&b, "x", 0, 0, 0), 0);
    assert_string_equal(b.data, "{\"object\":\"list\",\"data\":[{\"id\":\"x\",\"object\":\"model\","
                                "\"created\":0,\"owned_by\":\"lutfuse\"}]}");

    int32_t ids[] = {1, 450, 7};
    oai_buf_reset(&b);
    assert_int_equal(oai_tokenize_json(&b, ids, 3, NULL, NULL), 0);
    assert_string_equal(b.data, "{\"tokens\":[1,450,7]}");
    const char *pieces[] = {"", " the", "\xe2\x82"};
    size_t lens[] = {0, 4, 2};
    oai_buf_reset(&b);
    assert_int_equal(oai_tokenize_json(&b, ids, 3, pieces, lens), 0);
    assert_string_equal(b.data,
                        "{\"tokens\":[{\"id\":1,\"piece\":\"\"},{\"id\":450,\"piece\":\" the\"},"
                        "{\"id\":7,\"piece\":[226,130]}]}");
    oai_buf_reset(&b);
    assert_int_equal(oai_tokenize_json(&b, NULL, 0, NULL, NULL), 0);
    assert_string_equal(b.data, "{\"tokens\":[]}");

    oai_buf_reset(&b);
    assert_int_equal(oai_detokenize_json(&b, "Hi \"you\"", 8), 0);
    assert_string_equal(b.data, "{\"content\":\"Hi \\\"you\\\"\"}");
    oai_buf_reset(&b);
    assert_int_equal(oai_health_json(&b, true), 0);
    assert_string_equal(b.data, "{\"status\":\"ok\"}");
    oai_buf_reset(&b);
    assert_int_equal(oai_health_json(&b, false), 0);
    assert_string_equal(b.data, "{\"status\":\"loading\"}");
    oai_buf_free(&b);
}

/* ---- errors ---- */

static void test_error_body_from_parse(void **state)
{
    (void)state;
    struct oai_limits lim = limits();
    struct oai_request *r;
    struct oai_error e;
    const char *body = "{\"prompt\":\"x\",\"top_p\":2}";
    assert_int_equal(oai_parse_request(OAI_COMPLETIONS, body, strlen(body), &lim, &r, &e),
                     LF_ERR_INVALID);
    struct oai_buf b = OAI_BUF_INIT;
    assert_int_equal(oai_error_json(&b, &e), 0);
    assert_string_equal(b.data, "{\"error\":{\"message\":\"'top_p' must be in (0, 1] (got 2)\","
                                "\"type\":\"invalid_request_error\",\"param\":\"top_p\","
                                "\"code\":null}}");
    oai_buf_free(&b);
}

static void test_status_mapping(void **state)
{
    (void)state;
    assert_int_equal(oai_status_from_lf(LF_OK), 200);
    assert_int_equal(oai_status_from_lf(LF_ERR_INVALID), 400);
    assert_int_equal(oai_status_from_lf(LF_ERR_FORMAT), 400);
    assert_int_equal(oai_status_from_lf(LF_ERR_RANGE), 400);
    assert_int_equal(oai_status_from_lf(LF_ERR_UNSUPPORTED), 400);
    assert_int_equal(oai_status_from_lf(LF_ERR_BUSY), 503);
    assert_int_equal(oai_status_from_lf(LF_ERR_NOMEM), 500);
    assert_int_equal(oai_status_from_lf(LF_ERR_IO), 500);
    assert_int_equal(oai_status_from_lf(LF_ERR_CANCELLED), 499);
    assert_int_equal(oai_status_from_lf(-1000), 500);
    assert_string_equal(oai_error_type_for_status(400), "invalid_request_error");
    assert_string_equal(oai_error_type_for_status(413), "invalid_request_error");
    assert_string_equal(oai_error_type_for_status(401), "authentication_error");
    assert_string_equal(oai_error_type_for_status(404), "not_found_error");
    assert_string_equal(oai_error_type_for_status(500), "server_error");
    assert_string_equal(oai_error_type_for_status(503), "unavailable_error");

    struct oai_error e;
    struct oai_buf b = OAI_BUF_INIT;
    oai_error_from_lf(&e, LF_ERR_BUSY, NULL);
    assert_int_equal(e.http_status, 503);
    assert_string_equal(e.message, "busy");
    oai_error_from_lf(&e, LF_ERR_FORMAT, "tokenizer said no");
    assert_int_equal(e.http_status, 400);
    assert_string_equal(e.type, "invalid_request_error");
    assert_string_equal(e.message, "tokenizer said no");
    assert_int_equal(oai_error_json(&b, &e), 0);
    assert_string_equal(b.data, "{\"error\":{\"message\":\"tokenizer said no\",\"type\":"
                                "\"invalid_request_error\",\"param\":null,\"code\":null}}");
    oai_buf_free(&b);
}

static void expect_body(const struct oai_error *e, int status, const char *json)
{
    struct oai_buf b = OAI_BUF_INIT;
    assert_int_equal(e->http_status, status);
    assert_int_equal(oai_error_json(&b, e), 0);
    assert_string_equal(b.data, json);
    oai_buf_free(&b);
}

static void test_error_helpers(void **state)
{
    (void)state;
    struct oai_error e;
    oai_error_unauthorized(&e, true);
    expect_body(&e, 401,
                "{\"error\":{\"message\":\"invalid API key\",\"type\":\"authentication_error\","
                "\"param\":null,\"code\":\"invalid_api_key\"}}");
    oai_error_unauthorized(&e, false);
    expect_body(&e, 401,
                "{\"error\":{\"message\":\"missing API key: send it as \\\"Authorization: "
                "Bearer <key>\\\"\",\"type\":\"authentication_error\",\"param\":null,"
                "\"code\":\"invalid_api_key\"}}");
    oai_error_not_found(&e, "GET", "/v1/nope");
    expect_body(&e, 404,
                "{\"error\":{\"message\":\"no route for GET /v1/nope\",\"type\":"
                "\"not_found_error\",\"param\":null,\"code\":null}}");
    oai_error_method(&e, "GET", "/v1/completions", "POST");
    expect_body(&e, 405,
                "{\"error\":{\"message\":\"method GET is not allowed on /v1/completions "
                "(use POST)\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}");
    oai_error_too_large(&e, 1048576);
    expect_body(&e, 413,
                "{\"error\":{\"message\":\"request body is larger than the limit of 1048576 "
                "bytes\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}");
    oai_error_busy(&e);
    expect_body(&e, 503,
                "{\"error\":{\"message\":\"the server is busy: the request queue is full, "
                "retry later\",\"type\":\"unavailable_error\",\"param\":null,\"code\":null}}");
    oai_error_loading(&e);
    expect_body(&e, 503,
                "{\"error\":{\"message\":\"the model is loading, retry later\",\"type\":"
                "\"unavailable_error\",\"param\":null,\"code\":null}}");
    /* A message cut inside a UTF-8 character still gives valid JSON. */
    oai_errorf(&e, LF_ERR_INVALID, 400, NULL, NULL, "%s", "");
    memset(e.message, 'a', sizeof e.message - 2);
    e.message[sizeof e.message - 2] = '\xc3';
    e.message[sizeof e.message - 1] = 0;
    struct oai_buf b = OAI_BUF_INIT;
    assert_int_equal(oai_error_json(&b, &e), 0);
    json_t *j = load(b.data, b.len);
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    assert_int_equal(strlen(msg), sizeof e.message - 2 + 3);
    assert_memory_equal(msg + sizeof e.message - 2, "\xef\xbf\xbd", 3);
    json_decref(j);
    oai_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_completions_defaults),
        cmocka_unit_test(test_completions_every_field),
        cmocka_unit_test(test_completions_alternate_spellings),
        cmocka_unit_test(test_completions_nulls_are_defaults),
        cmocka_unit_test(test_unknown_fields_ignored),
        cmocka_unit_test(test_prompt_forms),
        cmocka_unit_test(test_large_prompt_spans_arena_chunks),
        cmocka_unit_test(test_completions_type_errors),
        cmocka_unit_test(test_completions_range_errors),
        cmocka_unit_test(test_stop_limits),
        cmocka_unit_test(test_prompt_limits),
        cmocka_unit_test(test_body_errors),
        cmocka_unit_test(test_chat_messages),
        cmocka_unit_test(test_chat_fields),
        cmocka_unit_test(test_chat_errors),
        cmocka_unit_test(test_chat_limits),
        cmocka_unit_test(test_check_context),
        cmocka_unit_test(test_tokenize_parse),
        cmocka_unit_test(test_detokenize_parse),
        cmocka_unit_test(test_completion_response),
        cmocka_unit_test(test_chat_response),
        cmocka_unit_test(test_chat_stream_chunks),
        cmocka_unit_test(test_completion_stream_chunks),
        cmocka_unit_test(test_json_string_escaping),
        cmocka_unit_test(test_failed_write_rolls_back),
        cmocka_unit_test(test_other_bodies),
        cmocka_unit_test(test_error_body_from_parse),
        cmocka_unit_test(test_status_mapping),
        cmocka_unit_test(test_error_helpers),
    };
    return cmocka_run_group_tests_name("openai", tests, NULL, NULL);
}
