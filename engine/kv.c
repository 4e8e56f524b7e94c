/* kv.c - KV cache allocation. */
#include "engine/kv.h"

#include "engine/status.h"

#include <stdlib.h>
#include <string.h>

uint64_t kv_bytes(int32_t n_slots, int32_t n_ctx, int32_t n_layer, int32_t kv_dim)
{
    if (n_slots <= 0 || n_ctx <= 0 || n_layer <= 0 || kv_dim <= 0) return 0;
    uint64_t n = (uint64_t)n_slots * (uint64_t)n_layer; /* each factor < 2^31 */
    n *= 2u * (uint64_t)n_ctx;
    if (n > UINT64_MAX / ((uint64_t)kv_dim * sizeof(float))) return 0;
    return n * (uint64_t)kv_dim * sizeof(float);
}

int kv_new(int32_t n_slots, int32_t n_ctx, int32_t n_layer, int32_t kv_dim, struct kv_cache **out,
           char *err, size_t err_len)
{
    *out = NULL;
    uint64_t bytes = kv_bytes(n_slots, n_ctx, n_layer, kv_dim);
    if (bytes == 0)
        return lf_errf(err, err_len, LF_ERR_INVALID, "KV cache of %d slots x %d positions is invalid",
                       n_slots, n_ctx);
    struct kv_cache *kv = calloc(1, sizeof *kv);
    if (!kv) return LF_ERR_NOMEM;
    kv->data = bytes <= SIZE_MAX ? calloc(1, (size_t)bytes) : NULL;
    if (!kv->data) {
        free(kv);
        return lf_errf(err, err_len, LF_ERR_NOMEM,
                       "cannot allocate a KV cache of %.1f MiB (%d slots x %d positions)",
                       (double)bytes / (1 << 20), n_slots, n_ctx);
    }
    kv->n_slots = n_slots;
    kv->n_ctx = n_ctx;
    kv->n_layer = n_layer;
    kv->kv_dim = kv_dim;
    *out = kv;
    return 0;
}

void kv_free(struct kv_cache *kv)
{
    if (!kv) return;
    free(kv->data);
    free(kv);
}

void kv_copy_prefix(struct kv_cache *kv, int32_t src, int32_t dst, int32_t n_pos)
{
    const size_t n = (size_t)n_pos * kv->kv_dim * sizeof(float);
    for (int32_t l = 0; l < kv->n_layer; l++) {
        memcpy(kv_keys(kv, dst, l), kv_keys(kv, src, l), n);
        memcpy(kv_values(kv, dst, l), kv_values(kv, src, l), n);
    }
}
