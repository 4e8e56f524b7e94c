/* workload.h - what a run sends and when: prompts and arrival times.
 *
 * Everything random comes from one seeded generator (xoshiro256**), so a run
 * is the same workload on any machine for a given --seed.
 *
 * Arrivals follow vllm bench serve: gaps between requests are drawn from a
 * gamma distribution with shape = burstiness and scale = 1/(rate*burstiness)
 * (mean gap 1/rate; burstiness 1 is a Poisson process, < 1 burstier, > 1
 * more even); the cumulative times are then scaled so the last request is
 * due at exactly n/rate, as vLLM does to steady the offered load across
 * seeds. An infinite rate makes every request due at 0.
 *
 * Random prompts are words drawn from a fixed list of common English words,
 * each of which is a single token (with its leading space) in both the
 * Llama 2 SentencePiece and the Llama 3 BPE vocabularies, so a prompt of N
 * words is about N tokens; the server adds its BOS and chat-template tokens.
 * The exact count comes back in the usage chunk when the server reports it.
 */
#ifndef LG_WORKLOAD_H
#define LG_WORKLOAD_H

#include "loadgen/loadgen.h"

#include <stddef.h>
#include <stdint.h>

/* A small, fast, well-tested generator; state is four words. */
struct lg_rng {
    uint64_t s[4];
};

void lg_rng_seed(struct lg_rng *rng, uint64_t seed);
uint64_t lg_rng_next(struct lg_rng *rng);
/* Uniform in [0, 1). */
double lg_rng_uniform(struct lg_rng *rng);
/* Uniform integer in [lo, hi] (lo <= hi). */
int64_t lg_rng_range(struct lg_rng *rng, int64_t lo, int64_t hi);
/* A gamma(shape, scale) draw (shape > 0, scale > 0). */
double lg_rng_gamma(struct lg_rng *rng, double shape, double scale);

/* When each of n requests becomes due, in seconds from the start, as
 * described above; deterministic in seed. rate > 0 (INFINITY allowed),
 * burstiness > 0 (INFINITY: even spacing). Returns 0 or LG_ERR_INVALID. */
int lg_arrival_times(double rate, double burstiness, uint64_t seed, size_t n, double *out);

/* One request's input. Exactly one of text and ids is set. */
struct lg_prompt {
    char *text;        /* prompt string */
    int *ids;          /* or token ids (n_ids of them) */
    int n_ids;
    int prompt_len;    /* planned length in tokens (words for text) */
    int output_len;    /* max_tokens to ask for */
};

struct lg_workload {
    struct lg_prompt *items;
    size_t n;
};

/* The fixed word list (borrowed, static). */
const char *const *lg_words(size_t *n);

/* Build the prompts of a run from cfg: random words (or ids with
 * cfg->token_ids) of lengths in [floor(L(1-r)), ceil(L(1+r))] (output at
 * least 1), or the lines of cfg->dataset. A dataset is JSONL, one object per
 * line with "prompt" (string) and optional "output_len" (positive integer,
 * else cfg->output_len); blank lines are skipped; with num_prompts larger
 * than the file the lines are reused in order. Returns 0, LG_ERR_IO,
 * LG_ERR_FORMAT (bad line, message names it), LG_ERR_INVALID, LG_ERR_NOMEM. */
int lg_workload_make(const struct lg_config *cfg, struct lg_workload *wl, char *err,
                     size_t err_len);

/* NULL-safe; zeroes *wl. */
void lg_workload_free(struct lg_workload *wl);

#endif
