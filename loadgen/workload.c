/* workload.c - seeded random numbers, arrival times and prompts (see workload.h). */
#include "loadgen/workload.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- random numbers: xoshiro256** seeded through splitmix64 ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void lg_rng_seed(struct lg_rng *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t lg_rng_next(struct lg_rng *rng)
{
    uint64_t *s = rng->s;
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

double lg_rng_uniform(struct lg_rng *rng)
{
    return (double)(lg_rng_next(rng) >> 11) * 0x1.0p-53; /* 53 random bits */
}

int64_t lg_rng_range(struct lg_rng *rng, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)(hi - lo) + 1;
    if (span == 0) return lo + (int64_t)lg_rng_next(rng); /* the full 64-bit range */
    /* Reject the top partial block so every value is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % span;
    uint64_t x;
    do x = lg_rng_next(rng);
    while (x >= limit);
    return lo + (int64_t)(x % span);
}

/* Standard normal by Box-Muller (one of the pair is dropped: simplicity
 * over speed, arrival times are drawn once per run). */
static double rng_normal(struct lg_rng *rng)
{
    double u1 = 1.0 - lg_rng_uniform(rng); /* (0, 1]: log is finite */
    double u2 = lg_rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double lg_rng_gamma(struct lg_rng *rng, double shape, double scale)
{
    if (shape < 1.0) {
        /* Boost: gamma(a) = gamma(a + 1) * U^(1/a). */
        double u = 1.0 - lg_rng_uniform(rng);
        return lg_rng_gamma(rng, shape + 1.0, scale) * pow(u, 1.0 / shape);
    }
    /* Marsaglia and Tsang (2000), "A simple method for generating gamma
     * variables": a squeezed rejection from a transformed normal. */
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = rng_normal(rng);
        double v = 1.0 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = 1.0 - lg_rng_uniform(rng);
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v * scale;
        if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v * scale;
    }
}

int lg_arrival_times(double rate, double burstiness, uint64_t seed, size_t n, double *out)
{
    if (!(rate > 0) || !(burstiness > 0)) return LG_ERR_INVALID;
    if (n == 0) return 0;
    if (isinf(rate)) {
        for (size_t i = 0; i < n; i++) out[i] = 0;
        return 0;
    }
    struct lg_rng rng;
    lg_rng_seed(&rng, seed ^ 0x41525249564Cull); /* a stream apart from the prompts' */
    double t = 0;
    for (size_t i = 0; i < n; i++) {
        double gap = isinf(burstiness) ? 1.0 / rate
                                       : lg_rng_gamma(&rng, burstiness, 1.0 / (rate * burstiness));
        t += gap;
        out[i] = t;
    }
    /* Scale so the last request is due at exactly n/rate (vLLM does this to
     * make the offered load the same whatever the seed). */
    double k = ((double)n / rate) / out[n - 1];
    for (size_t i = 0; i < n; i++) out[i] *= k;
    return 0;
}

/* ---- prompts ---- */

/* Common English words; each is one token, with its leading space, in the
 * Llama 2 SPM and Llama 3 BPE vocabularies, and one token without the space
 * in Llama 3 BPE (checked against the vocabularies in the test data). */
static const char *const g_words[] = {
    "the", "of", "and", "to", "in", "is", "was", "for", "that", "with", "on", "as", "by", "at",
    "from", "his", "her", "they", "this", "which", "be", "are", "or", "had", "an", "were",
    "but", "not", "have", "one", "all", "their", "been", "has", "there", "who", "more", "when",
    "will", "would", "can", "its", "about", "out", "into", "up", "them", "some", "time",
    "these", "two", "other", "then", "only", "new", "first", "over", "also", "may", "after",
    "such", "than", "most", "made", "could", "many", "so", "our", "did", "where", "just",
    "like", "even", "back", "well", "because", "any", "through", "each", "much", "way", "good",
    "people", "see", "years", "how", "man", "should", "before", "long", "three", "own", "know",
    "old", "world", "still", "while", "great", "work", "life", "day", "here", "down", "last",
    "used", "must", "being", "same", "us", "between", "both", "never", "under", "might", "part",
    "around", "another", "home", "place", "right", "small", "take", "since", "without", "think",
    "number", "again", "off", "against", "school", "every", "house", "water", "few", "state",
    "family", "end", "high", "year", "city", "next", "during", "better", "come", "given", "far",
    "area", "point", "government", "children", "early", "general", "public", "said", "name",
    "young", "hand", "power", "country", "form", "fact", "order", "almost", "side", "line",
    "important", "later", "often", "case", "large", "rather", "away", "company", "different",
    "thought", "though", "once", "local", "free", "why", "less", "among", "interest", "best",
    "whole", "war", "yet", "group", "whether", "night", "thing", "half", "body", "light",
    "within", "nothing", "until", "known", "went", "took", "shall", "something", "need",
    "white", "mind", "left", "above", "came", "question", "possible", "matter", "kind",
    "course", "already", "room", "social", "problem", "found", "really", "change", "head",
    "upon", "political", "however", "seen", "past", "along", "today", "feel", "least", "short",
    "system", "mother", "money", "story", "law", "real", "development", "river", "level",
    "ground", "field", "open", "word", "history", "music", "art", "book", "game", "food",
    "road", "ship", "star", "tree", "wind", "fire",
};

const char *const *lg_words(size_t *n)
{
    *n = sizeof g_words / sizeof g_words[0];
    return g_words;
}

void lg_workload_free(struct lg_workload *wl)
{
    if (!wl) return;
    for (size_t i = 0; i < wl->n; i++) {
        free(wl->items[i].text);
        free(wl->items[i].ids);
    }
    free(wl->items);
    memset(wl, 0, sizeof *wl);
}

/* A prompt of n random words separated by single spaces. */
static char *random_words(struct lg_rng *rng, int n)
{
    size_t n_words;
    const char *const *words = lg_words(&n_words);
    size_t cap = 64, len = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    s[0] = 0;
    for (int i = 0; i < n; i++) {
        const char *w = words[lg_rng_range(rng, 0, (int64_t)n_words - 1)];
        size_t wl = strlen(w);
        if (len + wl + 2 > cap) {
            while (len + wl + 2 > cap) cap *= 2;
            char *t = realloc(s, cap);
            if (!t) {
                free(s);
                return NULL;
            }
            s = t;
        }
        if (i > 0) s[len++] = ' ';
        memcpy(s + len, w, wl);
        len += wl;
        s[len] = 0;
    }
    return s;
}

/* Lengths uniform in [floor(L(1-r)), ceil(L(1+r))], as vLLM's random set. */
static void length_bounds(int len, double r, int min, int *lo, int *hi)
{
    *lo = (int)floor(len * (1.0 - r));
    *hi = (int)ceil(len * (1.0 + r));
    if (*lo < min) *lo = min;
    if (*hi < *lo) *hi = *lo;
}

static int make_random(const struct lg_config *cfg, size_t n, struct lg_workload *wl, char *err,
                       size_t err_len)
{
    if (cfg->input_len < 1 || cfg->output_len < 1)
        return lg_errf(err, err_len, LG_ERR_INVALID, "input and output lengths must be >= 1");
    if (!(cfg->range_ratio >= 0 && cfg->range_ratio < 1))
        return lg_errf(err, err_len, LG_ERR_INVALID, "range ratio must be in [0, 1)");
    if (cfg->token_ids && cfg->vocab_size <= 100)
        return lg_errf(err, err_len, LG_ERR_INVALID, "vocab size must be > 100");
    int in_lo, in_hi, out_lo, out_hi;
    length_bounds(cfg->input_len, cfg->range_ratio, 1, &in_lo, &in_hi);
    length_bounds(cfg->output_len, cfg->range_ratio, 1, &out_lo, &out_hi);
    struct lg_rng rng;
    lg_rng_seed(&rng, cfg->seed);
    for (size_t i = 0; i < n; i++) {
        struct lg_prompt *p = &wl->items[i];
        p->prompt_len = (int)lg_rng_range(&rng, in_lo, in_hi);
        p->output_len = (int)lg_rng_range(&rng, out_lo, out_hi);
        if (cfg->token_ids) {
            p->ids = malloc((size_t)p->prompt_len * sizeof *p->ids);
            if (!p->ids) return lg_errf(err, err_len, LG_ERR_NOMEM, "out of memory");
            p->n_ids = p->prompt_len;
            for (int j = 0; j < p->n_ids; j++)
                p->ids[j] = (int)lg_rng_range(&rng, 100, cfg->vocab_size - 1);
        } else {
            p->text = random_words(&rng, p->prompt_len);
            if (!p->text) return lg_errf(err, err_len, LG_ERR_NOMEM, "out of memory");
        }
    }
    return 0;
}

static int count_words(const char *s)
{
    int n = 0, in_word = 0;
    for (; *s; s++) {
        int space = *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r';
        if (!space && !in_word) n++;
        in_word = !space;
    }
    return n;
}

/* Parse one dataset line into *p. */
static int parse_line(const char *line, size_t len, int default_out, struct lg_prompt *p,
                      const char *path, long lineno, char *err, size_t err_len)
{
    json_error_t jerr;
    json_t *obj = json_loadb(line, len, 0, &jerr);
    int rc = LG_ERR_FORMAT;
    if (!obj || !json_is_object(obj)) {
        lg_errf(err, err_len, rc, "%s:%ld: not a JSON object%s%s", path, lineno,
                obj ? "" : ": ", obj ? "" : jerr.text);
        goto done;
    }
    json_t *prompt = json_object_get(obj, "prompt");
    if (!json_is_string(prompt)) {
        lg_errf(err, err_len, rc, "%s:%ld: \"prompt\" must be a string", path, lineno);
        goto done;
    }
    json_t *out = json_object_get(obj, "output_len");
    p->output_len = default_out;
    if (out && !json_is_null(out)) {
        if (!json_is_integer(out) || json_integer_value(out) < 1 ||
            json_integer_value(out) > 1000000) {
            lg_errf(err, err_len, rc, "%s:%ld: \"output_len\" must be an integer in [1, 1e6]",
                    path, lineno);
            goto done;
        }
        p->output_len = (int)json_integer_value(out);
    }
    p->text = strdup(json_string_value(prompt));
    if (!p->text) {
        rc = lg_errf(err, err_len, LG_ERR_NOMEM, "out of memory");
        goto done;
    }
    p->prompt_len = count_words(p->text);
    rc = 0;
done:
    json_decref(obj);
    return rc;
}

/* Read every non-blank line of the JSONL file into *out (n_out of them). */
static int read_dataset(const struct lg_config *cfg, struct lg_prompt **out, size_t *n_out,
                        char *err, size_t err_len)
{
    FILE *f = fopen(cfg->dataset, "rb");
    if (!f) return lg_errf(err, err_len, LG_ERR_IO, "cannot open dataset %s", cfg->dataset);
    struct lg_prompt *items = NULL;
    size_t n = 0, cap = 0;
    char *line = NULL;
    size_t line_cap = 0;
    long lineno = 0;
    int rc = 0;
    ssize_t len;
    while ((len = getline(&line, &line_cap, f)) >= 0) {
        lineno++;
        int blank = 1;
        for (ssize_t i = 0; i < len; i++)
            if (line[i] != ' ' && line[i] != '\t' && line[i] != '\n' && line[i] != '\r') blank = 0;
        if (blank) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct lg_prompt *t = realloc(items, cap * sizeof *t);
            if (!t) {
                rc = lg_errf(err, err_len, LG_ERR_NOMEM, "out of memory");
                goto fail;
            }
            items = t;
        }
        memset(&items[n], 0, sizeof items[n]);
        rc = parse_line(line, (size_t)len, cfg->output_len, &items[n], cfg->dataset, lineno, err,
                        err_len);
        if (rc) goto fail;
        n++;
    }
    if (ferror(f)) {
        rc = lg_errf(err, err_len, LG_ERR_IO, "cannot read dataset %s", cfg->dataset);
        goto fail;
    }
    if (n == 0) {
        rc = lg_errf(err, err_len, LG_ERR_FORMAT, "dataset %s has no prompts", cfg->dataset);
        goto fail;
    }
    free(line);
    fclose(f);
    *out = items;
    *n_out = n;
    return 0;
fail:
    for (size_t i = 0; i < n; i++) free(items[i].text);
    free(items);
    free(line);
    fclose(f);
    return rc;
}

int lg_workload_make(const struct lg_config *cfg, struct lg_workload *wl, char *err,
                     size_t err_len)
{
    memset(wl, 0, sizeof *wl);
    if (cfg->num_prompts < 0)
        return lg_errf(err, err_len, LG_ERR_INVALID, "number of prompts must be >= 0");
    if (cfg->dataset) {
        struct lg_prompt *lines = NULL;
        size_t n_lines = 0;
        int rc = read_dataset(cfg, &lines, &n_lines, err, err_len);
        if (rc) return rc;
        size_t n = cfg->num_prompts > 0 ? (size_t)cfg->num_prompts : n_lines;
        if (n == n_lines) {
            wl->items = lines;
            wl->n = n;
            return 0;
        }
        /* Fewer: the first n lines. More: reuse the lines in order. */
        wl->items = calloc(n, sizeof *wl->items);
        if (!wl->items) rc = lg_errf(err, err_len, LG_ERR_NOMEM, "out of memory");
        for (size_t i = 0; !rc && i < n; i++) {
            wl->items[i] = lines[i % n_lines];
            wl->items[i].text = strdup(lines[i % n_lines].text);
            wl->n = i + 1;
            if (!wl->items[i].text) rc = lg_errf(err, err_len, LG_ERR_NOMEM, "out of memory");
        }
        for (size_t i = 0; i < n_lines; i++) free(lines[i].text);
        free(lines);
        if (rc) lg_workload_free(wl);
        return rc;
    }
    size_t n = cfg->num_prompts > 0 ? (size_t)cfg->num_prompts : 64;
    wl->items = calloc(n, sizeof *wl->items);
    if (!wl->items) return lg_errf(err, err_len, LG_ERR_NOMEM, "out of memory");
    wl->n = n;
    int rc = make_random(cfg, n, wl, err, err_len);
    if (rc) lg_workload_free(wl);
    return rc;
}
