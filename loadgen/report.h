/* report.h - what a run prints and writes: the summary table (laid out like
 * `vllm bench serve`'s), a JSON file with vLLM's result field names, a CSV
 * row per request, and for a concurrency sweep a table and an SVG plot.
 *
 * JSON (one run): vLLM's fields "duration", "completed", "failed",
 * "total_input_tokens", "total_output_tokens", "request_throughput",
 * "request_goodput" (null without --goodput), "output_throughput",
 * "total_token_throughput", "max_output_tokens_per_s",
 * "max_concurrent_requests", mean_/median_/std_/p90_/p99_ (and every
 * --metric-percentiles p<N>_) <ttft|tpot|itl|e2el>_ms, the settings
 * ("model_id", "num_prompts", "request_rate" ("inf" when unlimited),
 * "burstiness", "max_concurrency" (null when unlimited), "goodput" (the
 * SLOs in ms, or null), "settings" {...}), "failures" {cause: count, with
 * "http_<status>" per status}, and vLLM's per-request arrays "input_lens",
 * "output_lens", "ttfts", "itls", "latencies", "start_times" (seconds) and
 * "errors" ("" for a completed request). A sweep writes {"sweep": [run,...]}.
 */
#ifndef LG_REPORT_H
#define LG_REPORT_H

#include "loadgen/loadgen.h"

#include <stdio.h>

/* The summary of one run, then the failures by cause and the first ten
 * failed requests with their messages. */
void lg_report_print(FILE *out, const struct lg_config *cfg, const struct lg_result *res);

/* Write n results as JSON to path (sweep != 0: {"sweep": [...]}, else the
 * single object of results[0]). Returns 0, LG_ERR_IO or LG_ERR_NOMEM. */
int lg_report_json(const char *path, const struct lg_config *cfg,
                   const struct lg_result *results, size_t n, int sweep, char *err,
                   size_t err_len);

/* One CSV row per request of every result, with a header line. Returns 0 or
 * LG_ERR_IO. */
int lg_report_csv(const char *path, const struct lg_result *results, size_t n, char *err,
                  size_t err_len);

/* The sweep table: one line per concurrency level. */
void lg_report_sweep_table(FILE *out, const struct lg_result *results, size_t n);

/* The sweep plot as a self-contained SVG: output tokens/s against median
 * TPOT, and against TTFT p99, one point per concurrency level. Returns 0 or
 * LG_ERR_IO. */
int lg_report_svg(const char *path, const struct lg_config *cfg,
                  const struct lg_result *results, size_t n, char *err, size_t err_len);

#endif
