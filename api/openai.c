/* openai.c - request parsing and response writing for the OpenAI-compatible API.
 *
 * Parsing: jansson turns the body into a tree (rejecting malformed JSON,
 * invalid UTF-8 and embedded NULs), then each known field is read through a
 * small typed getter that knows the field's name, so every type or range
 * error comes back as a message naming that field. Everything the request
 * keeps (strings, token arrays, the struct itself) is copied into one arena
 * of large chunks owned by the request, so a typical request costs one or two
 * allocations and oai_request_free is a walk over the chunk list. The jansson
 * tree is released before returning: no jansson type leaves this file.
 *
 * Writing: see buf.h. Chunks and bodies are appended by hand to a reused
 * buffer, field order as OpenAI sends them.
 */
#include "api/openai.h"

#include "engine/status.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---- */

/* Requests are small: one 4 KiB chunk holds most of them. A string or array
 * too big for the chunk gets a chunk of its own. */
#define ARENA_CHUNK 4096

struct arena_chunk {
    struct arena_chunk *next; /* older chunk */
    size_t used, cap;         /* bytes of data used / available */
    max_align_t data[];       /* max_align_t so every allocation is aligned */
};

struct arena {
    struct arena_chunk *head; /* newest chunk first */
};

/* n bytes aligned for any type, or NULL. */
static void *arena_alloc(struct arena *a, size_t n)
{
    const size_t align = alignof(max_align_t);
    if (n > SIZE_MAX - align - sizeof(struct arena_chunk)) return NULL;
    n = (n + align - 1) / align * align;
    struct arena_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    void *p = (unsigned char *)c->data + c->used;
    c->used += n;
    return p;
}

/* A NUL-terminated copy of s[0..len), or NULL. */
static char *arena_strdup(struct arena *a, const char *s, size_t len)
{
    if (len == SIZE_MAX) return NULL;
    char *p = arena_alloc(a, len + 1);
    if (!p) return NULL;
    if (len) memcpy(p, s, len);
    p[len] = 0;
    return p;
}

static void arena_free(struct arena *a)
{
    struct arena_chunk *c = a->head;
    while (c) {
        struct arena_chunk *next = c->next;
        free(c); /* may hold *a itself; a is not touched after the walk starts */
        c = next;
    }
}

/* The request and the arena that owns it live together in the first chunk. */
struct request_box {
    struct oai_request req;
    struct arena arena;
};

/* ---- limits and small helpers ---- */

struct oai_limits oai_limits_default(int32_t n_vocab, int32_t n_ctx)
{
    return (struct oai_limits){
        .n_vocab = n_vocab,
        .n_ctx = n_ctx,
        .max_n = 16,
        .max_choices = 64,
        .max_prompts = 64,
        .max_messages = 4096,
        .max_stop = 16,
        .max_stop_bytes = 256,
        .max_prompt_bytes = 1u << 20,
    };
}

const char *oai_role_name(enum oai_role role)
{
    switch (role) {
    case OAI_ROLE_SYSTEM:
        return "system";
    case OAI_ROLE_USER:
        return "user";
    case OAI_ROLE_ASSISTANT:
        return "assistant";
    case OAI_ROLE_TOOL:
        return "tool";
    }
    return "user";
}

int32_t oai_choice_index(size_t prompt_index, int32_t n, int32_t i)
{
    return (int32_t)prompt_index * n + i;
}

static int nomem(struct oai_error *err)
{
    return oai_errorf(err, LF_ERR_NOMEM, 500, NULL, NULL, "out of memory");
}

/* 400 with a message; param is the top-level field (static string) or NULL. */
#define BAD(err, param, ...) oai_errorf((err), LF_ERR_INVALID, 400, (param), NULL, __VA_ARGS__)

/* ---- body and typed field getters ---- */

/* Parse the body into a JSON object (the caller owns the reference). */
static int load_object(const char *body, size_t len, json_t **out, struct oai_error *err)
{
    *out = NULL;
    if (!body || len == 0) return BAD(err, NULL, "request body is empty");
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    if (!root) {
        enum json_error_code code = json_error_code(&je);
        if (code == json_error_out_of_memory) return nomem(err);
        if (code == json_error_invalid_utf8)
            return BAD(err, NULL, "request body is not valid UTF-8 (line %d, column %d: %s)",
                       je.line, je.column, je.text);
        /* Strings are handed on as C strings, so an escaped NUL is refused
         * (jansson's own message names a flag, which would puzzle a client). */
        if (code == json_error_null_character)
            return BAD(err, NULL,
                       "invalid JSON at line %d, column %d: strings must not contain \\u0000",
                       je.line, je.column);
        return BAD(err, NULL, "invalid JSON at line %d, column %d: %s", je.line, je.column,
                   je.text);
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return BAD(err, NULL, "request body must be a JSON object");
    }
    *out = root;
    return 0;
}

/* obj[name], or NULL when absent or null (null always means "the default"). */
static json_t *opt(const json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return json_is_null(v) ? NULL : v;
}

/* Optional boolean: *out keeps its default when absent. */
static int get_bool(const json_t *obj, const char *name, bool *out, struct oai_error *err)
{
    json_t *v = opt(obj, name);
    if (!v) return 0;
    if (!json_is_boolean(v)) return BAD(err, name, "'%s' must be a boolean", name);
    *out = json_is_true(v);
    return 0;
}

/* The integer in v, accepting reals with an integral value (16.0) as
 * OpenAI's own server does. False if v is neither. */
static bool as_integer(const json_t *v, long long *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        /* 9.2e18 is inside long long's range, so the cast below is defined. */
        if (d != floor(d) || d < -9.2e18 || d > 9.2e18) return false;
        *out = (long long)d;
        return true;
    }
    return false;
}

/* Optional integer in [lo, hi]: *given (if not NULL) says whether it was sent. */
static int get_int(const json_t *obj, const char *name, long long lo, long long hi, long long *out,
                   bool *given, struct oai_error *err)
{
    if (given) *given = false;
    json_t *v = opt(obj, name);
    if (!v) return 0;
    long long x;
    if (!as_integer(v, &x)) {
        if (json_is_real(v))
            return BAD(err, name, "'%s' must be an integer (got %g)", name, json_real_value(v));
        return BAD(err, name, "'%s' must be an integer", name);
    }
    if (x < lo || x > hi)
        return BAD(err, name, "'%s' must be between %lld and %lld (got %lld)", name, lo, hi, x);
    *out = x;
    if (given) *given = true;
    return 0;
}

/* Optional number in [lo, hi], or (lo, hi] when lo_open. */
static int get_number(const json_t *obj, const char *name, double lo, double hi, bool lo_open,
                      float *out, struct oai_error *err)
{
    json_t *v = opt(obj, name);
    if (!v) return 0;
    if (!json_is_number(v)) return BAD(err, name, "'%s' must be a number", name);
    double x = json_number_value(v);
    bool ok = (lo_open ? x > lo : x >= lo) && x <= hi;
    if (!ok) {
        if (lo_open) return BAD(err, name, "'%s' must be in (%g, %g] (got %g)", name, lo, hi, x);
        return BAD(err, name, "'%s' must be between %g and %g (got %g)", name, lo, hi, x);
    }
    *out = (float)x;
    return 0;
}

/* ---- fields shared by both endpoints ---- */

struct parser {
    const struct oai_limits *lim;
    struct arena *arena;
    struct oai_error *err;
};

static int parse_stop(struct parser *ps, const json_t *root, struct oai_request *req)
{
    const struct oai_limits *lim = ps->lim;
    json_t *v = opt(root, "stop");
    if (!v) return 0;
    size_t n;
    if (json_is_string(v))
        n = 1;
    else if (json_is_array(v))
        n = json_array_size(v);
    else
        return BAD(ps->err, "stop", "'stop' must be a string or an array of strings");
    size_t max_stop = lim->max_stop < 0 ? 0 : (size_t)lim->max_stop;
    if (max_stop > OAI_MAX_STOP) max_stop = OAI_MAX_STOP;
    if (n > max_stop)
        return BAD(ps->err, "stop", "'stop' has %zu strings, more than the limit of %zu", n,
                   max_stop);
    if (n == 0) return 0;
    const char **strs = arena_alloc(ps->arena, n * sizeof *strs);
    size_t *lens = arena_alloc(ps->arena, n * sizeof *lens);
    if (!strs || !lens) return nomem(ps->err);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_string(v) ? v : json_array_get(v, i);
        if (!json_is_string(s))
            return BAD(ps->err, "stop", "'stop' must be a string or an array of strings");
        size_t len = json_string_length(s);
        if (len == 0) return BAD(ps->err, "stop", "'stop' strings must not be empty");
        if (len > lim->max_stop_bytes)
            return BAD(ps->err, "stop", "'stop' strings must be at most %zu bytes (got %zu)",
                       lim->max_stop_bytes, len);
        strs[i] = arena_strdup(ps->arena, json_string_value(s), len);
        if (!strs[i]) return nomem(ps->err);
        lens[i] = len;
    }
    req->stop = strs;
    req->stop_len = lens;
    req->n_stop = n;
    return 0;
}

/* Sampling fields, n, seed, stream, stream_options, ignore_eos, model. */
static int parse_common(struct parser *ps, const json_t *root, struct oai_request *req)
{
    struct oai_error *err = ps->err;
    struct sampler_params *sp = &req->sampling;
    int rc;

    json_t *model = opt(root, "model");
    if (model && !json_is_string(model)) return BAD(err, "model", "'model' must be a string");
    req->model =
        model ? arena_strdup(ps->arena, json_string_value(model), json_string_length(model)) : "";
    if (!req->model) return nomem(err);

    if ((rc = get_number(root, "temperature", 0, 2, false, &sp->temperature, err))) return rc;
    if ((rc = get_number(root, "top_p", 0, 1, true, &sp->top_p, err))) return rc;
    if ((rc = get_number(root, "min_p", 0, 1, false, &sp->min_p, err))) return rc;
    if ((rc = get_number(root, "presence_penalty", -2, 2, false, &sp->presence_penalty, err)))
        return rc;
    if ((rc = get_number(root, "frequency_penalty", -2, 2, false, &sp->frequency_penalty, err)))
        return rc;
    /* Two spellings of the same extension: vLLM's and llama.cpp's. */
    if ((rc = get_number(root, "repetition_penalty", 0, 10, true, &sp->repeat_penalty, err)))
        return rc;
    if ((rc = get_number(root, "repeat_penalty", 0, 10, true, &sp->repeat_penalty, err))) return rc;

    long long x;
    bool given;
    if ((rc = get_int(root, "top_k", -1, INT32_MAX, &x, &given, err))) return rc;
    if (given) sp->top_k = x < 0 ? 0 : (int32_t)x; /* -1 is vLLM's "off" */
    if ((rc = get_int(root, "repeat_last_n", -1, SAMPLER_MAX_LAST_N, &x, &given, err))) return rc;
    if (given) sp->repeat_last_n = (int32_t)x;

    json_t *seed = opt(root, "seed");
    if (seed) {
        if (!as_integer(seed, &x)) return BAD(err, "seed", "'seed' must be an integer");
        if (x != -1) { /* -1: llama.cpp's "pick one for me" */
            sp->seed = (uint64_t)x;
            req->seed_given = true;
        }
    }

    int32_t max_n = ps->lim->max_n < 1 ? 1 : ps->lim->max_n;
    if ((rc = get_int(root, "n", 1, max_n, &x, &given, err))) return rc;
    if (given) req->n = (int32_t)x;

    if ((rc = get_bool(root, "stream", &req->stream, err))) return rc;
    json_t *so = opt(root, "stream_options");
    if (so) {
        if (!json_is_object(so))
            return BAD(err, "stream_options", "'stream_options' must be an object");
        json_t *iu = opt(so, "include_usage");
        if (iu && !json_is_boolean(iu))
            return BAD(err, "stream_options", "'stream_options.include_usage' must be a boolean");
        req->include_usage = iu && json_is_true(iu);
    }
    if ((rc = get_bool(root, "ignore_eos", &req->ignore_eos, err))) return rc;
    return parse_stop(ps, root, req);
}

/* max_tokens-like field: lo..n_ctx, message naming the context size. */
static int get_max_tokens(struct parser *ps, const json_t *root, const char *name, long long lo,
                          int32_t *out)
{
    long long x;
    bool given;
    int rc = get_int(root, name, LLONG_MIN, LLONG_MAX, &x, &given, ps->err);
    if (rc || !given) return rc;
    if (x < lo) return BAD(ps->err, name, "'%s' must be >= %lld (got %lld)", name, lo, x);
    if (x > ps->lim->n_ctx)
        return BAD(ps->err, name, "'%s' must be at most the context size of %d (got %lld)", name,
                   (int)ps->lim->n_ctx, x);
    *out = (int32_t)x;
    return 0;
}

/* ---- completions: prompt ---- */

static const char *const PROMPT_FORMS =
    "'prompt' must be a string, an array of strings, an array of token ids or an array of "
    "token-id arrays";

/* Copy a JSON array of token ids, checking each against the vocabulary. */
static int copy_tokens(struct parser *ps, const json_t *arr, const char *param, const char *what,
                       int32_t **out, size_t *n_out)
{
    const struct oai_limits *lim = ps->lim;
    size_t n = json_array_size(arr);
    if (lim->n_ctx >= 0 && n > (size_t)lim->n_ctx)
        return BAD(ps->err, param, "'%s' has %zu tokens, more than the context size of %d", param,
                   n, (int)lim->n_ctx);
    int32_t *ids = arena_alloc(ps->arena, (n ? n : 1) * sizeof *ids);
    if (!ids) return nomem(ps->err);
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(arr, i);
        if (!json_is_integer(t))
            return BAD(ps->err, param, "'%s' token ids must be integers", param);
        json_int_t id = json_integer_value(t);
        if (id < 0 || id >= lim->n_vocab)
            return BAD(ps->err, param, "%s %lld is outside the vocabulary (%d)", what,
                       (long long)id, (int)lim->n_vocab);
        ids[i] = (int32_t)id;
    }
    *out = ids;
    *n_out = n;
    return 0;
}

static int parse_prompt(struct parser *ps, const json_t *root, struct oai_request *req)
{
    struct oai_error *err = ps->err;
    const struct oai_limits *lim = ps->lim;
    json_t *p = opt(root, "prompt");
    if (!p) return BAD(err, "prompt", "'prompt' is missing");

    /* Shape: how many prompts, and whether they are text or token ids. */
    size_t n_prompts;
    bool text;
    bool single_token_list = false; /* [1, 2, 3]: one prompt of ids */
    if (json_is_string(p)) {
        n_prompts = 1;
        text = true;
    } else if (json_is_array(p)) {
        size_t n = json_array_size(p);
        if (n == 0) return BAD(err, "prompt", "'prompt' must not be empty");
        json_t *first = json_array_get(p, 0);
        if (json_is_string(first)) {
            text = true;
            n_prompts = n;
        } else if (json_is_integer(first)) {
            text = false;
            n_prompts = 1;
            single_token_list = true;
        } else if (json_is_array(first)) {
            text = false;
            n_prompts = n;
        } else {
            return BAD(err, "prompt", "%s", PROMPT_FORMS);
        }
    } else {
        return BAD(err, "prompt", "%s", PROMPT_FORMS);
    }
    size_t max_prompts = lim->max_prompts < 1 ? 1 : (size_t)lim->max_prompts;
    if (n_prompts > max_prompts)
        return BAD(err, "prompt", "'prompt' has %zu prompts, more than the limit of %zu", n_prompts,
                   max_prompts);

    struct oai_prompt *prompts = arena_alloc(ps->arena, n_prompts * sizeof *prompts);
    if (!prompts) return nomem(err);
    memset(prompts, 0, n_prompts * sizeof *prompts);
    size_t total_bytes = 0;
    for (size_t i = 0; i < n_prompts; i++) {
        json_t *item = json_is_array(p) && !single_token_list ? json_array_get(p, i) : p;
        if (text) {
            if (!json_is_string(item)) return BAD(err, "prompt", "%s", PROMPT_FORMS);
            size_t len = json_string_length(item);
            total_bytes += len;
            if (total_bytes > lim->max_prompt_bytes)
                return BAD(err, "prompt", "'prompt' is too long: more than the limit of %zu bytes",
                           lim->max_prompt_bytes);
            char *s = arena_strdup(ps->arena, json_string_value(item), len);
            if (!s) return nomem(err);
            prompts[i].text = s;
            prompts[i].text_len = len;
        } else {
            if (!json_is_array(item)) return BAD(err, "prompt", "%s", PROMPT_FORMS);
            if (json_array_size(item) == 0)
                return BAD(err, "prompt", "'prompt' token arrays must not be empty");
            int32_t *ids = NULL;
            size_t n = 0;
            int rc = copy_tokens(ps, item, "prompt", "prompt token", &ids, &n);
            if (rc) return rc;
            prompts[i].tokens = ids;
            prompts[i].n_tokens = n;
        }
    }
    req->prompts = prompts;
    req->n_prompts = n_prompts;
    return 0;
}

static int parse_completions(struct parser *ps, const json_t *root, struct oai_request *req)
{
    struct oai_error *err = ps->err;
    int rc;
    if ((rc = parse_prompt(ps, root, req))) return rc;
    req->max_tokens = 16; /* OpenAI's default for completions */
    if (req->max_tokens > ps->lim->n_ctx) req->max_tokens = ps->lim->n_ctx;
    if ((rc = get_max_tokens(ps, root, "max_tokens", 0, &req->max_tokens))) return rc;
    if ((rc = get_bool(root, "echo", &req->echo, err))) return rc;
    long long k;
    bool given;
    if ((rc = get_int(root, "logprobs", 0, 5, &k, &given, err))) return rc;
    if (given) {
        req->logprobs = true;
        req->top_logprobs = (int32_t)k;
    }
    return 0;
}

/* ---- chat: messages ---- */

static int parse_role(struct parser *ps, const json_t *m, size_t i, enum oai_role *out)
{
    json_t *r = opt(m, "role");
    if (!r) return BAD(ps->err, "messages", "'messages[%zu].role' is missing", i);
    if (!json_is_string(r))
        return BAD(ps->err, "messages", "'messages[%zu].role' must be a string", i);
    const char *s = json_string_value(r);
    if (!strcmp(s, "system") || !strcmp(s, "developer"))
        *out = OAI_ROLE_SYSTEM;
    else if (!strcmp(s, "user"))
        *out = OAI_ROLE_USER;
    else if (!strcmp(s, "assistant"))
        *out = OAI_ROLE_ASSISTANT;
    else if (!strcmp(s, "tool"))
        *out = OAI_ROLE_TOOL;
    else
        return BAD(ps->err, "messages",
                   "'messages[%zu].role' must be system, user, assistant or tool (got \"%.32s\")",
                   i, s);
    return 0;
}

/* The text of a content value: a string, or an array of {"type":"text",
 * "text":...} parts joined with "\n". Counts bytes into *total. */
static int parse_content(struct parser *ps, const json_t *m, size_t i, enum oai_role role,
                         struct oai_message *out, size_t *total)
{
    struct oai_error *err = ps->err;
    json_t *c = opt(m, "content");
    if (!c) {
        /* An assistant turn that only called tools has content null. */
        if (role != OAI_ROLE_ASSISTANT)
            return BAD(err, "messages", "'messages[%zu].content' is missing", i);
        out->content = "";
        out->content_len = 0;
        return 0;
    }
    if (json_is_string(c)) {
        size_t len = json_string_length(c);
        *total += len;
        if (*total > ps->lim->max_prompt_bytes)
            return BAD(err, "messages", "'messages' are too long: more than the limit of %zu bytes",
                       ps->lim->max_prompt_bytes);
        out->content = arena_strdup(ps->arena, json_string_value(c), len);
        if (!out->content) return nomem(err);
        out->content_len = len;
        return 0;
    }
    if (!json_is_array(c))
        return BAD(err, "messages",
                   "'messages[%zu].content' must be a string or an array of content parts", i);

    /* First pass: check every part and measure; second: copy. */
    size_t n = json_array_size(c), len = 0;
    for (size_t k = 0; k < n; k++) {
        json_t *part = json_array_get(c, k);
        if (!json_is_object(part))
            return BAD(err, "messages", "'messages[%zu].content[%zu]' must be an object", i, k);
        json_t *type = opt(part, "type");
        if (!json_is_string(type))
            return BAD(err, "messages", "'messages[%zu].content[%zu].type' must be a string", i, k);
        if (strcmp(json_string_value(type), "text") != 0)
            return BAD(err, "messages",
                       "'messages[%zu].content[%zu].type' must be \"text\" (got \"%.32s\"): only "
                       "text content is supported",
                       i, k, json_string_value(type));
        json_t *text = opt(part, "text");
        if (!json_is_string(text))
            return BAD(err, "messages", "'messages[%zu].content[%zu].text' must be a string", i, k);
        len += json_string_length(text) + (k > 0); /* + the "\n" separator */
        if (*total + len > ps->lim->max_prompt_bytes)
            return BAD(err, "messages", "'messages' are too long: more than the limit of %zu bytes",
                       ps->lim->max_prompt_bytes);
    }
    *total += len;
    char *s = arena_alloc(ps->arena, len + 1);
    if (!s) return nomem(err);
    char *o = s;
    for (size_t k = 0; k < n; k++) {
        json_t *text = json_object_get(json_array_get(c, k), "text");
        size_t tl = json_string_length(text);
        if (k > 0) *o++ = '\n';
        memcpy(o, json_string_value(text), tl);
        o += tl;
    }
    *o = 0;
    out->content = s;
    out->content_len = len;
    return 0;
}

static int parse_messages(struct parser *ps, const json_t *root, struct oai_request *req)
{
    struct oai_error *err = ps->err;
    json_t *ms = opt(root, "messages");
    if (!ms) return BAD(err, "messages", "'messages' is missing");
    if (!json_is_array(ms)) return BAD(err, "messages", "'messages' must be an array of messages");
    size_t n = json_array_size(ms);
    if (n == 0) return BAD(err, "messages", "'messages' must not be empty");
    size_t max_messages = ps->lim->max_messages < 1 ? 1 : (size_t)ps->lim->max_messages;
    if (n > max_messages)
        return BAD(err, "messages", "'messages' has %zu messages, more than the limit of %zu", n,
                   max_messages);
    struct oai_message *msgs = arena_alloc(ps->arena, n * sizeof *msgs);
    if (!msgs) return nomem(err);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(ms, i);
        if (!json_is_object(m)) return BAD(err, "messages", "'messages[%zu]' must be an object", i);
        int rc = parse_role(ps, m, i, &msgs[i].role);
        if (rc) return rc;
        if ((rc = parse_content(ps, m, i, msgs[i].role, &msgs[i], &total))) return rc;
    }
    req->messages = msgs;
    req->n_messages = n;
    return 0;
}

static int parse_chat(struct parser *ps, const json_t *root, struct oai_request *req)
{
    struct oai_error *err = ps->err;
    int rc;
    if ((rc = parse_messages(ps, root, req))) return rc;
    req->max_tokens = -1; /* until the model stops or the context is full */
    /* max_tokens is the deprecated spelling; max_completion_tokens wins. */
    if ((rc = get_max_tokens(ps, root, "max_tokens", 1, &req->max_tokens))) return rc;
    if ((rc = get_max_tokens(ps, root, "max_completion_tokens", 1, &req->max_tokens))) return rc;
    if ((rc = get_bool(root, "logprobs", &req->logprobs, err))) return rc;
    long long k;
    bool given;
    if ((rc = get_int(root, "top_logprobs", 0, 20, &k, &given, err))) return rc;
    if (given) {
        if (k > 0 && !req->logprobs)
            return BAD(err, "top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
        req->top_logprobs = (int32_t)k;
    }
    return 0;
}

/* ---- entry points ---- */

int oai_parse_request(enum oai_endpoint ep, const char *body, size_t len,
                      const struct oai_limits *lim, struct oai_request **out, struct oai_error *err)
{
    *out = NULL;
    oai_error_clear(err);
    json_t *root;
    int rc = load_object(body, len, &root, err);
    if (rc) return rc;

    /* The box goes first into the arena's first chunk. */
    struct arena arena = {NULL};
    struct request_box *box = arena_alloc(&arena, sizeof *box);
    if (!box) {
        json_decref(root);
        return nomem(err);
    }
    memset(box, 0, sizeof *box);
    struct oai_request *req = &box->req;
    req->endpoint = ep;
    req->sampling = sampler_params_default();
    req->n = 1;
    req->_arena = &box->arena;
    struct parser ps = {.lim = lim, .arena = &arena, .err = err};

    rc = parse_common(&ps, root, req);
    if (!rc) rc = ep == OAI_CHAT ? parse_chat(&ps, root, req) : parse_completions(&ps, root, req);
    if (!rc && req->n_prompts > 0) {
        size_t max_choices = lim->max_choices < 1 ? 1 : (size_t)lim->max_choices;
        size_t choices = req->n_prompts * (size_t)req->n;
        if (choices > max_choices)
            rc = BAD(err, "n",
                     "'n' times the number of prompts is %zu, more than the limit of %zu choices",
                     choices, max_choices);
    }
    if (!rc) {
        /* Our ranges sit inside the sampler's; this only guards against drift. */
        char msg[LF_ERRMSG_LEN];
        if (sampler_params_validate(&req->sampling, msg, sizeof msg) != 0)
            rc = BAD(err, NULL, "%s", msg);
    }
    json_decref(root);
    box->arena = arena; /* from here the request owns the arena */
    if (rc) {
        arena_free(&box->arena);
        return rc;
    }
    *out = req;
    return 0;
}

void oai_request_free(struct oai_request *req)
{
    if (!req) return;
    struct arena a = *(struct arena *)req->_arena; /* copy: it lives in a chunk */
    arena_free(&a);
}

int oai_check_context(const struct oai_request *req, const struct oai_limits *lim,
                      size_t n_prompt_tokens, struct oai_error *err)
{
    size_t n_ctx = lim->n_ctx < 0 ? 0 : (size_t)lim->n_ctx;
    size_t want = n_prompt_tokens + (req->max_tokens > 0 ? (size_t)req->max_tokens : 0);
    if (n_prompt_tokens >= n_ctx)
        return oai_errorf(err, LF_ERR_RANGE, 400, req->endpoint == OAI_CHAT ? "messages" : "prompt",
                          "context_length_exceeded",
                          "the prompt has %zu tokens, but the context holds %zu", n_prompt_tokens,
                          n_ctx);
    if (want > n_ctx)
        return oai_errorf(err, LF_ERR_RANGE, 400, "max_tokens", "context_length_exceeded",
                          "the context holds %zu tokens, but the prompt has %zu and max_tokens "
                          "asks for %d more",
                          n_ctx, n_prompt_tokens, (int)req->max_tokens);
    return 0;
}

int oai_parse_tokenize(const char *body, size_t len, const struct oai_limits *lim,
                       struct oai_tokenize_request **out, struct oai_error *err)
{
    *out = NULL;
    oai_error_clear(err);
    json_t *root;
    int rc = load_object(body, len, &root, err);
    if (rc) return rc;
    struct oai_tokenize_request r = {.content = "", .parse_special = true};
    json_t *c = opt(root, "content");
    if (c && !json_is_string(c)) rc = BAD(err, "content", "'content' must be a string");
    size_t clen = c && !rc ? json_string_length(c) : 0;
    if (!rc && clen > lim->max_prompt_bytes)
        rc = BAD(err, "content", "'content' is too long: more than the limit of %zu bytes",
                 lim->max_prompt_bytes);
    if (!rc) rc = get_bool(root, "add_special", &r.add_special, err);
    if (!rc) rc = get_bool(root, "parse_special", &r.parse_special, err);
    if (!rc) rc = get_bool(root, "with_pieces", &r.with_pieces, err);
    struct oai_tokenize_request *t = NULL;
    if (!rc) {
        t = malloc(sizeof *t + clen + 1);
        if (!t) rc = nomem(err);
    }
    if (!rc) {
        char *s = (char *)(t + 1);
        if (clen) memcpy(s, json_string_value(c), clen);
        s[clen] = 0;
        *t = r;
        t->content = s;
        t->content_len = clen;
        *out = t;
    }
    json_decref(root);
    return rc;
}

int oai_parse_detokenize(const char *body, size_t len, const struct oai_limits *lim,
                         struct oai_detokenize_request **out, struct oai_error *err)
{
    *out = NULL;
    oai_error_clear(err);
    json_t *root;
    int rc = load_object(body, len, &root, err);
    if (rc) return rc;
    json_t *toks = opt(root, "tokens");
    size_t n = 0;
    if (toks && !json_is_array(toks))
        rc = BAD(err, "tokens", "'tokens' must be an array of token ids");
    if (!rc && toks) n = json_array_size(toks);
    if (!rc && lim->n_ctx >= 0 && n > (size_t)lim->n_ctx)
        rc = BAD(err, "tokens", "'tokens' has %zu tokens, more than the context size of %d", n,
                 (int)lim->n_ctx);
    struct oai_detokenize_request *d = NULL;
    if (!rc) {
        d = malloc(sizeof *d + n * sizeof(int32_t));
        if (!d) rc = nomem(err);
    }
    if (!rc) {
        int32_t *ids = (int32_t *)(d + 1);
        for (size_t i = 0; i < n && !rc; i++) {
            json_t *t = json_array_get(toks, i);
            if (!json_is_integer(t)) {
                rc = BAD(err, "tokens", "'tokens' token ids must be integers");
                break;
            }
            json_int_t id = json_integer_value(t);
            if (id < 0 || id >= lim->n_vocab)
                rc = BAD(err, "tokens", "token %lld is outside the vocabulary (%d)", (long long)id,
                         (int)lim->n_vocab);
            else
                ids[i] = (int32_t)id;
        }
        d->tokens = ids;
        d->n_tokens = n;
    }
    if (rc)
        free(d);
    else
        *out = d;
    json_decref(root);
    return rc;
}

/* ---- response writers ---- */

/* {"id":...,"object":...,"created":...,"model":... (no closing brace) */
static void write_head(struct oai_buf *b, const struct oai_meta *m, const char *object)
{
    oai_buf_puts(b, "{\"id\":");
    oai_buf_json_cstr(b, m->id ? m->id : "");
    oai_buf_printf(b, ",\"object\":\"%s\",\"created\":%lld,\"model\":", object,
                   (long long)m->created);
    oai_buf_json_cstr(b, m->model ? m->model : "");
}

static void write_usage(struct oai_buf *b, const struct oai_usage *u)
{
    oai_buf_printf(b, "{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"total_tokens\":%lld}",
                   (long long)u->prompt_tokens, (long long)u->completion_tokens,
                   (long long)(u->prompt_tokens + u->completion_tokens));
}

static void write_finish(struct oai_buf *b, const char *finish_reason)
{
    oai_buf_puts(b, ",\"finish_reason\":");
    oai_buf_json_cstr(b, finish_reason);
}

static void write_bytes_array(struct oai_buf *b, const char *s, size_t len)
{
    oai_buf_puts(b, "[");
    for (size_t i = 0; i < len; i++)
        oai_buf_printf(b, i ? ",%u" : "%u", (unsigned)(unsigned char)s[i]);
    oai_buf_puts(b, "]");
}

/* Completions: {"tokens":[...],"token_logprobs":[...],"top_logprobs":[{...}],
 * "text_offset":[...]} over n tokens. */
static void write_completion_logprobs(struct oai_buf *b, const struct oai_logprob *lp, size_t n)
{
    oai_buf_puts(b, "{\"tokens\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) oai_buf_puts(b, ",");
        oai_buf_json_str(b, lp[i].chosen.text, lp[i].chosen.len);
    }
    oai_buf_puts(b, "],\"token_logprobs\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) oai_buf_puts(b, ",");
        oai_buf_json_float(b, lp[i].chosen.logprob);
    }
    oai_buf_puts(b, "],\"top_logprobs\":[");
    for (size_t i = 0; i < n; i++) {
        oai_buf_puts(b, i ? ",{" : "{");
        for (size_t k = 0; k < lp[i].n_top; k++) {
            if (k) oai_buf_puts(b, ",");
            oai_buf_json_str(b, lp[i].top[k].text, lp[i].top[k].len);
            oai_buf_puts(b, ":");
            oai_buf_json_float(b, lp[i].top[k].logprob);
        }
        oai_buf_puts(b, "}");
    }
    oai_buf_puts(b, "],\"text_offset\":[");
    for (size_t i = 0; i < n; i++)
        oai_buf_printf(b, i ? ",%zu" : "%zu", lp[i].text_offset);
    oai_buf_puts(b, "]}");
}

/* Chat: {"token","logprob","bytes"} for one token (no closing brace). */
static void write_chat_token(struct oai_buf *b, const struct oai_token_logprob *t)
{
    oai_buf_puts(b, "{\"token\":");
    oai_buf_json_str(b, t->text, t->len);
    oai_buf_puts(b, ",\"logprob\":");
    oai_buf_json_float(b, t->logprob);
    oai_buf_puts(b, ",\"bytes\":");
    write_bytes_array(b, t->text, t->len);
}

/* Chat: {"content":[{"token","logprob","bytes","top_logprobs":[...]}]}. */
static void write_chat_logprobs(struct oai_buf *b, const struct oai_logprob *lp, size_t n)
{
    oai_buf_puts(b, "{\"content\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) oai_buf_puts(b, ",");
        write_chat_token(b, &lp[i].chosen);
        oai_buf_puts(b, ",\"top_logprobs\":[");
        for (size_t k = 0; k < lp[i].n_top; k++) {
            if (k) oai_buf_puts(b, ",");
            write_chat_token(b, &lp[i].top[k]);
            oai_buf_puts(b, "}");
        }
        oai_buf_puts(b, "]}");
    }
    oai_buf_puts(b, "]}");
}

static void write_logprobs(struct oai_buf *b, enum oai_endpoint ep, const struct oai_logprob *lp,
                           size_t n)
{
    oai_buf_puts(b, ",\"logprobs\":");
    if (!lp)
        oai_buf_puts(b, "null");
    else if (ep == OAI_CHAT)
        write_chat_logprobs(b, lp, n);
    else
        write_completion_logprobs(b, lp, n);
}

int oai_response_json(struct oai_buf *b, const struct oai_meta *m, const struct oai_choice *choices,
                      size_t n_choices, const struct oai_usage *usage)
{
    size_t start = b->len;
    bool chat = m->endpoint == OAI_CHAT;
    write_head(b, m, chat ? "chat.completion" : "text_completion");
    oai_buf_puts(b, ",\"choices\":[");
    for (size_t i = 0; i < n_choices; i++) {
        const struct oai_choice *c = &choices[i];
        if (i) oai_buf_puts(b, ",");
        if (chat) {
            oai_buf_printf(b, "{\"index\":%zu,\"message\":{\"role\":\"assistant\",\"content\":", i);
            oai_buf_json_str(b, c->text, c->text_len);
            oai_buf_puts(b, "}");
        } else {
            oai_buf_puts(b, "{\"text\":");
            oai_buf_json_str(b, c->text, c->text_len);
            oai_buf_printf(b, ",\"index\":%zu", i);
        }
        write_logprobs(b, m->endpoint, c->logprobs, c->n_logprobs);
        write_finish(b, c->finish_reason);
        oai_buf_puts(b, "}");
    }
    oai_buf_puts(b, "]");
    if (usage) {
        oai_buf_puts(b, ",\"usage\":");
        write_usage(b, usage);
    }
    oai_buf_puts(b, "}");
    return oai_buf_end(b, start);
}

/* "data: " + head + ",\"choices\":[{" for one choice of a stream chunk. */
static void chunk_open(struct oai_buf *b, const struct oai_meta *m)
{
    oai_buf_puts(b, "data: ");
    write_head(b, m, m->endpoint == OAI_CHAT ? "chat.completion.chunk" : "text_completion");
    oai_buf_puts(b, ",\"choices\":[{");
}

/* Close the choice, the choices array, the object and the event. */
static void chunk_close(struct oai_buf *b, const struct oai_meta *m)
{
    oai_buf_puts(b, "}]");
    if (m->include_usage) oai_buf_puts(b, ",\"usage\":null");
    oai_buf_puts(b, "}\n\n");
}

int oai_chunk_role(struct oai_buf *b, const struct oai_meta *m, int32_t index)
{
    size_t start = b->len;
    chunk_open(b, m);
    oai_buf_printf(b, "\"index\":%d,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}",
                   (int)index);
    oai_buf_puts(b, ",\"logprobs\":null,\"finish_reason\":null");
    chunk_close(b, m);
    return oai_buf_end(b, start);
}

int oai_chunk_text(struct oai_buf *b, const struct oai_meta *m, int32_t index, const char *text,
                   size_t len, const struct oai_logprob *lp)
{
    size_t start = b->len;
    chunk_open(b, m);
    if (m->endpoint == OAI_CHAT) {
        oai_buf_printf(b, "\"index\":%d,\"delta\":{\"content\":", (int)index);
        oai_buf_json_str(b, text, len);
        oai_buf_puts(b, "}");
    } else {
        oai_buf_puts(b, "\"text\":");
        oai_buf_json_str(b, text, len);
        oai_buf_printf(b, ",\"index\":%d", (int)index);
    }
    write_logprobs(b, m->endpoint, lp, 1);
    write_finish(b, NULL);
    chunk_close(b, m);
    return oai_buf_end(b, start);
}

int oai_chunk_finish(struct oai_buf *b, const struct oai_meta *m, int32_t index,
                     const char *finish_reason)
{
    size_t start = b->len;
    chunk_open(b, m);
    if (m->endpoint == OAI_CHAT)
        oai_buf_printf(b, "\"index\":%d,\"delta\":{}", (int)index);
    else
        oai_buf_printf(b, "\"text\":\"\",\"index\":%d", (int)index);
    oai_buf_puts(b, ",\"logprobs\":null");
    write_finish(b, finish_reason);
    chunk_close(b, m);
    return oai_buf_end(b, start);
}

int oai_chunk_usage(struct oai_buf *b, const struct oai_meta *m, const struct oai_usage *usage)
{
    size_t start = b->len;
    oai_buf_puts(b, "data: ");
    write_head(b, m, m->endpoint == OAI_CHAT ? "chat.completion.chunk" : "text_completion");
    oai_buf_puts(b, ",\"choices\":[],\"usage\":");
    write_usage(b, usage);
    oai_buf_puts(b, "}\n\n");
    return oai_buf_end(b, start);
}

int oai_chunk_done(struct oai_buf *b)
{
    size_t start = b->len;
    oai_buf_puts(b, "data: [DONE]\n\n");
    return oai_buf_end(b, start);
}

int oai_chunk_keepalive(struct oai_buf *b)
{
    size_t start = b->len;
    oai_buf_puts(b, ": keep-alive\n\n");
    return oai_buf_end(b, start);
}

int oai_models_json(struct oai_buf *b, const char *model_id, int64_t created, int32_t n_ctx,
                    int32_t n_vocab)
{
    size_t start = b->len;
    oai_buf_puts(b, "{\"object\":\"list\",\"data\":[{\"id\":");
    oai_buf_json_cstr(b, model_id ? model_id : "");
    oai_buf_printf(b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"lutfuse\"",
                   (long long)created);
    if (n_ctx > 0)
        oai_buf_printf(b, ",\"meta\":{\"n_ctx\":%d,\"n_vocab\":%d}", (int)n_ctx, (int)n_vocab);
    oai_buf_puts(b, "}]}");
    return oai_buf_end(b, start);
}

int oai_tokenize_json(struct oai_buf *b, const int32_t *ids, size_t n, const char *const *pieces,
                      const size_t *piece_lens)
{
    size_t start = b->len;
    oai_buf_puts(b, "{\"tokens\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) oai_buf_puts(b, ",");
        if (!pieces) {
            oai_buf_printf(b, "%d", (int)ids[i]);
            continue;
        }
        oai_buf_printf(b, "{\"id\":%d,\"piece\":", (int)ids[i]);
        if (oai_utf8_valid(pieces[i], piece_lens[i]))
            oai_buf_json_str(b, pieces[i], piece_lens[i]);
        else
            write_bytes_array(b, pieces[i], piece_lens[i]);
        oai_buf_puts(b, "}");
    }
    oai_buf_puts(b, "]}");
    return oai_buf_end(b, start);
}

int oai_detokenize_json(struct oai_buf *b, const char *text, size_t len)
{
    size_t start = b->len;
    oai_buf_puts(b, "{\"content\":");
    oai_buf_json_str(b, text, len);
    oai_buf_puts(b, "}");
    return oai_buf_end(b, start);
}

int oai_health_json(struct oai_buf *b, bool ready)
{
    size_t start = b->len;
    oai_buf_puts(b, ready ? "{\"status\":\"ok\"}" : "{\"status\":\"loading\"}");
    return oai_buf_end(b, start);
}
