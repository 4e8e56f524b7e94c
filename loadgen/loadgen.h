/* loadgen.h - shared types of lutfuse-loadgen: run settings, per-request
 * records, computed metrics and the result of one run.
 *
 * loadgen measures any OpenAI-compatible server the way `vllm bench serve`
 * does, so its figures sit beside published ones. It stands alone: no lutfuse
 * header is included anywhere under loadgen/, only libcurl and jansson.
 *
 * The one idea: a run produces one struct lg_request per request, holding raw
 * timestamps (send, first chunk with choices, the gaps between chunks, the
 * last chunk) and the failure cause if any; every figure in the report is
 * computed afterwards from those records (stats.c), with vLLM's definitions.
 * Tests and later end-to-end checks read the same records.
 *
 * Times in records are seconds; distributions in struct lg_metrics are
 * milliseconds, as vLLM reports them.
 */
#ifndef LG_LOADGEN_H
#define LG_LOADGEN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* Error vocabulary of loadgen (0 or negative). Request failures are not
 * errors: they are counted in the result. */
enum lg_status {
    LG_OK = 0,
    LG_ERR_NOMEM = -1,   /* allocation failed */
    LG_ERR_IO = -2,      /* a file could not be read or written */
    LG_ERR_FORMAT = -3,  /* malformed input (dataset line, SSE stream, JSON) */
    LG_ERR_INVALID = -4, /* bad argument or setting */
    LG_ERR_NET = -5,     /* the server could not be asked (e.g. /v1/models) */
};

#define LG_ERRMSG_LEN 256
#define LG_MAX_PERCENTILES 16
#define LG_MAX_HTTP_STATUS 600 /* status codes counted: 0..599 */

enum lg_endpoint {
    LG_ENDPOINT_COMPLETIONS, /* POST /v1/completions, "prompt" */
    LG_ENDPOINT_CHAT,        /* POST /v1/chat/completions, "messages" */
};

/* Bits of lg_config.percentile_metrics: which metrics the summary shows. */
enum lg_metric_bits {
    LG_METRIC_TTFT = 1,
    LG_METRIC_TPOT = 2,
    LG_METRIC_ITL = 4,
    LG_METRIC_E2EL = 8,
};

/* Service-level objectives for goodput, in ms; a value < 0 means "no SLO on
 * this metric". A request is good when every set SLO is met (value <= SLO). */
struct lg_goodput {
    double ttft_ms;
    double tpot_ms;
    double e2el_ms;
};

/* Everything one run needs. Strings are borrowed for the duration of lg_run.
 * lg_config_defaults() fills the defaults named below. */
struct lg_config {
    const char *base_url;       /* "http://127.0.0.1:8000" (no /v1) */
    enum lg_endpoint endpoint;  /* completions */
    const char *endpoint_path;  /* NULL: /v1/completions or /v1/chat/completions */
    const char *model;          /* NULL: first id of GET /v1/models */
    const char *api_key;        /* NULL: no Authorization header */
    int num_prompts;            /* 0: 64, or every line of the dataset */
    double request_rate;        /* requests/s; INFINITY: all at once */
    double burstiness;          /* gamma shape; 1 = Poisson */
    int max_concurrency;        /* 0: unlimited */
    uint64_t seed;              /* 0 */
    int input_len;              /* prompt words (~tokens), 64 */
    int output_len;             /* max_tokens, 64 */
    double range_ratio;         /* lengths uniform in [L(1-r), L(1+r)], 0 */
    int token_ids;              /* 1: prompts are arrays of random token ids */
    int vocab_size;             /* ids drawn from [100, vocab_size), 32000 */
    const char *dataset;        /* JSONL file, or NULL for random prompts */
    double timeout_s;           /* idle timeout per request, 300 */
    int ignore_eos;             /* send "ignore_eos": true */
    double temperature;         /* sent as "temperature"; < 0: not sent. 0 */
    struct lg_goodput goodput;  /* all < 0: goodput not computed */
    double percentiles[LG_MAX_PERCENTILES]; /* 90, 99 */
    int n_percentiles;
    unsigned percentile_metrics; /* LG_METRIC_* bits shown; all four */
    int progress;               /* 1: progress on stderr (bar on a TTY) */
    const volatile sig_atomic_t *stop; /* NULL, or set non-zero to stop early */
};

/* Why a request failed. */
enum lg_fail {
    LG_FAIL_NONE = 0,
    LG_FAIL_CONNECT,      /* could not resolve or connect */
    LG_FAIL_HTTP,         /* status other than 200 (see http_status) */
    LG_FAIL_TIMEOUT,      /* no byte arrived for timeout_s */
    LG_FAIL_DROPPED,      /* connection ended before [DONE] or a finish_reason */
    LG_FAIL_MALFORMED,    /* SSE data that is not the expected JSON */
    LG_FAIL_SERVER_ERROR, /* an error event inside the stream */
    LG_FAIL_EMPTY,        /* a complete stream without any chunk with choices */
    LG_FAIL_CANCELLED,    /* the run was stopped (lg_config.stop) */
    LG_FAIL_OTHER,        /* any other transport error */
    LG_FAIL_COUNT
};

/* One request as it happened. Times are seconds since the run started. */
struct lg_request {
    int index;          /* position in the workload */
    int prompt_len;     /* usage.prompt_tokens if reported, else planned */
    int max_tokens;     /* what was asked for */
    int output_tokens;  /* usage.completion_tokens if reported, else chunks with text */
    int usage_reported; /* 1 if the server sent usage */
    int chunks;         /* SSE chunks with non-empty "choices" */
    int text_chunks;    /* of those, chunks whose text/content is non-empty */
    double arrival_s;   /* when the schedule made it due */
    double start_s;     /* when it was sent (after waiting for a free slot) */
    double ttft_s;      /* send -> first chunk with choices (0 if none) */
    double latency_s;   /* E2EL: send -> last chunk with choices (vLLM) */
    double end_s;       /* when the transfer ended, for any reason */
    double *itl_s;      /* gaps between consecutive chunks with choices */
    size_t n_itl;
    enum lg_fail cause; /* LG_FAIL_NONE: completed */
    int http_status;    /* 0 if no response */
    char *error;        /* one line saying what went wrong, or NULL */
};

/* Summary of one metric over a run, in ms. Empty input gives all zeros, as
 * vLLM's np.mean(x or 0) does. */
struct lg_dist {
    size_t n;
    double mean, median, std, p90, p99;
    double pct[LG_MAX_PERCENTILES]; /* at lg_metrics.percentiles[i] */
};

struct lg_metrics {
    int completed, failed;
    long long total_input_tokens;  /* over completed requests */
    long long total_output_tokens; /* over completed requests */
    double duration_s;
    double request_throughput;     /* completed / duration */
    double output_throughput;      /* output tokens / duration */
    double total_token_throughput; /* (input + output tokens) / duration */
    int has_goodput;
    int good_completed;
    double request_goodput;        /* good_completed / duration */
    struct lg_dist ttft, tpot, itl, e2el;
    double max_output_tokens_per_s; /* peak chunks/s in 1-s buckets */
    int max_concurrent_requests;    /* peak overlap of completed requests */
    double percentiles[LG_MAX_PERCENTILES];
    int n_percentiles;
    int fail_count[LG_FAIL_COUNT];
    int http_count[LG_MAX_HTTP_STATUS]; /* LG_FAIL_HTTP failures by status */
};

/* What lg_run returns. Owns everything it points to; lg_result_free. */
struct lg_result {
    char *model;               /* model id the requests named */
    int max_concurrency;       /* as run (0 = unlimited) */
    double request_rate;       /* as run */
    struct lg_request *requests;
    size_t n_requests;
    struct lg_metrics metrics;
};

/* Defaults as documented in struct lg_config. */
void lg_config_defaults(struct lg_config *cfg);

/* Release everything a result owns and zero it. NULL is a no-op. */
void lg_result_free(struct lg_result *res);

/* Static, never NULL. */
const char *lg_strerror(int status);

/* Short machine name of a cause ("timeout", "http", "dropped", ...). */
const char *lg_fail_name(enum lg_fail cause);

/* Format a one-line message into err (if non-NULL) and return status. */
int lg_errf(char *err, size_t err_len, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Monotonic clock in seconds. */
double lg_now(void);

#endif
