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

/* Element type of the cache: f32 keeps K and V exactly as computed; f16
 * (IEEE half, rounded to nearest even when written, exact when read) halves
 * the memory and the bytes attention streams at every step. */
enum kv_type { KV_F32, KV_F16 };

struct kv_cache {
    enum kv_type type;
    int32_t n_slots;
    int32_t n_ctx;
    int32_t n_layer;
    int32_t n_head_kv, head_dim;
    size_t elem;  /* bytes per element: 4 or 2 */
    char *data;   /* (n_slots, n_layer, 2, n_head_kv, n_ctx, head_dim) elements */
    size_t bytes; /* of data (huge-page-advised mapping, engine/mem.h) */
};

/* Allocate (zeroed). LF_ERR_INVALID for non-positive sizes, LF_ERR_NOMEM if the
 * cache does not fit (message gives the byte count). */
int kv_new(int32_t n_slots, int32_t n_ctx, int32_t n_layer, int32_t n_head_kv, int32_t head_dim,
           enum kv_type type, struct kv_cache **out, char *err, size_t err_len);
void kv_free(struct kv_cache *kv);

/* Bytes the cache would take (0 on overflow). */
uint64_t kv_bytes(int32_t n_slots, int32_t n_ctx, int32_t n_layer, int32_t n_head_kv,
                  int32_t head_dim, enum kv_type type);
/* "f32" / "f16"; kv_type_parse returns 0 or LF_ERR_INVALID. */
const char *kv_type_name(enum kv_type type);
int kv_type_parse(const char *name, enum kv_type *out);

/* Copy positions [0, n_pos) of every layer from slot src to slot dst (used to
 * fork a sequence, e.g. benchmarks decoding many sequences after one prefill). */
void kv_copy_prefix(struct kv_cache *kv, int32_t src, int32_t dst, int32_t n_pos);

/* Keys (n_ctx, head_dim elements of kv->type) of one slot, layer and KV
 * head; the values likewise. */
static inline void *kv_keys(const struct kv_cache *kv, int32_t slot, int32_t layer, int32_t head)
{
    const size_t block = (size_t)kv->n_ctx * kv->head_dim * kv->elem;
    return kv->data + ((((size_t)slot * kv->n_layer + layer) * 2) * kv->n_head_kv + head) * block;
}
static inline void *kv_values(const struct kv_cache *kv, int32_t slot, int32_t layer, int32_t head)
{
    return (char *)kv_keys(kv, slot, layer, head) +
           (size_t)kv->n_head_kv * kv->n_ctx * kv->head_dim * kv->elem;
}

#endif
