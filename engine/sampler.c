/* sampler.c - penalties, top-k, top-p, min-p, temperature and the draw.
 *
 * The one idea: never sort the vocabulary when it can be avoided. Top-k
 * (on by default) picks its k candidates with a k-sized heap in one pass
 * over the row, applying the penalties on the fly, so only k candidates are
 * ever sorted. When top-k is off, min-p is applied before top-p: both keep a
 * prefix of the same sorted order and min-p's cut does not depend on what
 * top-p removed (the largest logit survives both), so filtering by min-p
 * first and running top-p with the normalizer of the full set gives exactly
 * llama.cpp's order of top-p then min-p, with far fewer tokens to sort.
 *
 * When top-k is off and top-p on, a histogram of probability mass by logit
 * finds how much of the row top-p can possibly keep, and only that part is
 * sorted.
 *
 * Candidates are ordered by (logit descending, id ascending): a total
 * order, so qsort's instability cannot change a result. Softmax sums are in
 * double. The generator is xoshiro256** seeded through splitmix64, which
 * gives the same stream on every platform.
 */
#include "engine/sampler.h"

#include "engine/status.h"
#include "kernels/kernels.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The top-p prefilter's histogram: 64 buckets of 0.25 nats cover logits
 * down to 16 below the largest; rows of fewer candidates are just sorted. */
#define TOPP_BUCKETS 64
#define TOPP_BUCKET_WIDTH 0.25f
#define TOPP_PREFILTER_MIN 1024

struct sampler_cand {
    float logit;
    int32_t id;
};

struct sampler {
    struct sampler_params params;
    int32_t n_vocab;

    /* Penalty history; all NULL/0 when penalties are off. */
    bool penalties_on;
    int32_t *counts;    /* (n_vocab) occurrences of each id in the window */
    int32_t *ring;      /* (ring_cap) the last repeat_last_n ids; NULL for -1 (keep all) */
    int32_t ring_cap;
    int32_t ring_len;   /* ids in the ring */
    int32_t ring_head;  /* slot the next id goes to */

    struct sampler_cand *cand; /* (cand_cap) candidates of the current row */
    int32_t cand_cap;          /* min(top_k, n_vocab), or n_vocab if top_k is off */

    uint64_t rng[4]; /* xoshiro256** state */
};

/* ---- random numbers ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(uint64_t s[4], uint64_t seed)
{
    /* splitmix64 never yields four zero words, the one bad xoshiro state. */
    for (int i = 0; i < 4; i++) s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4])
{
    return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

/* ---- lifetime and history ---- */

int sampler_new(const struct sampler_params *p, int32_t n_vocab, struct sampler **out)
{
    *out = NULL;
    if (n_vocab <= 0 || sampler_params_validate(p, NULL, 0) != 0) return LF_ERR_INVALID;
    struct sampler *s = calloc(1, sizeof *s);
    if (!s) return LF_ERR_NOMEM;
    s->params = *p;
    s->n_vocab = n_vocab;
    s->penalties_on = p->repeat_last_n != 0 &&
                      (p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f ||
                       p->frequency_penalty != 0.0f);
    if (s->penalties_on) {
        s->counts = calloc((size_t)n_vocab, sizeof *s->counts);
        if (!s->counts) goto fail;
        if (p->repeat_last_n > 0) {
            s->ring_cap = p->repeat_last_n;
            s->ring = malloc((size_t)s->ring_cap * sizeof *s->ring);
            if (!s->ring) goto fail;
        }
    }
    s->cand_cap = p->top_k > 0 && p->top_k < n_vocab ? p->top_k : n_vocab;
    s->cand = malloc((size_t)s->cand_cap * sizeof *s->cand);
    if (!s->cand) goto fail;
    rng_seed(s->rng, p->seed);
    *out = s;
    return 0;
fail:
    sampler_free(s);
    return LF_ERR_NOMEM;
}

void sampler_free(struct sampler *s)
{
    if (!s) return;
    free(s->cand);
    free(s->ring);
    free(s->counts);
    free(s);
}

void sampler_reset(struct sampler *s)
{
    if (s->counts) memset(s->counts, 0, (size_t)s->n_vocab * sizeof *s->counts);
    s->ring_len = 0;
    s->ring_head = 0;
    rng_seed(s->rng, s->params.seed);
}

void sampler_accept(struct sampler *s, int32_t id)
{
    if (id < 0 || id >= s->n_vocab) {
        fprintf(stderr, "sampler_accept: token %d outside the vocabulary of %d\n", (int)id,
                (int)s->n_vocab);
        abort();
    }
    if (!s->penalties_on) return;
    if (s->ring) {
        if (s->ring_len == s->ring_cap)
            s->counts[s->ring[s->ring_head]]--; /* the oldest id leaves the window */
        else
            s->ring_len++;
        s->ring[s->ring_head] = id;
        s->ring_head = (s->ring_head + 1) % s->ring_cap;
    }
    s->counts[id]++;
}

/* ---- one row ---- */

/* Step 1 of the chain for one token: v is its logit. */
static inline float penalize(const struct sampler *s, int32_t id, float v)
{
    int32_t c = s->counts[id];
    if (c == 0) return v;
    /* Dividing a negative logit would make the token more likely: multiply. */
    if (v <= 0.0f)
        v *= s->params.repeat_penalty;
    else
        v /= s->params.repeat_penalty;
    return v - ((float)c * s->params.frequency_penalty + s->params.presence_penalty);
}

/* NaN becomes -inf (never chosen), +inf the largest float (so that
 * differences between logits stay finite). */
static inline float clean_logit(float v)
{
    if (isnan(v)) return -INFINITY;
    return v > FLT_MAX ? FLT_MAX : v;
}

/* The logit of id as the rest of the chain sees it. */
static inline float effective_logit(const struct sampler *s, const float *logits, int32_t id)
{
    float v = logits[id];
    if (s->penalties_on) v = penalize(s, id, v);
    return clean_logit(v);
}

/* a comes before b: larger logit, or equal logit and lower id. */
static inline bool cand_before(struct sampler_cand a, struct sampler_cand b)
{
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

static int cand_cmp(const void *pa, const void *pb)
{
    const struct sampler_cand *a = pa, *b = pb;
    if (cand_before(*a, *b)) return -1;
    if (cand_before(*b, *a)) return 1;
    return 0;
}

/* Restore the heap below i: a min-heap in candidate order, the root being
 * the candidate that comes last (the first to be pushed out). */
static void heap_sift_down(struct sampler_cand *h, int32_t n, int32_t i)
{
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, last = i;
        if (l < n && cand_before(h[last], h[l])) last = l;
        if (r < n && cand_before(h[last], h[r])) last = r;
        if (last == i) return;
        struct sampler_cand t = h[i];
        h[i] = h[last];
        h[last] = t;
        i = last;
    }
}

static void heap_sift_up(struct sampler_cand *h, int32_t i)
{
    while (i > 0) {
        int32_t parent = (i - 1) / 2;
        if (!cand_before(h[parent], h[i])) return;
        struct sampler_cand t = h[i];
        h[i] = h[parent];
        h[parent] = t;
        i = parent;
    }
}

static int32_t greedy(const struct sampler *s, const float *logits)
{
    /* without penalties the effective logits are the cleaned ones: the SIMD scan */
    if (!s->penalties_on) return (int32_t)kern_ops()->act_argmax(logits, s->n_vocab);
    int32_t best = 0;
    float best_v = effective_logit(s, logits, 0);
    for (int32_t i = 1; i < s->n_vocab; i++) {
        float v = effective_logit(s, logits, i);
        if (v > best_v) { /* strict: ties keep the lower id */
            best_v = v;
            best = i;
        }
    }
    return best;
}

/* Run steps 1-4 of the chain; leave the survivors in s->cand[0..n) with
 * *sorted telling whether they are in candidate order, and return n (>= 1). */
static int32_t filter_candidates(struct sampler *s, const float *logits, bool *sorted)
{
    const struct sampler_params *p = &s->params;
    struct sampler_cand *c = s->cand;
    int32_t n = 0;
    *sorted = false;

    /* Penalties and top-k, in one pass. */
    if (s->cand_cap < s->n_vocab) {
        const int32_t k = s->cand_cap;
        for (int32_t i = 0; i < s->n_vocab; i++) {
            struct sampler_cand x = {effective_logit(s, logits, i), i};
            if (n < k) {
                c[n] = x;
                heap_sift_up(c, n++);
            } else if (cand_before(x, c[0])) {
                c[0] = x;
                heap_sift_down(c, k, 0);
            }
        }
        qsort(c, (size_t)n, sizeof *c, cand_cmp);
        *sorted = true;
    } else {
        for (int32_t i = 0; i < s->n_vocab; i++)
            c[n++] = (struct sampler_cand){effective_logit(s, logits, i), i};
    }

    float max_logit = c[0].logit;
    for (int32_t i = 1; i < n && !*sorted; i++)
        if (c[i].logit > max_logit) max_logit = c[i].logit;
    if (max_logit == -INFINITY) {
        /* Nothing is possible: fall back to the first id in candidate order. */
        struct sampler_cand first = c[0];
        for (int32_t i = 1; i < n; i++)
            if (cand_before(c[i], first)) first = c[i];
        c[0] = first;
        return 1;
    }

    /* top-p's normalizer is over everything top-k kept (see the essay). On an
     * unsorted row, also histogram the mass by distance below the largest
     * logit, to sort only the part of the row top-p can keep (below). */
    double z = 0.0;
    double mass[TOPP_BUCKETS] = {0};
    if (p->top_p < 1.0f) {
        for (int32_t i = 0; i < n; i++) {
            double w = exp((double)c[i].logit - (double)max_logit);
            z += w;
            float below = max_logit - c[i].logit;
            if (!*sorted && below < TOPP_BUCKETS * TOPP_BUCKET_WIDTH)
                mass[(int)(below / TOPP_BUCKET_WIDTH)] += w;
        }
    }

    /* min-p: same test as llama.cpp, in float. */
    if (p->min_p > 0.0f) {
        const float min_logit = max_logit + logf(p->min_p);
        int32_t kept = 0;
        for (int32_t i = 0; i < n; i++)
            if (c[i].logit >= min_logit) c[kept++] = c[i];
        n = kept; /* >= 1: the largest logit always passes */
    }

    /* Before sorting a large row for top-p: the tokens within some distance
     * of the largest logit are a prefix of the sorted order; once their mass
     * reaches top_p, the top-p set lies inside them, so the rest can go
     * unsorted. One bucket more than needed absorbs rounding. */
    if (p->top_p < 1.0f && !*sorted && n > TOPP_PREFILTER_MIN) {
        double cum = 0.0, need = (double)p->top_p * z;
        for (int b = 0; b + 1 < TOPP_BUCKETS; b++) {
            cum += mass[b];
            if (cum >= need) {
                const float min_logit = max_logit - (float)(b + 2) * TOPP_BUCKET_WIDTH;
                int32_t kept = 0;
                for (int32_t i = 0; i < n; i++)
                    if (c[i].logit >= min_logit) c[kept++] = c[i];
                n = kept;
                break;
            }
        }
    }

    /* top-p: the shortest prefix reaching top_p of the probability mass. */
    if (p->top_p < 1.0f) {
        if (!*sorted) {
            qsort(c, (size_t)n, sizeof *c, cand_cmp);
            *sorted = true;
        }
        double cum = 0.0;
        for (int32_t i = 0; i < n; i++) {
            cum += exp((double)c[i].logit - (double)max_logit) / z;
            if (cum >= (double)p->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    return n;
}

/* Weight of a candidate at the sampler's temperature, relative to the largest. */
static inline double temp_weight(float logit, float max_logit, double inv_temp)
{
    return exp(((double)logit - (double)max_logit) * inv_temp);
}

static float max_of(const struct sampler_cand *c, int32_t n)
{
    float m = c[0].logit;
    for (int32_t i = 1; i < n; i++)
        if (c[i].logit > m) m = c[i].logit;
    return m;
}

int32_t sampler_sample(struct sampler *s, const float *logits)
{
    if (s->params.temperature <= 0.0f) return greedy(s, logits);
    bool sorted;
    int32_t n = filter_candidates(s, logits, &sorted);
    const struct sampler_cand *c = s->cand;
    if (n == 1) {
        rng_next(s->rng); /* keep the stream in step with the general case */
        return c[0].id;
    }
    const float m = max_of(c, n);
    const double inv_temp = 1.0 / (double)s->params.temperature;
    double total = 0.0;
    for (int32_t i = 0; i < n; i++) total += temp_weight(c[i].logit, m, inv_temp);
    /* Walk the cumulative weights to the point u of [0, total). */
    double u = rng_uniform(s->rng) * total, acc = 0.0;
    int32_t last_possible = c[0].id;
    for (int32_t i = 0; i < n; i++) {
        double w = temp_weight(c[i].logit, m, inv_temp);
        if (w <= 0.0) continue;
        last_possible = c[i].id;
        acc += w;
        if (u < acc) return c[i].id;
    }
    return last_possible; /* u landed past the sum by rounding */
}

int32_t sampler_distribution(struct sampler *s, const float *logits, int32_t *ids, float *probs,
                             int32_t cap)
{
    if (s->params.temperature <= 0.0f) {
        if (cap > 0) {
            ids[0] = greedy(s, logits);
            probs[0] = 1.0f;
        }
        return 1;
    }
    bool sorted;
    int32_t n = filter_candidates(s, logits, &sorted);
    struct sampler_cand *c = s->cand;
    if (!sorted) qsort(c, (size_t)n, sizeof *c, cand_cmp);
    const float m = c[0].logit;
    const double inv_temp = 1.0 / (double)s->params.temperature;
    double total = 0.0;
    for (int32_t i = 0; i < n; i++) total += temp_weight(c[i].logit, m, inv_temp);
    for (int32_t i = 0; i < n && i < cap; i++) {
        ids[i] = c[i].id;
        probs[i] = (float)(temp_weight(c[i].logit, m, inv_temp) / total);
    }
    return n;
}

void sampler_apply_penalties(const struct sampler *s, const float *logits, float *out)
{
    for (int32_t i = 0; i < s->n_vocab; i++)
        out[i] = s->penalties_on ? penalize(s, i, logits[i]) : logits[i];
}

/* ---- log probabilities of the raw row ---- */

/* max and log(sum exp(x - max)) of the row; *max is -inf if nothing is possible. */
static double log_normalizer(const float *logits, int32_t n_vocab, float *max)
{
    float m = -INFINITY;
    for (int32_t i = 0; i < n_vocab; i++) {
        float v = clean_logit(logits[i]);
        if (v > m) m = v;
    }
    *max = m;
    if (m == -INFINITY) return 0.0;
    double z = 0.0;
    for (int32_t i = 0; i < n_vocab; i++) z += exp((double)clean_logit(logits[i]) - (double)m);
    return log(z);
}

float sampler_logprob(const float *logits, int32_t n_vocab, int32_t id)
{
    if (id < 0 || id >= n_vocab) {
        fprintf(stderr, "sampler_logprob: token %d outside the vocabulary of %d\n", (int)id,
                (int)n_vocab);
        abort();
    }
    float m;
    double log_z = log_normalizer(logits, n_vocab, &m);
    float v = clean_logit(logits[id]);
    if (v == -INFINITY) return -INFINITY;
    return (float)((double)v - (double)m - log_z);
}

int32_t sampler_top_logprobs(const float *logits, int32_t n_vocab, int32_t n, int32_t *ids,
                             float *logprobs)
{
    if (n <= 0) return 0;
    if (n > n_vocab) n = n_vocab;
    /* Insertion into a sorted list of n; logprobs[] holds logits until the end. */
    int32_t have = 0;
    for (int32_t i = 0; i < n_vocab; i++) {
        struct sampler_cand x = {clean_logit(logits[i]), i};
        if (have == n && !cand_before(x, (struct sampler_cand){logprobs[n - 1], ids[n - 1]}))
            continue;
        int32_t j = have < n ? have++ : n - 1;
        while (j > 0 && cand_before(x, (struct sampler_cand){logprobs[j - 1], ids[j - 1]})) {
            logprobs[j] = logprobs[j - 1];
            ids[j] = ids[j - 1];
            j--;
        }
        logprobs[j] = x.logit;
        ids[j] = x.id;
    }
    float m;
    double log_z = log_normalizer(logits, n_vocab, &m);
    for (int32_t j = 0; j < n; j++)
        logprobs[j] = logprobs[j] == -INFINITY
                          ? -INFINITY
                          : (float)((double)logprobs[j] - (double)m - log_z);
    return n;
}
