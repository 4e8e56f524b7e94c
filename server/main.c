/* main.c - the lutfuse command line: pick a subcommand and run it. */
#include "server/commands.h"

#include "engine/status.h"
#include "kernels/kernels.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    bool tune; /* runs a model: choose the ternary kernels by measurement first */
} commands[] = {
    {"serve", cmd_serve, "serve the OpenAI-compatible HTTP API (completions, chat, SSE)", true},
    {"generate", cmd_generate, "generate text from a prompt (streams to stdout)", true},
    {"info", cmd_info, "print a model's architecture, shapes, tensor types and vocabulary", true},
    {"tokenize", cmd_tokenize, "print the token ids of UTF-8 text read from stdin", false},
    {"mkmodel", cmd_mkmodel, "write a synthetic model (random weights) of any shape", false},
    {"quantize", cmd_quantize, "convert a model's weights to TQ1_0, TQ2_0, I2_S, ...", false},
    {"bench", cmd_bench, "measure prefill and batched decode speed on a model", true},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: lutfuse COMMAND [options]   (lutfuse COMMAND --help for its options)\n\n"
               "lutfuse serves ternary and other low-bit LLMs on CPUs.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    /* Choose the kernels once, before any thread starts (LUTFUSE_ISA overrides). */
    char err[LF_ERRMSG_LEN];
    if (kern_init(err, sizeof err)) {
        fprintf(stderr, "lutfuse: %s\n", err);
        return 2;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        if (strcmp(argv[1], commands[i].name)) continue;
        /* Vec-LUT or multiply-add for wide batches: measured here, before
         * a model's layouts are built (LUTFUSE_LUT_MIN overrides). */
        if (commands[i].tune && kern_tune(err, sizeof err)) {
            fprintf(stderr, "lutfuse: %s\n", err);
            return 2;
        }
        return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "lutfuse: unknown command '%s' (see lutfuse --help)\n", argv[1]);
    return 2;
}
