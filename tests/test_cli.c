/* test_cli.c - the lutfuse command line, run as a real process. */
#include "tests/testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Run `lutfuse ARGS` through sh with stdin from `in` (may be NULL); capture
 * stdout and stderr into malloc'd strings. Returns the exit code. */
static int run(const char *args, const char *in, char **out, char **err)
{
    char *o = tu_tmp_path("cli.out"), *e = tu_tmp_path("cli.err"), *i = tu_tmp_path("cli.in");
    FILE *f = fopen(i, "wb");
    assert_non_null(f);
    if (in) fputs(in, f);
    fclose(f);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s <'%s' >'%s' 2>'%s'", tu_lutfuse_bin(), args, i, o, e);
    int st = system(cmd);
    *out = tu_read_file(o, NULL);
    *err = tu_read_file(e, NULL);
    free(o), free(e), free(i);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *stories(void)
{
    return tu_data_path("models/stories260K.gguf");
}

static void test_generate_ids_match_reference(void **state)
{
    (void)state;
    char *m = stories(), args[1024], *out, *err;
    snprintf(args, sizeof args, "generate -m %s -p 'Once upon a time' -n 12 --temp 0 --ids", m);
    assert_int_equal(run(args, NULL, &out, &err), 0);
    /* prompt ids, then llama2.c's / llama.cpp's first 12 greedy ids */
    assert_string_equal(out, "1 403 407 261 378\n432 383 286 261 376 298 315 421 395 317 426 338\n");
    free(out), free(err), free(m);
}

static void test_generate_text_and_speed_report(void **state)
{
    (void)state;
    char *m = stories(), args[1024], *out, *err;
    snprintf(args, sizeof args, "generate -m %s -p 'Once upon a time' -n 12 --temp 0", m);
    assert_int_equal(run(args, NULL, &out, &err), 0);
    assert_string_equal(out, "Once upon a time, there was a little girl named Lily. She\n");
    assert_non_null(strstr(err, "prompt 5 tokens"));
    assert_non_null(strstr(err, "generated 12 tokens"));
    free(out), free(err), free(m);
}

static void test_tokenize_vocab_only_file(void **state)
{
    (void)state;
    char *v = tu_data_path("tokenizer/ggml-vocab-llama-bpe.gguf"), args[1024], *out, *err;
    snprintf(args, sizeof args, "tokenize -m %s", v);
    assert_int_equal(run(args, "Hello world", &out, &err), 0);
    assert_string_equal(out, "9906 1917\n");
    free(out), free(err);
    snprintf(args, sizeof args, "tokenize -m %s --add-special", v);
    assert_int_equal(run(args, "Hello world", &out, &err), 0);
    assert_string_equal(out, "128000 9906 1917\n");
    free(out), free(err);
    snprintf(args, sizeof args, "tokenize -m %s --parse-special", v);
    assert_int_equal(run(args, "<|begin_of_text|>Hi", &out, &err), 0);
    assert_string_equal(out, "128000 13347\n");
    free(out), free(err), free(v);
}

static void test_info(void **state)
{
    (void)state;
    char *m = stories(), args[1024], *out, *err;
    snprintf(args, sizeof args, "info -m %s", m);
    assert_int_equal(run(args, NULL, &out, &err), 0);
    assert_non_null(strstr(out, "architecture:  llama\n"));
    assert_non_null(strstr(out, "hidden:        64\n"));
    assert_non_null(strstr(out, "heads:         8 (kv 4, head dim 8)\n"));
    assert_non_null(strstr(out, "F32      48 tensors"));
    assert_non_null(strstr(out, "vocabulary:    512 tokens (llama)\n"));
    assert_non_null(strstr(out, "bos    1 '<s>'"));
    free(out), free(err), free(m);
}

static void test_bad_flags_and_files(void **state)
{
    (void)state;
    char *m = stories(), args[1024], *out, *err;
    snprintf(args, sizeof args, "generate -m %s --temp abc", m);
    assert_int_equal(run(args, NULL, &out, &err), 2);
    assert_non_null(strstr(err, "--temp wants a number"));
    free(out), free(err);
    snprintf(args, sizeof args, "bench -m %s --kv-type f8", m);
    assert_int_equal(run(args, NULL, &out, &err), 2);
    assert_non_null(strstr(err, "--kv-type wants f16 or f32, got 'f8'"));
    free(out), free(err);
    snprintf(args, sizeof args, "serve -m %s --kv-type q4 --port 0", m);
    assert_int_equal(run(args, NULL, &out, &err), 2);
    assert_non_null(strstr(err, "--kv-type wants f16 or f32, got 'q4'"));
    free(out), free(err);
    /* f16 and f32 caches: the same greedy ids on stories260K */
    char *ids16, *ids32;
    snprintf(args, sizeof args, "generate -m %s -p 'Once upon a time' -n 24 --temp 0 --ids", m);
    assert_int_equal(run(args, NULL, &ids16, &err), 0);
    free(err);
    snprintf(args, sizeof args,
             "generate -m %s -p 'Once upon a time' -n 24 --temp 0 --ids --kv-type f32", m);
    assert_int_equal(run(args, NULL, &ids32, &err), 0);
    free(err);
    assert_true(strlen(ids16) > 20);
    assert_string_equal(ids16, ids32);
    free(ids16), free(ids32);
    assert_int_equal(run("generate -p hi", NULL, &out, &err), 2);
    assert_non_null(strstr(err, "missing -m FILE"));
    free(out), free(err);
    assert_int_equal(run("frobnicate", NULL, &out, &err), 2);
    assert_non_null(strstr(err, "unknown command 'frobnicate'"));
    free(out), free(err);
    assert_int_equal(run("generate -m /nonexistent/model.gguf", NULL, &out, &err), 1);
    assert_non_null(strstr(err, "lutfuse generate: "));
    assert_non_null(strstr(err, "/nonexistent/model.gguf"));
    free(out), free(err);
    /* a truncated model file: one clean line, exit 1 */
    size_t len;
    char *bytes = tu_read_file(m, &len);
    char *cut = tu_tmp_path("truncated.gguf");
    FILE *f = fopen(cut, "wb");
    fwrite(bytes, 1, len / 2, f);
    fclose(f);
    snprintf(args, sizeof args, "generate -m %s", cut);
    assert_int_equal(run(args, NULL, &out, &err), 1);
    assert_non_null(strstr(err, "lutfuse generate: "));
    assert_non_null(strchr(err, '\n'));
    assert_int_equal(strchr(err, '\n')[1], 0); /* exactly one line */
    free(out), free(err), free(bytes), free(cut), free(m);
}

static void test_help_everywhere(void **state)
{
    (void)state;
    static const char *cmds[] = {"generate", "info", "tokenize", "mkmodel", "quantize", "bench"};
    char args[256], *out, *err;
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        snprintf(args, sizeof args, "%s --help", cmds[i]);
        assert_int_equal(run(args, NULL, &out, &err), 0);
        char want[64];
        snprintf(want, sizeof want, "usage: lutfuse %s", cmds[i]);
        assert_non_null(strstr(out, want));
        free(out), free(err);
    }
    assert_int_equal(run("--help", NULL, &out, &err), 0);
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) assert_non_null(strstr(out, cmds[i]));
    free(out), free(err);
}

/* mkmodel in two ternary types with one seed -> the same greedy ids; quantize
 * turns an F32 model into TQ1_0 that info reports. */
static void test_mkmodel_and_quantize(void **state)
{
    (void)state;
    char *a = tu_tmp_path("m-tq1.gguf"), *b = tu_tmp_path("m-i2s.gguf"), *c = tu_tmp_path("m-f32.gguf");
    char *d = tu_tmp_path("m-q.gguf"), args[2048], *out, *err, *out2;
    const char *shape = "--n-embd 256 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 512 --seed 3";
    snprintf(args, sizeof args, "mkmodel %s --type TQ1_0 -o %s", shape, a);
    assert_int_equal(run(args, NULL, &out, &err), 0), free(out), free(err);
    snprintf(args, sizeof args, "mkmodel %s --type I2_S -o %s", shape, b);
    assert_int_equal(run(args, NULL, &out, &err), 0), free(out), free(err);
    snprintf(args, sizeof args, "generate -m %s -p 'abc' -n 8 --temp 0 --ids", a);
    assert_int_equal(run(args, NULL, &out, &err), 0), free(err);
    snprintf(args, sizeof args, "generate -m %s -p 'abc' -n 8 --temp 0 --ids", b);
    assert_int_equal(run(args, NULL, &out2, &err), 0), free(err);
    assert_string_equal(out, out2);
    assert_int_equal((int)strlen(strchr(out, '\n') + 1) > 8, 1);
    free(out), free(out2);
    snprintf(args, sizeof args, "mkmodel %s --arch llama --type F32 -o %s", shape, c);
    assert_int_equal(run(args, NULL, &out, &err), 0), free(out), free(err);
    snprintf(args, sizeof args, "quantize %s %s TQ1_0 --embd-type Q4_K --output-type Q6_K", c, d);
    assert_int_equal(run(args, NULL, &out, &err), 0), free(out), free(err);
    snprintf(args, sizeof args, "info -m %s", d);
    assert_int_equal(run(args, NULL, &out, &err), 0);
    assert_non_null(strstr(out, "TQ1_0    14 tensors"));
    assert_non_null(strstr(out, "Q4_K      1 tensors"));
    free(out), free(err);
    /* I2_S into a llama file is declared, so it loads */
    snprintf(args, sizeof args, "quantize %s %s I2_S", c, d);
    assert_int_equal(run(args, NULL, &out, &err), 0), free(out), free(err);
    snprintf(args, sizeof args, "info -m %s", d);
    assert_int_equal(run(args, NULL, &out, &err), 0);
    assert_non_null(strstr(out, "I2_S     14 tensors"));
    free(out), free(err);
    snprintf(args, sizeof args, "quantize %s %s XYZ", c, d);
    assert_int_equal(run(args, NULL, &out, &err), 2);
    assert_non_null(strstr(err, "unknown tensor type 'XYZ'"));
    free(out), free(err);
    free(a), free(b), free(c), free(d);
}

/* bench --concurrency with --max-concurrency: a closed loop of 6 requests,
 * at most 2 in flight. Each request takes at least 5 steps (prefill giving
 * the first token, then 4 decode steps), so 2 at a time need at least 15
 * steps (all 6 at once would need 5); a step holds at most 2 requests' rows. */
static void test_bench_closed_loop(void **state)
{
    (void)state;
    char *m = stories(), args[1024], *out, *err;
    snprintf(args, sizeof args,
             "bench -m %s --concurrency 6 --max-concurrency 2 --prompt 8 --gen 5 --threads 1 --json", m);
    assert_int_equal(run(args, NULL, &out, &err), 0);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    if (!j) fail_msg("bench --json printed no JSON object: %s", out);
    assert_int_equal(json_integer_value(json_object_get(j, "concurrency")), 6);
    assert_int_equal(json_integer_value(json_object_get(j, "max_concurrency")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "gen")), 5);
    assert_true(json_integer_value(json_object_get(j, "steps")) >= 15);
    const double mean = json_number_value(json_object_get(j, "mean_batch"));
    assert_true(mean >= 1.0 && mean <= 16.0);
    assert_true(json_number_value(json_object_get(j, "output_tok_s")) > 0);
    assert_true(json_number_value(json_object_get(j, "serial_output_tok_s")) > 0);
    json_decref(j);
    free(out), free(err), free(m);
}

/* bench --wave: 3 copies of the 8-token prompt in one step, on both
 * threads; every copy's logits must equal the prompt's own prefill, bit for
 * bit. One step takes at most 8,192 rows: 129 x 64 is refused. */
static void test_bench_wave(void **state)
{
    (void)state;
    char *m = stories(), args[1024], *out, *err;
    snprintf(args, sizeof args, "bench -m %s --prompt 8 --gen 2 --wave 3 --threads 2 --json --profile", m);
    assert_int_equal(run(args, NULL, &out, &err), 0);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    if (!j) fail_msg("bench --json printed no JSON object: %s", out);
    assert_int_equal(json_integer_value(json_object_get(j, "wave_prompts")), 3);
    assert_true(json_is_true(json_object_get(j, "wave_exact")));
    assert_true(json_number_value(json_object_get(j, "wave_ms")) > 0);
    assert_true(json_number_value(json_object_get(j, "wave_tok_s")) > 0);
    /* --profile: the wave step's phases, the same ones as the decode step's */
    json_t *wp = json_object_get(j, "wave_ms_per_step"), *dp = json_object_get(j, "decode_ms_per_step");
    assert_true(json_is_object(wp) && json_is_object(dp));
    assert_int_equal(json_object_size(wp), json_object_size(dp));
    const char *key;
    json_t *v;
    double sum = 0;
    json_object_foreach(dp, key, v)
    {
        assert_true(json_is_number(json_object_get(wp, key)));
        sum += json_number_value(json_object_get(wp, key));
    }
    assert_true(sum > 0);
    json_decref(j);
    free(out), free(err);
    snprintf(args, sizeof args, "bench -m %s --prompt 64 --wave 129", m);
    assert_int_equal(run(args, NULL, &out, &err), 2);
    assert_non_null(strstr(err, "--wave x --prompt is 129 x 64 rows; one step takes at most 8192"));
    free(out), free(err), free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_ids_match_reference),
        cmocka_unit_test(test_generate_text_and_speed_report),
        cmocka_unit_test(test_tokenize_vocab_only_file),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_bad_flags_and_files),
        cmocka_unit_test(test_help_everywhere),
        cmocka_unit_test(test_mkmodel_and_quantize),
        cmocka_unit_test(test_bench_closed_loop),
        cmocka_unit_test(test_bench_wave),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
