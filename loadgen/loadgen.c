/* loadgen.c - defaults, status strings and result ownership for loadgen. */
#include "loadgen/loadgen.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void lg_config_defaults(struct lg_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->base_url = "http://127.0.0.1:8000";
    cfg->endpoint = LG_ENDPOINT_COMPLETIONS;
    cfg->request_rate = INFINITY;
    cfg->burstiness = 1.0;
    cfg->input_len = 64;
    cfg->output_len = 64;
    cfg->vocab_size = 32000;
    cfg->timeout_s = 300.0;
    cfg->temperature = 0.0;
    cfg->goodput.ttft_ms = -1;
    cfg->goodput.tpot_ms = -1;
    cfg->goodput.e2el_ms = -1;
    cfg->percentiles[0] = 90;
    cfg->percentiles[1] = 99;
    cfg->n_percentiles = 2;
    cfg->percentile_metrics = LG_METRIC_TTFT | LG_METRIC_TPOT | LG_METRIC_ITL | LG_METRIC_E2EL;
}

void lg_result_free(struct lg_result *res)
{
    if (!res) return;
    for (size_t i = 0; i < res->n_requests; i++) {
        free(res->requests[i].itl_s);
        free(res->requests[i].error);
    }
    free(res->requests);
    free(res->model);
    memset(res, 0, sizeof *res);
}

const char *lg_strerror(int status)
{
    switch (status) {
    case LG_OK: return "ok";
    case LG_ERR_NOMEM: return "out of memory";
    case LG_ERR_IO: return "i/o error";
    case LG_ERR_FORMAT: return "bad format";
    case LG_ERR_INVALID: return "invalid argument";
    case LG_ERR_NET: return "network error";
    }
    return "unknown error";
}

const char *lg_fail_name(enum lg_fail cause)
{
    switch (cause) {
    case LG_FAIL_NONE: return "ok";
    case LG_FAIL_CONNECT: return "connect";
    case LG_FAIL_HTTP: return "http";
    case LG_FAIL_TIMEOUT: return "timeout";
    case LG_FAIL_DROPPED: return "dropped";
    case LG_FAIL_MALFORMED: return "malformed";
    case LG_FAIL_SERVER_ERROR: return "server_error";
    case LG_FAIL_EMPTY: return "empty";
    case LG_FAIL_CANCELLED: return "cancelled";
    case LG_FAIL_OTHER: return "other";
    case LG_FAIL_COUNT: break;
    }
    return "unknown";
}

int lg_errf(char *err, size_t err_len, int status, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return status;
}

double lg_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
