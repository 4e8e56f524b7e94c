/* main.c - lutfuse-loadgen: parse the command line, run the workload once or
 * once per --sweep concurrency level, print the summary (or the sweep
 * table), and write --json, --csv and --svg.
 *
 * Ctrl-C stops the run early: requests in flight and not yet sent are
 * counted as cancelled and what was measured is still reported.
 *
 * Exit status: 0 when the run(s) finished (failed requests are reported,
 * not fatal), 1 on an error (no server, unreadable dataset, unwritable
 * output), 2 on a bad command line.
 */
#include "loadgen/cli.h"
#include "loadgen/client.h"
#include "loadgen/loadgen.h"
#include "loadgen/report.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The one global: set by SIGINT/SIGTERM, polled by the client loop. */
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void print_settings(const struct lg_config *cfg, const char *model)
{
    printf("Model: %s\n", model);
    if (isinf(cfg->request_rate)) printf("Traffic request rate: inf\n");
    else printf("Traffic request rate: %g\n", cfg->request_rate);
    printf("Burstiness factor: %g (%s)\n", cfg->burstiness,
           cfg->burstiness == 1.0 ? "Poisson process" : "Gamma distribution");
    if (cfg->max_concurrency > 0) printf("Maximum request concurrency: %d\n", cfg->max_concurrency);
    else printf("Maximum request concurrency: None\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct lg_cli cli;
    char err[LG_ERRMSG_LEN];
    if (lg_cli_parse(argc, argv, &cli, err, sizeof err)) {
        fprintf(stderr, "lutfuse-loadgen: %s\n", err);
        return 2;
    }
    if (cli.help) {
        lg_cli_usage(stdout);
        return 0;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct lg_config cfg = cli.cfg;
    cfg.stop = &g_stop;
    char *model = NULL;
    int n_runs = cli.n_sweep ? cli.n_sweep : 1;
    struct lg_result *results = calloc((size_t)n_runs, sizeof *results);
    int status = 1, done = 0;
    if (!results) {
        fprintf(stderr, "lutfuse-loadgen: out of memory\n");
        return 1;
    }
    /* Ask the server for its model once, so every sweep level names the same. */
    if (!cfg.model) {
        if (lg_fetch_model(&cfg, &model, err, sizeof err)) {
            fprintf(stderr, "lutfuse-loadgen: %s\n", err);
            goto out;
        }
        cfg.model = model;
    }
    for (int i = 0; i < n_runs && !g_stop; i++) {
        if (cli.n_sweep) {
            cfg.max_concurrency = cli.sweep[i];
            fprintf(stderr, "sweep: max concurrency %d (%d of %d)\n", cli.sweep[i], i + 1,
                    n_runs);
        }
        print_settings(&cfg, cfg.model);
        if (lg_run(&cfg, &results[i], err, sizeof err)) {
            fprintf(stderr, "lutfuse-loadgen: %s\n", err);
            goto out;
        }
        done++;
        lg_report_print(stdout, &cfg, &results[i]);
        fflush(stdout);
    }
    if (cli.n_sweep) {
        printf("\nConcurrency sweep (%s):\n", cfg.model);
        lg_report_sweep_table(stdout, results, (size_t)done);
    }
    status = 0;
    if (cli.json_path &&
        lg_report_json(cli.json_path, &cfg, results, (size_t)done, cli.n_sweep > 0, err,
                       sizeof err)) {
        fprintf(stderr, "lutfuse-loadgen: %s\n", err);
        status = 1;
    }
    if (cli.csv_path && lg_report_csv(cli.csv_path, results, (size_t)done, err, sizeof err)) {
        fprintf(stderr, "lutfuse-loadgen: %s\n", err);
        status = 1;
    }
    if (cli.n_sweep && done > 0) {
        if (lg_report_svg(cli.svg_path, &cfg, results, (size_t)done, err, sizeof err)) {
            fprintf(stderr, "lutfuse-loadgen: %s\n", err);
            status = 1;
        } else {
            printf("plot written to %s\n", cli.svg_path);
        }
    }
out:
    for (int i = 0; i < n_runs; i++) lg_result_free(&results[i]);
    free(results);
    free(model);
    return status;
}
