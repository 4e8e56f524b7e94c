/* serve.c - `lutfuse serve`: flags and environment, wiring (model ->
 * scheduler -> HTTP), signals and graceful shutdown.
 *
 * SIGINT/SIGTERM are blocked in every thread and taken by sigwait() on the
 * main thread, so shutdown runs as ordinary code: stop accepting, let running
 * requests finish within the grace period, cancel the rest, resume every
 * suspended connection, stop the daemon, free everything, exit 0.
 */
#include "server/commands.h"

#include "engine/log.h"
#include "engine/model.h"
#include "engine/status.h"
#include "scheduler/sched.h"
#include "server/http.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void serve_usage(FILE *f)
{
    fprintf(f,
            "usage: lutfuse serve -m FILE [options]\n\n"
            "Serve the OpenAI-compatible HTTP API: POST /v1/completions, /v1/chat/completions,\n"
            "/tokenize, /detokenize; GET /v1/models, /health, /metrics.\n\n"
            "  -m, --model FILE        GGUF model (env LUTFUSE_MODEL)\n"
            "      --host ADDR         IPv4 address to bind (default 127.0.0.1; LUTFUSE_HOST)\n"
            "      --port N            TCP port, 0 = any free one (default 8080; LUTFUSE_PORT)\n"
            "      --threads N         compute threads pinned one per core; 0 = all cores\n"
            "                          (default 0; LUTFUSE_THREADS)\n"
            "      --max-seqs N        sequences decoding at once = KV slots (default 8;\n"
            "                          LUTFUSE_MAX_SEQS)\n"
            "      --ctx N             context per sequence (default: model's, at most 2048;\n"
            "                          LUTFUSE_CTX)\n"
            "      --kv-type T         KV cache elements: f16 (half the memory and bytes per\n"
            "                          step) or f32 (exact) (default f16; LUTFUSE_KV_TYPE)\n"
            "      --batch-tokens N    token budget of one fused step (default 1024)\n"
            "      --prefill-cap N     prompt tokens per request per step (default 256)\n"
            "      --gather-us N       when idle, wait for a burst of requests to stop arriving\n"
            "                          for N microseconds (at most 4N) before the first step;\n"
            "                          0 = off (default 2000)\n"
            "      --max-queue N       requests waiting for a free slot before 503 (default 64;\n"
            "                          LUTFUSE_MAX_QUEUE)\n"
            "      --api-key KEY       require 'Authorization: Bearer KEY' (LUTFUSE_API_KEY)\n"
            "      --timeout S         idle connection timeout in seconds (default 600)\n"
            "      --max-body BYTES    largest request body (default 4194304)\n"
            "      --chat-template T   llama3 | llama2 | chatml | bitnet (default: detected)\n"
            "      --alias NAME        model name in the API (default: file name)\n"
            "      --grace S           shutdown grace period for running requests (default 10)\n"
            "      --quiet             no access log\n"
            "  -h, --help              this help\n");
}

static int env_int(const char *name, int def)
{
    const char *v = getenv(name);
    if (!v || !*v) return def;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < 0 || x > 1 << 30) {
        fprintf(stderr, "lutfuse serve: ignoring %s='%s' (not a number)\n", name, v);
        return def;
    }
    return (int)x;
}

static int flag_int(const char *flag, const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "lutfuse serve: %s wants an integer in %ld..%ld, got '%s'\n", flag, lo, hi, s);
        return 2;
    }
    *out = (int)v;
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},      {"host", required_argument, 0, 1},
        {"port", required_argument, 0, 2},         {"threads", required_argument, 0, 3},
        {"max-seqs", required_argument, 0, 4},     {"ctx", required_argument, 0, 5},
        {"batch-tokens", required_argument, 0, 6}, {"prefill-cap", required_argument, 0, 7},
        {"max-queue", required_argument, 0, 8},    {"api-key", required_argument, 0, 9},
        {"timeout", required_argument, 0, 10},     {"max-body", required_argument, 0, 11},
        {"chat-template", required_argument, 0, 12}, {"alias", required_argument, 0, 13},
        {"grace", required_argument, 0, 14},       {"quiet", no_argument, 0, 15},
        {"kv-type", required_argument, 0, 16},     {"gather-us", required_argument, 0, 17},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    struct http_config hc = http_config_default();
    const char *path = getenv("LUTFUSE_MODEL");
    if (getenv("LUTFUSE_HOST")) hc.host = getenv("LUTFUSE_HOST");
    hc.port = env_int("LUTFUSE_PORT", hc.port);
    hc.api_key = getenv("LUTFUSE_API_KEY");
    int threads = env_int("LUTFUSE_THREADS", 0), max_seqs = env_int("LUTFUSE_MAX_SEQS", 8);
    int ctx = env_int("LUTFUSE_CTX", 0), batch = SCHED_DEFAULT_BATCH_TOKENS, cap = SCHED_DEFAULT_PREFILL_CAP;
    int gather = SCHED_DEFAULT_GATHER_US;
    int max_queue = env_int("LUTFUSE_MAX_QUEUE", 64), grace = 10, max_body = (int)hc.max_body;
    const char *kv_name = getenv("LUTFUSE_KV_TYPE") ? getenv("LUTFUSE_KV_TYPE") : "f16";
    int c, rc = 0;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': path = optarg; break;
        case 1: hc.host = optarg; break;
        case 2: rc = flag_int("--port", optarg, 0, 65535, &hc.port); break;
        case 3: rc = flag_int("--threads", optarg, 0, 1024, &threads); break;
        case 4: rc = flag_int("--max-seqs", optarg, 1, 4096, &max_seqs); break;
        case 5: rc = flag_int("--ctx", optarg, 2, 1 << 20, &ctx); break;
        case 6: rc = flag_int("--batch-tokens", optarg, 1, 1 << 16, &batch); break;
        case 7: rc = flag_int("--prefill-cap", optarg, 1, 1 << 16, &cap); break;
        case 8: rc = flag_int("--max-queue", optarg, 1, 1 << 20, &max_queue); break;
        case 9: hc.api_key = optarg; break;
        case 10: rc = flag_int("--timeout", optarg, 1, 86400, &hc.timeout_s); break;
        case 11: rc = flag_int("--max-body", optarg, 64, 1 << 30, &max_body); break;
        case 12: hc.chat_template = optarg; break;
        case 13: hc.model_id = optarg; break;
        case 14: rc = flag_int("--grace", optarg, 0, 3600, &grace); break;
        case 15: hc.quiet = true; break;
        case 16: kv_name = optarg; break;
        case 17: rc = flag_int("--gather-us", optarg, 0, 1000000, &gather); break;
        case 'h': serve_usage(stdout); return 0;
        default: serve_usage(stderr); return 2;
        }
        if (rc) return rc;
    }
    if (optind < argc || !path) {
        fprintf(stderr, "lutfuse serve: missing -m FILE (see lutfuse serve --help)\n");
        return 2;
    }
    enum kv_type kv_type;
    if (kv_type_parse(kv_name, &kv_type)) {
        fprintf(stderr, "lutfuse serve: --kv-type wants f16 or f32, got '%s'\n", kv_name);
        return 2;
    }
    hc.max_body = (size_t)max_body;
    if (hc.model_id == http_config_default().model_id) {
        const char *slash = strrchr(path, '/');
        hc.model_id = slash ? slash + 1 : path;
    }

    /* Signals go to sigwait below, in whichever thread; start threads after. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[LF_ERRMSG_LEN] = "";
    struct http *h = NULL;
    struct model *m = NULL;
    struct sched *s = NULL;
    int exit_code = 1;
    if ((rc = http_start(&hc, &h, err, sizeof err))) goto out;
    fprintf(stderr, "lutfuse: loading %s\n", path);
    if ((rc = model_load(path, &m, err, sizeof err))) goto out;
    struct sched_config sc = sched_config_default();
    sc.n_slots = max_seqs;
    sc.n_ctx = ctx ? ctx : (m->hp.n_ctx_train < 2048 ? m->hp.n_ctx_train : 2048);
    sc.batch_tokens = batch < max_seqs ? max_seqs : batch;
    sc.prefill_cap = cap;
    sc.gather_us = gather;
    sc.max_queue = max_queue;
    sc.n_threads = threads;
    sc.kv_type = kv_type;
    if ((rc = sched_new(m, &sc, &s, err, sizeof err))) goto out;
    if ((rc = sched_start(s))) {
        snprintf(err, sizeof err, "cannot start the scheduler thread");
        goto out;
    }
    http_set_ready(h, m, s, sc.n_ctx);
    fprintf(stderr,
            "lutfuse: listening on http://%s:%d (model %s, %d sequences x %d context, %s KV, %s)\n"
            "lutfuse: try: curl http://%s:%d/v1/completions -H 'Content-Type: application/json' "
            "-d '{\"prompt\": \"Once upon a time\", \"max_tokens\": 32}'\n",
            hc.host, http_port(h), hc.model_id, sc.n_slots, sc.n_ctx, kv_type_name(sc.kv_type),
            sched_binding(s), hc.host,
            http_port(h));

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "lutfuse: %s: finishing running requests (up to %d s)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", grace);
    http_quiesce(h);
    sched_stop(s, grace * 1000); /* then cancels what is left; streams get their end */
    int left = http_drain(h, 2000);
    if (left) fprintf(stderr, "lutfuse: closing %d connections that did not finish\n", left);
    exit_code = 0;
out:
    if (exit_code) fprintf(stderr, "lutfuse serve: %s\n", err[0] ? err : lf_strerror(rc));
    if (s) sched_stop(s, 0);
    http_stop(h);
    sched_free(s);
    model_free(m);
    if (!exit_code) fprintf(stderr, "lutfuse: stopped\n");
    return exit_code;
}
