/* kv.c - KV cache allocation. */
#include "engine/kv.h"

#include "engine/mem.h"
#include "engine/status.h"

#include <stdlib.h>
#include <string.h>

static size_t elem_size(enum kv_type type)
{
    return type == KV_F16 ? 2 : 4;
}

const char *kv_type_name(enum kv_type type)
{
    return type == KV_F16 ? "f16" : "f32";
}

int kv_type_parse(const char *name, enum kv_type *out)
{
    if (strcmp(name, "f32") == 0)
        *out = KV_F32;
    else if (strcmp(name, "f16") == 0)
        *out = KV_F16;
    else
        return LF_ERR_INVALID;
    return 0;
}

uint64_t kv_bytes(int32_t n_slots, int32_t n_ctx, int32_t n_layer, int32_t n_head_kv,
                  int32_t head_dim, enum kv_type type)
{
    if (n_slots <= 0 || n_ctx <= 0 || n_layer <= 0 || n_head_kv <= 0 || head_dim <= 0) return 0;
    const uint64_t kv_dim = (uint64_t)n_head_kv * (uint64_t)head_dim; /* < 2^62 */
    uint64_t n = (uint64_t)n_slots * (uint64_t)n_layer;               /* each factor < 2^31 */
    n *= 2u * (uint64_t)n_ctx;
    const uint64_t el = elem_size(type);
    if (kv_dim > UINT64_MAX / el || n > UINT64_MAX / (kv_dim * el)) return 0;
    return n * kv_dim * el;
}

int kv_new(int32_t n_slots, int32_t n_ctx, int32_t n_layer, int32_t n_head_kv, int32_t head_dim,
           enum kv_type type, struct kv_cache **out, char *err, size_t err_len)
{
    *out = NULL;
    if (type != KV_F32 && type != KV_F16)
        return lf_errf(err, err_len, LF_ERR_INVALID, "KV cache type %d is unknown", (int)type);
    uint64_t bytes = kv_bytes(n_slots, n_ctx, n_layer, n_head_kv, head_dim, type);
    if (bytes == 0)
        return lf_errf(err, err_len, LF_ERR_INVALID,
                       "KV cache of %d slots x %d positions is invalid", n_slots, n_ctx);
    struct kv_cache *kv = calloc(1, sizeof *kv);
    if (!kv) return LF_ERR_NOMEM;
    kv->data = bytes <= SIZE_MAX ? lf_big_alloc((size_t)bytes) : NULL;
    kv->bytes = (size_t)bytes;
    if (!kv->data) {
        free(kv);
        return lf_errf(err, err_len, LF_ERR_NOMEM,
                       "cannot allocate a KV cache of %.1f MiB (%d slots x %d positions, %s)",
                       (double)bytes / (1 << 20), n_slots, n_ctx, kv_type_name(type));
    }
    kv->type = type;
    kv->elem = elem_size(type);
    kv->n_slots = n_slots;
    kv->n_ctx = n_ctx;
    kv->n_layer = n_layer;
    kv->n_head_kv = n_head_kv;
    kv->head_dim = head_dim;
    *out = kv;
    return 0;
}

void kv_free(struct kv_cache *kv)
{
    if (!kv) return;
    lf_big_free(kv->data, kv->bytes);
    free(kv);
}

void kv_copy_prefix(struct kv_cache *kv, int32_t src, int32_t dst, int32_t n_pos)
{
    const size_t n = (size_t)n_pos * kv->head_dim * kv->elem;
    for (int32_t l = 0; l < kv->n_layer; l++)
        for (int32_t h = 0; h < kv->n_head_kv; h++) {
            memcpy(kv_keys(kv, dst, l, h), kv_keys(kv, src, l, h), n);
            memcpy(kv_values(kv, dst, l, h), kv_values(kv, src, l, h), n);
        }
}
