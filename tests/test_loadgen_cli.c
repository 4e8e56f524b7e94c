/* test_loadgen_cli.c - lutfuse-loadgen's command line: vLLM-named options,
 * their defaults, "--name=value", and the errors for bad values. */
#include "tests/testutil.h"
#include "loadgen/cli.h"
#include "loadgen/client.h"
#include "loadgen/loadgen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int parse(struct lg_cli *cli, char *err, size_t err_len, int argc, const char **argv)
{
    return lg_cli_parse(argc, (char **)argv, cli, err, err_len);
}

#define PARSE(cli, err, ...)                                                                       \
    parse(cli, err, sizeof err, (int)(sizeof((const char *[]){"loadgen", __VA_ARGS__}) /           \
                                      sizeof(const char *)),                                       \
          (const char *[]){"loadgen", __VA_ARGS__})

static void test_defaults(void **state)
{
    (void)state;
    unsetenv("OPENAI_API_KEY");
    struct lg_cli cli;
    char err[LG_ERRMSG_LEN];
    const char *argv[] = {"loadgen"};
    assert_int_equal(parse(&cli, err, sizeof err, 1, argv), 0);
    const struct lg_config *c = &cli.cfg;
    assert_string_equal(c->base_url, "http://127.0.0.1:8000");
    assert_int_equal(c->endpoint, LG_ENDPOINT_COMPLETIONS);
    assert_null(c->model);
    assert_null(c->api_key);
    assert_true(isinf(c->request_rate));
    assert_float_equal(c->burstiness, 1.0, 0);
    assert_int_equal(c->max_concurrency, 0);
    assert_int_equal(c->input_len, 64);
    assert_int_equal(c->output_len, 64);
    assert_int_equal(c->n_percentiles, 2);
    assert_float_equal(c->percentiles[1], 99.0, 0);
    assert_int_equal(c->percentile_metrics, 15);
    assert_true(c->goodput.ttft_ms < 0 && c->goodput.tpot_ms < 0 && c->goodput.e2el_ms < 0);
    assert_int_equal(c->progress, 1);
    assert_int_equal(cli.n_sweep, 0);
    assert_null(cli.svg_path);
    assert_int_equal(cli.help, 0);
}

static void test_every_option(void **state)
{
    (void)state;
    struct lg_cli cli;
    char err[LG_ERRMSG_LEN] = "";
    int rc = PARSE(&cli, err, "--base-url", "http://h:1", "--endpoint", "chat", "--model", "m",
                   "--num-prompts", "10", "--request-rate", "2.5", "--burstiness", "0.5",
                   "--max-concurrency", "4", "--seed", "9", "--random-input-len", "100",
                   "--output-len=20", "--random-range-ratio", "0.25", "--goodput", "ttft:300",
                   "tpot:50", "--percentile-metrics", "ttft,e2el", "--metric-percentiles",
                   "50,99.9", "--json", "a.json", "--csv", "b.csv", "--sweep", "1,2,4",
                   "--timeout", "1.5", "--ignore-eos", "--api-key", "k", "--disable-tqdm",
                   "--temperature", "-1", "--dataset", "d.jsonl", "-h");
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    const struct lg_config *c = &cli.cfg;
    assert_string_equal(c->base_url, "http://h:1");
    assert_int_equal(c->endpoint, LG_ENDPOINT_CHAT);
    assert_string_equal(c->model, "m");
    assert_int_equal(c->num_prompts, 10);
    assert_float_equal(c->request_rate, 2.5, 0);
    assert_float_equal(c->burstiness, 0.5, 0);
    assert_int_equal(c->max_concurrency, 4);
    assert_int_equal(c->seed, 9);
    assert_int_equal(c->input_len, 100);
    assert_int_equal(c->output_len, 20);
    assert_float_equal(c->range_ratio, 0.25, 0);
    assert_float_equal(c->goodput.ttft_ms, 300, 0);
    assert_float_equal(c->goodput.tpot_ms, 50, 0);
    assert_true(c->goodput.e2el_ms < 0);
    assert_int_equal(c->percentile_metrics, LG_METRIC_TTFT | LG_METRIC_E2EL);
    assert_int_equal(c->n_percentiles, 2);
    assert_float_equal(c->percentiles[0], 50, 0);
    assert_float_equal(c->percentiles[1], 99.9, 0);
    assert_string_equal(cli.json_path, "a.json");
    assert_string_equal(cli.csv_path, "b.csv");
    assert_int_equal(cli.n_sweep, 3);
    assert_int_equal(cli.sweep[2], 4);
    assert_string_equal(cli.svg_path, "sweep.svg"); /* default when sweeping */
    assert_float_equal(c->timeout_s, 1.5, 0);
    assert_int_equal(c->ignore_eos, 1);
    assert_string_equal(c->api_key, "k");
    assert_int_equal(c->progress, 0);
    assert_true(c->temperature < 0);
    assert_string_equal(c->dataset, "d.jsonl");
    assert_int_equal(cli.help, 1);
}

static void test_host_port_paths_and_env(void **state)
{
    (void)state;
    setenv("OPENAI_API_KEY", "from-env", 1);
    struct lg_cli cli;
    char err[LG_ERRMSG_LEN] = "";
    assert_int_equal(PARSE(&cli, err, "--host", "10.0.0.2", "--port", "9001", "--endpoint",
                           "/v1/chat/completions", "--goodput", "ttft:1,e2el:2.5", "--svg",
                           "x.svg", "--sweep", "8"),
                     0);
    assert_string_equal(cli.cfg.base_url, "http://10.0.0.2:9001");
    assert_int_equal(cli.cfg.endpoint, LG_ENDPOINT_CHAT);
    assert_string_equal(cli.cfg.endpoint_path, "/v1/chat/completions");
    assert_string_equal(cli.cfg.api_key, "from-env");
    assert_float_equal(cli.cfg.goodput.ttft_ms, 1, 0);
    assert_float_equal(cli.cfg.goodput.e2el_ms, 2.5, 0);
    assert_string_equal(cli.svg_path, "x.svg");
    unsetenv("OPENAI_API_KEY");

    /* URLs: a trailing "/" or "/v1" on the base is dropped. */
    char *url = lg_request_url(&cli.cfg);
    assert_string_equal(url, "http://10.0.0.2:9001/v1/chat/completions");
    free(url);
    struct lg_config cfg;
    lg_config_defaults(&cfg);
    cfg.base_url = "http://x:5/v1/";
    url = lg_request_url(&cfg);
    assert_string_equal(url, "http://x:5/v1/completions");
    free(url);
    cfg.endpoint = LG_ENDPOINT_CHAT;
    cfg.base_url = "http://x:5/";
    url = lg_request_url(&cfg);
    assert_string_equal(url, "http://x:5/v1/chat/completions");
    free(url);
}

static void expect_error(const char *needle, int argc, const char **argv)
{
    struct lg_cli cli;
    char err[LG_ERRMSG_LEN] = "";
    assert_int_equal(parse(&cli, err, sizeof err, argc, argv), LG_ERR_INVALID);
    if (!strstr(err, needle)) fprintf(stderr, "message: %s\n", err);
    assert_non_null(strstr(err, needle));
}

#define EXPECT_ERROR(needle, ...)                                                                  \
    expect_error(needle,                                                                           \
                 (int)(sizeof((const char *[]){"loadgen", __VA_ARGS__}) / sizeof(const char *)), \
                 (const char *[]){"loadgen", __VA_ARGS__})

static void test_bad_command_lines(void **state)
{
    (void)state;
    EXPECT_ERROR("unknown option --frobnicate", "--frobnicate");
    EXPECT_ERROR("--model needs a value", "--model");
    EXPECT_ERROR("bad value for --num-prompts", "--num-prompts", "0");
    EXPECT_ERROR("bad value for --num-prompts", "--num-prompts", "12x");
    EXPECT_ERROR("bad value for --request-rate", "--request-rate", "0");
    EXPECT_ERROR("bad value for --burstiness", "--burstiness", "-1");
    EXPECT_ERROR("bad value for --range-ratio", "--range-ratio", "1");
    EXPECT_ERROR("bad value for --goodput", "--goodput", "foo:1");
    EXPECT_ERROR("bad value for --goodput", "--goodput", "ttft");
    EXPECT_ERROR("bad value for --goodput", "--goodput", "ttft:1", "tpot:x");
    EXPECT_ERROR("bad value for --percentile-metrics", "--percentile-metrics", "ttft,latency");
    EXPECT_ERROR("bad value for --metric-percentiles", "--metric-percentiles", "101");
    EXPECT_ERROR("bad value for --sweep", "--sweep", "1,x");
    EXPECT_ERROR("bad value for --endpoint", "--endpoint", "embeddings");
    EXPECT_ERROR("bad value for --seed", "--seed", "-3");
    EXPECT_ERROR("takes no value", "--ignore-eos=1");
    EXPECT_ERROR("unexpected argument", "stray");
    EXPECT_ERROR("--token-ids needs the completions endpoint", "--token-ids", "--endpoint",
                 "chat");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_option),
        cmocka_unit_test(test_host_port_paths_and_env),
        cmocka_unit_test(test_bad_command_lines),
    };
    return cmocka_run_group_tests_name("loadgen_cli", tests, NULL, NULL);
}
