/* sampler_params.c - the sampling parameters' defaults and their checks
 * (sampler.h), apart from the sampler itself so that code which only parses
 * requests (the API layer and its fuzzer) needs nothing of the kernels the
 * sampler calls. */
#include "engine/sampler.h"

#include "engine/status.h"

#include <float.h>

struct sampler_params sampler_params_default(void)
{
    return (struct sampler_params){
        .temperature = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .repeat_last_n = 64,
        .presence_penalty = 0.0f,
        .frequency_penalty = 0.0f,
        .seed = 0,
    };
}

int sampler_params_validate(const struct sampler_params *p, char *err, size_t err_len)
{
    /* Written so that NaN fails every test (comparisons with NaN are false). */
    if (!(p->temperature >= 0.0f && p->temperature <= 100.0f))
        return lf_errf(err, err_len, LF_ERR_INVALID, "temperature must be in [0, 100] (got %g)",
                       (double)p->temperature);
    if (p->top_k < 0)
        return lf_errf(err, err_len, LF_ERR_INVALID, "top_k must be >= 0 (got %d)", (int)p->top_k);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return lf_errf(err, err_len, LF_ERR_INVALID, "top_p must be in (0, 1] (got %g)",
                       (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return lf_errf(err, err_len, LF_ERR_INVALID, "min_p must be in [0, 1] (got %g)",
                       (double)p->min_p);
    if (!(p->repeat_penalty > 0.0f && p->repeat_penalty <= FLT_MAX))
        return lf_errf(err, err_len, LF_ERR_INVALID,
                       "repeat_penalty must be a finite number > 0 (got %g)",
                       (double)p->repeat_penalty);
    if (p->repeat_last_n < -1 || p->repeat_last_n > SAMPLER_MAX_LAST_N)
        return lf_errf(err, err_len, LF_ERR_INVALID, "repeat_last_n must be in [-1, %d] (got %d)",
                       SAMPLER_MAX_LAST_N, (int)p->repeat_last_n);
    if (!(p->presence_penalty >= -2.0f && p->presence_penalty <= 2.0f))
        return lf_errf(err, err_len, LF_ERR_INVALID, "presence_penalty must be in [-2, 2] (got %g)",
                       (double)p->presence_penalty);
    if (!(p->frequency_penalty >= -2.0f && p->frequency_penalty <= 2.0f))
        return lf_errf(err, err_len, LF_ERR_INVALID,
                       "frequency_penalty must be in [-2, 2] (got %g)",
                       (double)p->frequency_penalty);
    return 0;
}
