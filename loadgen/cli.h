/* cli.h - the command line of lutfuse-loadgen, named after `vllm bench serve`
 * wherever vLLM has the same thing, so people can move between the two.
 * Options take "--name value" or "--name=value". The parser only fills a
 * struct; main.c runs it.
 */
#ifndef LG_CLI_H
#define LG_CLI_H

#include "loadgen/loadgen.h"

#include <stdio.h>

#define LG_MAX_SWEEP 64

struct lg_cli {
    struct lg_config cfg;  /* strings point into argv or into base_url_buf */
    const char *json_path; /* --json, or NULL */
    const char *csv_path;  /* --csv, or NULL */
    const char *svg_path;  /* --svg; "sweep.svg" when sweeping */
    int sweep[LG_MAX_SWEEP];
    int n_sweep;           /* 0: a single run */
    int help;              /* --help was given */
    char base_url_buf[300];
};

/* Parse argv[1..argc) into *cli (defaults first). --api-key defaults to
 * $OPENAI_API_KEY, as vLLM's client does. Returns 0 or LG_ERR_INVALID with a
 * one-line message in err. cli must stay where it is while cfg is used
 * (cfg.base_url may point into it). */
int lg_cli_parse(int argc, char **argv, struct lg_cli *cli, char *err, size_t err_len);

/* The --help text. */
void lg_cli_usage(FILE *out);

#endif
