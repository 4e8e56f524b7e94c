/* test_model.c - model loading and the reference forward pass against
 * third-party reference outputs, format equivalence and batch invariance. */
#include "tests/testutil.h"

#include "engine/forward.h"
#include "engine/kv.h"
#include "engine/mkmodel.h"
#include "engine/model.h"
#include "engine/status.h"
#include "engine/tokenizer.h"
#include "kernels/kernels.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STORIES "models/stories260K.gguf"

static struct model *load(const char *path)
{
    char err[LF_ERRMSG_LEN] = "";
    struct model *m = NULL;
    int rc = model_load(path, &m, err, sizeof err);
    if (rc) fail_msg("model_load(%s): %s", path, err);
    return m;
}

static struct model *load_data(const char *rel)
{
    char *p = tu_data_path(rel);
    struct model *m = load(p);
    free(p);
    return m;
}

static int32_t argmax(const float *v, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* A single-sequence greedy run: prefill ids[0..n_prompt) in one call, then
 * n_gen decode steps; ids gets the generated tokens appended. */
static void greedy(const struct model *m, int32_t *ids, int32_t n_prompt, int32_t n_gen,
                   enum kv_type kv_type)
{
    char err[LF_ERRMSG_LEN] = "";
    struct kv_cache *kv;
    struct fwd *f;
    assert_int_equal(kv_new(1, 512, m->hp.n_layer, m->hp.n_head_kv, m->hp.head_dim, kv_type, &kv, err, sizeof err), 0);
    assert_int_equal(fwd_new(m, 64, 512, NULL, &f, err, sizeof err), 0);
    float *logits = malloc((size_t)m->hp.n_vocab * sizeof *logits);
    struct fwd_row rows[64];
    assert_true(n_prompt <= 64);
    for (int32_t i = 0; i < n_prompt; i++) rows[i] = (struct fwd_row){0, i, ids[i], i == n_prompt - 1 ? 0 : -1};
    assert_int_equal(fwd_run(f, kv, rows, n_prompt, logits, err, sizeof err), 0);
    for (int32_t g = 0; g < n_gen; g++) {
        int32_t pos = n_prompt + g;
        ids[pos] = argmax(logits, m->hp.n_vocab);
        if (g + 1 < n_gen) {
            struct fwd_row r = {0, pos, ids[pos], 0};
            int rc = fwd_run(f, kv, &r, 1, logits, err, sizeof err);
            if (rc) fail_msg("fwd_run: %s", err);
        }
    }
    free(logits);
    fwd_free(f);
    kv_free(kv);
}

static int32_t *json_ids(json_t *arr, size_t *n)
{
    *n = json_array_size(arr);
    int32_t *ids = malloc((*n + 1) * sizeof *ids);
    for (size_t i = 0; i < *n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return ids;
}

/* Every prompt of the llama2.c / llama.cpp reference: our tokenization equals
 * prompt_ids and greedy generation equals llama.cpp's ids token for token
 * (llama2.c's ids are a prefix of those: it stops at BOS), with the KV cache
 * in f32 and in f16. */
static void check_greedy_reference(enum kv_type kv_type)
{
    struct model *m = load_data(STORIES);
    char *path = tu_data_path("reference/stories260K-greedy.json");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    free(path);
    assert_non_null(root);
    json_t *cases = json_object_get(root, "cases");
    assert_int_equal(json_array_size(cases), 6);
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *jc = json_array_get(cases, c);
        const char *prompt = json_string_value(json_object_get(jc, "prompt"));
        size_t n_prompt, n_ref, n_l2c;
        int32_t *want_prompt = json_ids(json_object_get(jc, "prompt_ids"), &n_prompt);
        int32_t *want = json_ids(json_object_get(jc, "llama_cpp_gen_ids"), &n_ref);
        int32_t *l2c = json_ids(json_object_get(jc, "gen_ids"), &n_l2c);
        int32_t *ids = malloc((n_prompt + n_ref + 1) * sizeof *ids);
        size_t n = 0;
        assert_int_equal(tok_encode(m->tok, prompt, strlen(prompt), true, false, ids, n_prompt + n_ref, &n), 0);
        assert_int_equal(n, n_prompt);
        assert_memory_equal(ids, want_prompt, n * sizeof *ids);
        greedy(m, ids, (int32_t)n_prompt, (int32_t)n_ref, kv_type);
        for (size_t i = 0; i < n_ref; i++)
            if (ids[n_prompt + i] != want[i])
                fail_msg("%s KV, case %zu ('%s'): token %zu is %d, reference %d",
                         kv_type_name(kv_type), c, prompt, i, ids[n_prompt + i], want[i]);
        assert_memory_equal(ids + n_prompt, l2c, n_l2c * sizeof *ids);
        free(ids);
        free(want);
        free(l2c);
        free(want_prompt);
    }
    json_decref(root);
    model_free(m);
}

static void test_stories_greedy_matches_reference(void **state)
{
    (void)state;
    check_greedy_reference(KV_F32);
    check_greedy_reference(KV_F16);
}

static const int32_t once16[16] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426};

static void check_logits_llama2c(enum kv_type kv_type, float tol)
{
    struct model *m = load_data(STORIES);
    char *path = tu_data_path("reference/stories260K-logits-once16.f32");
    size_t len;
    float *ref = (float *)tu_read_file(path, &len);
    free(path);
    assert_non_null(ref);
    assert_int_equal(len, 16 * 512 * sizeof(float));
    char err[LF_ERRMSG_LEN];
    struct kv_cache *kv;
    struct fwd *f;
    assert_int_equal(kv_new(1, 512, m->hp.n_layer, m->hp.n_head_kv, m->hp.head_dim, kv_type, &kv, err, sizeof err), 0);
    assert_int_equal(fwd_new(m, 16, 512, NULL, &f, err, sizeof err), 0);
    struct fwd_row rows[16];
    for (int i = 0; i < 16; i++) rows[i] = (struct fwd_row){0, i, once16[i], i};
    float *logits = malloc(16 * 512 * sizeof *logits);
    assert_int_equal(fwd_run(f, kv, rows, 16, logits, err, sizeof err), 0);
    float maxdiff = 0;
    for (int i = 0; i < 16 * 512; i++) maxdiff = fmaxf(maxdiff, fabsf(logits[i] - ref[i]));
    print_message("stories260K logits, %s KV: max |ours - llama2.c| = %.3g\n",
                  kv_type_name(kv_type), maxdiff);
    assert_true(maxdiff < tol);
    for (int p = 0; p + 1 < 16; p++) assert_int_equal(argmax(logits + p * 512, 512), once16[p + 1]);
    free(logits);
    free(ref);
    fwd_free(f);
    kv_free(kv);
    model_free(m);
}

/* Logits of all 16 rows in one call within 1e-4 of llama2.c's exact f32 run;
 * with the f16 KV cache (K and V rounded to 11 significant bits) within 0.05
 * (0.013 measured). */
static void test_stories_logits_match_llama2c(void **state)
{
    (void)state;
    check_logits_llama2c(KV_F32, 1e-4f);
    check_logits_llama2c(KV_F16, 0.05f);
}

/* Run sequence A (ids a[0..n)) four ways and require bit-identical logits:
 * one row per call; all rows in one call; interleaved with sequence B's rows
 * in calls of varying width, A's rows at varying places in the batch; and as
 * a prompt: a call where no row wants logits, one where only the last does,
 * then the last row alone, which attends over keys and values the others
 * stored (the forward pass skips the last layer past KV for such rows). */
static void check_batch_invariance(const struct model *m, const int32_t *a, const int32_t *b, int n)
{
    char err[LF_ERRMSG_LEN];
    const int32_t V = m->hp.n_vocab;
    struct kv_cache *kv;
    struct fwd *f;
    assert_int_equal(kv_new(4, 64, m->hp.n_layer, m->hp.n_head_kv, m->hp.head_dim, KV_F32, &kv, err, sizeof err), 0);
    assert_int_equal(fwd_new(m, 2 * n, 64, NULL, &f, err, sizeof err), 0);
    float *one = malloc((size_t)n * V * sizeof(float));
    float *all = malloc((size_t)n * V * sizeof(float));
    float *mixed = malloc((size_t)2 * n * V * sizeof(float));
    struct fwd_row *rows = malloc((size_t)2 * n * sizeof *rows);

    for (int i = 0; i < n; i++) {
        struct fwd_row r = {0, i, a[i], 0};
        assert_int_equal(fwd_run(f, kv, &r, 1, one + (size_t)i * V, err, sizeof err), 0);
    }
    for (int i = 0; i < n; i++) rows[i] = (struct fwd_row){1, i, a[i], i};
    assert_int_equal(fwd_run(f, kv, rows, n, all, err, sizeof err), 0);
    assert_memory_equal(one, all, (size_t)n * V * sizeof(float));

    /* Mixed: B (slot 0, overwritten) leads in the first call, then chunks of
     * growing width alternate rows of A (slot 2) and B. */
    int ia = 0, ib = 0, width = 1;
    while (ia < n) {
        int k = 0, outs = 0, a_first = ia;
        for (int j = 0; j < width && (ia < n || ib < n); j++) {
            bool take_b = (j % 2 == 0 && ib < n) || ia >= n;
            if (take_b) rows[k++] = (struct fwd_row){0, ib, b[ib], -1}, ib++;
            else rows[k] = (struct fwd_row){2, ia, a[ia], outs}, outs++, k++, ia++;
        }
        assert_int_equal(fwd_run(f, kv, rows, k, mixed, err, sizeof err), 0);
        assert_memory_equal(mixed, one + (size_t)a_first * V, (size_t)(ia - a_first) * V * sizeof(float));
        width++;
    }

    /* As a prompt, in slot 3: rows [0, h) without logits, rows [h, n-1)
     * with logits only on the last, then row n-1. */
    const int h = n / 2;
    for (int i = 0; i < h; i++) rows[i] = (struct fwd_row){3, i, a[i], -1};
    assert_int_equal(fwd_run(f, kv, rows, h, mixed, err, sizeof err), 0);
    for (int i = h; i < n - 1; i++) rows[i - h] = (struct fwd_row){3, i, a[i], i == n - 2 ? 0 : -1};
    assert_int_equal(fwd_run(f, kv, rows, n - 1 - h, mixed, err, sizeof err), 0);
    assert_memory_equal(mixed, one + (size_t)(n - 2) * V, (size_t)V * sizeof(float));
    rows[0] = (struct fwd_row){3, n - 1, a[n - 1], 0};
    assert_int_equal(fwd_run(f, kv, rows, 1, mixed, err, sizeof err), 0);
    assert_memory_equal(mixed, one + (size_t)(n - 1) * V, (size_t)V * sizeof(float));
    free(rows);
    free(mixed);
    free(all);
    free(one);
    fwd_free(f);
    kv_free(kv);
}

static void test_stories_batch_invariance(void **state)
{
    (void)state;
    struct model *m = load_data(STORIES);
    const int32_t b[16] = {1, 365, 271, 300, 401, 267, 298, 411, 263, 268, 500, 311, 299, 280, 302, 400};
    check_batch_invariance(m, once16, b, 16);
    model_free(m);
}

/* A small synthetic model of arch/type (F16 embedding), written to a temp file. */
static char *synth_embd(enum model_arch arch, enum quant_type t, enum quant_type embd, const char *name)
{
    struct mkmodel_params p = mkmodel_defaults();
    p.arch = arch;
    p.wtype = t;
    p.embd_type = embd;
    p.n_embd = 256, p.n_layer = 2, p.n_head = 4, p.n_head_kv = 2, p.n_ff = 512, p.n_ctx = 128;
    p.n_vocab = 400;
    p.seed = 42;
    p.tied_output = arch == MODEL_ARCH_BITNET_B158;
    char *path = tu_tmp_path(name);
    char err[LF_ERRMSG_LEN] = "";
    int rc = mkmodel_write(&p, path, err, sizeof err);
    if (rc) fail_msg("mkmodel_write %s: %s", name, err);
    return path;
}

static char *synth(enum model_arch arch, enum quant_type t, const char *name)
{
    return synth_embd(arch, t, QT_F16, name);
}

/* Logits of 12 rows (one call) for a synthetic model. */
static float *synth_logits(const char *path, int32_t *n_vocab)
{
    struct model *m = load(path);
    char err[LF_ERRMSG_LEN];
    struct kv_cache *kv;
    struct fwd *f;
    assert_int_equal(kv_new(1, 64, m->hp.n_layer, m->hp.n_head_kv, m->hp.head_dim, KV_F32, &kv, err, sizeof err), 0);
    assert_int_equal(fwd_new(m, 12, 64, NULL, &f, err, sizeof err), 0);
    struct fwd_row rows[12];
    for (int i = 0; i < 12; i++) rows[i] = (struct fwd_row){0, i, (i * 37 + 5) % 350, i};
    float *logits = malloc((size_t)12 * m->hp.n_vocab * sizeof *logits);
    assert_int_equal(fwd_run(f, kv, rows, 12, logits, err, sizeof err), 0);
    *n_vocab = m->hp.n_vocab;
    fwd_free(f);
    kv_free(kv);
    model_free(m);
    return logits;
}

/* The same ternary weights as TQ1_0, TQ2_0 and I2_S: identical logits - the
 * weights are identical and so is the arithmetic. */
static void check_formats_agree(enum model_arch arch)
{
    static const enum quant_type types[] = {QT_TQ2_0, QT_TQ1_0, QT_I2_S};
    int n_types = 3;
    float *base = NULL;
    int32_t V = 0;
    for (int i = 0; i < n_types; i++) {
        char name[64];
        snprintf(name, sizeof name, "fmt-%d-%s.gguf", (int)arch, quant_type_name(types[i]));
        char *path = synth(arch, types[i], name);
        int32_t v;
        float *lg = synth_logits(path, &v);
        if (!base) {
            base = lg, V = v;
            /* guard against a degenerate model: logits must vary */
            assert_true(fabsf(lg[0] - lg[1]) > 1e-6f || fabsf(lg[1] - lg[2]) > 1e-6f);
        } else {
            assert_int_equal(v, V);
            if (memcmp(base, lg, (size_t)12 * V * sizeof(float)) != 0)
                fail_msg("%s logits differ from TQ2_0 on %s", quant_type_name(types[i]),
                         model_arch_name(arch));
            free(lg);
        }
        free(path);
    }
    free(base);
}

static void test_formats_agree_llama(void **state)
{
    (void)state;
    check_formats_agree(MODEL_ARCH_LLAMA);
}

static void test_formats_agree_bitnet(void **state)
{
    (void)state;
    check_formats_agree(MODEL_ARCH_BITNET_B158);
}

static void test_synthetic_batch_invariance(void **state)
{
    (void)state;
    char *path = synth(MODEL_ARCH_BITNET_B158, QT_I2_S, "inv.gguf");
    struct model *m = load(path);
    int32_t a[10], b[10];
    for (int i = 0; i < 10; i++) a[i] = (i * 31 + 7) % 350, b[i] = (i * 17 + 3) % 350;
    check_batch_invariance(m, a, b, 10);
    model_free(m);
    free(path);
}

/* Logits of `n` rows of one sequence in one call, through the reference path
 * or the kernels with `threads` threads. */
static float *path_logits(const struct model *m, int n, bool reference, int threads)
{
    char err[LF_ERRMSG_LEN];
    struct kv_cache *kv;
    struct fwd *f;
    struct fwd_options o = {threads, reference, false};
    assert_int_equal(kv_new(1, 128, m->hp.n_layer, m->hp.n_head_kv, m->hp.head_dim, KV_F32, &kv, err, sizeof err), 0);
    assert_int_equal(fwd_new(m, n, 128, &o, &f, err, sizeof err), 0);
    struct fwd_row rows[128];
    assert_true(n <= 128);
    for (int i = 0; i < n; i++) rows[i] = (struct fwd_row){0, i, (i * 37 + 5) % 350, i};
    float *logits = malloc((size_t)n * m->hp.n_vocab * sizeof *logits);
    assert_int_equal(fwd_run(f, kv, rows, n, logits, err, sizeof err), 0);
    fwd_free(f);
    kv_free(kv);
    return logits;
}

/* The kernel path (every ISA this CPU has, 1 to 3 threads, batch widths on
 * both sides of the LUT/multiply-add crossover, and a LUT tile plus a
 * multiply-add remainder) gives the reference path's
 * logits bit for bit, on synthetic llama, bitnet-b1.58 and bitnet models of
 * every ternary type. (F32 head: it stays on the float path; see the q8 head test.) */
static void test_kernels_match_reference(void **state)
{
    (void)state;
    static const enum model_arch archs[] = {MODEL_ARCH_LLAMA, MODEL_ARCH_BITNET_B158, MODEL_ARCH_BITNET};
    static const enum quant_type types[] = {QT_TQ2_0, QT_TQ1_0, QT_I2_S};
    /* ref: 40 = a LUT tile + 8 by MAD, 58 = a LUT tile + 26, 70 = two LUT
     * tiles + 6 by MAD; AVX2 (LUT from 128 tokens): 128 = four LUT tiles
     * (the context's length), the narrower ones in 32-token MAD blocks;
     * AVX-512 (no LUT): all in 32-token MAD blocks */
    static const int widths[] = {1, 12, 40, 58, 70, 128};
    char err[LF_ERRMSG_LEN];
    for (size_t a = 0; a < 3; a++)
        for (size_t t = 0; t < 3; t++) {
            char name[64];
            snprintf(name, sizeof name, "kern-%zu-%zu.gguf", a, t);
            char *path = synth_embd(archs[a], types[t], QT_F32, name);
            enum { NW = sizeof widths / sizeof *widths };
            float *ref[NW] = {0};
            /* The model is loaded once per ISA: the layouts built are the
             * ones that ISA's kernel choice uses (the multiply-add weights
             * in panels on AVX2 and AVX-512, and on AVX-512 no Vec-LUT copy). */
            for (int isa = 0; isa < KERN_ISA_COUNT; isa++) {
                if (!kern_isa_supported((enum kern_isa)isa)) continue;
                assert_int_equal(kern_set_isa((enum kern_isa)isa, err, sizeof err), 0);
                struct model *m = load(path);
                assert_int_equal(m->n_repacked, 14);
                assert_null(m->head_q8.q);
                assert_true(m->hp.int8_activations);
                const struct vlut_weights *vl = &m->layers[0].wq.vl;
                if (isa == KERN_ISA_REF) { /* the reference ISA has no panel kernel */
                    assert_non_null(vl->lut);
                    assert_non_null(vl->mad);
                    assert_null(vl->panel);
                } else {
                    assert_true((vl->lut != NULL) == (isa == KERN_ISA_AVX2));
                    assert_null(vl->mad);
                    assert_non_null(vl->panel);
                }
                for (size_t wi = 0; wi < NW; wi++) {
                    const int n = widths[wi];
                    if (!ref[wi]) ref[wi] = path_logits(m, n, true, 1);
                    /* 3 threads on 2 cores: the region chunks shared out
                     * three ways, as the workers come for them */
                    for (int th = 1; th <= 3; th++) {
                        float *got = path_logits(m, n, false, th);
                        if (memcmp(ref[wi], got, (size_t)n * m->hp.n_vocab * sizeof(float)))
                            fail_msg("%s %s N=%d isa %s threads %d: kernels differ from reference",
                                     model_arch_name(archs[a]), quant_type_name(types[t]), n,
                                     kern_isa_name((enum kern_isa)isa), th);
                        free(got);
                    }
                }
                model_free(m);
            }
            /* AVX-512 with the Vec-LUT from 32 tokens, as kern_tune picks it
             * on a machine where the LUT measures faster: the LUT copy is
             * built and the batches of 32 tokens and more start with LUT
             * tiles. */
            if (kern_isa_supported(KERN_ISA_AVX512)) {
                assert_int_equal(kern_set_isa(KERN_ISA_AVX512, err, sizeof err), 0);
                assert_int_equal(setenv("LUTFUSE_LUT_MIN", "32", 1), 0);
                assert_int_equal(kern_tune(err, sizeof err), 0);
                unsetenv("LUTFUSE_LUT_MIN");
                struct model *m = load(path);
                assert_non_null(m->layers[0].wq.vl.lut);
                assert_non_null(m->layers[0].wq.vl.panel);
                for (size_t wi = 0; wi < NW; wi++) {
                    const int n = widths[wi];
                    if (n < 32) continue;
                    for (int th = 1; th <= 2; th++) {
                        float *got = path_logits(m, n, false, th);
                        if (memcmp(ref[wi], got, (size_t)n * m->hp.n_vocab * sizeof(float)))
                            fail_msg("%s %s N=%d avx512 with the LUT threads %d: kernels differ "
                                     "from reference",
                                     model_arch_name(archs[a]), quant_type_name(types[t]), n, th);
                        free(got);
                    }
                }
                model_free(m);
            }
            for (size_t wi = 0; wi < NW; wi++)
                free(ref[wi]);
            assert_int_equal(kern_init(err, sizeof err), 0);
            free(path);
        }
}

/* A quantized head (F16, Q6_K) goes through the int8 block kernel: logits
 * within a stated tolerance of the reference, the same argmax on these
 * rows, and bit-identical across ISAs and thread counts. */
static void test_q8_head_tolerance(void **state)
{
    (void)state;
    static const enum quant_type heads[] = {QT_F16, QT_Q6_K};
    char err[LF_ERRMSG_LEN];
    for (size_t h = 0; h < 2; h++) {
        char name[64];
        snprintf(name, sizeof name, "head-%zu.gguf", h);
        char *path = synth_embd(MODEL_ARCH_BITNET_B158, QT_TQ2_0, heads[h], name);
        struct model *m = load(path);
        assert_non_null(m->head_q8.q);
        const int n = 24, V = m->hp.n_vocab;
        float *ref = path_logits(m, n, true, 1);
        float *got = path_logits(m, n, false, 2);
        float maxdiff = 0, range = 0;
        for (int i = 0; i < n * V; i++) {
            maxdiff = fmaxf(maxdiff, fabsf(ref[i] - got[i]));
            range = fmaxf(range, fabsf(ref[i]));
        }
        print_message("%s head: max |q8 - reference| = %.4g (max |logit| %.3g)\n",
                      quant_type_name(heads[h]), maxdiff, range);
        /* int8 blocks carry ~1/254 relative error per weight and activation */
        assert_true(maxdiff < 0.02f * range);
        for (int r = 0; r < n; r++) assert_int_equal(argmax(ref + r * V, V), argmax(got + r * V, V));
        for (int isa = 0; isa < KERN_ISA_COUNT; isa++) {
            if (!kern_isa_supported((enum kern_isa)isa)) continue;
            assert_int_equal(kern_set_isa((enum kern_isa)isa, err, sizeof err), 0);
            float *again = path_logits(m, n, false, 1);
            assert_memory_equal(again, got, (size_t)n * V * sizeof(float));
            free(again);
        }
        assert_int_equal(kern_init(err, sizeof err), 0);
        free(ref), free(got);
        model_free(m);
        free(path);
    }
}

/* A sequence forked with kv_copy_prefix continues exactly as the original:
 * slot 2 gets slot 0's first n positions (slot 1, between them, holds
 * another sequence), then both take the same next token in one batch and
 * must give the same logits. stories260K has 4 KV heads of 8 query heads,
 * so a copy or an address that mixed up the per-head blocks would differ. */
static void test_kv_fork(void **state)
{
    (void)state;
    struct model *m = load_data(STORIES);
    char err[LF_ERRMSG_LEN] = "";
    struct kv_cache *kv;
    struct fwd *f;
    assert_true(m->hp.n_head_kv > 1);
    assert_int_equal(kv_new(3, 32, m->hp.n_layer, m->hp.n_head_kv, m->hp.head_dim, KV_F32, &kv, err, sizeof err), 0);
    assert_int_equal(fwd_new(m, 18, 32, NULL, &f, err, sizeof err), 0);
    const int32_t V = m->hp.n_vocab, n = 9;
    float *logits = malloc(2 * (size_t)V * sizeof *logits);
    struct fwd_row rows[2 * 9];
    for (int32_t i = 0; i < n; i++) {
        rows[i] = (struct fwd_row){0, i, 1 + 37 * i % 400, -1};
        rows[n + i] = (struct fwd_row){1, i, 2 + 53 * i % 300, -1};
    }
    assert_int_equal(fwd_run(f, kv, rows, 2 * n, logits, err, sizeof err), 0);
    kv_copy_prefix(kv, 0, 2, n);
    rows[0] = (struct fwd_row){0, n, 77, 0};
    rows[1] = (struct fwd_row){2, n, 77, 1};
    assert_int_equal(fwd_run(f, kv, rows, 2, logits, err, sizeof err), 0);
    assert_memory_equal(logits, logits + V, (size_t)V * sizeof *logits);
    /* and slot 1's different sequence gives different logits */
    rows[1] = (struct fwd_row){1, n, 77, 1};
    rows[0] = (struct fwd_row){0, n + 1, 78, 0};
    assert_int_equal(fwd_run(f, kv, rows, 2, logits, err, sizeof err), 0);
    assert_true(memcmp(logits, logits + V, (size_t)V * sizeof *logits) != 0);
    struct kv_cache *bad = NULL;
    assert_int_equal(kv_new(1, 32, 2, 0, 8, KV_F32, &bad, err, sizeof err), LF_ERR_INVALID);
    assert_null(bad);
    free(logits);
    fwd_free(f);
    kv_free(kv);
    model_free(m);
}

static void test_bad_rows_rejected(void **state)
{
    (void)state;
    struct model *m = load_data(STORIES);
    char err[LF_ERRMSG_LEN] = "";
    struct kv_cache *kv;
    struct fwd *f;
    assert_int_equal(kv_new(2, 32, m->hp.n_layer, m->hp.n_head_kv, m->hp.head_dim, KV_F32, &kv, err, sizeof err), 0);
    assert_int_equal(fwd_new(m, 4, 32, NULL, &f, err, sizeof err), 0);
    float logits[512];
    struct fwd_row r = {2, 0, 1, 0};
    assert_int_equal(fwd_run(f, kv, &r, 1, logits, err, sizeof err), LF_ERR_INVALID);
    assert_non_null(strstr(err, "slot 2"));
    r = (struct fwd_row){0, 32, 1, 0};
    assert_int_equal(fwd_run(f, kv, &r, 1, logits, err, sizeof err), LF_ERR_RANGE);
    assert_non_null(strstr(err, "position 32"));
    r = (struct fwd_row){0, 0, 512, 0};
    assert_int_equal(fwd_run(f, kv, &r, 1, logits, err, sizeof err), LF_ERR_INVALID);
    assert_non_null(strstr(err, "token 512"));
    r = (struct fwd_row){0, 0, 1, 1};
    assert_int_equal(fwd_run(f, kv, &r, 1, logits, err, sizeof err), LF_ERR_INVALID);
    struct fwd_row many[5] = {{0}};
    assert_int_equal(fwd_run(f, kv, many, 5, logits, err, sizeof err), LF_ERR_INVALID);
    fwd_free(f);
    kv_free(kv);
    model_free(m);
}

static void test_stories_hparams(void **state)
{
    (void)state;
    struct model *m = load_data(STORIES);
    assert_int_equal(m->hp.arch, MODEL_ARCH_LLAMA);
    assert_int_equal(m->hp.n_embd, 64);
    assert_int_equal(m->hp.n_layer, 5);
    assert_int_equal(m->hp.n_head, 8);
    assert_int_equal(m->hp.n_head_kv, 4);
    assert_int_equal(m->hp.head_dim, 8);
    assert_int_equal(m->hp.n_ff, 172);
    assert_int_equal(m->hp.n_vocab, 512);
    assert_int_equal(m->hp.rope, MODEL_ROPE_NORM);
    assert_false(m->tied_output);
    assert_int_equal(m->layers[0].wq.type, QT_F32);
    model_free(m);
}

static void test_id36_needs_identification(void **state)
{
    (void)state;
    enum quant_type t;
    char err[LF_ERRMSG_LEN] = "";
    assert_int_equal(model_map_type(36, true, "w", &t, err, sizeof err), 0);
    assert_int_equal(t, QT_I2_S);
    assert_int_equal(model_map_type(36, false, "blk.0.attn_q.weight", &t, err, sizeof err),
                     LF_ERR_UNSUPPORTED);
    assert_non_null(strstr(err, "blk.0.attn_q.weight"));
    assert_int_equal(model_map_type(99, false, "x", &t, err, sizeof err), LF_ERR_UNSUPPORTED);
    assert_non_null(strstr(err, "99"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories_hparams),
        cmocka_unit_test(test_stories_logits_match_llama2c),
        cmocka_unit_test(test_stories_greedy_matches_reference),
        cmocka_unit_test(test_stories_batch_invariance),
        cmocka_unit_test(test_bad_rows_rejected),
        cmocka_unit_test(test_kv_fork),
        cmocka_unit_test(test_id36_needs_identification),
        cmocka_unit_test(test_formats_agree_llama),
        cmocka_unit_test(test_formats_agree_bitnet),
        cmocka_unit_test(test_synthetic_batch_invariance),
        cmocka_unit_test(test_kernels_match_reference),
        cmocka_unit_test(test_q8_head_tolerance),
    };
    char err[LF_ERRMSG_LEN];
    if (kern_init(err, sizeof err)) fail_msg("kern_init: %s", err);
    return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
