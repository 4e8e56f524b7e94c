/* cli.c - parsing lutfuse-loadgen's options into a struct lg_cli. */
#include "loadgen/cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void lg_cli_usage(FILE *out)
{
    fputs(
"usage: lutfuse-loadgen [options]\n"
"\n"
"Drive an OpenAI-compatible server with streaming requests and report latency\n"
"and throughput with the definitions of `vllm bench serve`.\n"
"\n"
"Server:\n"
"  --base-url URL           server base URL, without /v1 (default http://HOST:PORT)\n"
"  --host HOST, --port N    used when --base-url is not given (127.0.0.1, 8000)\n"
"  --endpoint E             completions | chat | a path such as /v1/completions\n"
"                           (default completions; a path containing \"chat\" is chat)\n"
"  --model NAME             model to name in requests (default: first id of\n"
"                           GET /v1/models)\n"
"  --api-key KEY            sent as \"Authorization: Bearer KEY\" (default:\n"
"                           $OPENAI_API_KEY)\n"
"  --timeout S              fail a request after S seconds without a byte, waiting\n"
"                           for the first one or between chunks (default 300)\n"
"\n"
"Workload:\n"
"  --num-prompts N          number of requests (default 64, or every dataset line)\n"
"  --request-rate R         requests/s, gamma-distributed gaps (default inf: all due\n"
"                           at once)\n"
"  --burstiness B           gamma shape: 1 = Poisson, <1 burstier, >1 more even\n"
"                           (default 1)\n"
"  --max-concurrency C      at most C requests in flight (default: unlimited)\n"
"  --seed S                 seed for prompts and arrivals (default 0)\n"
"  --input-len N            prompt length in words, ~1 token each (default 64);\n"
"                           also --random-input-len\n"
"  --output-len N           max_tokens per request (default 64); also\n"
"                           --random-output-len\n"
"  --range-ratio R          lengths uniform in [floor(N(1-R)), ceil(N(1+R))],\n"
"                           0 <= R < 1 (default 0); also --random-range-ratio\n"
"  --token-ids              send prompts as arrays of random token ids (completions\n"
"                           only) instead of words\n"
"  --vocab-size N           token ids are drawn from [100, N) (default 32000)\n"
"  --dataset FILE           JSONL prompts: {\"prompt\": \"...\", \"output_len\": N}\n"
"                           per line (output_len optional)\n"
"  --ignore-eos             send \"ignore_eos\": true (llama.cpp and vLLM honour it)\n"
"  --temperature T          sampling temperature sent (default 0; <0: not sent)\n"
"\n"
"Metrics and output:\n"
"  --goodput K:MS ...       SLOs for goodput, K in ttft, tpot, e2el (e.g.\n"
"                           --goodput ttft:300 tpot:50)\n"
"  --percentile-metrics L   metrics in the summary, comma-separated from\n"
"                           ttft,tpot,itl,e2el (default all four)\n"
"  --metric-percentiles L   percentiles in the summary, e.g. 50,90,99 (default 90,99)\n"
"  --json FILE              write every figure, the settings and per-request arrays\n"
"                           (vLLM's field names)\n"
"  --csv FILE               write one row per request\n"
"  --sweep L                run the workload at each max concurrency in L (e.g.\n"
"                           1,2,4,8,16) and print a throughput/latency table\n"
"  --svg FILE               plot of the sweep (default sweep.svg)\n"
"  --no-progress            no progress display (also --disable-tqdm)\n"
"  -h, --help               this text\n"
"\n"
"Prompts are random common English words; each is one token (with its leading\n"
"space) in the Llama 2 and Llama 3 vocabularies, so N words ~ N tokens plus the\n"
"server's BOS/template tokens. Token counts are taken from the server's usage\n"
"chunk when it sends one (\"stream_options\": {\"include_usage\": true}).\n",
        out);
}

static int parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || isnan(v)) return -1;
    *out = v;
    return 0;
}

/* A number > 0 (INFINITY allowed). */
static int parse_positive(const char *s, double *out)
{
    return parse_double(s, out) || !(*out > 0);
}

static int is(const char *name, const char *option)
{
    return strcmp(name, option) == 0;
}

/* "ttft,tpot" -> LG_METRIC_* bits. */
static int parse_metrics(const char *s, unsigned *out)
{
    unsigned bits = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        if (n == 4 && !strncmp(s, "ttft", 4)) bits |= LG_METRIC_TTFT;
        else if (n == 4 && !strncmp(s, "tpot", 4)) bits |= LG_METRIC_TPOT;
        else if (n == 3 && !strncmp(s, "itl", 3)) bits |= LG_METRIC_ITL;
        else if (n == 4 && !strncmp(s, "e2el", 4)) bits |= LG_METRIC_E2EL;
        else if (n != 0) return -1;
        s += n;
        if (*s == ',') s++;
    }
    *out = bits;
    return 0;
}

/* "90,99.9" -> values in [0, 100]. */
static int parse_percentiles(const char *s, double *out, int *n_out)
{
    char buf[32];
    int n = 0;
    while (*s) {
        size_t len = strcspn(s, ",");
        if (len > 0) {
            if (len >= sizeof buf || n == LG_MAX_PERCENTILES) return -1;
            memcpy(buf, s, len);
            buf[len] = 0;
            double v;
            if (parse_double(buf, &v) || v < 0 || v > 100) return -1;
            out[n++] = v;
        }
        s += len;
        if (*s == ',') s++;
    }
    if (n == 0) return -1;
    *n_out = n;
    return 0;
}

/* One "name:ms" SLO, possibly several separated by commas. */
static int parse_goodput(const char *s, struct lg_goodput *g)
{
    char buf[64];
    while (*s) {
        size_t len = strcspn(s, ",");
        if (len > 0) {
            if (len >= sizeof buf) return -1;
            memcpy(buf, s, len);
            buf[len] = 0;
            char *colon = strchr(buf, ':');
            double v;
            if (!colon || parse_double(colon + 1, &v) || v < 0 || isinf(v)) return -1;
            *colon = 0;
            if (!strcmp(buf, "ttft")) g->ttft_ms = v;
            else if (!strcmp(buf, "tpot")) g->tpot_ms = v;
            else if (!strcmp(buf, "e2el")) g->e2el_ms = v;
            else return -1;
        }
        s += len;
        if (*s == ',') s++;
    }
    return 0;
}

static int parse_sweep(const char *s, int *out, int *n_out)
{
    char buf[16];
    int n = 0;
    while (*s) {
        size_t len = strcspn(s, ",");
        if (len > 0) {
            if (len >= sizeof buf || n == LG_MAX_SWEEP) return -1;
            memcpy(buf, s, len);
            buf[len] = 0;
            if (parse_int(buf, 1, 100000, &out[n])) return -1;
            n++;
        }
        s += len;
        if (*s == ',') s++;
    }
    if (n == 0) return -1;
    *n_out = n;
    return 0;
}

/* Options that take a value. */
static const char *const k_valued[] = {
    "--base-url", "--host", "--port", "--endpoint", "--model", "--api-key", "--timeout",
    "--num-prompts", "--request-rate", "--burstiness", "--max-concurrency", "--seed",
    "--input-len", "--random-input-len", "--output-len", "--random-output-len",
    "--range-ratio", "--random-range-ratio", "--vocab-size", "--dataset", "--temperature",
    "--goodput", "--percentile-metrics", "--metric-percentiles", "--json", "--csv", "--sweep",
    "--svg",
};

static int takes_value(const char *name)
{
    for (size_t i = 0; i < sizeof k_valued / sizeof k_valued[0]; i++)
        if (!strcmp(name, k_valued[i])) return 1;
    return 0;
}

int lg_cli_parse(int argc, char **argv, struct lg_cli *cli, char *err, size_t err_len)
{
    memset(cli, 0, sizeof *cli);
    struct lg_config *c = &cli->cfg;
    lg_config_defaults(c);
    c->progress = 1;
    c->base_url = NULL;
    c->api_key = getenv("OPENAI_API_KEY");
    const char *host = "127.0.0.1";
    int port = 8000;
    char name[64];
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            cli->help = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0)
            return lg_errf(err, err_len, LG_ERR_INVALID, "unexpected argument '%s'", arg);
        const char *eq = strchr(arg, '=');
        size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
        if (nlen >= sizeof name)
            return lg_errf(err, err_len, LG_ERR_INVALID, "unknown option %s", arg);
        memcpy(name, arg, nlen);
        name[nlen] = 0;
        if (takes_value(name)) {
            if (eq) val = eq + 1;
            else if (i + 1 < argc) val = argv[++i];
            else return lg_errf(err, err_len, LG_ERR_INVALID, "%s needs a value", name);
        } else if (eq) {
            return lg_errf(err, err_len, LG_ERR_INVALID, "%s takes no value", name);
        }
        int bad = 0;
        if (is(name, "--base-url")) {
            c->base_url = val;
        } else if (is(name, "--host")) {
            host = val;
        } else if (is(name, "--port")) {
            bad = parse_int(val, 1, 65535, &port);
        } else if (is(name, "--endpoint")) {
            if (!strcmp(val, "completions")) {
                c->endpoint = LG_ENDPOINT_COMPLETIONS;
            } else if (!strcmp(val, "chat")) {
                c->endpoint = LG_ENDPOINT_CHAT;
            } else if (val[0] == '/') {
                c->endpoint_path = val;
                c->endpoint = strstr(val, "chat") ? LG_ENDPOINT_CHAT : LG_ENDPOINT_COMPLETIONS;
            } else {
                bad = 1;
            }
        } else if (is(name, "--model")) {
            c->model = val;
        } else if (is(name, "--api-key")) {
            c->api_key = val;
        } else if (is(name, "--timeout")) {
            bad = parse_positive(val, &c->timeout_s);
        } else if (is(name, "--num-prompts")) {
            bad = parse_int(val, 1, 10000000, &c->num_prompts);
        } else if (is(name, "--request-rate")) {
            bad = parse_positive(val, &c->request_rate); /* "inf" is accepted */
        } else if (is(name, "--burstiness")) {
            bad = parse_positive(val, &c->burstiness);
        } else if (is(name, "--max-concurrency")) {
            bad = parse_int(val, 1, 1000000, &c->max_concurrency);
        } else if (is(name, "--seed")) {
            char *end;
            errno = 0;
            c->seed = strtoull(val, &end, 10);
            bad = errno || end == val || *end || val[0] == '-';
        } else if (is(name, "--input-len") || is(name, "--random-input-len")) {
            bad = parse_int(val, 1, 10000000, &c->input_len);
        } else if (is(name, "--output-len") || is(name, "--random-output-len")) {
            bad = parse_int(val, 1, 10000000, &c->output_len);
        } else if (is(name, "--range-ratio") || is(name, "--random-range-ratio")) {
            bad = parse_double(val, &c->range_ratio) || c->range_ratio < 0 || c->range_ratio >= 1;
        } else if (is(name, "--token-ids")) {
            c->token_ids = 1;
        } else if (is(name, "--vocab-size")) {
            bad = parse_int(val, 101, 100000000, &c->vocab_size);
        } else if (is(name, "--dataset")) {
            c->dataset = val;
        } else if (is(name, "--ignore-eos")) {
            c->ignore_eos = 1;
        } else if (is(name, "--temperature")) {
            bad = parse_double(val, &c->temperature) || isinf(c->temperature);
        } else if (is(name, "--goodput")) {
            bad = parse_goodput(val, &c->goodput);
            /* vLLM takes several space-separated pairs after one --goodput. */
            while (!bad && i + 1 < argc && argv[i + 1][0] != '-')
                bad = parse_goodput(argv[++i], &c->goodput);
        } else if (is(name, "--percentile-metrics")) {
            bad = parse_metrics(val, &c->percentile_metrics);
        } else if (is(name, "--metric-percentiles")) {
            bad = parse_percentiles(val, c->percentiles, &c->n_percentiles);
        } else if (is(name, "--json")) {
            cli->json_path = val;
        } else if (is(name, "--csv")) {
            cli->csv_path = val;
        } else if (is(name, "--svg")) {
            cli->svg_path = val;
        } else if (is(name, "--sweep")) {
            bad = parse_sweep(val, cli->sweep, &cli->n_sweep);
        } else if (is(name, "--no-progress") || is(name, "--disable-tqdm")) {
            c->progress = 0;
        } else {
            return lg_errf(err, err_len, LG_ERR_INVALID, "unknown option %s (see --help)", name);
        }
        if (bad)
            return lg_errf(err, err_len, LG_ERR_INVALID, "bad value for %s: '%s'", name, val);
    }
    if (!c->base_url) {
        snprintf(cli->base_url_buf, sizeof cli->base_url_buf, "http://%s:%d", host, port);
        c->base_url = cli->base_url_buf;
    }
    if (c->token_ids && (c->endpoint == LG_ENDPOINT_CHAT || c->dataset))
        return lg_errf(err, err_len, LG_ERR_INVALID,
                       "--token-ids needs the completions endpoint and no --dataset");
    if (cli->n_sweep && !cli->svg_path) cli->svg_path = "sweep.svg";
    return 0;
}
