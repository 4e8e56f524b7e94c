/* fuzz_gguf.c - libFuzzer target for the GGUF reader.
 *
 * Feeds arbitrary bytes to gguf_open_memory(). Bad input must come back as
 * LF_ERR_FORMAT; anything else the reader accepts must be safe to walk with
 * every accessor, so on success this reads every kv (all getters, arrays,
 * string arrays, raw bytes) and every tensor's name and data range, and
 * checks that lookups by name find what iteration found. ASan/UBSan turn any
 * out-of-bounds read or overflow into a finding. Built by `make fuzz-gguf`.
 */
#include "engine/gguf.h"
#include "engine/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink; /* keeps the reads below from being optimised away */

static void touch(const void *p, uint64_t n)
{
    const uint8_t *b = p;
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++) s += b[i];
    sink += s;
}

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_gguf: invariant broken: %s\n", what);
        abort();
    }
}

/* A NUL-terminated copy of s, or NULL if s holds a NUL (no C-string lookup). */
static char *cstr(struct gguf_str s)
{
    if (memchr(s.ptr, 0, s.len)) return NULL;
    char *c = malloc(s.len + 1);
    check(c != NULL, "malloc");
    memcpy(c, s.ptr, s.len);
    c[s.len] = 0;
    return c;
}

static void exercise_kv(const struct gguf *g, int64_t i)
{
    static const uint64_t elem_size[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    struct gguf_str key = gguf_kv_key(g, i);
    touch(key.ptr, key.len);
    enum gguf_vtype type = gguf_kv_type(g, i);
    check(type <= GGUF_VT_F64, "kv type in range");
    const void *raw;
    uint64_t raw_len;
    check(gguf_kv_raw(g, i, &raw, &raw_len) == 0, "kv_raw");
    touch(raw, raw_len);

    char *k = cstr(key);
    if (!k) return;
    check(gguf_find_key(g, k) == i, "find_key returns the kv's own index");
    uint32_t u32;
    int64_t i64;
    float f;
    bool b;
    struct gguf_str s;
    int rc = gguf_get_u32(g, k, &u32);
    check(rc == 0 || rc == LF_ERR_FORMAT, "get_u32 status");
    rc = gguf_get_i64(g, k, &i64);
    check(rc == 0 || rc == LF_ERR_FORMAT, "get_i64 status");
    rc = gguf_get_f32(g, k, &f);
    check(rc == 0 || rc == LF_ERR_FORMAT, "get_f32 status");
    rc = gguf_get_bool(g, k, &b);
    check(rc == 0 || rc == LF_ERR_FORMAT, "get_bool status");
    rc = gguf_get_str(g, k, &s);
    check((rc == 0) == (type == GGUF_VT_STRING), "get_str succeeds exactly on strings");
    if (rc == 0) touch(s.ptr, s.len);

    enum gguf_vtype et;
    uint64_t count;
    const void *elems;
    rc = gguf_get_arr(g, k, &et, &count, &elems);
    check((rc == 0) == (type == GGUF_VT_ARRAY), "get_arr succeeds exactly on arrays");
    if (rc == 0) {
        check(et <= GGUF_VT_F64, "element type in range");
        if (elem_size[et]) {
            check(elems != NULL, "scalar array data");
            touch(elems, count * elem_size[et]);
        } else {
            check(elems == NULL, "no data pointer for strings/arrays");
        }
        if (et == GGUF_VT_STRING) {
            /* count <= size / 8 was checked by the reader, so this is bounded */
            struct gguf_str *strs = malloc((count ? count : 1) * sizeof *strs);
            check(strs != NULL, "malloc");
            check(gguf_get_arr_strs(g, k, strs, count) == 0, "get_arr_strs");
            for (uint64_t j = 0; j < count; j++) touch(strs[j].ptr, strs[j].len);
            check(gguf_get_arr_strs(g, k, strs, count + 1) == LF_ERR_INVALID, "count too big");
            free(strs);
        } else {
            check(gguf_get_arr_strs(g, k, &s, 0) == LF_ERR_FORMAT, "get_arr_strs on non-strings");
        }
    }
    free(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gguf *g = NULL;
    char err[LF_ERRMSG_LEN];
    int rc = gguf_open_memory(data, size, &g, err, sizeof err);
    if (rc != 0) {
        check(rc == LF_ERR_FORMAT, "failure is LF_ERR_FORMAT");
        check(g == NULL, "no handle on failure");
        check(memchr(err, 0, sizeof err) != NULL && err[0] != 0, "a message is written");
        return 0;
    }
    check(gguf_version(g) == 2 || gguf_version(g) == 3, "version");
    uint64_t align = gguf_alignment(g);
    check(align != 0 && (align & (align - 1)) == 0, "alignment is a power of two");
    check(gguf_file_size(g) == size, "file size");
    for (int64_t i = 0; i < gguf_n_kv(g); i++) exercise_kv(g, i);
    check(gguf_kv_raw(g, gguf_n_kv(g), &(const void *){0}, &(uint64_t){0}) == LF_ERR_INVALID,
          "kv_raw out of range");

    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        check(t != NULL, "tensor_at");
        touch(t->name.ptr, t->name.len);
        check(t->n_dims >= 1 && t->n_dims <= GGUF_MAX_DIMS, "n_dims");
        check(t->nbytes == gguf_type_nbytes(t->type, t->ne, t->n_dims) && t->nbytes > 0, "nbytes");
        check(t->offset % align == 0, "offset aligned");
        const uint8_t *p = t->data;
        check(p >= data && t->nbytes <= size && (size_t)(p - data) <= size - t->nbytes,
              "data inside the buffer");
        touch(p, 1);
        touch(p + t->nbytes - 1, 1);
        char *name = cstr(t->name);
        if (name) {
            check(gguf_find_tensor(g, name) == t, "find_tensor returns the same tensor");
            free(name);
        }
    }
    check(gguf_tensor_at(g, gguf_n_tensors(g)) == NULL, "tensor_at past the end");
    gguf_close(g);
    return 0;
}
