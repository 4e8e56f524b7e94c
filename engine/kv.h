/* kv.h - the KV cache: fixed per-sequence slots allocated once at start.
 *
 * Slot s holds keys and values of one sequence for positions 0..n_ctx-1 of
 * every layer. A batch row reaches its KV through its slot index, so the
 * scheduler can compact its row tables without ever moving KV data.
 * Layout per (slot, layer): K then V, each (n_head_kv, n_ctx, head_dim) f32:
 * one KV head's positions are contiguous, so the attention of a sequence and
 * KV head streams one block of memory (with positions interleaving all heads,
 * each key row would be a short piece of a strided walk, and the hardware
 * prefetchers fetch the neighbouring heads' bytes too).
 */
#ifndef LF_KV_H
#define LF_KV_H

#include <stddef.h>
#include <stdint.h>

struct kv_cache {
    int32_t n_slots;
    int32_t n_ctx;
    int32_t n_layer;
    int32_t n_head_kv, head_dim;
    int32_t kv_dim; /* n_head_kv * head_dim */
    float *data;    /* (n_slots, n_layer, 2, n_head_kv, n_ctx, head_dim) */
    size_t bytes;   /* of data (huge-page-advised mapping, engine/mem.h) */
};

/* Allocate (zeroed). LF_ERR_INVALID for non-positive sizes, LF_ERR_NOMEM if the
 * cache does not fit (message gives the byte count). */
int kv_new(int32_t n_slots, int32_t n_ctx, int32_t n_layer, int32_t n_head_kv, int32_t head_dim,
           struct kv_cache **out, char *err, size_t err_len);
void kv_free(struct kv_cache *kv);

/* Bytes the cache would take (0 on overflow). */
uint64_t kv_bytes(int32_t n_slots, int32_t n_ctx, int32_t n_layer, int32_t n_head_kv,
                  int32_t head_dim);

/* Copy positions [0, n_pos) of every layer from slot src to slot dst (used to
 * fork a sequence, e.g. benchmarks decoding many sequences after one prefill). */
void kv_copy_prefix(struct kv_cache *kv, int32_t src, int32_t dst, int32_t n_pos);

/* Keys (n_ctx, head_dim) of one slot, layer and KV head; the values likewise. */
static inline float *kv_keys(const struct kv_cache *kv, int32_t slot, int32_t layer, int32_t head)
{
    const size_t block = (size_t)kv->n_ctx * kv->head_dim;
    return kv->data + ((((size_t)slot * kv->n_layer + layer) * 2) * kv->n_head_kv + head) * block;
}
static inline float *kv_values(const struct kv_cache *kv, int32_t slot, int32_t layer, int32_t head)
{
    return kv_keys(kv, slot, layer, head) + (size_t)kv->n_head_kv * kv->n_ctx * kv->head_dim;
}

#endif
