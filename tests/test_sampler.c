/* test_sampler.c - the sampling chain on hand-made rows: exact kept sets,
 * exact penalty arithmetic, reproducible draws, and frequencies. */
#include "tests/testutil.h"
#include "engine/sampler.h"
#include "engine/status.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parameters with every filter off: plain softmax at temperature 1. */
static struct sampler_params plain_params(uint64_t seed)
{
    struct sampler_params p = sampler_params_default();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    return p;
}

static struct sampler *new_sampler(const struct sampler_params *p, int32_t n_vocab)
{
    struct sampler *s = NULL;
    assert_int_equal(sampler_new(p, n_vocab, &s), 0);
    assert_non_null(s);
    return s;
}

/* log([0.1, 0.2, 0.3, 0.4]) */
static void four_token_logits(float out[4])
{
    const float probs[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    for (int i = 0; i < 4; i++) out[i] = logf(probs[i]);
}

/* Deterministic pseudo-random logits in [-8, 8) for the bulk tests. */
static void random_logits(uint32_t *state, float *out, int n)
{
    for (int i = 0; i < n; i++) {
        *state = *state * 1664525u + 1013904223u;
        out[i] = (float)(*state >> 8) / (float)(1u << 24) * 16.0f - 8.0f;
    }
}

static int32_t argmax_lowest(const float *v, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* ---- parameters ---- */

static void test_defaults_are_llama_server_defaults(void **state)
{
    (void)state;
    struct sampler_params p = sampler_params_default();
    assert_true(p.temperature == 0.8f);
    assert_int_equal(p.top_k, 40);
    assert_true(p.top_p == 0.95f);
    assert_true(p.min_p == 0.05f);
    assert_true(p.repeat_penalty == 1.0f);
    assert_int_equal(p.repeat_last_n, 64);
    assert_true(p.presence_penalty == 0.0f);
    assert_true(p.frequency_penalty == 0.0f);
    assert_int_equal(sampler_params_validate(&p, NULL, 0), 0);
}

static void expect_invalid(const struct sampler_params *p, const char *field)
{
    char err[LF_ERRMSG_LEN] = "";
    assert_int_equal(sampler_params_validate(p, err, sizeof err), LF_ERR_INVALID);
    /* The message starts with the field's name. */
    assert_memory_equal(err, field, strlen(field));
    assert_true(err[strlen(field)] == ' ');
    struct sampler *s = (struct sampler *)&s;
    assert_int_equal(sampler_new(p, 10, &s), LF_ERR_INVALID);
    assert_null(s);
}

static void test_validate_rejects_each_bad_field(void **state)
{
    (void)state;
    const struct sampler_params d = sampler_params_default();
    struct sampler_params p;
#define BAD(field, value)                                                                          \
    do {                                                                                           \
        p = d;                                                                                     \
        p.field = (value);                                                                         \
        expect_invalid(&p, #field);                                                                \
    } while (0)
    BAD(temperature, -0.1f);
    BAD(temperature, 100.5f);
    BAD(temperature, NAN);
    BAD(top_k, -1);
    BAD(top_p, 0.0f);
    BAD(top_p, 1.01f);
    BAD(top_p, NAN);
    BAD(min_p, -0.01f);
    BAD(min_p, 1.5f);
    BAD(min_p, NAN);
    BAD(repeat_penalty, 0.0f);
    BAD(repeat_penalty, -1.0f);
    BAD(repeat_penalty, INFINITY);
    BAD(repeat_penalty, NAN);
    BAD(repeat_last_n, -2);
    BAD(repeat_last_n, SAMPLER_MAX_LAST_N + 1);
    BAD(presence_penalty, 2.5f);
    BAD(presence_penalty, -2.01f);
    BAD(presence_penalty, NAN);
    BAD(frequency_penalty, -3.0f);
    BAD(frequency_penalty, 2.01f);
    BAD(frequency_penalty, NAN);
#undef BAD

    /* The edges of every range are accepted. */
    p = d;
    p.temperature = 0.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 1.0f;
    p.repeat_last_n = -1;
    p.presence_penalty = -2.0f;
    p.frequency_penalty = 2.0f;
    assert_int_equal(sampler_params_validate(&p, NULL, 0), 0);
    p.temperature = 100.0f;
    p.min_p = 0.0f;
    p.repeat_last_n = SAMPLER_MAX_LAST_N;
    assert_int_equal(sampler_params_validate(&p, NULL, 0), 0);

    struct sampler *s = NULL;
    assert_int_equal(sampler_new(&d, 0, &s), LF_ERR_INVALID);
    sampler_free(NULL);
}

/* ---- greedy ---- */

static void test_greedy_argmax_ties_lowest_id(void **state)
{
    (void)state;
    struct sampler_params p = sampler_params_default();
    p.temperature = 0.0f;
    struct sampler *s = new_sampler(&p, 5);
    const float tie[5] = {1.0f, 3.0f, -2.0f, 3.0f, 2.0f};
    assert_int_equal(sampler_sample(s, tie), 1);
    const float last[5] = {1.0f, 3.0f, -2.0f, 3.5f, 2.0f};
    assert_int_equal(sampler_sample(s, last), 3);
    /* NaN is never the argmax; all-impossible gives the lowest id. */
    const float with_nan[5] = {NAN, 0.5f, NAN, -1.0f, NAN};
    assert_int_equal(sampler_sample(s, with_nan), 1);
    const float none[5] = {-INFINITY, NAN, -INFINITY, -INFINITY, NAN};
    assert_int_equal(sampler_sample(s, none), 0);

    int32_t ids[2];
    float probs[2];
    assert_int_equal(sampler_distribution(s, tie, ids, probs, 2), 1);
    assert_int_equal(ids[0], 1);
    assert_true(probs[0] == 1.0f);
    sampler_free(s);

    /* Negative temperature (not valid in params, so via 0) and a big vocabulary. */
    p.temperature = 0.0f;
    s = new_sampler(&p, 3000);
    float *row = malloc(3000 * sizeof *row);
    assert_non_null(row);
    uint32_t st = 7;
    for (int r = 0; r < 20; r++) {
        random_logits(&st, row, 3000);
        assert_int_equal(sampler_sample(s, row), argmax_lowest(row, 3000));
    }
    free(row);
    sampler_free(s);
}

/* top_k = 1 keeps only the argmax, whatever the temperature. */
static void test_top_k_1_equals_greedy(void **state)
{
    (void)state;
    const int n = 1000;
    float *row = malloc((size_t)n * sizeof *row);
    assert_non_null(row);
    const float temps[] = {0.05f, 0.5f, 1.0f, 5.0f, 100.0f};
    uint32_t st = 12345;
    for (size_t t = 0; t < sizeof temps / sizeof temps[0]; t++) {
        struct sampler_params p = plain_params(t);
        p.temperature = temps[t];
        p.top_k = 1;
        struct sampler *s = new_sampler(&p, n);
        for (int r = 0; r < 50; r++) {
            random_logits(&st, row, n);
            if (r % 10 == 0) row[r] = row[argmax_lowest(row, n)]; /* a tie */
            assert_int_equal(sampler_sample(s, row), argmax_lowest(row, n));
        }
        sampler_free(s);
    }
    free(row);
}

/* ---- top-k ---- */

static void test_top_k_keeps_k_largest(void **state)
{
    (void)state;
    struct sampler_params p = plain_params(1);
    p.top_k = 3;
    struct sampler *s = new_sampler(&p, 8);
    const float row[8] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f, 3.0f, 1.0f, -5.0f};
    int32_t ids[8];
    float probs[8];
    /* 3.0 (id 5), then the tie 2.0 at ids 1 and 3. */
    assert_int_equal(sampler_distribution(s, row, ids, probs, 8), 3);
    assert_int_equal(ids[0], 5);
    assert_int_equal(ids[1], 1);
    assert_int_equal(ids[2], 3);
    double z = exp(3.0) + 2 * exp(2.0);
    assert_float_equal(probs[0], exp(3.0) / z, 1e-6);
    assert_float_equal(probs[1], exp(2.0) / z, 1e-6);
    assert_float_equal(probs[2], exp(2.0) / z, 1e-6);
    for (int i = 0; i < 500; i++) {
        int32_t id = sampler_sample(s, row);
        assert_true(id == 5 || id == 1 || id == 3);
    }
    sampler_free(s);

    /* A tie at the cut keeps the lower id: k = 2 keeps 5 and 1, not 3. */
    p.top_k = 2;
    s = new_sampler(&p, 8);
    assert_int_equal(sampler_distribution(s, row, ids, probs, 8), 2);
    assert_int_equal(ids[0], 5);
    assert_int_equal(ids[1], 1);
    sampler_free(s);
}

/* ---- top-p ---- */

static void test_top_p_keeps_expected_set(void **state)
{
    (void)state;
    float row[4];
    four_token_logits(row);
    struct sampler_params p = plain_params(42);
    p.top_p = 0.5f; /* 0.4 < 0.5 <= 0.4 + 0.3: keeps ids 3 and 2 */
    struct sampler *a = new_sampler(&p, 4);
    struct sampler *b = new_sampler(&p, 4);

    int32_t ids[4];
    float probs[4];
    assert_int_equal(sampler_distribution(a, row, ids, probs, 4), 2);
    assert_int_equal(ids[0], 3);
    assert_int_equal(ids[1], 2);
    assert_float_equal(probs[0], 0.4 / 0.7, 1e-6);
    assert_float_equal(probs[1], 0.3 / 0.7, 1e-6);

    int32_t first_a[10], first_b[10];
    for (int i = 0; i < 10; i++) {
        first_a[i] = sampler_sample(a, row);
        first_b[i] = sampler_sample(b, row);
    }
    assert_memory_equal(first_a, first_b, sizeof first_a);
    /* The same on every platform: xoshiro256** from seed 42, walked over
     * ids 3 then 2. Changing the generator or the walk changes these. */
    const int32_t golden[10] = {3, 3, 2, 2, 2, 2, 2, 2, 2, 2};
    assert_memory_equal(first_a, golden, sizeof golden);

    int seen[4] = {0};
    for (int i = 0; i < 2000; i++) seen[sampler_sample(a, row)]++;
    assert_int_equal(seen[0], 0);
    assert_int_equal(seen[1], 0);
    assert_true(seen[2] > 0 && seen[3] > 0);
    sampler_free(a);
    sampler_free(b);

    /* Just above 0.7 takes a third token; 1.0 is off. */
    p.top_p = 0.75f;
    a = new_sampler(&p, 4);
    assert_int_equal(sampler_distribution(a, row, ids, probs, 4), 3);
    assert_int_equal(ids[2], 1);
    sampler_free(a);

    /* Temperature comes after top-p (llama.cpp's order): the kept set is
     * the same at temperature 2, the probabilities are p^(1/2), renormalized. */
    p.top_p = 0.5f;
    p.temperature = 2.0f;
    a = new_sampler(&p, 4);
    assert_int_equal(sampler_distribution(a, row, ids, probs, 4), 2);
    assert_int_equal(ids[0], 3);
    double w3 = sqrt(0.4), w2 = sqrt(0.3);
    assert_float_equal(probs[0], w3 / (w3 + w2), 1e-6);
    assert_float_equal(probs[1], w2 / (w3 + w2), 1e-6);
    sampler_free(a);
}

/* top-p without top-k on rows large enough for the sampler's prefilter,
 * against a full sort done here. */
struct ref_cand {
    float logit;
    int32_t id;
};

static int ref_cmp(const void *pa, const void *pb)
{
    const struct ref_cand *a = pa, *b = pb;
    if (a->logit != b->logit) return a->logit > b->logit ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static void test_top_p_large_row_matches_full_sort(void **state)
{
    (void)state;
    const int n = 5000;
    float *row = malloc((size_t)n * sizeof *row);
    struct ref_cand *ref = malloc((size_t)n * sizeof *ref);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    float *probs = malloc((size_t)n * sizeof *probs);
    assert_true(row && ref && ids && probs);
    const float scales[] = {0.05f, 0.5f, 1.0f, 3.0f};
    const float top_ps[] = {0.3f, 0.9f, 0.95f, 0.999f};
    uint32_t st = 31337;
    for (int sc = 0; sc < 4; sc++)
        for (int tp = 0; tp < 4; tp++) {
            random_logits(&st, row, n);
            for (int i = 0; i < n; i++) {
                row[i] *= scales[sc];
                ref[i] = (struct ref_cand){row[i], i};
            }
            qsort(ref, (size_t)n, sizeof *ref, ref_cmp);
            double z = 0, cum = 0;
            for (int i = 0; i < n; i++) z += exp((double)ref[i].logit - ref[0].logit);
            int expect = n;
            for (int i = 0; i < n; i++) {
                cum += exp((double)ref[i].logit - ref[0].logit) / z;
                if (cum >= (double)top_ps[tp]) {
                    expect = i + 1;
                    break;
                }
            }
            struct sampler_params p = plain_params(1);
            p.top_p = top_ps[tp];
            struct sampler *s = new_sampler(&p, n);
            assert_int_equal(sampler_distribution(s, row, ids, probs, n), expect);
            for (int i = 0; i < expect; i++) assert_int_equal(ids[i], ref[i].id);
            sampler_free(s);
        }
    free(row);
    free(ref);
    free(ids);
    free(probs);
}

/* ---- min-p ---- */

static void test_min_p_cutoff_exact(void **state)
{
    (void)state;
    /* The largest logit is 0, so the cut is exactly logf(min_p). */
    const float row[2] = {0.0f, logf(0.2f)};
    struct sampler_params p = plain_params(3);
    int32_t ids[4];
    float probs[4];

    p.min_p = 0.2f; /* p1 / p0 = 0.2 >= 0.2: kept */
    struct sampler *s = new_sampler(&p, 2);
    assert_int_equal(sampler_distribution(s, row, ids, probs, 4), 2);
    assert_float_equal(probs[1], 0.2 / 1.2, 1e-6);
    sampler_free(s);

    p.min_p = 0.21f; /* 0.2 < 0.21: cut */
    s = new_sampler(&p, 2);
    assert_int_equal(sampler_distribution(s, row, ids, probs, 4), 1);
    assert_int_equal(ids[0], 0);
    assert_true(probs[0] == 1.0f);
    for (int i = 0; i < 200; i++) assert_int_equal(sampler_sample(s, row), 0);
    sampler_free(s);

    /* Relative probabilities 1, 0.5, 0.2, 0.05 with min_p 0.1: the last goes. */
    const float row4[4] = {logf(0.05f), 0.0f, logf(0.2f), logf(0.5f)};
    p.min_p = 0.1f;
    s = new_sampler(&p, 4);
    assert_int_equal(sampler_distribution(s, row4, ids, probs, 4), 3);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 3);
    assert_int_equal(ids[2], 2);
    assert_float_equal(probs[0], 1.0 / 1.7, 1e-6);
    int seen[4] = {0};
    for (int i = 0; i < 2000; i++) seen[sampler_sample(s, row4)]++;
    assert_int_equal(seen[0], 0);
    assert_true(seen[1] > 0 && seen[2] > 0 && seen[3] > 0);
    sampler_free(s);

    /* min-p and top-p together (top-k off): top-p's mass is over the whole
     * row, as if top-p ran first. Relative weights 1, 0.5, 0.2, 0.05 sum to
     * 1.75; top-p 0.8 needs 1 + 0.5 = 1.5 of 1.75 (0.857): keeps 2 tokens,
     * min-p 0.1 alone would keep 3. */
    p.top_p = 0.8f;
    s = new_sampler(&p, 4);
    assert_int_equal(sampler_distribution(s, row4, ids, probs, 4), 2);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 3);
    sampler_free(s);
    /* 0.86 > 0.857 needs the third (1.7 / 1.75 = 0.971), which min-p keeps. */
    p.top_p = 0.86f;
    s = new_sampler(&p, 4);
    assert_int_equal(sampler_distribution(s, row4, ids, probs, 4), 3);
    sampler_free(s);
    /* 0.98 > 0.971 would need the fourth, which min-p removes: 3. */
    p.top_p = 0.98f;
    s = new_sampler(&p, 4);
    assert_int_equal(sampler_distribution(s, row4, ids, probs, 4), 3);
    sampler_free(s);
}

/* ---- penalties ---- */

static void test_repeat_penalty_llama_rule(void **state)
{
    (void)state;
    struct sampler_params p = plain_params(0);
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 64;
    struct sampler *s = new_sampler(&p, 4);
    const float row[4] = {0.5f, 2.0f, -2.0f, 3.0f};
    float out[4];
    sampler_accept(s, 1);
    sampler_accept(s, 2);
    sampler_accept(s, 1); /* a repeat does not apply the factor twice */
    sampler_apply_penalties(s, row, out);
    assert_true(out[0] == 0.5f);
    assert_true(out[1] == 1.0f);  /* positive: divided */
    assert_true(out[2] == -4.0f); /* negative: multiplied */
    assert_true(out[3] == 3.0f);

    /* Greedy sees the penalized row: 2.0 -> 1.0 loses to 1.5. */
    sampler_free(s);
    p.temperature = 0.0f;
    s = new_sampler(&p, 2);
    const float two[2] = {2.0f, 1.5f};
    assert_int_equal(sampler_sample(s, two), 0);
    sampler_accept(s, 0);
    assert_int_equal(sampler_sample(s, two), 1);
    /* reset forgets the history. */
    sampler_reset(s);
    assert_int_equal(sampler_sample(s, two), 0);
    sampler_free(s);
}

static void test_presence_frequency_exact(void **state)
{
    (void)state;
    struct sampler_params p = plain_params(0);
    p.presence_penalty = 0.25f;
    p.frequency_penalty = 0.5f;
    p.repeat_last_n = -1;
    struct sampler *s = new_sampler(&p, 4);
    sampler_accept(s, 1);
    sampler_accept(s, 1);
    sampler_accept(s, 1);
    sampler_accept(s, 2);
    const float row[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    float out[4];
    sampler_apply_penalties(s, row, out);
    assert_true(out[0] == 1.0f);
    assert_true(out[1] == -0.75f); /* 1 - 3 * 0.5 - 0.25 */
    assert_true(out[2] == 0.25f);  /* 1 - 1 * 0.5 - 0.25 */
    assert_true(out[3] == 1.0f);
    sampler_free(s);

    /* All three: repeat first, then subtract. 3 / 2 - 2 * 0.25 - 0.5 = 0.5;
     * -1 * 2 - 0.25 - 0.5 = -2.75. Negative penalties raise the logit. */
    p.repeat_penalty = 2.0f;
    p.frequency_penalty = 0.25f;
    p.presence_penalty = 0.5f;
    s = new_sampler(&p, 3);
    sampler_accept(s, 0);
    sampler_accept(s, 0);
    sampler_accept(s, 1);
    const float row3[3] = {3.0f, -1.0f, 7.0f};
    sampler_apply_penalties(s, row3, out);
    assert_true(out[0] == 0.5f);
    assert_true(out[1] == -2.75f);
    assert_true(out[2] == 7.0f);
    sampler_free(s);

    p.repeat_penalty = 1.0f;
    p.frequency_penalty = -1.0f;
    p.presence_penalty = -0.5f;
    s = new_sampler(&p, 3);
    sampler_accept(s, 2);
    sampler_accept(s, 2);
    sampler_apply_penalties(s, row3, out);
    assert_true(out[2] == 9.5f); /* 7 + 2 + 0.5 */
    sampler_free(s);
}

static void test_penalty_window(void **state)
{
    (void)state;
    struct sampler_params p = plain_params(0);
    p.presence_penalty = 1.0f;
    p.repeat_last_n = 2;
    struct sampler *s = new_sampler(&p, 8);
    const float row[8] = {0};
    float out[8];
    /* Only the last two accepted ids count: 5 has left the window. */
    sampler_accept(s, 5);
    sampler_accept(s, 6);
    sampler_accept(s, 7);
    sampler_apply_penalties(s, row, out);
    assert_true(out[5] == 0.0f);
    assert_true(out[6] == -1.0f);
    assert_true(out[7] == -1.0f);
    /* 7 again: the window is (7, 7); 6 leaves, 7 counts once for presence. */
    sampler_accept(s, 7);
    sampler_apply_penalties(s, row, out);
    assert_true(out[6] == 0.0f);
    assert_true(out[7] == -1.0f);
    sampler_free(s);

    /* repeat_last_n = 0 turns every penalty off. */
    p.repeat_last_n = 0;
    p.repeat_penalty = 3.0f;
    s = new_sampler(&p, 8);
    sampler_accept(s, 1);
    sampler_apply_penalties(s, (const float[8]){0, 6.0f}, out);
    assert_true(out[1] == 6.0f);
    sampler_free(s);
}

/* ---- the draw ---- */

static void test_seed_reproducible_and_distinct(void **state)
{
    (void)state;
    const int n = 50;
    float row[50];
    uint32_t st = 99;
    random_logits(&st, row, n);
    for (int i = 0; i < n; i++) row[i] *= 0.25f; /* flatten: many plausible ids */
    struct sampler_params p = plain_params(1234);
    struct sampler *a = new_sampler(&p, n), *b = new_sampler(&p, n);
    p.seed = 1235;
    struct sampler *c = new_sampler(&p, n);
    int32_t sa[100], sb[100], sc[100];
    for (int i = 0; i < 100; i++) {
        sa[i] = sampler_sample(a, row);
        sb[i] = sampler_sample(b, row);
        sc[i] = sampler_sample(c, row);
    }
    assert_memory_equal(sa, sb, sizeof sa);
    int differ = 0;
    for (int i = 0; i < 100; i++) differ += sa[i] != sc[i];
    assert_true(differ > 50);
    /* reset replays the stream. */
    sampler_reset(a);
    for (int i = 0; i < 100; i++) assert_int_equal(sampler_sample(a, row), sa[i]);
    sampler_free(a);
    sampler_free(b);
    sampler_free(c);
}

static void test_frequencies_match_probabilities(void **state)
{
    (void)state;
    float row[4];
    four_token_logits(row);
    struct sampler_params p = plain_params(2024);
    struct sampler *s = new_sampler(&p, 4);
    int seen[4] = {0};
    const int draws = 20000;
    for (int i = 0; i < draws; i++) seen[sampler_sample(s, row)]++;
    for (int i = 0; i < 4; i++) assert_float_equal((double)seen[i] / draws, 0.1 * (i + 1), 0.02);
    sampler_free(s);
}

static void test_non_finite_logits(void **state)
{
    (void)state;
    struct sampler_params p = plain_params(5);
    struct sampler *s = new_sampler(&p, 4);
    int32_t ids[4];
    float probs[4];
    /* +inf wins outright; NaN never appears. */
    const float inf_row[4] = {NAN, INFINITY, 1.0f, NAN};
    assert_int_equal(sampler_distribution(s, inf_row, ids, probs, 4), 4);
    assert_int_equal(ids[0], 1);
    assert_true(probs[0] == 1.0f);
    for (int i = 1; i < 4; i++) assert_true(probs[i] == 0.0f);
    for (int i = 0; i < 50; i++) assert_int_equal(sampler_sample(s, inf_row), 1);

    const float nan_row[4] = {NAN, 0.0f, NAN, 0.0f};
    for (int i = 0; i < 200; i++) {
        int32_t id = sampler_sample(s, nan_row);
        assert_true(id == 1 || id == 3);
    }
    assert_int_equal(sampler_distribution(s, nan_row, ids, probs, 4), 4);
    for (int i = 0; i < 4; i++) assert_false(isnan(probs[i]));
    assert_float_equal(probs[0], 0.5, 1e-7);
    assert_float_equal(probs[1], 0.5, 1e-7);

    const float none[4] = {-INFINITY, NAN, -INFINITY, -INFINITY};
    assert_int_equal(sampler_sample(s, none), 0);
    sampler_free(s);
}

/* ---- log probabilities ---- */

static void test_logprobs(void **state)
{
    (void)state;
    float row[4];
    four_token_logits(row);
    for (int i = 0; i < 4; i++)
        assert_float_equal(sampler_logprob(row, 4, i), log(0.1 * (i + 1)), 1e-6);
    /* Shifting every logit changes nothing. */
    float shifted[4];
    for (int i = 0; i < 4; i++) shifted[i] = row[i] + 100.0f;
    assert_float_equal(sampler_logprob(shifted, 4, 2), log(0.3), 1e-5);

    int32_t ids[6];
    float lp[6];
    assert_int_equal(sampler_top_logprobs(row, 4, 2, ids, lp), 2);
    assert_int_equal(ids[0], 3);
    assert_int_equal(ids[1], 2);
    assert_float_equal(lp[0], log(0.4), 1e-6);
    assert_float_equal(lp[1], log(0.3), 1e-6);
    /* More than the vocabulary: all of it; ties by lower id; NaN last at -inf. */
    const float tie[5] = {1.0f, 2.0f, NAN, 2.0f, 1.0f};
    assert_int_equal(sampler_top_logprobs(tie, 5, 6, ids, lp), 5);
    const int32_t order[5] = {1, 3, 0, 4, 2};
    assert_memory_equal(ids, order, sizeof order);
    double z = 2 * exp(2.0) + 2 * exp(1.0);
    assert_float_equal(lp[0], 2.0 - log(z), 1e-6);
    assert_float_equal(lp[3], 1.0 - log(z), 1e-6);
    assert_true(lp[4] == -INFINITY);
    assert_true(sampler_logprob(tie, 5, 2) == -INFINITY);
    assert_int_equal(sampler_top_logprobs(tie, 5, 0, ids, lp), 0);
}

/* The defaults on a large row: top-k 40 then top-p then min-p, all tokens
 * drawn among the 40 largest. */
static void test_defaults_on_large_row(void **state)
{
    (void)state;
    const int n = 32000;
    float *row = malloc((size_t)n * sizeof *row);
    float *sorted = malloc((size_t)n * sizeof *sorted);
    assert_non_null(row);
    assert_non_null(sorted);
    uint32_t st = 4242;
    random_logits(&st, row, n);
    for (int i = 0; i < n; i++) row[i] *= 0.3f;
    memcpy(sorted, row, (size_t)n * sizeof *row);
    /* 40th largest value, by selection (n is small enough for a partial sort). */
    for (int i = 0; i < 40; i++) {
        int best = i;
        for (int j = i + 1; j < n; j++)
            if (sorted[j] > sorted[best]) best = j;
        float t = sorted[i];
        sorted[i] = sorted[best];
        sorted[best] = t;
    }
    float kth = sorted[39];
    struct sampler_params p = sampler_params_default();
    p.seed = 77;
    struct sampler *s = new_sampler(&p, n);
    int32_t ids[64];
    float probs[64];
    int32_t kept = sampler_distribution(s, row, ids, probs, 64);
    assert_true(kept >= 1 && kept <= 40);
    double sum = 0;
    for (int i = 0; i < kept; i++) {
        assert_true(row[ids[i]] >= kth);
        sum += probs[i];
        if (i) assert_true(probs[i] <= probs[i - 1]);
    }
    assert_float_equal(sum, 1.0, 1e-5);
    for (int i = 0; i < 200; i++) assert_true(row[sampler_sample(s, row)] >= kth);
    sampler_free(s);
    free(row);
    free(sorted);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_llama_server_defaults),
        cmocka_unit_test(test_validate_rejects_each_bad_field),
        cmocka_unit_test(test_greedy_argmax_ties_lowest_id),
        cmocka_unit_test(test_top_k_1_equals_greedy),
        cmocka_unit_test(test_top_k_keeps_k_largest),
        cmocka_unit_test(test_top_p_keeps_expected_set),
        cmocka_unit_test(test_top_p_large_row_matches_full_sort),
        cmocka_unit_test(test_min_p_cutoff_exact),
        cmocka_unit_test(test_repeat_penalty_llama_rule),
        cmocka_unit_test(test_presence_frequency_exact),
        cmocka_unit_test(test_penalty_window),
        cmocka_unit_test(test_seed_reproducible_and_distinct),
        cmocka_unit_test(test_frequencies_match_probabilities),
        cmocka_unit_test(test_non_finite_logits),
        cmocka_unit_test(test_logprobs),
        cmocka_unit_test(test_defaults_on_large_row),
    };
    return cmocka_run_group_tests_name("sampler", tests, NULL, NULL);
}
