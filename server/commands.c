/* commands.c - generate, info, tokenize, mkmodel and quantize.
 *
 * Thin wiring over engine/: parse flags (every number range-checked, a clear
 * one-line error and exit code 2 for a bad flag), call the engine, print.
 */
#include "server/commands.h"

#include "engine/forward.h"
#include "engine/gguf.h"
#include "engine/kv.h"
#include "engine/mkmodel.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/status.h"
#include "engine/tokenizer.h"
#include "scheduler/request.h"
#include "scheduler/sched.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "kernels/threadpool.h"
#include "kernels/vlut.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- flag helpers ---- */

static int bad_flag(const char *cmd, const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "lutfuse %s: ", cmd);
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, " (see lutfuse %s --help)\n", cmd);
    return 2;
}

static int parse_i64(const char *cmd, const char *flag, const char *s, int64_t lo, int64_t hi,
                     int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        char range[64];
        snprintf(range, sizeof range, "%lld..%lld", (long long)lo, (long long)hi);
        fprintf(stderr, "lutfuse %s: %s wants an integer in %s, got '%s'\n", cmd, flag, range, s);
        return 2;
    }
    *out = v;
    return 0;
}

static int parse_i32(const char *cmd, const char *flag, const char *s, int32_t lo, int32_t hi,
                     int32_t *out)
{
    int64_t v;
    int rc = parse_i64(cmd, flag, s, lo, hi, &v);
    if (!rc) *out = (int32_t)v;
    return rc;
}

static int parse_f32(const char *cmd, const char *flag, const char *s, float lo, float hi,
                     float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "lutfuse %s: %s wants a number in %g..%g, got '%s'\n", cmd, flag, lo, hi, s);
        return 2;
    }
    *out = v;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- generate ---- */

static void generate_usage(FILE *f)
{
    fprintf(f,
            "usage: lutfuse generate -m FILE [-p TEXT] [-n N] [options]\n\n"
            "Generate text from a prompt; text streams to stdout, speed goes to stderr.\n\n"
            "  -m, --model FILE        GGUF model (required)\n"
            "  -p, --prompt TEXT       prompt (default: empty, i.e. only BOS)\n"
            "  -n, --n-predict N       tokens to generate (default 128)\n"
            "      --temp T            temperature; 0 = greedy (default 0.8)\n"
            "      --top-k K           keep the K most likely tokens; 0 = off (default 40)\n"
            "      --top-p P           nucleus sampling threshold (default 0.95)\n"
            "      --min-p P           drop tokens below P x the top probability (default 0.05)\n"
            "      --repeat-penalty R  penalize the last 64 tokens (default 1.0 = off)\n"
            "      --seed S            random seed (default: from the clock)\n"
            "  -c, --ctx N             context length (default: model's, at most 4096)\n"
            "  -b, --batch N           prompt tokens per forward pass (default 64)\n"
            "  -t, --threads N         compute threads, pinned one per core (default: all cores)\n"
            "      --kv-type T         KV cache elements, f16 or f32 (default f16)\n"
            "      --ignore-eos        do not stop at end-of-generation tokens\n"
            "      --ids               print the prompt's and the generated token ids\n"
            "                          (two space-separated lines) instead of text\n"
            "  -h, --help              this help\n");
}

/* Print the ids of arr[0..n) on one line. */
static void print_ids(const int32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
    printf("\n");
}

int cmd_generate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},   {"prompt", required_argument, 0, 'p'},
        {"n-predict", required_argument, 0, 'n'}, {"temp", required_argument, 0, 1},
        {"top-k", required_argument, 0, 2},     {"top-p", required_argument, 0, 3},
        {"min-p", required_argument, 0, 4},     {"repeat-penalty", required_argument, 0, 5},
        {"seed", required_argument, 0, 6},      {"ctx", required_argument, 0, 'c'},
        {"batch", required_argument, 0, 'b'},   {"ignore-eos", no_argument, 0, 7},
        {"ids", no_argument, 0, 8},             {"help", no_argument, 0, 'h'},
        {"threads", required_argument, 0, 't'}, {"kv-type", required_argument, 0, 9},
        {0, 0, 0, 0}};
    const char *C = "generate", *path = NULL, *prompt = "";
    enum kv_type kv_type = KV_F16;
    int32_t n_predict = 128, n_ctx = 0, n_batch = 64, n_threads = 0;
    bool ignore_eos = false, print_ids_only = false, seed_set = false;
    struct sampler_params sp = sampler_params_default();
    int64_t seed = 0;
    int c, rc = 0;
    while ((c = getopt_long(argc, argv, "m:p:n:c:b:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': path = optarg; break;
        case 'p': prompt = optarg; break;
        case 't': rc = parse_i32(C, "--threads", optarg, 1, 1024, &n_threads); break;
        case 'n': rc = parse_i32(C, "--n-predict", optarg, 0, 1 << 20, &n_predict); break;
        case 1: rc = parse_f32(C, "--temp", optarg, 0.0f, 100.0f, &sp.temperature); break;
        case 2: rc = parse_i32(C, "--top-k", optarg, 0, 1 << 24, &sp.top_k); break;
        case 3: rc = parse_f32(C, "--top-p", optarg, 0.0f, 1.0f, &sp.top_p); break;
        case 4: rc = parse_f32(C, "--min-p", optarg, 0.0f, 1.0f, &sp.min_p); break;
        case 5: rc = parse_f32(C, "--repeat-penalty", optarg, 0.01f, 100.0f, &sp.repeat_penalty); break;
        case 6: rc = parse_i64(C, "--seed", optarg, 0, INT64_MAX, &seed), seed_set = true; break;
        case 'c': rc = parse_i32(C, "--ctx", optarg, 1, 1 << 20, &n_ctx); break;
        case 'b': rc = parse_i32(C, "--batch", optarg, 1, 4096, &n_batch); break;
        case 7: ignore_eos = true; break;
        case 8: print_ids_only = true; break;
        case 9:
            if (kv_type_parse(optarg, &kv_type))
                rc = bad_flag(C, "--kv-type wants f16 or f32, got '%s'%s", optarg, "");
            break;
        case 'h': generate_usage(stdout); return 0;
        default: generate_usage(stderr); return 2;
        }
        if (rc) return rc;
    }
    if (optind < argc) return bad_flag(C, "unexpected argument '%s'%s", argv[optind], "");
    if (!path) return bad_flag(C, "missing -m FILE%s%s", "", "");
    sp.seed = seed_set ? (uint64_t)seed : (uint64_t)time(NULL);
    sp.repeat_last_n = 64;

    char err[LF_ERRMSG_LEN] = "";
    struct model *m = NULL;
    struct kv_cache *kv = NULL;
    struct fwd *f = NULL;
    struct sampler *smp = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    int exit_code = 1;

    if ((rc = model_load(path, &m, err, sizeof err))) goto fail;
    if (n_ctx == 0) n_ctx = m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096;
    size_t max_ids = (size_t)n_ctx + 1, n_prompt = 0;
    ids = malloc(max_ids * sizeof *ids);
    logits = malloc((size_t)m->hp.n_vocab * sizeof *logits);
    if (!ids || !logits) {
        rc = lf_errf(err, sizeof err, LF_ERR_NOMEM, "out of memory");
        goto fail;
    }
    rc = tok_encode(m->tok, prompt, strlen(prompt), true, false, ids, max_ids, &n_prompt);
    if (rc == LF_ERR_RANGE || n_prompt >= (size_t)n_ctx) {
        rc = lf_errf(err, sizeof err, LF_ERR_RANGE, "prompt of %zu tokens does not fit context %d",
                     n_prompt, n_ctx);
        goto fail;
    }
    if (rc) goto fail;
    if (n_prompt == 0) {
        rc = lf_errf(err, sizeof err, LF_ERR_INVALID, "empty prompt and the model adds no BOS");
        goto fail;
    }
    if ((rc = kv_new(1, n_ctx, m->hp.n_layer, m->hp.n_head_kv, m->hp.head_dim, kv_type, &kv, err,
                     sizeof err)))
        goto fail;
    struct fwd_options fo = fwd_options_default();
    fo.n_threads = n_threads;
    if ((rc = fwd_new(m, n_batch, n_ctx, &fo, &f, err, sizeof err))) goto fail;
    if ((rc = sampler_params_validate(&sp, err, sizeof err))) goto fail;
    if ((rc = sampler_new(&sp, m->hp.n_vocab, &smp))) goto fail;

    struct tok_stream ts;
    tok_stream_init(&ts);
    char piece[256];
    if (!print_ids_only) {
        for (size_t i = 0; i < n_prompt; i++) {
            int n = tok_stream_push(m->tok, &ts, ids[i], piece, sizeof piece);
            if (n > 0) fwrite(piece, 1, (size_t)n, stdout);
        }
        fflush(stdout);
    }

    /* Prefill in chunks of n_batch; the last prompt row asks for logits. */
    struct fwd_row *rows = malloc((size_t)n_batch * sizeof *rows);
    if (!rows) {
        rc = LF_ERR_NOMEM;
        goto fail;
    }
    double t0 = now_s();
    for (size_t i = 0; i < n_prompt; i += (size_t)n_batch) {
        int32_t n = (int32_t)(n_prompt - i < (size_t)n_batch ? n_prompt - i : (size_t)n_batch);
        for (int32_t j = 0; j < n; j++) {
            rows[j] = (struct fwd_row){0, (int32_t)(i + j), ids[i + j], -1};
            sampler_accept(smp, ids[i + j]);
        }
        if (i + (size_t)n == n_prompt) rows[n - 1].logits = 0;
        if ((rc = fwd_run(f, kv, rows, n, logits, err, sizeof err))) break;
    }
    double t1 = now_s();
    size_t n_gen = 0, pos = n_prompt;
    while (!rc && n_gen < (size_t)n_predict) {
        int32_t next = sampler_sample(smp, logits);
        sampler_accept(smp, next);
        ids[pos] = next;
        n_gen++;
        if (!ignore_eos && tok_is_eog(m->tok, next)) break;
        if (!print_ids_only) {
            int n = tok_stream_push(m->tok, &ts, next, piece, sizeof piece);
            if (n > 0) fwrite(piece, 1, (size_t)n, stdout);
            fflush(stdout);
        }
        if (n_gen == (size_t)n_predict || pos + 1 >= (size_t)n_ctx) break;
        struct fwd_row row = {0, (int32_t)pos, next, 0};
        rc = fwd_run(f, kv, &row, 1, logits, err, sizeof err);
        pos++;
    }
    double t2 = now_s();
    free(rows);
    if (rc) goto fail;
    if (print_ids_only) {
        print_ids(ids, n_prompt);
        print_ids(ids + n_prompt, n_gen);
    } else {
        int n = tok_stream_flush(m->tok, &ts, piece, sizeof piece);
        if (n > 0) fwrite(piece, 1, (size_t)n, stdout);
        printf("\n");
    }
    fflush(stdout);
    fprintf(stderr, "lutfuse: prompt %zu tokens in %.3f s (%.1f tok/s), generated %zu tokens in "
                    "%.3f s (%.1f tok/s)\n",
            n_prompt, t1 - t0, (double)n_prompt / (t1 - t0 > 0 ? t1 - t0 : 1e-9), n_gen, t2 - t1,
            n_gen > 1 ? (double)(n_gen - 1) / (t2 - t1 > 0 ? t2 - t1 : 1e-9) : 0.0);
    exit_code = 0;
fail:
    if (exit_code)
        fprintf(stderr, "lutfuse generate: %s\n", err[0] ? err : lf_strerror(rc));
    sampler_free(smp);
    fwd_free(f);
    kv_free(kv);
    free(logits);
    free(ids);
    model_free(m);
    return exit_code;
}

/* ---- info ---- */

static void info_usage(FILE *f)
{
    fprintf(f, "usage: lutfuse info -m FILE\n\n"
               "Print a model's architecture, hyperparameters, tensor types and sizes,\n"
               "vocabulary and special tokens.\n");
}

static void print_token(const struct tok *t, const char *label, int32_t id)
{
    if (id < 0) return;
    size_t len;
    const char *s = tok_text(t, id, &len);
    printf("  %-6s %d '%.*s'\n", label, id, s ? (int)len : 0, s ? s : "");
}

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *path = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        if (c == 'm') path = optarg;
        else if (c == 'h') return info_usage(stdout), 0;
        else return info_usage(stderr), 2;
    }
    if (!path || optind < argc) return bad_flag("info", "missing -m FILE%s%s", "", "");
    char err[LF_ERRMSG_LEN] = "";
    struct model *m;
    int rc = model_load(path, &m, err, sizeof err);
    if (rc) {
        fprintf(stderr, "lutfuse info: %s\n", err[0] ? err : lf_strerror(rc));
        return 1;
    }
    const struct model_hparams *hp = &m->hp;
    printf("file:          %s (%.1f MiB, GGUF v%u)\n", path,
           (double)gguf_file_size(m->gguf) / (1 << 20), gguf_version(m->gguf));
    printf("architecture:  %s%s\n", m->arch_name, hp->int8_activations ? " (int8 activations for ternary matmuls)" : "");
    printf("hidden:        %d\nlayers:        %d\nheads:         %d (kv %d, head dim %d)\n",
           hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv, hp->head_dim);
    printf("ffn:           %d (%s)\n", hp->n_ff, hp->ffn_act == MODEL_FFN_SILU ? "SiLU-gated" : "squared-ReLU-gated");
    printf("rope:          %s, %d dims, base %g\n", hp->rope == MODEL_ROPE_NORM ? "normal" : "neox",
           hp->n_rot, hp->rope_base);
    printf("rms eps:       %g\ncontext:       %d (trained)\n", hp->rms_eps, hp->n_ctx_train);
    printf("output head:   %s\n", m->tied_output ? "tied to token_embd" : "output.weight");

    /* tensor types: count and bytes per type */
    uint64_t count[QT_COUNT] = {0}, bytes[QT_COUNT] = {0}, params = 0;
    for (int64_t i = 0; i < gguf_n_tensors(m->gguf); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(m->gguf, i);
        enum quant_type qt;
        params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        if (model_map_type(t->type, m->id36_is_i2s, "", &qt, NULL, 0) == 0) {
            count[qt]++;
            bytes[qt] += t->nbytes;
        }
    }
    printf("tensors:       %lld, %.1f M parameters\n", (long long)gguf_n_tensors(m->gguf),
           (double)params / 1e6);
    for (int t = 0; t < QT_COUNT; t++)
        if (count[t])
            printf("  %-6s %4llu tensors %10.2f MiB\n", quant_type_name((enum quant_type)t),
                   (unsigned long long)count[t], (double)bytes[t] / (1 << 20));
    printf("vocabulary:    %d tokens (%s)\n", tok_n_vocab(m->tok), tok_model_name(m->tok));
    print_token(m->tok, "bos", tok_bos(m->tok));
    print_token(m->tok, "eos", tok_eos(m->tok));
    print_token(m->tok, "eot", tok_eot(m->tok));
    if (m->n_repacked || m->head_q8.q)
        printf("kernels:       %d ternary tensors repacked%s, %.1f MiB in kernel layouts (%s)\n",
               m->n_repacked, m->head_q8.q ? " + int8 output head" : "",
               (double)m->repacked_bytes / (1 << 20), kern_describe());
    if (m->n_repacked) printf("               %s\n", kern_tune_describe());
    if (m->n_not_repacked)
        printf("               %d ternary tensors mix block scales within a row: reference path\n",
               m->n_not_repacked);
    struct tpool *pool;
    if (tpool_new(0, &pool, NULL, 0) == 0) {
        printf("threads:       %s\n", tpool_binding(pool));
        tpool_free(pool);
    }
    model_free(m);
    return 0;
}

/* ---- tokenize ---- */

static void tokenize_usage(FILE *f)
{
    fprintf(f, "usage: lutfuse tokenize -m FILE [--add-special] [--parse-special] < text\n\n"
               "Read UTF-8 text from stdin and print its token ids, space-separated, on one\n"
               "line. By default no BOS/EOS is added and special-token text is not parsed.\n"
               "Works on vocab-only GGUF files.\n");
}

int cmd_tokenize(int argc, char **argv)
{
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"add-special", no_argument, 0, 1},
                                         {"parse-special", no_argument, 0, 2},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *path = NULL;
    bool add_special = false, parse_special = false;
    int c;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        if (c == 'm') path = optarg;
        else if (c == 1) add_special = true;
        else if (c == 2) parse_special = true;
        else if (c == 'h') return tokenize_usage(stdout), 0;
        else return tokenize_usage(stderr), 2;
    }
    if (!path || optind < argc) return bad_flag("tokenize", "missing -m FILE%s%s", "", "");

    /* Read all of stdin. */
    size_t len = 0, cap = 1 << 16;
    char *text = malloc(cap);
    while (text) {
        size_t n = fread(text + len, 1, cap - len, stdin);
        len += n;
        if (len < cap) break;
        char *nt = cap < (256u << 20) ? realloc(text, cap * 2) : NULL;
        if (!nt) {
            free(text);
            text = NULL;
            break;
        }
        text = nt;
        cap *= 2;
    }
    if (!text) {
        fprintf(stderr, "lutfuse tokenize: input too large or out of memory\n");
        return 1;
    }
    char err[LF_ERRMSG_LEN] = "";
    struct gguf *g = NULL;
    struct tok *t = NULL;
    int32_t *ids = NULL;
    int exit_code = 1;
    int rc = gguf_open(path, &g, err, sizeof err);
    if (!rc) rc = tok_load(g, &t, err, sizeof err);
    if (!rc) {
        size_t max = len + 4, n = 0;
        ids = malloc(max * sizeof *ids);
        if (!ids) rc = LF_ERR_NOMEM;
        else rc = tok_encode(t, text, len, add_special, parse_special, ids, max, &n);
        if (!rc) {
            print_ids(ids, n);
            exit_code = 0;
        }
    }
    if (exit_code) fprintf(stderr, "lutfuse tokenize: %s\n", err[0] ? err : lf_strerror(rc));
    free(ids);
    tok_free(t);
    gguf_close(g);
    free(text);
    return exit_code;
}

/* ---- mkmodel ---- */

static void mkmodel_usage(FILE *f)
{
    fprintf(f,
            "usage: lutfuse mkmodel -o FILE [options]\n\n"
            "Write a synthetic model with random weights (from --seed). Linear weights are\n"
            "ternary (absmean), so the same seed gives the same weights in every type.\n\n"
            "  -o, --output FILE     where to write the GGUF (required)\n"
            "      --arch A          llama | bitnet-b1.58 | bitnet (default bitnet-b1.58)\n"
            "      --type T          linear weights: F32 F16 TQ1_0 TQ2_0 I2_S (default TQ2_0)\n"
            "      --embd-type T     token embedding/output head: F32 F16 BF16 Q8_0 Q4_K Q6_K\n"
            "                        (default F16)\n"
            "      --shape S         tiny (hidden 256) | small (1024, 12 layers, 16/4 heads,\n"
            "                        FFN 2816, vocab 32000) | 2b (BitNet b1.58 2B4T shape)\n"
            "      --n-embd N --n-layer N --n-head N --n-head-kv N --n-ff N --n-vocab N --ctx N\n"
            "                        override single dimensions\n"
            "      --untied          write a separate output.weight (llama and bitnet only)\n"
            "      --vocab FILE      copy the tokenizer of this GGUF (else a byte vocabulary)\n"
            "      --seed S          random seed (default 1)\n");
}

static int parse_type(const char *cmd, const char *flag, const char *s, enum quant_type *out)
{
    int t = quant_type_from_name(s);
    if (t < 0) return bad_flag(cmd, "%s: unknown tensor type '%s'", flag, s);
    *out = (enum quant_type)t;
    return 0;
}

int cmd_mkmodel(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'}, {"arch", required_argument, 0, 1},
        {"type", required_argument, 0, 2},     {"embd-type", required_argument, 0, 3},
        {"shape", required_argument, 0, 4},    {"n-embd", required_argument, 0, 5},
        {"n-layer", required_argument, 0, 6},  {"n-head", required_argument, 0, 7},
        {"n-head-kv", required_argument, 0, 8}, {"n-ff", required_argument, 0, 9},
        {"n-vocab", required_argument, 0, 10}, {"ctx", required_argument, 0, 11},
        {"untied", no_argument, 0, 12},        {"vocab", required_argument, 0, 13},
        {"seed", required_argument, 0, 14},    {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *C = "mkmodel", *out = NULL;
    struct mkmodel_params p = mkmodel_defaults();
    int64_t seed;
    int c, rc = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 1:
            if (!strcmp(optarg, "llama")) p.arch = MODEL_ARCH_LLAMA;
            else if (!strcmp(optarg, "bitnet-b1.58")) p.arch = MODEL_ARCH_BITNET_B158;
            else if (!strcmp(optarg, "bitnet")) p.arch = MODEL_ARCH_BITNET;
            else rc = bad_flag(C, "--arch: unknown architecture '%s'%s", optarg, "");
            break;
        case 2: rc = parse_type(C, "--type", optarg, &p.wtype); break;
        case 3: rc = parse_type(C, "--embd-type", optarg, &p.embd_type); break;
        case 4:
            if (mkmodel_shape(&p, optarg)) rc = bad_flag(C, "--shape: unknown shape '%s'%s", optarg, "");
            break;
        case 5: rc = parse_i32(C, "--n-embd", optarg, 2, 1 << 16, &p.n_embd); break;
        case 6: rc = parse_i32(C, "--n-layer", optarg, 1, 1024, &p.n_layer); break;
        case 7: rc = parse_i32(C, "--n-head", optarg, 1, 1024, &p.n_head); break;
        case 8: rc = parse_i32(C, "--n-head-kv", optarg, 1, 1024, &p.n_head_kv); break;
        case 9: rc = parse_i32(C, "--n-ff", optarg, 1, 1 << 18, &p.n_ff); break;
        case 10: rc = parse_i32(C, "--n-vocab", optarg, 1, 1 << 20, &p.n_vocab); break;
        case 11: rc = parse_i32(C, "--ctx", optarg, 1, 1 << 20, &p.n_ctx); break;
        case 12: p.tied_output = false; break;
        case 13: p.vocab_path = optarg; break;
        case 14: rc = parse_i64(C, "--seed", optarg, 0, INT64_MAX, &seed), p.seed = (uint64_t)seed; break;
        case 'h': mkmodel_usage(stdout); return 0;
        default: mkmodel_usage(stderr); return 2;
        }
        if (rc) return rc;
    }
    if (!out || optind < argc) return bad_flag(C, "missing -o FILE%s%s", "", "");
    if (p.arch == MODEL_ARCH_BITNET_B158) p.tied_output = true;
    char err[LF_ERRMSG_LEN] = "";
    rc = mkmodel_write(&p, out, err, sizeof err);
    if (rc) {
        fprintf(stderr, "lutfuse mkmodel: %s\n", err[0] ? err : lf_strerror(rc));
        return 1;
    }
    fprintf(stderr, "lutfuse mkmodel: wrote %s (%s, %s, hidden %d, %d layers)\n", out,
            model_arch_name(p.arch), quant_type_name(p.wtype), p.n_embd, p.n_layer);
    return 0;
}

/* ---- quantize ---- */

static void quantize_usage(FILE *f)
{
    fprintf(f, "usage: lutfuse quantize IN OUT TYPE [--embd-type T] [--output-type T]\n\n"
               "Convert the linear weights of IN to TYPE (TQ1_0, TQ2_0, I2_S, Q8_0, F16, ...;\n"
               "ternary types by BitNet's absmean rule) and write OUT. The embedding and the\n"
               "output head keep their type unless --embd-type / --output-type is given\n"
               "(llama.cpp's quantizer writes Q4_K and Q6_K there).\n");
}

int cmd_quantize(int argc, char **argv)
{
    static const struct option opts[] = {{"embd-type", required_argument, 0, 1},
                                         {"output-type", required_argument, 0, 2},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *C = "quantize";
    struct mkmodel_quantize_params p = {.embd_type = -1, .output_type = -1};
    enum quant_type t;
    int c, rc = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 1) rc = parse_type(C, "--embd-type", optarg, &t), p.embd_type = (int)t;
        else if (c == 2) rc = parse_type(C, "--output-type", optarg, &t), p.output_type = (int)t;
        else if (c == 'h') return quantize_usage(stdout), 0;
        else return quantize_usage(stderr), 2;
        if (rc) return rc;
    }
    if (argc - optind != 3) return quantize_usage(stderr), 2;
    if ((rc = parse_type(C, "TYPE", argv[optind + 2], &p.wtype))) return rc;
    char err[LF_ERRMSG_LEN] = "";
    rc = mkmodel_quantize(argv[optind], argv[optind + 1], &p, err, sizeof err);
    if (rc) {
        fprintf(stderr, "lutfuse quantize: %s\n", err[0] ? err : lf_strerror(rc));
        return 1;
    }
    return 0;
}

/* ---- bench ---- */

static void bench_usage(FILE *f)
{
    fprintf(f,
            "usage: lutfuse bench -m FILE [--prompt P] [--batch N] [--gen G] [--wave S] [--json]\n"
            "       lutfuse bench -m FILE --concurrency K [--rate R] [--max-concurrency C]\n"
            "                     [--prompt P] [--gen G]\n\n"
            "Without --concurrency: prefill one P-token prompt, then decode G steps with N\n"
            "sequences together (each with its own context, forked from the prompt); prints\n"
            "prefill tokens/s, aggregate decode tokens/s and peak memory, in steady state\n"
            "(KV pages mapped and buffers touched by one untimed pass first). With --wave S,\n"
            "then S copies of the prompt, each in its own slot, prefilled in one fused step\n"
            "(a burst of S requests, as the server runs it): median ms of 3 such steps, and\n"
            "whether every copy's logits equal the single prompt's.\n"
            "With --concurrency K: K requests (prompt P, output G, greedy, EOS ignored)\n"
            "through the scheduler, all at once or Poisson at --rate R per second; prints\n"
            "output tokens/s, TTFT and inter-token latency percentiles, the mean fused batch,\n"
            "and the same workload one request at a time (the fusion gain).\n"
            "Token ids are synthetic.\n\n"
            "  -m, --model FILE   GGUF model (required)\n"
            "      --prompt P     prompt tokens (default 64)\n"
            "      --batch N      sequences decoding together (default 1)\n"
            "      --gen G        decode steps (default 16)\n"
            "      --wave S       S prompts in one step (S x P <= 8192 rows; default 0: none)\n"
            "      --threads T    compute threads, pinned one per core (default: all cores)\n"
            "      --reference    the scalar reference path (no repacked kernels)\n"
            "      --profile      time each phase: of the prefill, per decode step, per wave step (ms)\n"
            "      --kv-type T    KV cache elements, f16 or f32 (default f16)\n"
            "      --json         one JSON object on stdout instead of text\n"
            "      --concurrency K, --rate R, --no-serial (skip the one-at-a-time run), --seed S\n"
            "      --max-concurrency C  closed loop: at most C requests in flight, the next one\n"
            "                     submitted when one finishes (as lutfuse-loadgen and vLLM's\n"
            "                     benchmark do; the scheduler gets C slots)\n");
}

static long peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib;
}

/* ---- bench --concurrency: K requests through the scheduler ---- */

struct sbench {
    int32_t K, P, G, threads;
    enum kv_type kv_type;
    int32_t max_inflight; /* closed loop: at most this many in flight (0: no limit) */
    double rate; /* requests/s, 0 = all at once */
    uint64_t seed;
};

struct sbench_result {
    double wall_s, output_tok_s, mean_batch;
    double ttft[3], itl[3]; /* p50, p90, p99 in ms */
    uint64_t steps;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* numpy-style linear interpolation percentile of sorted v[0..n). */
static double pct(const double *v, size_t n, double p)
{
    if (n == 0) return 0.0;
    double pos = p / 100.0 * (double)(n - 1);
    size_t i = (size_t)pos;
    return i + 1 < n ? v[i] + (pos - (double)i) * (v[i + 1] - v[i]) : v[n - 1];
}

static uint64_t sb_rand(uint64_t *st)
{
    *st = *st * 6364136223846793005ull + 1442695040888963407ull;
    return *st >> 11;
}

/* The driver sleeps until the scheduler publishes events (it shares a core
 * with compute worker 0 on small machines, so it must not poll). */
struct sb_wake {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t gen;
};

static void sb_notify(void *ctx)
{
    struct sb_wake *w = ctx;
    pthread_mutex_lock(&w->mu);
    w->gen++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Wait up to timeout_s for events after generation *seen. */
static void sb_wait(struct sb_wake *w, uint64_t *seen, double timeout_s)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    const long ns = (long)(timeout_s * 1e9);
    until.tv_sec += ns / 1000000000L;
    until.tv_nsec += ns % 1000000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&w->mu);
    if (w->gen == *seen) pthread_cond_timedwait(&w->cv, &w->mu, &until);
    *seen = w->gen;
    pthread_mutex_unlock(&w->mu);
}

/* Run K requests (all at once, or Poisson arrivals at b->rate) through a
 * scheduler with `slots` sequences; serial = one request at a time. */
static int sbench_run(const struct model *m, const struct sbench *b, bool serial,
                      struct sbench_result *out, char *err, size_t err_len)
{
    struct sched_config sc = sched_config_default();
    sc.n_slots = serial ? 1 : b->max_inflight > 0 && b->max_inflight < b->K ? b->max_inflight : b->K;
    sc.n_ctx = b->P + b->G + 1;
    if (sc.batch_tokens < sc.n_slots) sc.batch_tokens = sc.n_slots;
    sc.max_queue = b->K;
    sc.n_threads = b->threads;
    sc.kv_type = b->kv_type;
    struct sched *s = NULL;
    struct req **reqs = calloc((size_t)b->K, sizeof *reqs);
    double *ttft = malloc((size_t)b->K * sizeof *ttft);
    double *itl = malloc((size_t)b->K * (size_t)b->G * sizeof *itl);
    int32_t *prompt = malloc((size_t)b->P * sizeof *prompt);
    size_t n_itl = 0;
    int rc = reqs && ttft && itl && prompt ? 0 : LF_ERR_NOMEM;
    if (!rc) rc = sched_new(m, &sc, &s, err, err_len);
    if (!rc) rc = sched_start(s);
    uint64_t st = b->seed;
    struct req_params rp = {0};
    rp.sampling = sampler_params_default();
    rp.sampling.temperature = 0.0f;
    rp.max_tokens = b->G;
    rp.ignore_eos = true;
    struct sb_wake wake = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    uint64_t seen = 0;
    const double t0 = now_s();
    double next_arrival = t0;
    int32_t submitted = 0, done = 0, finished = 0;
    double *last_t = calloc((size_t)b->K, sizeof *last_t);
    bool *got_first = calloc((size_t)b->K, sizeof *got_first), *fin = calloc((size_t)b->K, sizeof *fin);
    if (!last_t || !got_first || !fin) rc = LF_ERR_NOMEM;
    const int32_t cap = serial ? 1 : b->max_inflight > 0 ? b->max_inflight : b->K;
    while (!rc && done < b->K) {
        /* submit what has arrived, at most cap in flight (serial: one) */
        while (submitted < b->K && submitted - finished < cap && now_s() >= next_arrival) {
            for (int32_t i = 0; i < b->P; i++)
                prompt[i] = i == 0 && tok_bos(m->tok) >= 0 ? tok_bos(m->tok)
                                                            : (int32_t)(sb_rand(&st) % (uint64_t)m->hp.n_vocab);
            if ((rc = req_new(prompt, b->P, &rp, &reqs[submitted], err, err_len))) break;
            req_set_notify(reqs[submitted], sb_notify, &wake);
            if ((rc = sched_submit(s, reqs[submitted], err, err_len))) break;
            submitted++;
            if (b->rate > 0)
                next_arrival += -log(1.0 - (double)(sb_rand(&st) % 1000000) / 1e6) / b->rate;
        }
        /* drain events; times come from the scheduler thread */
        bool idle = true;
        for (int32_t i = done; i < submitted; i++) {
            struct req_event ev;
            int r;
            while ((r = req_poll(reqs[i], &ev)) == 1) {
                idle = false;
                if (ev.token < 0) continue;
                if (!got_first[i]) ttft[i] = ev.t * 1e3, got_first[i] = true;
                else itl[n_itl++] = (ev.t - last_t[i]) * 1e3;
                last_t[i] = ev.t;
            }
            if (r == -1 && !fin[i]) fin[i] = true, finished++; /* drained and done */
        }
        while (done < submitted && req_finish_reason(reqs[done]) != REQ_RUNNING) {
            struct req_event ev;
            if (req_poll(reqs[done], &ev) != -1) break; /* drained next round */
            done++;
        }
        if (idle && done < b->K) {
            const double to_arrival = submitted < b->K ? next_arrival - now_s() : 0.1;
            sb_wait(&wake, &seen, to_arrival > 0.1 ? 0.1 : to_arrival > 0 ? to_arrival : 0.0005);
        }
    }
    const double wall = now_s() - t0;
    if (!rc) {
        struct sched_stats stats;
        sched_get_stats(s, &stats);
        qsort(ttft, (size_t)b->K, sizeof *ttft, cmp_double);
        qsort(itl, n_itl, sizeof *itl, cmp_double);
        out->wall_s = wall;
        out->output_tok_s = (double)b->K * b->G / wall;
        out->steps = stats.steps;
        out->mean_batch = stats.steps ? (double)(stats.decode_tokens + stats.prefill_tokens) / (double)stats.steps : 0;
        const double ps[3] = {50, 90, 99};
        for (int k = 0; k < 3; k++) {
            out->ttft[k] = pct(ttft, (size_t)b->K, ps[k]);
            out->itl[k] = pct(itl, n_itl, ps[k]);
        }
    }
    if (s) sched_stop(s, 0); /* no notify after this */
    for (int32_t i = 0; reqs && i < submitted; i++) req_unref(reqs[i]);
    sched_free(s);
    pthread_mutex_destroy(&wake.mu);
    pthread_cond_destroy(&wake.cv);
    free(reqs), free(ttft), free(itl), free(prompt), free(last_t), free(got_first), free(fin);
    return rc;
}

static int bench_concurrency(const char *path, const struct sbench *b, bool serial, bool json)
{
    char err[LF_ERRMSG_LEN] = "";
    struct model *m = NULL;
    struct sbench_result fused = {0}, one = {0};
    int rc = model_load(path, &m, err, sizeof err);
    if (!rc) rc = sbench_run(m, b, false, &fused, err, sizeof err);
    if (!rc && serial) rc = sbench_run(m, b, true, &one, err, sizeof err);
    if (rc) {
        fprintf(stderr, "lutfuse bench: %s\n", err[0] ? err : lf_strerror(rc));
        model_free(m);
        return 1;
    }
    const double gain = serial && one.output_tok_s > 0 ? fused.output_tok_s / one.output_tok_s : 0;
    if (json) {
        printf(
            "{\"model\":\"%s\",\"concurrency\":%d,\"max_concurrency\":%d,\"prompt\":%d,\"gen\":%d,"
            "\"threads\":%d,"
            "\"rate\":%g,\"output_tok_s\":%.3f,\"wall_s\":%.3f,\"steps\":%llu,\"mean_batch\":%.2f,"
            "\"ttft_ms\":{\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f},"
            "\"itl_ms\":{\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f},"
            "\"serial_output_tok_s\":%.3f,\"fusion_gain\":%.3f,\"isa\":\"%s\",\"kv_type\":\"%s\"}"
            "\n",
            path, b->K, b->max_inflight, b->P, b->G, b->threads, b->rate, fused.output_tok_s,
            fused.wall_s, (unsigned long long)fused.steps, fused.mean_batch, fused.ttft[0],
            fused.ttft[1], fused.ttft[2], fused.itl[0], fused.itl[1], fused.itl[2],
            one.output_tok_s, gain, kern_describe(), kv_type_name(b->kv_type));
    } else {
        printf("model %s (%s, hidden %d, %d layers), %d requests x (prompt %d, output %d), %s\n",
               path, m->arch_name, m->hp.n_embd, m->hp.n_layer, b->K, b->P, b->G,
               b->rate > 0 ? "Poisson arrivals" : "all at once");
        printf("fused:    %.1f output tok/s, %llu steps, mean batch %.1f rows\n", fused.output_tok_s,
               (unsigned long long)fused.steps, fused.mean_batch);
        printf("          TTFT ms p50 %.1f p90 %.1f p99 %.1f; ITL ms p50 %.2f p90 %.2f p99 %.2f\n",
               fused.ttft[0], fused.ttft[1], fused.ttft[2], fused.itl[0], fused.itl[1], fused.itl[2]);
        if (serial)
            printf("one at a time: %.1f output tok/s; fusion gain %.2fx\n", one.output_tok_s, gain);
    }
    model_free(m);
    return 0;
}

/* The phases' ms between two fwd_profile readings, per one of `steps`, as
 * "qkv 1.2, ..." or with json as "\"qkv\":1.200,...". */
static void profile_text(char *out, size_t len, const double a[FWD_PHASES],
                         const double b[FWD_PHASES], int32_t steps, bool json)
{
    size_t o = 0;
    for (int p = 0; p < FWD_PHASES && o < len; p++)
        o += (size_t)snprintf(out + o, len - o, json ? "%s\"%s\":%.3f" : "%s%s %.2f",
                              p ? (json ? "," : ", ") : "", fwd_phase_name((enum fwd_phase)p),
                              (b[p] - a[p]) * 1e3 / steps);
}

/* Rows of bench's wave step at most (each row needs about ten activation
 * rows of the model's widths in the forward pass's buffers). */
#define BENCH_WAVE_ROWS 8192

/* The synthetic token id at prompt position pos: the same in the warm-up
 * pass, the prefill and every copy of the wave, which the wave's exactness
 * check relies on. */
static int32_t bench_token(int32_t pos, int32_t V)
{
    return (int32_t)((uint32_t)pos * 2654435761u % (uint32_t)V);
}

/* Passes of bench's wave step: one untimed, then the timed ones. */
#define BENCH_WAVE_PASSES 4

/* bench --wave: n copies of the P-token prompt of bench's prefill (the same
 * token ids), copy s in slot s, in one fused step - a burst of n requests as
 * the scheduler runs it - once untimed, then 3 timed; *ms is the median.
 * Each copy's last row asks for logits, and *exact says whether every copy's
 * equal `single` (the prompt's logits from the prefill) bit for bit, as
 * batch invariance promises. */
static int bench_wave(struct fwd *f, struct kv_cache *kv, int32_t n, int32_t P, int32_t V,
                      struct fwd_row *rows, float *logits, const float *single, double *ms,
                      bool *exact, char *err, size_t err_len)
{
    for (int32_t s = 0; s < n; s++)
        for (int32_t p = 0; p < P; p++)
            rows[s * P + p] = (struct fwd_row){s, p, bench_token(p, V), p == P - 1 ? s : -1};
    double t[BENCH_WAVE_PASSES];
    for (int i = 0; i < BENCH_WAVE_PASSES; i++) {
        const double t0 = now_s();
        int rc = fwd_run(f, kv, rows, n * P, logits, err, err_len);
        if (rc) return rc;
        t[i] = now_s() - t0;
        for (int32_t s = 0; s < n; s++)
            if (memcmp(logits + (size_t)s * V, single, (size_t)V * sizeof *single)) *exact = false;
    }
    qsort(t + 1, BENCH_WAVE_PASSES - 1, sizeof *t, cmp_double); /* the timed ones */
    *ms = t[1 + (BENCH_WAVE_PASSES - 1) / 2] * 1e3;
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"prompt", required_argument, 0, 1},
        {"batch", required_argument, 0, 2},   {"gen", required_argument, 0, 3},
        {"threads", required_argument, 0, 4}, {"json", no_argument, 0, 5},
        {"reference", no_argument, 0, 6},     {"help", no_argument, 0, 'h'},
        {"concurrency", required_argument, 0, 7}, {"rate", required_argument, 0, 8},
        {"no-serial", no_argument, 0, 9},     {"seed", required_argument, 0, 10},
        {"profile", no_argument, 0, 11},      {"max-concurrency", required_argument, 0, 12},
        {"kv-type", required_argument, 0, 13}, {"wave", required_argument, 0, 14},
        {0, 0, 0, 0}};
    struct sbench sb = {.kv_type = KV_F16};
    bool serial = true;
    float rate = 0;
    int64_t seed = 1;
    const char *C = "bench", *path = NULL;
    int32_t n_prompt = 64, n_batch = 1, n_gen = 16, n_threads = 0, n_wave = 0;
    bool json = false, reference = false, profile = false;
    int c, rc = 0;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': path = optarg; break;
        case 1: rc = parse_i32(C, "--prompt", optarg, 1, 1 << 16, &n_prompt); break;
        case 2: rc = parse_i32(C, "--batch", optarg, 1, 1024, &n_batch); break;
        case 3: rc = parse_i32(C, "--gen", optarg, 1, 1 << 16, &n_gen); break;
        case 4: rc = parse_i32(C, "--threads", optarg, 1, 1024, &n_threads); break;
        case 5: json = true; break;
        case 6: reference = true; break;
        case 7: rc = parse_i32(C, "--concurrency", optarg, 1, 4096, &sb.K); break;
        case 8: rc = parse_f32(C, "--rate", optarg, 0.0f, 1e6f, &rate); break;
        case 9: serial = false; break;
        case 10: rc = parse_i64(C, "--seed", optarg, 0, INT64_MAX, &seed); break;
        case 11: profile = true; break;
        case 12: rc = parse_i32(C, "--max-concurrency", optarg, 1, 4096, &sb.max_inflight); break;
        case 13:
            if (kv_type_parse(optarg, &sb.kv_type))
                rc = bad_flag(C, "--kv-type wants f16 or f32, got '%s'%s", optarg, "");
            break;
        case 14: rc = parse_i32(C, "--wave", optarg, 0, 4096, &n_wave); break;
        case 'h': bench_usage(stdout); return 0;
        default: bench_usage(stderr); return 2;
        }
        if (rc) return rc;
    }
    if (!path || optind < argc) return bad_flag(C, "missing -m FILE%s%s", "", "");
    if ((int64_t)n_wave * n_prompt > BENCH_WAVE_ROWS) {
        char what[96];
        snprintf(what, sizeof what, "%d x %d rows; one step takes at most %d", n_wave, n_prompt,
                 BENCH_WAVE_ROWS);
        return bad_flag(C, "--wave x --prompt is %s%s", what, "");
    }
    if (sb.K > 0) {
        sb.P = n_prompt, sb.G = n_gen, sb.threads = n_threads, sb.rate = rate, sb.seed = (uint64_t)seed;
        return bench_concurrency(path, &sb, serial, json);
    }
    char err[LF_ERRMSG_LEN] = "";
    struct model *m = NULL;
    struct kv_cache *kv = NULL;
    struct fwd *f = NULL;
    struct fwd_row *rows = NULL;
    float *logits = NULL, *single = NULL;
    int exit_code = 1;
    const int32_t n_ctx = n_prompt + n_gen, chunk = n_prompt < 512 ? n_prompt : 512;
    const int32_t wave_rows = n_wave * n_prompt, n_slots = n_wave > n_batch ? n_wave : n_batch;
    int32_t max_rows = chunk > n_batch ? chunk : n_batch;
    if (wave_rows > max_rows) max_rows = wave_rows;
    if ((rc = model_load(path, &m, err, sizeof err))) goto fail;
    if ((rc = kv_new(n_slots, n_ctx, m->hp.n_layer, m->hp.n_head_kv, m->hp.head_dim, sb.kv_type,
                     &kv, err, sizeof err)))
        goto fail;
    struct fwd_options fo = {n_threads, reference, profile};
    if ((rc = fwd_new(m, max_rows, n_ctx, &fo, &f, err, sizeof err))) goto fail;
    n_threads = fwd_n_threads(f);
    rows = malloc((size_t)max_rows * sizeof *rows);
    logits = malloc((size_t)n_slots * m->hp.n_vocab * sizeof *logits);
    single = malloc((size_t)m->hp.n_vocab * sizeof *single);
    if (!rows || !logits || !single) {
        rc = lf_errf(err, sizeof err, LF_ERR_NOMEM, "out of memory");
        goto fail;
    }
    const int32_t V = m->hp.n_vocab;
    /* Steady state, as in a server whose slots have been used: the KV pages
     * are mapped in and one untimed pass of the first prompt chunk has
     * touched the forward pass's buffers (its KV rows are rewritten with the
     * same values below). */
    memset(kv->data, 0, kv->bytes);
    for (int32_t j = 0; j < chunk; j++)
        rows[j] = (struct fwd_row){0, j, bench_token(j, V), j == chunk - 1 ? 0 : -1};
    if ((rc = fwd_run(f, kv, rows, chunk, logits, err, sizeof err))) goto fail;
    double warm[FWD_PHASES];
    fwd_profile(f, warm);
    double t0 = now_s();
    for (int32_t i = 0; i < n_prompt && !rc; i += chunk) {
        int32_t n = n_prompt - i < chunk ? n_prompt - i : chunk;
        for (int32_t j = 0; j < n; j++)
            rows[j] = (struct fwd_row){0, i + j, bench_token(i + j, V), -1};
        rows[n - 1].logits = i + n == n_prompt ? 0 : -1;
        rc = fwd_run(f, kv, rows, n, logits, err, sizeof err);
    }
    double t1 = now_s();
    if (!rc) memcpy(single, logits, (size_t)V * sizeof *single);
    double prof0[FWD_PHASES], prof1[FWD_PHASES];
    fwd_profile(f, prof0);
    for (int32_t s = 1; s < n_batch; s++) kv_copy_prefix(kv, 0, s, n_prompt);
    double t2 = now_s();
    for (int32_t g = 0; g < n_gen && !rc; g++) {
        for (int32_t s = 0; s < n_batch; s++)
            rows[s] = (struct fwd_row){s, n_prompt + g, (int32_t)((uint32_t)(s * 7919 + g) % (uint32_t)V), s};
        rc = fwd_run(f, kv, rows, n_batch, logits, err, sizeof err);
    }
    double t3 = now_s();
    if (rc) goto fail;
    fwd_profile(f, prof1);
    double wave_ms = 0, prof2[FWD_PHASES];
    bool wave_exact = true;
    if (n_wave > 0 && (rc = bench_wave(f, kv, n_wave, n_prompt, V, rows, logits, single, &wave_ms,
                                       &wave_exact, err, sizeof err)))
        goto fail;
    fwd_profile(f, prof2);
    const double wave_tok_s = n_wave > 0 ? wave_rows / (wave_ms / 1e3) : 0;
    char wave_json[160] = "";
    if (n_wave > 0)
        snprintf(wave_json, sizeof wave_json,
                 ",\"wave_prompts\":%d,\"wave_ms\":%.3f,\"wave_tok_s\":%.3f,\"wave_exact\":%s",
                 n_wave, wave_ms, wave_tok_s, wave_exact ? "true" : "false");
    /* with --profile: ms per decode step, of the whole prefill, per wave step */
    char prof_text[1024] = "", pre_text[1024] = "", wave_text[1024] = "";
    if (profile) {
        profile_text(prof_text, sizeof prof_text, prof0, prof1, n_gen, json);
        profile_text(pre_text, sizeof pre_text, warm, prof0, 1, json);
        profile_text(wave_text, sizeof wave_text, prof1, prof2, BENCH_WAVE_PASSES, json);
    }
    const double prefill = n_prompt / (t1 - t0), decode = (double)n_batch * n_gen / (t3 - t2);
    const double rss = peak_rss_kib() / 1024.0, file = (double)gguf_file_size(m->gguf) / (1 << 20);
    char lut_min[16] = "null"; /* Vec-LUT from this many tokens; null: never */
    if (kern_ops()->vlut_lut_min != VLUT_LUT_NEVER)
        snprintf(lut_min, sizeof lut_min, "%d", kern_ops()->vlut_lut_min);
    if (json) {
        printf("{\"model\":\"%s\",\"arch\":\"%s\",\"n_embd\":%d,\"n_layer\":%d,\"threads\":%d,"
               "\"prompt\":%d,\"batch\":%d,\"gen\":%d,\"prefill_tok_s\":%.3f,\"decode_tok_s\":%.3f,"
               "\"peak_rss_mib\":%.1f,\"file_mib\":%.1f,\"path\":\"%s\",\"isa\":\"%s\",\"kv_type\":"
               "\"%s\",\"lut_min_tokens\":%s"
               "%s%s%s%s%s%s%s%s%s%s}\n",
               path, m->arch_name, m->hp.n_embd, m->hp.n_layer, n_threads, n_prompt, n_batch, n_gen,
               prefill, decode, rss, file, reference ? "reference" : "kernels", kern_describe(),
               kv_type_name(kv->type), lut_min, profile ? ",\"decode_ms_per_step\":{" : "", prof_text,
               profile ? "}" : "", profile ? ",\"prefill_ms\":{" : "", pre_text,
               profile ? "}" : "", wave_json, profile && n_wave > 0 ? ",\"wave_ms_per_step\":{" : "",
               wave_text, profile && n_wave > 0 ? "}" : "");
    } else {
        printf("model %s (%s, hidden %d, %d layers), %d threads, %s path (%s), %s KV\n", path,
               m->arch_name, m->hp.n_embd, m->hp.n_layer, n_threads,
               reference ? "reference" : "kernel", kern_describe(), kv_type_name(kv->type));
        printf("binding: %s\n", fwd_binding(f));
        if (!reference) printf("ternary: %s\n", kern_tune_describe());
        printf("prefill: %d tokens in %.3f s = %.2f tok/s\n", n_prompt, t1 - t0, prefill);
        printf("decode:  %d sequences x %d steps in %.3f s = %.2f tok/s aggregate\n", n_batch, n_gen,
               t3 - t2, decode);
        if (n_wave > 0)
            printf("wave:    %d prompts x %d tokens in one step: %.1f ms = %.2f tok/s (median of 3;"
                   " every prompt's logits equal the single prompt's: %s)\n",
                   n_wave, n_prompt, wave_ms, wave_tok_s, wave_exact ? "yes" : "NO");
        printf("memory:  peak RSS %.1f MiB, model file %.1f MiB\n", rss, file);
        if (profile) printf("prefill ms:         %s\ndecode ms per step: %s\n", pre_text, prof_text);
        if (profile && n_wave > 0) printf("wave ms per step:   %s\n", wave_text);
    }
    exit_code = 0;
fail:
    if (exit_code) fprintf(stderr, "lutfuse bench: %s\n", err[0] ? err : lf_strerror(rc));
    free(logits);
    free(single);
    free(rows);
    fwd_free(f);
    kv_free(kv);
    model_free(m);
    return exit_code;
}
