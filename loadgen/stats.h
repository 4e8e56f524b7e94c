/* stats.h - the figures of a run, computed from its per-request records with
 * the definitions `vllm bench serve` uses (vllm/benchmarks/serve.py,
 * calculate_metrics), so numbers compare with published ones:
 *
 *   TTFT   send -> first SSE chunk whose "choices" is non-empty;
 *   ITL    gaps between consecutive chunks with choices, pooled over all
 *          completed requests;
 *   TPOT   (E2EL - TTFT) / (output_tokens - 1), over completed requests with
 *          more than one output token;
 *   E2EL   send -> last chunk with choices;
 *   throughputs over the run's duration (completed requests only);
 *   goodput  completed requests meeting every SLO (a request with one output
 *          token counts TPOT 0), per second;
 *   peak output tokens/s  one token per chunk at send + TTFT + cumulative
 *          ITLs, counted in 1-s buckets from the earliest send;
 *   peak concurrency  largest number of completed requests whose
 *          [send, send + E2EL) intervals overlap (a request ending at t does
 *          not overlap one starting at t).
 * Percentiles use numpy's default (linear interpolation between closest
 * ranks), std is the population std (np.std), an empty set gives 0.
 */
#ifndef LG_STATS_H
#define LG_STATS_H

#include "loadgen/loadgen.h"

#include <stddef.h>

/* The p-th percentile (0..100) of n ascending values, numpy "linear";
 * 0 when n == 0. */
double lg_percentile(const double *sorted, size_t n, double p);

/* Summarize n values (sorted in place) scaled by scale (1000: s -> ms), with
 * p90/p99 always and pcts[0..n_pcts) into out->pct. */
void lg_dist_of(double *values, size_t n, double scale, const double *pcts, int n_pcts,
                struct lg_dist *out);

/* TPOT of one request in seconds, as vLLM: (latency - ttft) / (out - 1) for
 * out > 1, else 0. */
double lg_request_tpot(const struct lg_request *r);

/* Every figure of struct lg_metrics from n records over a run of duration_s
 * seconds. slo may be NULL (no goodput). pcts: extra percentiles (at most
 * LG_MAX_PERCENTILES). Returns 0 or LG_ERR_NOMEM. */
int lg_metrics_compute(const struct lg_request *reqs, size_t n, double duration_s,
                       const struct lg_goodput *slo, const double *pcts, int n_pcts,
                       struct lg_metrics *m);

#endif
