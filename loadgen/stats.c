/* stats.c - vLLM's serving metrics from per-request records (see stats.h). */
#include "loadgen/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double lg_percentile(const double *sorted, size_t n, double p)
{
    if (n == 0) return 0.0;
    /* numpy's "linear" method: virtual index n*q + (1 - q) - 1 = q*(n-1),
     * computed the way numpy does so results agree to the last bit. */
    double q = p / 100.0;
    double vi = (double)n * q + (1.0 - q) - 1.0;
    double lo_f = floor(vi);
    double t = vi - lo_f;
    long lo = (long)lo_f, hi = lo + 1;
    if (lo < 0) lo = 0;
    if (lo > (long)n - 1) lo = (long)n - 1;
    if (hi < 0) hi = 0;
    if (hi > (long)n - 1) hi = (long)n - 1;
    double a = sorted[lo], b = sorted[hi];
    double diff = b - a;
    /* numpy's _lerp: from the nearer end, so t = 1 gives exactly b. */
    return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

void lg_dist_of(double *values, size_t n, double scale, const double *pcts, int n_pcts,
                struct lg_dist *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    if (n == 0) return;
    qsort(values, n, sizeof *values, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += values[i];
    double mean = sum / (double)n;
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (values[i] - mean) * (values[i] - mean);
    out->mean = mean * scale;
    out->std = sqrt(ss / (double)n) * scale;
    out->median = lg_percentile(values, n, 50) * scale;
    out->p90 = lg_percentile(values, n, 90) * scale;
    out->p99 = lg_percentile(values, n, 99) * scale;
    for (int i = 0; i < n_pcts && i < LG_MAX_PERCENTILES; i++)
        out->pct[i] = lg_percentile(values, n, pcts[i]) * scale;
}

double lg_request_tpot(const struct lg_request *r)
{
    if (r->output_tokens <= 1) return 0.0;
    return (r->latency_s - r->ttft_s) / (double)(r->output_tokens - 1);
}

/* Sweep-line event for peak concurrency: at time t, delta +1 or -1. */
struct edge {
    double t;
    int delta;
};

static int cmp_edge(const void *a, const void *b)
{
    const struct edge *x = a, *y = b;
    if (x->t != y->t) return (x->t > y->t) - (x->t < y->t);
    return x->delta - y->delta; /* an end (-1) before a start (+1) at the same t */
}

/* Peak output tokens/s in 1-s buckets and peak overlap of completed requests. */
static int compute_peaks(const struct lg_request *reqs, size_t n, struct lg_metrics *m)
{
    double min_start = INFINITY, max_end = -INFINITY;
    size_t n_ok = 0;
    for (size_t i = 0; i < n; i++) {
        if (reqs[i].cause != LG_FAIL_NONE) continue;
        n_ok++;
        if (reqs[i].start_s < min_start) min_start = reqs[i].start_s;
        double end = reqs[i].start_s + reqs[i].latency_s;
        if (end > max_end) max_end = end;
    }
    if (n_ok == 0) return 0;

    size_t n_buckets = (size_t)ceil(max_end - min_start) + 1;
    double *buckets = calloc(n_buckets, sizeof *buckets);
    struct edge *edges = malloc(2 * n_ok * sizeof *edges);
    if (!buckets || !edges) {
        free(buckets);
        free(edges);
        return LG_ERR_NOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct lg_request *r = &reqs[i];
        if (r->cause != LG_FAIL_NONE) continue;
        /* One token per chunk: at start + ttft, then after each gap. */
        double t = r->start_s + r->ttft_s;
        for (size_t j = 0; j <= r->n_itl; j++) {
            if (j > 0) t += r->itl_s[j - 1];
            double rel = t - min_start;
            if (rel >= 0 && rel < (double)n_buckets) buckets[(size_t)rel] += 1;
        }
        edges[k++] = (struct edge){r->start_s, +1};
        edges[k++] = (struct edge){r->start_s + r->latency_s, -1};
    }
    for (size_t b = 0; b < n_buckets; b++)
        if (buckets[b] > m->max_output_tokens_per_s) m->max_output_tokens_per_s = buckets[b];

    qsort(edges, k, sizeof *edges, cmp_edge);
    int cur = 0;
    for (size_t i = 0; i < k; i++) {
        cur += edges[i].delta;
        if (cur > m->max_concurrent_requests) m->max_concurrent_requests = cur;
    }
    free(buckets);
    free(edges);
    return 0;
}

int lg_metrics_compute(const struct lg_request *reqs, size_t n, double duration_s,
                       const struct lg_goodput *slo, const double *pcts, int n_pcts,
                       struct lg_metrics *m)
{
    memset(m, 0, sizeof *m);
    if (n_pcts > LG_MAX_PERCENTILES) n_pcts = LG_MAX_PERCENTILES;
    for (int i = 0; i < n_pcts; i++) m->percentiles[i] = pcts[i];
    m->n_percentiles = n_pcts;
    m->duration_s = duration_s;

    size_t n_itl = 0;
    for (size_t i = 0; i < n; i++)
        if (reqs[i].cause == LG_FAIL_NONE) n_itl += reqs[i].n_itl;
    /* +1 so that no malloc is ever of size 0 */
    double *ttft = malloc((n + 1) * sizeof *ttft);
    double *tpot = malloc((n + 1) * sizeof *tpot);
    double *e2el = malloc((n + 1) * sizeof *e2el);
    double *itl = malloc((n_itl + 1) * sizeof *itl);
    int rc = LG_ERR_NOMEM;
    if (!ttft || !tpot || !e2el || !itl) goto done;

    int has_slo = slo && (slo->ttft_ms >= 0 || slo->tpot_ms >= 0 || slo->e2el_ms >= 0);
    size_t n_ok = 0, n_tpot = 0, k_itl = 0;
    for (size_t i = 0; i < n; i++) {
        const struct lg_request *r = &reqs[i];
        if (r->cause != LG_FAIL_NONE) {
            m->failed++;
            m->fail_count[r->cause]++;
            if (r->cause == LG_FAIL_HTTP && r->http_status >= 0 &&
                r->http_status < LG_MAX_HTTP_STATUS)
                m->http_count[r->http_status]++;
            continue;
        }
        m->completed++;
        m->total_input_tokens += r->prompt_len;
        m->total_output_tokens += r->output_tokens;
        ttft[n_ok] = r->ttft_s;
        e2el[n_ok] = r->latency_s;
        n_ok++;
        double tp = lg_request_tpot(r);
        if (r->output_tokens > 1) tpot[n_tpot++] = tp;
        for (size_t j = 0; j < r->n_itl; j++) itl[k_itl++] = r->itl_s[j];
        if (has_slo) {
            /* vLLM: good when every SLO >= the value (SLOs in ms). */
            int good = 1;
            if (slo->ttft_ms >= 0 && !(slo->ttft_ms / 1000.0 >= r->ttft_s)) good = 0;
            if (slo->tpot_ms >= 0 && !(slo->tpot_ms / 1000.0 >= tp)) good = 0;
            if (slo->e2el_ms >= 0 && !(slo->e2el_ms / 1000.0 >= r->latency_s)) good = 0;
            m->good_completed += good;
        }
    }
    if (duration_s > 0) {
        m->request_throughput = m->completed / duration_s;
        m->output_throughput = (double)m->total_output_tokens / duration_s;
        m->total_token_throughput =
            (double)(m->total_input_tokens + m->total_output_tokens) / duration_s;
        if (has_slo) m->request_goodput = m->good_completed / duration_s;
    }
    m->has_goodput = has_slo;
    lg_dist_of(ttft, n_ok, 1000.0, pcts, n_pcts, &m->ttft);
    lg_dist_of(tpot, n_tpot, 1000.0, pcts, n_pcts, &m->tpot);
    lg_dist_of(itl, k_itl, 1000.0, pcts, n_pcts, &m->itl);
    lg_dist_of(e2el, n_ok, 1000.0, pcts, n_pcts, &m->e2el);
    rc = compute_peaks(reqs, n, m);
done:
    free(ttft);
    free(tpot);
    free(e2el);
    free(itl);
    return rc;
}
