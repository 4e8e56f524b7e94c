/* sampler.h - choosing the next token from a row of logits, per request.
 *
 * One struct sampler per request: its parameters, its own random generator
 * (seeded from the request's seed, so a request is reproducible on any
 * machine), the history of tokens the penalties look at, and scratch sized
 * once at sampler_new so that sampling never allocates.
 *
 * The chain is llama.cpp's default order (common/sampling: penalties, top-k,
 * top-p, min-p, temperature, then the draw):
 *   1. penalties   for each token seen in the last repeat_last_n accepted ids,
 *                  with count c:  logit = logit <= 0 ? logit * repeat_penalty
 *                                                    : logit / repeat_penalty
 *                  then logit -= c * frequency_penalty + presence_penalty;
 *   2. top-k       keep the k largest logits (0 = off);
 *   3. top-p       keep the smallest prefix, by falling probability, whose
 *                  probability (softmax over what top-k kept, temperature 1)
 *                  sums to >= top_p (1 = off);
 *   4. min-p       keep tokens whose probability is >= min_p times the
 *                  largest one, i.e. logit >= max + log(min_p) (0 = off);
 *   5. temperature softmax(logit / temperature) over what is left, then draw.
 * Temperature comes last, as in llama.cpp: it reshapes the final
 * distribution but does not change which tokens top-p and min-p keep.
 * temperature <= 0 is greedy: the argmax after penalties (ties: lowest id),
 * and no random number is used.
 *
 * Ties anywhere are broken by the lower id, so results do not depend on the
 * sort routine. NaN logits count as -inf, +inf as the largest finite float.
 */
#ifndef LF_SAMPLER_H
#define LF_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

struct sampler;

struct sampler_params {
    float temperature;       /* <= 0: greedy. Default 0.8 */
    int32_t top_k;           /* 0 = off. Default 40 */
    float top_p;             /* (0, 1], 1 = off. Default 0.95 */
    float min_p;             /* [0, 1], 0 = off. Default 0.05 */
    float repeat_penalty;    /* > 0, 1 = off. Default 1.0 (off) */
    int32_t repeat_last_n;   /* ids the penalties look back over: 0 = off, -1 = all
                                accepted so far. Default 64 */
    float presence_penalty;  /* [-2, 2], subtracted once per seen token. Default 0 */
    float frequency_penalty; /* [-2, 2], subtracted per occurrence. Default 0 */
    uint64_t seed;           /* used as given; choosing a random one when a request
                                names none is the caller's job. Default 0 */
};

/* Largest repeat_last_n accepted (the history ring is allocated at that size). */
#define SAMPLER_MAX_LAST_N (1 << 20)

/* The defaults of llama.cpp's server (values in the comments above). */
struct sampler_params sampler_params_default(void);

/* 0, or LF_ERR_INVALID with a message naming the field and its range:
 * temperature NaN or outside [0, 100]; top_k < 0; top_p NaN or outside
 * (0, 1]; min_p NaN or outside [0, 1]; repeat_penalty not finite or <= 0;
 * repeat_last_n < -1 or > SAMPLER_MAX_LAST_N; presence_penalty or
 * frequency_penalty NaN or outside [-2, 2]. err may be NULL. */
int sampler_params_validate(const struct sampler_params *p, char *err, size_t err_len);

/* A sampler for a vocabulary of n_vocab ids with a copy of *p. Allocates
 * all scratch now (about 8 bytes per candidate: min(top_k, n_vocab), or
 * n_vocab when top_k is 0; plus 4 bytes per id and per repeat_last_n when
 * penalties are on). Returns 0 and *out (owned by the caller),
 * LF_ERR_INVALID for bad params (use sampler_params_validate for the
 * message) or n_vocab <= 0, or LF_ERR_NOMEM. */
int sampler_new(const struct sampler_params *p, int32_t n_vocab, struct sampler **out);

/* NULL is a no-op. */
void sampler_free(struct sampler *s);

/* Forget the history and reseed the generator: the sampler then behaves as
 * if just created. */
void sampler_reset(struct sampler *s);

/* Tell the sampler that id is now in the sequence: call it for every prompt
 * token and for every token generated (sampler_sample does not do it). Only
 * the last repeat_last_n count for the penalties. Does nothing if penalties
 * are off. 0 <= id < n_vocab (checked always; a bad id aborts). */
void sampler_accept(struct sampler *s, int32_t id);

/* The next token for a row of n_vocab logits (not modified). Uses exactly
 * one number from the sampler's generator (none when greedy), however many
 * candidates are left, so later draws do not depend on this row's shape.
 * If no token has a logit above -inf, returns the lowest id. Never allocates.
 * A sampler belongs to one request: one thread at a time. */
int32_t sampler_sample(struct sampler *s, const float *logits);

/* The distribution sampler_sample draws from for this row: the candidates
 * left after the chain, by falling probability (ties: lower id first), and
 * their probabilities (after temperature; they sum to 1). Writes up to cap
 * entries and returns how many candidates there are (greedy: 1, with
 * probability 1). Does not touch the generator or the history; for tests and
 * diagnostics. */
int32_t sampler_distribution(struct sampler *s, const float *logits, int32_t *ids, float *probs,
                             int32_t cap);

/* out[i] = logits[i] after the penalties (step 1 above) for the current
 * history; out may equal logits. */
void sampler_apply_penalties(const struct sampler *s, const float *logits, float *out);

/* log softmax(logits)[id] at temperature 1, without penalties: what the
 * model gave the token (for the API's logprobs). -inf for a token with a
 * NaN or -inf logit. 0 <= id < n_vocab. */
float sampler_logprob(const float *logits, int32_t n_vocab, int32_t id);

/* The n most likely ids of the row (ties: lower id first) and their log
 * probabilities as sampler_logprob gives them, most likely first. Writes
 * min(n, n_vocab) entries and returns that count (0 if n <= 0). Meant for
 * small n (the API allows up to 20): costs O(n_vocab * n) at worst. */
int32_t sampler_top_logprobs(const float *logits, int32_t n_vocab, int32_t n, int32_t *ids,
                             float *logprobs);

#endif
