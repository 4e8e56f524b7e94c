/* openai.h - the OpenAI-compatible JSON layer: request bytes in, response bytes out.
 *
 * No HTTP here. The server hands over a request body; oai_parse_request
 * checks every field's type and range and returns a plain C struct (no
 * jansson types escape this folder) or a struct oai_error naming the field.
 * Going back, the oai_*_json and oai_chunk_* functions append the bytes of a
 * response body or of one server-sent-events chunk to a struct oai_buf.
 *
 * Requests (POST /v1/completions, /v1/chat/completions):
 *   - null for any optional field means "the default"; unknown fields are
 *     ignored; wrong types and out-of-range values are 400 errors whose
 *     message names the field ("'max_tokens' must be an integer").
 *   - completions "prompt": a string, an array of strings, an array of token
 *     ids, or an array of token-id arrays; each becomes one prompt. With n > 1
 *     every prompt gets n choices, numbered prompt_index * n + i (as OpenAI).
 *   - sampling defaults are llama.cpp server's (sampler_params_default():
 *     temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, no penalties), so a
 *     request behaves as it would against llama.cpp's server. Ranges follow
 *     OpenAI where OpenAI defines the field: temperature [0, 2], top_p
 *     (0, 1], presence/frequency_penalty [-2, 2]; extensions: top_k >= -1
 *     (-1 and 0 = off), min_p [0, 1], repetition_penalty (alias
 *     repeat_penalty) (0, 10], repeat_last_n [-1, SAMPLER_MAX_LAST_N].
 *   - max_tokens: completions default 16 (OpenAI); chat default -1 = until
 *     end of generation or the context is full. max_completion_tokens wins
 *     over max_tokens in chat. Never more than the context size.
 *   - seed: any integer; absent or -1 (llama.cpp's "random") leaves
 *     seed_given false and the caller picks one.
 *
 * Responses: the caller passes plain values (a token's text, its index, a
 * finish reason, usage counts, optional logprobs); text may be any bytes
 * (invalid UTF-8 becomes U+FFFD, see buf.h). Every writer returns 0 or
 * LF_ERR_NOMEM and on failure leaves the buffer as it was.
 *
 * Thread safety: no shared state; any thread may call anything.
 */
#ifndef LF_API_OPENAI_H
#define LF_API_OPENAI_H

#include "api/buf.h"
#include "api/errors.h"
#include "engine/sampler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum oai_endpoint {
    OAI_COMPLETIONS, /* POST /v1/completions */
    OAI_CHAT,        /* POST /v1/chat/completions */
};

/* Bounds a request must stay inside. Make one with oai_limits_default and
 * adjust. */
struct oai_limits {
    int32_t n_vocab;         /* token ids must be in [0, n_vocab) */
    int32_t n_ctx;           /* context size: max_tokens and token prompts must fit */
    int32_t max_n;           /* largest n (choices per prompt) */
    int32_t max_choices;     /* largest number of prompts * n */
    int32_t max_prompts;     /* most prompts in one completions request */
    int32_t max_messages;    /* most chat messages */
    int32_t max_stop;        /* most stop strings (at most OAI_MAX_STOP) */
    size_t max_stop_bytes;   /* longest stop string */
    size_t max_prompt_bytes; /* total bytes of prompt text / message contents */
};

#define OAI_MAX_STOP 64

/* n_vocab and n_ctx as given; max_n 16, max_choices 64, max_prompts 64,
 * max_messages 4096, max_stop 16, max_stop_bytes 256, max_prompt_bytes 1 MiB. */
struct oai_limits oai_limits_default(int32_t n_vocab, int32_t n_ctx);

/* One completions prompt: either text or token ids (the other is NULL/0). */
struct oai_prompt {
    const char *text; /* NUL-terminated UTF-8 (never contains NUL), or NULL */
    size_t text_len;
    const int32_t *tokens; /* ids in [0, n_vocab), or NULL */
    size_t n_tokens;       /* >= 1 when tokens != NULL */
};

enum oai_role { OAI_ROLE_SYSTEM, OAI_ROLE_USER, OAI_ROLE_ASSISTANT, OAI_ROLE_TOOL };

/* One chat message. Array content is joined: the text parts separated by "\n". */
struct oai_message {
    enum oai_role role;  /* "developer" (OpenAI's newer name) arrives as SYSTEM */
    const char *content; /* NUL-terminated UTF-8, never NULL ("" for an assistant
                            message whose content was null) */
    size_t content_len;
};

/* "system", "user", "assistant", "tool". Static. */
const char *oai_role_name(enum oai_role role);

/* A parsed request. Everything it points to lives as long as the request
 * (one arena, freed by oai_request_free). */
struct oai_request {
    enum oai_endpoint endpoint;
    const char *model; /* as sent ("" if absent): echoed back, not checked */

    const struct oai_prompt *prompts; /* completions: n_prompts >= 1; chat: NULL */
    size_t n_prompts;
    const struct oai_message *messages; /* chat: n_messages >= 1; completions: NULL */
    size_t n_messages;

    int32_t max_tokens;             /* >= 0, or -1 = no limit but the context */
    struct sampler_params sampling; /* validated with sampler_params_validate */
    bool seed_given;                /* false: pick a seed (sampling.seed is 0) */
    const char *const *stop;        /* n_stop non-empty NUL-terminated strings */
    const size_t *stop_len;
    size_t n_stop;
    int32_t n;            /* choices per prompt, 1..max_n */
    bool echo;            /* completions: prepend the prompt to the text */
    bool logprobs;        /* return the chosen tokens' log probabilities */
    int32_t top_logprobs; /* and this many alternatives per token (completions:
                             "logprobs": k gives logprobs true, top k, 0..5;
                             chat: "top_logprobs" 0..20) */
    bool stream;
    bool include_usage; /* stream_options.include_usage (read even if !stream) */
    bool ignore_eos;    /* extension: keep going past end-of-generation */

    void *_arena; /* private */
};

/* Parse and validate a request body (len bytes, need not be NUL-terminated)
 * for endpoint ep against *lim. On success returns 0 and *out (free it with
 * oai_request_free). On failure *out is NULL, *err is filled (http_status 400
 * for anything the client did wrong, 500 on allocation failure) and the
 * return value is LF_ERR_INVALID (400) or LF_ERR_NOMEM (500). Malformed
 * JSON gives jansson's message with its line and column; invalid UTF-8 says
 * so. err may not be NULL. */
int oai_parse_request(enum oai_endpoint ep, const char *body, size_t len,
                      const struct oai_limits *lim, struct oai_request **out,
                      struct oai_error *err);

/* NULL is a no-op. */
void oai_request_free(struct oai_request *req);

/* The choice index OpenAI gives choice i (0..n-1) of prompt p. */
int32_t oai_choice_index(size_t prompt_index, int32_t n, int32_t i);

/* After tokenizing: 400 "context_length_exceeded" if a prompt of
 * n_prompt_tokens plus max_tokens (when >= 0) does not fit in lim->n_ctx, or
 * if the prompt alone fills it. 0 if it fits. */
int oai_check_context(const struct oai_request *req, const struct oai_limits *lim,
                      size_t n_prompt_tokens, struct oai_error *err);

/* POST /tokenize, as llama.cpp's server: {"content": string, "add_special":
 * bool (default false), "parse_special": bool (default true), "with_pieces":
 * bool (default false)}. An absent content is "". */
struct oai_tokenize_request {
    const char *content; /* NUL-terminated, inside the same allocation */
    size_t content_len;
    bool add_special;
    bool parse_special;
    bool with_pieces;
};

/* POST /detokenize: {"tokens": [ids]}; absent = empty. */
struct oai_detokenize_request {
    const int32_t *tokens; /* inside the same allocation */
    size_t n_tokens;
};

/* Same contract as oai_parse_request; the result is one allocation: release
 * it with free(). Token ids are checked against lim->n_vocab, the content
 * length against lim->max_prompt_bytes, the number of ids against
 * lim->n_ctx. */
int oai_parse_tokenize(const char *body, size_t len, const struct oai_limits *lim,
                       struct oai_tokenize_request **out, struct oai_error *err);
int oai_parse_detokenize(const char *body, size_t len, const struct oai_limits *lim,
                         struct oai_detokenize_request **out, struct oai_error *err);

/* ---- responses ---- */

/* What every chunk and response of one request repeats. */
struct oai_meta {
    enum oai_endpoint endpoint;
    const char *id;     /* "cmpl-..." / "chatcmpl-..." (the caller makes it) */
    const char *model;  /* echoed back */
    int64_t created;    /* unix seconds */
    bool include_usage; /* streams: add "usage":null to every chunk */
};

struct oai_usage {
    int64_t prompt_tokens;
    int64_t completion_tokens; /* total_tokens is the sum */
};

/* One token with its log probability. text is the token's bytes (may be a
 * partial UTF-8 character: the JSON "token" string then holds U+FFFD, and
 * chat's "bytes" the exact bytes). */
struct oai_token_logprob {
    const char *text;
    size_t len;
    float logprob; /* -inf (impossible token) is written as -9999 */
};

/* Log probabilities for one generated token. */
struct oai_logprob {
    struct oai_token_logprob chosen;
    const struct oai_token_logprob *top; /* n_top most likely, most likely first */
    size_t n_top;
    size_t text_offset; /* completions: byte offset of this token in the choice's text */
};

/* One choice of a non-streamed response. Choices are written in array
 * order with "index" = position, so put them in oai_choice_index order. */
struct oai_choice {
    const char *text; /* the generated text (with the prompt first if echo) */
    size_t text_len;
    const char *finish_reason;          /* "stop", "length", or NULL (null) */
    const struct oai_logprob *logprobs; /* NULL: "logprobs": null */
    size_t n_logprobs;
};

/* Non-streamed body: completions
 *   {"id","object":"text_completion","created","model","choices":[{"text",
 *    "index","logprobs","finish_reason"}],"usage":{...}}
 * chat
 *   {"id","object":"chat.completion","created","model","choices":[{"index",
 *    "message":{"role":"assistant","content"},"logprobs","finish_reason"}],
 *    "usage":{...}}
 * logprobs: completions {"tokens","token_logprobs","top_logprobs":[{tok:lp}],
 * "text_offset"}; chat {"content":[{"token","logprob","bytes","top_logprobs":
 * [{"token","logprob","bytes"}]}]}. usage NULL writes no usage field. */
int oai_response_json(struct oai_buf *b, const struct oai_meta *m, const struct oai_choice *choices,
                      size_t n_choices, const struct oai_usage *usage);

/* ---- server-sent events: each appends "data: {...}\n\n" ---- */

/* Chat only, first chunk of each choice: delta {"role":"assistant","content":""}. */
int oai_chunk_role(struct oai_buf *b, const struct oai_meta *m, int32_t index);

/* One piece of generated text for choice `index`: completions
 * {"text": piece, ...}, chat delta {"content": piece}. lp NULL: "logprobs":
 * null, else the logprobs object for this one token. */
int oai_chunk_text(struct oai_buf *b, const struct oai_meta *m, int32_t index, const char *text,
                   size_t len, const struct oai_logprob *lp);

/* The last chunk of a choice: completions text "", chat delta {}, with
 * finish_reason ("stop", "length"; NULL writes null). */
int oai_chunk_finish(struct oai_buf *b, const struct oai_meta *m, int32_t index,
                     const char *finish_reason);

/* The usage chunk sent before [DONE] when include_usage is set: "choices":[]
 * and the counts. */
int oai_chunk_usage(struct oai_buf *b, const struct oai_meta *m, const struct oai_usage *usage);

/* "data: [DONE]\n\n". */
int oai_chunk_done(struct oai_buf *b);

/* ": keep-alive\n\n" (an SSE comment; clients ignore it). */
int oai_chunk_keepalive(struct oai_buf *b);

/* ---- other endpoints ---- */

/* GET /v1/models: {"object":"list","data":[{"id","object":"model","created",
 * "owned_by":"lutfuse","meta":{"n_ctx","n_vocab"}}]}; meta only if n_ctx > 0. */
int oai_models_json(struct oai_buf *b, const char *model_id, int64_t created, int32_t n_ctx,
                    int32_t n_vocab);

/* POST /tokenize: {"tokens":[ids]}; with pieces (pieces != NULL):
 * {"tokens":[{"id","piece"}]} where piece is a string if the bytes are valid
 * UTF-8 and an array of byte values otherwise (as llama.cpp). */
int oai_tokenize_json(struct oai_buf *b, const int32_t *ids, size_t n, const char *const *pieces,
                      const size_t *piece_lens);

/* POST /detokenize: {"content": text}. */
int oai_detokenize_json(struct oai_buf *b, const char *text, size_t len);

/* GET /health: {"status":"ok"} or {"status":"loading"}. */
int oai_health_json(struct oai_buf *b, bool ready);

#endif
