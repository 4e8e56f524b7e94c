/* report.c - summary table, JSON, CSV, sweep table and SVG (see report.h).
 *
 * Everything here reads a finished struct lg_result; nothing is measured.
 * The table mirrors vllm bench serve's layout (labels padded to 40 columns,
 * section rules 50 wide) so the two can be read side by side.
 */
#include "loadgen/report.h"
#include "loadgen/client.h"
#include "loadgen/stats.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- summary table ---- */

static void rule(FILE *out, const char *title, char fill)
{
    int len = (int)strlen(title), pad = 50 - len;
    if (pad < 0) pad = 0;
    int left = pad / 2, right = pad - left; /* as Python's str centering */
    for (int i = 0; i < left; i++) fputc(fill, out);
    fputs(title, out);
    for (int i = 0; i < right; i++) fputc(fill, out);
    fputc('\n', out);
}

static void row_int(FILE *out, const char *label, long long v)
{
    fprintf(out, "%-40s %lld\n", label, v);
}

static void row_f(FILE *out, const char *label, double v)
{
    fprintf(out, "%-40s %.2f\n", label, v);
}

static void dist_rows(FILE *out, const char *header, const char *name, const struct lg_dist *d,
                      const struct lg_metrics *m)
{
    char label[64];
    rule(out, header, '-');
    snprintf(label, sizeof label, "Mean %s (ms):", name);
    row_f(out, label, d->mean);
    snprintf(label, sizeof label, "Median %s (ms):", name);
    row_f(out, label, d->median);
    for (int i = 0; i < m->n_percentiles; i++) {
        snprintf(label, sizeof label, "P%g %s (ms):", m->percentiles[i], name);
        row_f(out, label, d->pct[i]);
    }
}

void lg_report_print(FILE *out, const struct lg_config *cfg, const struct lg_result *res)
{
    const struct lg_metrics *m = &res->metrics;
    rule(out, " Serving Benchmark Result ", '=');
    row_int(out, "Successful requests:", m->completed);
    row_int(out, "Failed requests:", m->failed);
    if (res->max_concurrency > 0)
        row_int(out, "Maximum request concurrency:", res->max_concurrency);
    if (isfinite(res->request_rate))
        row_f(out, "Request rate configured (RPS):", res->request_rate);
    row_f(out, "Benchmark duration (s):", m->duration_s);
    row_int(out, "Total input tokens:", m->total_input_tokens);
    row_int(out, "Total generated tokens:", m->total_output_tokens);
    row_f(out, "Request throughput (req/s):", m->request_throughput);
    if (m->has_goodput) row_f(out, "Request goodput (req/s):", m->request_goodput);
    row_f(out, "Output token throughput (tok/s):", m->output_throughput);
    row_f(out, "Peak output token throughput (tok/s):", m->max_output_tokens_per_s);
    row_int(out, "Peak concurrent requests:", m->max_concurrent_requests);
    row_f(out, "Total Token throughput (tok/s):", m->total_token_throughput);
    unsigned show = cfg->percentile_metrics;
    if (show & LG_METRIC_TTFT) dist_rows(out, "Time to First Token", "TTFT", &m->ttft, m);
    if (show & LG_METRIC_TPOT)
        dist_rows(out, "Time per Output Token (excl. 1st token)", "TPOT", &m->tpot, m);
    if (show & LG_METRIC_ITL) dist_rows(out, "Inter-token Latency", "ITL", &m->itl, m);
    if (show & LG_METRIC_E2EL) dist_rows(out, "End-to-end Latency", "E2EL", &m->e2el, m);
    if (m->failed > 0) {
        char label[64];
        rule(out, "Failed requests by cause", '-');
        for (int c = 1; c < LG_FAIL_COUNT; c++) {
            if (c == LG_FAIL_HTTP) {
                for (int s = 0; s < LG_MAX_HTTP_STATUS; s++) {
                    if (!m->http_count[s]) continue;
                    snprintf(label, sizeof label, "HTTP %d:", s);
                    row_int(out, label, m->http_count[s]);
                }
            } else if (m->fail_count[c]) {
                snprintf(label, sizeof label, "%s:", lg_fail_name((enum lg_fail)c));
                row_int(out, label, m->fail_count[c]);
            }
        }
        fprintf(out, "First failed requests:\n");
        int shown = 0;
        for (size_t i = 0; i < res->n_requests && shown < 10; i++) {
            const struct lg_request *r = &res->requests[i];
            if (r->cause == LG_FAIL_NONE) continue;
            fprintf(out, "  #%d %s: %s\n", r->index, lg_fail_name(r->cause),
                    r->error ? r->error : "");
            shown++;
        }
    }
    rule(out, "", '=');
}

/* ---- JSON ---- */

static int put(json_t *o, const char *key, json_t *v)
{
    return json_object_set_new(o, key, v); /* takes v, even on failure */
}

static int put_dist(json_t *o, const char *name, const struct lg_dist *d,
                    const struct lg_metrics *m)
{
    char key[64];
    int rc = 0;
    snprintf(key, sizeof key, "mean_%s_ms", name);
    rc |= put(o, key, json_real(d->mean));
    snprintf(key, sizeof key, "median_%s_ms", name);
    rc |= put(o, key, json_real(d->median));
    snprintf(key, sizeof key, "std_%s_ms", name);
    rc |= put(o, key, json_real(d->std));
    snprintf(key, sizeof key, "p90_%s_ms", name);
    rc |= put(o, key, json_real(d->p90));
    snprintf(key, sizeof key, "p99_%s_ms", name);
    rc |= put(o, key, json_real(d->p99));
    for (int i = 0; i < m->n_percentiles; i++) {
        snprintf(key, sizeof key, "p%g_%s_ms", m->percentiles[i], name);
        rc |= put(o, key, json_real(d->pct[i]));
    }
    return rc;
}

static json_t *slo_json(const struct lg_goodput *g)
{
    if (g->ttft_ms < 0 && g->tpot_ms < 0 && g->e2el_ms < 0) return json_null();
    json_t *o = json_object();
    if (!o) return NULL;
    if (g->ttft_ms >= 0) put(o, "ttft", json_real(g->ttft_ms));
    if (g->tpot_ms >= 0) put(o, "tpot", json_real(g->tpot_ms));
    if (g->e2el_ms >= 0) put(o, "e2el", json_real(g->e2el_ms));
    return o;
}

static json_t *settings_json(const struct lg_config *cfg, const char *url)
{
    json_t *pcts = json_array(), *metrics = json_array();
    for (int i = 0; pcts && i < cfg->n_percentiles; i++)
        json_array_append_new(pcts, json_real(cfg->percentiles[i]));
    static const char *names[] = {"ttft", "tpot", "itl", "e2el"};
    for (int i = 0; metrics && i < 4; i++)
        if (cfg->percentile_metrics & (1u << i))
            json_array_append_new(metrics, json_string(names[i]));
    return json_pack("{s:s?, s:s, s:i, s:i, s:f, s:b, s:i, s:s?, s:I, s:f, s:b, s:f, s:o?, s:o?}",
                     "url", url, "endpoint",
                     cfg->endpoint == LG_ENDPOINT_CHAT ? "chat" : "completions", "input_len",
                     cfg->input_len, "output_len", cfg->output_len, "range_ratio",
                     cfg->range_ratio, "token_ids", cfg->token_ids, "vocab_size",
                     cfg->vocab_size, "dataset", cfg->dataset, "seed", (json_int_t)cfg->seed,
                     "timeout_s", cfg->timeout_s, "ignore_eos", cfg->ignore_eos, "temperature",
                     cfg->temperature, "metric_percentiles", pcts, "percentile_metrics",
                     metrics);
}

static json_t *failures_json(const struct lg_metrics *m)
{
    json_t *o = json_object();
    if (!o) return NULL;
    char key[32];
    for (int c = 1; c < LG_FAIL_COUNT; c++) {
        if (c == LG_FAIL_HTTP) {
            put(o, "http", json_integer(m->fail_count[c]));
            for (int s = 0; s < LG_MAX_HTTP_STATUS; s++) {
                if (!m->http_count[s]) continue;
                snprintf(key, sizeof key, "http_%d", s);
                put(o, key, json_integer(m->http_count[s]));
            }
        } else {
            put(o, lg_fail_name((enum lg_fail)c), json_integer(m->fail_count[c]));
        }
    }
    return o;
}

/* vLLM's per-request arrays. */
static int put_arrays(json_t *o, const struct lg_result *res)
{
    json_t *in = json_array(), *outl = json_array(), *ttft = json_array(),
           *itls = json_array(), *lat = json_array(), *st = json_array(), *errs = json_array();
    int rc = put(o, "input_lens", in) | put(o, "output_lens", outl) | put(o, "ttfts", ttft) |
             put(o, "itls", itls) | put(o, "latencies", lat) | put(o, "start_times", st) |
             put(o, "errors", errs);
    if (rc) return rc;
    for (size_t i = 0; i < res->n_requests; i++) {
        const struct lg_request *r = &res->requests[i];
        int ok = r->cause == LG_FAIL_NONE;
        json_t *gaps = json_array();
        for (size_t j = 0; gaps && j < r->n_itl; j++)
            json_array_append_new(gaps, json_real(r->itl_s[j]));
        rc |= json_array_append_new(in, json_integer(r->prompt_len));
        rc |= json_array_append_new(outl, json_integer(ok ? r->output_tokens : 0));
        rc |= json_array_append_new(ttft, json_real(r->ttft_s));
        rc |= json_array_append_new(itls, gaps);
        rc |= json_array_append_new(lat, json_real(r->latency_s));
        rc |= json_array_append_new(st, json_real(r->start_s));
        rc |= json_array_append_new(errs, json_string(ok ? "" : r->error ? r->error : ""));
    }
    return rc;
}

static json_t *result_json(const struct lg_config *cfg, const struct lg_result *res)
{
    const struct lg_metrics *m = &res->metrics;
    json_t *o = json_object();
    if (!o) return NULL;
    char date[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm)) strftime(date, sizeof date, "%Y%m%d-%H%M%S", &tm);
    char *url = lg_request_url(cfg);
    int rc = 0;
    rc |= put(o, "date", json_string(date));
    int chat = cfg->endpoint == LG_ENDPOINT_CHAT;
    rc |= put(o, "backend", json_string(chat ? "openai-chat" : "openai")); /* vLLM's names */
    rc |= put(o, "model_id", json_string(res->model ? res->model : ""));
    rc |= put(o, "num_prompts", json_integer((json_int_t)res->n_requests));
    rc |= put(o, "request_rate",
              isfinite(res->request_rate) ? json_real(res->request_rate) : json_string("inf"));
    rc |= put(o, "burstiness", json_real(cfg->burstiness));
    rc |= put(o, "max_concurrency",
              res->max_concurrency > 0 ? json_integer(res->max_concurrency) : json_null());
    rc |= put(o, "duration", json_real(m->duration_s));
    rc |= put(o, "completed", json_integer(m->completed));
    rc |= put(o, "failed", json_integer(m->failed));
    rc |= put(o, "total_input_tokens", json_integer(m->total_input_tokens));
    rc |= put(o, "total_output_tokens", json_integer(m->total_output_tokens));
    rc |= put(o, "request_throughput", json_real(m->request_throughput));
    rc |= put(o, "request_goodput", m->has_goodput ? json_real(m->request_goodput) : json_null());
    rc |= put(o, "good_completed", m->has_goodput ? json_integer(m->good_completed) : json_null());
    rc |= put(o, "output_throughput", json_real(m->output_throughput));
    rc |= put(o, "total_token_throughput", json_real(m->total_token_throughput));
    rc |= put(o, "max_output_tokens_per_s", json_real(m->max_output_tokens_per_s));
    rc |= put(o, "max_concurrent_requests", json_integer(m->max_concurrent_requests));
    rc |= put_dist(o, "ttft", &m->ttft, m);
    rc |= put_dist(o, "tpot", &m->tpot, m);
    rc |= put_dist(o, "itl", &m->itl, m);
    rc |= put_dist(o, "e2el", &m->e2el, m);
    rc |= put(o, "goodput", slo_json(&cfg->goodput));
    rc |= put(o, "failures", failures_json(m));
    rc |= put(o, "settings", settings_json(cfg, url));
    rc |= put_arrays(o, res);
    free(url);
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int lg_report_json(const char *path, const struct lg_config *cfg,
                   const struct lg_result *results, size_t n, int sweep, char *err,
                   size_t err_len)
{
    json_t *root = NULL;
    if (sweep) {
        json_t *arr = json_array();
        root = json_pack("{s:o?}", "sweep", arr);
        for (size_t i = 0; root && i < n; i++) {
            json_t *one = result_json(cfg, &results[i]);
            if (!one || json_array_append_new(arr, one)) {
                json_decref(root);
                root = NULL;
            }
        }
    } else if (n > 0) {
        root = result_json(cfg, &results[0]);
    }
    if (!root) return lg_errf(err, err_len, LG_ERR_NOMEM, "out of memory building JSON");
    int rc = json_dump_file(root, path, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    json_decref(root);
    if (rc) return lg_errf(err, err_len, LG_ERR_IO, "cannot write %s", path);
    return 0;
}

/* ---- CSV ---- */

static void csv_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int lg_report_csv(const char *path, const struct lg_result *results, size_t n, char *err,
                  size_t err_len)
{
    FILE *f = fopen(path, "w");
    if (!f) return lg_errf(err, err_len, LG_ERR_IO, "cannot write %s", path);
    fprintf(f, "concurrency,index,status,cause,http_status,arrival_s,start_s,ttft_ms,tpot_ms,"
               "e2el_ms,end_s,prompt_tokens,output_tokens,max_tokens,chunks,usage_reported,"
               "error\n");
    for (size_t k = 0; k < n; k++) {
        const struct lg_result *res = &results[k];
        for (size_t i = 0; i < res->n_requests; i++) {
            const struct lg_request *r = &res->requests[i];
            int ok = r->cause == LG_FAIL_NONE;
            fprintf(f, "%d,%d,%s,%s,%d,%.6f,%.6f,%.3f,%.3f,%.3f,%.6f,%d,%d,%d,%d,%d,",
                    res->max_concurrency, r->index, ok ? "ok" : "failed", lg_fail_name(r->cause),
                    r->http_status, r->arrival_s, r->start_s, r->ttft_s * 1000.0,
                    lg_request_tpot(r) * 1000.0, r->latency_s * 1000.0, r->end_s, r->prompt_len,
                    r->output_tokens, r->max_tokens, r->chunks, r->usage_reported);
            csv_string(f, ok ? "" : r->error);
            fputc('\n', f);
        }
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return lg_errf(err, err_len, LG_ERR_IO, "cannot write %s", path);
    return 0;
}

/* ---- sweep table ---- */

void lg_report_sweep_table(FILE *out, const struct lg_result *results, size_t n)
{
    fprintf(out, "%5s %6s %5s %8s %10s %10s %9s %9s %9s %9s %9s %9s\n", "conc", "done", "fail",
            "req/s", "out tok/s", "peak tok/s", "TTFT p50", "TTFT p99", "TPOT p50", "TPOT p99",
            "ITL p99", "E2EL p50");
    fprintf(out, "%5s %6s %5s %8s %10s %10s %9s %9s %9s %9s %9s %9s\n", "", "", "", "", "", "",
            "(ms)", "(ms)", "(ms)", "(ms)", "(ms)", "(ms)");
    for (size_t i = 0; i < n; i++) {
        const struct lg_metrics *m = &results[i].metrics;
        char conc[16];
        if (results[i].max_concurrency > 0)
            snprintf(conc, sizeof conc, "%d", results[i].max_concurrency);
        else
            snprintf(conc, sizeof conc, "inf");
        fprintf(out, "%5s %6d %5d %8.2f %10.2f %10.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f\n",
                conc, m->completed, m->failed, m->request_throughput, m->output_throughput,
                m->max_output_tokens_per_s, m->ttft.median, m->ttft.p99, m->tpot.median,
                m->tpot.p99, m->itl.p99, m->e2el.median);
    }
}

/* ---- SVG ---- */

/* A "nice" tick step (1, 2 or 5 times a power of ten) for about 5 ticks. */
static double nice_step(double max)
{
    if (!(max > 0)) return 1;
    double raw = max / 5.0, p = pow(10.0, floor(log10(raw))), f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

static void svg_text_escaped(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

struct panel {
    double x0, y0, w, h; /* plot area in SVG units; y grows downward */
    const char *xlabel, *ylabel, *color;
};

/* One scatter-with-line panel: points (xs[i], ys[i]) labelled "c=N". */
static void svg_panel(FILE *f, const struct panel *p, const double *xs, const double *ys,
                      const struct lg_result *results, size_t n)
{
    double xmax = 0, ymax = 0;
    for (size_t i = 0; i < n; i++) {
        if (xs[i] > xmax) xmax = xs[i];
        if (ys[i] > ymax) ymax = ys[i];
    }
    double xstep = nice_step(xmax * 1.05), ystep = nice_step(ymax * 1.05);
    double xtop = xstep * ceil(xmax * 1.05 / xstep), ytop = ystep * ceil(ymax * 1.05 / ystep);
    if (!(xtop > 0)) xtop = xstep;
    if (!(ytop > 0)) ytop = ystep;
#define PX(v) (p->x0 + (v) / xtop * p->w)
#define PY(v) (p->y0 + p->h - (v) / ytop * p->h)
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fafafa\" "
               "stroke=\"#888\"/>\n", p->x0, p->y0, p->w, p->h);
    for (double v = 0; v <= xtop + xstep * 0.01; v += xstep) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                PX(v), p->y0, PX(v), p->y0 + p->h);
        fprintf(f,
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%g</text>\n",
                PX(v), p->y0 + p->h + 15, v);
    }
    for (double v = 0; v <= ytop + ystep * 0.01; v += ystep) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                p->x0, PY(v), p->x0 + p->w, PY(v));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%g</text>\n",
                p->x0 - 5, PY(v) + 4, v);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" text-anchor=\"middle\">%s</text>\n",
            p->x0 + p->w / 2, p->y0 + p->h + 36, p->xlabel);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" text-anchor=\"middle\" "
               "transform=\"rotate(-90 %.1f %.1f)\">%s</text>\n",
            p->x0 - 48, p->y0 + p->h / 2, p->x0 - 48, p->y0 + p->h / 2, p->ylabel);
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", p->color);
    for (size_t i = 0; i < n; i++) fprintf(f, "%.1f,%.1f ", PX(xs[i]), PY(ys[i]));
    fprintf(f, "\"/>\n");
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", PX(xs[i]),
                PY(ys[i]), p->color);
        char label[24];
        if (results[i].max_concurrency > 0)
            snprintf(label, sizeof label, "c=%d", results[i].max_concurrency);
        else
            snprintf(label, sizeof label, "c=inf");
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">%s</text>\n", PX(xs[i]) + 6,
                PY(ys[i]) - 6, label);
    }
#undef PX
#undef PY
}

int lg_report_svg(const char *path, const struct lg_config *cfg,
                  const struct lg_result *results, size_t n, char *err, size_t err_len)
{
    double *tpot = malloc((n + 1) * sizeof *tpot);
    double *ttft = malloc((n + 1) * sizeof *ttft);
    double *tput = malloc((n + 1) * sizeof *tput);
    FILE *f = NULL;
    int rc = 0;
    if (!tpot || !ttft || !tput) {
        rc = lg_errf(err, err_len, LG_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        tpot[i] = results[i].metrics.tpot.median;
        ttft[i] = results[i].metrics.ttft.p99;
        tput[i] = results[i].metrics.output_throughput;
    }
    f = fopen(path, "w");
    if (!f) {
        rc = lg_errf(err, err_len, LG_ERR_IO, "cannot write %s", path);
        goto done;
    }
    const int W = 1000, H = 440;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H, W, H);
    fprintf(f, "<text x=\"%d\" y=\"24\" font-size=\"16\" text-anchor=\"middle\">", W / 2);
    fputs("Concurrency sweep: ", f);
    svg_text_escaped(f, n > 0 && results[0].model ? results[0].model : "");
    if (cfg->dataset) {
        fputs(", dataset ", f);
        svg_text_escaped(f, cfg->dataset);
    } else {
        fprintf(f, ", %d in / %d out tokens", cfg->input_len, cfg->output_len);
    }
    fputs("</text>\n", f);
    struct panel left = {80, 50, 380, 320, "median TPOT (ms)", "output tokens/s", "#1f77b4"};
    struct panel right = {580, 50, 380, 320, "TTFT p99 (ms)", "output tokens/s", "#d62728"};
    svg_panel(f, &left, tpot, tput, results, n);
    svg_panel(f, &right, ttft, tput, results, n);
    fprintf(f, "</svg>\n");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) rc = lg_errf(err, err_len, LG_ERR_IO, "cannot write %s", path);
done:
    free(tpot);
    free(ttft);
    free(tput);
    return rc;
}
