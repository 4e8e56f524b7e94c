/* gguf.c - GGUF v3 reader and writer.
 *
 * A GGUF file is, in order (all integers little-endian):
 *
 *   "GGUF" | u32 version | u64 n_tensors | u64 n_kv
 *   n_kv x      { string key | u32 value type | value }
 *   n_tensors x { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml type | u64 offset }
 *   zero padding up to a multiple of general.alignment (default 32)
 *   data section: tensor bytes at `offset` from its start, each aligned
 *
 * where a string is u64 length + bytes (no NUL) and an array value is
 * u32 element type + u64 count + elements (which may themselves be arrays).
 *
 * The one idea of the reader: the file is hostile until proven otherwise.
 * gguf_open_memory() walks the whole header once with a bounds-checked cursor
 * and records, for each kv, where its value lives; for each tensor, its shape,
 * size and data pointer. Every count is compared with the bytes that remain
 * before anything is allocated or looped over, so memory and time stay linear
 * in the file size. Once the walk succeeds, the accessors only read bytes the
 * walk already checked, so they cannot fail on bad input.
 *
 * The writer collects copies of keys and encoded values plus borrowed tensor
 * data, then writes the standard layout to a temporary file that is renamed
 * over the destination, so readers never see a half-written model.
 */
#include "engine/gguf.h"

#include "engine/status.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Programmer errors (an index out of range, a NULL handle) stop the program:
 * they are bugs in the caller, not bad input. Always on, unlike assert(). */
#define GGUF_REQUIRE(cond)                                                                    \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "%s:%d: %s: requirement failed: %s\n", __FILE__, __LINE__,        \
                    __func__, #cond);                                                         \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

/* Smallest possible encodings, used to reject impossible counts up front. */
#define GGUF_MIN_KV_BYTES 14          /* key len 8 + 1 key byte + type 4 + 1-byte value */
#define GGUF_MIN_TENSOR_INFO_BYTES 33 /* name len 8 + 1 byte + n_dims 4 + ne 8 + type 4 + offset 8 */
#define GGUF_ARRAY_HEADER_BYTES 12    /* element type 4 + count 8 */

/* ------------------------------------------------------------------------ */
/* ggml type sizes                                                          */
/* ------------------------------------------------------------------------ */

/* Block layout of a ggml type: `block_elems` values are stored in
 * `block_bytes` bytes. Ids follow ggml's enum (ids 4, 5 and 31..33 were
 * removed from ggml and are treated as unknown). */
struct gguf_type_info {
    uint32_t block_elems;
    uint32_t block_bytes;
};

#define GGUF_TYPE_I2_S 36u
/* I2_S stores 4 weights per byte in blocks of 128, then a 32-byte tail whose
 * first 4 bytes are the f32 scale (bitnet.cpp's ggml fork, x86 layout). */
#define GGUF_I2_S_BLOCK 128u
#define GGUF_I2_S_TAIL 32u

static bool type_info(uint32_t type, struct gguf_type_info *out)
{
    static const struct gguf_type_info table[] = {
        [0] = {1, 4},      /* F32 */
        [1] = {1, 2},      /* F16 */
        [2] = {32, 18},    /* Q4_0 */
        [3] = {32, 20},    /* Q4_1 */
        [6] = {32, 22},    /* Q5_0 */
        [7] = {32, 24},    /* Q5_1 */
        [8] = {32, 34},    /* Q8_0 */
        [9] = {32, 36},    /* Q8_1 */
        [10] = {256, 84},  /* Q2_K */
        [11] = {256, 110}, /* Q3_K */
        [12] = {256, 144}, /* Q4_K */
        [13] = {256, 176}, /* Q5_K */
        [14] = {256, 210}, /* Q6_K */
        [15] = {256, 292}, /* Q8_K */
        [16] = {256, 66},  /* IQ2_XXS */
        [17] = {256, 74},  /* IQ2_XS */
        [18] = {256, 98},  /* IQ3_XXS */
        [19] = {256, 50},  /* IQ1_S */
        [20] = {32, 18},   /* IQ4_NL */
        [21] = {256, 110}, /* IQ3_S */
        [22] = {256, 82},  /* IQ2_S */
        [23] = {256, 136}, /* IQ4_XS */
        [24] = {1, 1},     /* I8 */
        [25] = {1, 2},     /* I16 */
        [26] = {1, 4},     /* I32 */
        [27] = {1, 8},     /* I64 */
        [28] = {1, 8},     /* F64 */
        [29] = {256, 56},  /* IQ1_M */
        [30] = {1, 2},     /* BF16 */
        [34] = {256, 54},  /* TQ1_0 */
        [35] = {256, 66},  /* TQ2_0 */
        /* 36 (I2_S) has no fixed block: see gguf_type_nbytes. */
    };
    if (type >= sizeof table / sizeof table[0] || table[type].block_elems == 0) return false;
    *out = table[type];
    return true;
}

static bool type_known(uint32_t type)
{
    struct gguf_type_info info;
    return type == GGUF_TYPE_I2_S || type_info(type, &info);
}

/* Elements per block of a known type (I2_S: 128, the unit its rows come in). */
static uint32_t type_block_elems(uint32_t type)
{
    struct gguf_type_info info;
    if (type == GGUF_TYPE_I2_S) return GGUF_I2_S_BLOCK;
    return type_info(type, &info) ? info.block_elems : 0;
}

/* Product of ne[0..n_dims-1] into *out; false if a dim is < 1 or it overflows. */
static bool element_count(const int64_t *ne, uint32_t n_dims, int64_t *out)
{
    int64_t n = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] < 1 || n > INT64_MAX / ne[d]) return false;
        n *= ne[d];
    }
    *out = n;
    return true;
}

uint64_t gguf_type_nbytes(uint32_t type, const int64_t *ne, uint32_t n_dims)
{
    int64_t n_elems;
    if (!ne || n_dims < 1 || n_dims > GGUF_MAX_DIMS) return 0;
    if (!element_count(ne, n_dims, &n_elems)) return 0;
    uint32_t block = type_block_elems(type);
    if (block == 0 || ne[0] % block != 0) return 0;

    if (type == GGUF_TYPE_I2_S) return (uint64_t)n_elems / 4 + GGUF_I2_S_TAIL;

    struct gguf_type_info info;
    type_info(type, &info);
    /* rows x (blocks per row x block bytes), each product checked for overflow. */
    uint64_t blocks_per_row = (uint64_t)(ne[0] / block);
    if (blocks_per_row > UINT64_MAX / info.block_bytes) return 0;
    uint64_t row_bytes = blocks_per_row * info.block_bytes; /* > 0 since ne[0] >= block */
    uint64_t rows = (uint64_t)(n_elems / ne[0]);
    if (rows > UINT64_MAX / row_bytes) return 0;
    return row_bytes * rows;
}

/* ------------------------------------------------------------------------ */
/* reader                                                                   */
/* ------------------------------------------------------------------------ */

struct gguf_kv {
    struct gguf_str key;
    enum gguf_vtype type;
    uint64_t value_offset; /* file offset of the encoded value (after the type tag) */
    uint64_t value_len;    /* its encoded length in bytes */
    /* arrays only: */
    enum gguf_vtype elem_type;
    uint64_t count;
    uint64_t elems_offset; /* file offset of the first element */
};

struct gguf {
    const uint8_t *base;
    uint64_t size;
    bool owns_mapping; /* base came from mmap in gguf_open */
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset; /* start of the data section (may be == size when no tensors) */
    int64_t n_kv;
    struct gguf_kv *kvs;         /* [n_kv] */
    int64_t n_tensors;
    struct gguf_tensor *tensors; /* [n_tensors] */
};

/* A bounds-checked read position in the untrusted bytes. */
struct cursor {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
};

static uint64_t cur_left(const struct cursor *c) { return c->size - c->pos; }

static uint32_t load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t load_u64(const uint8_t *p)
{
    return (uint64_t)load_u32(p) | (uint64_t)load_u32(p + 4) << 32;
}

static bool cur_u32(struct cursor *c, uint32_t *v)
{
    if (cur_left(c) < 4) return false;
    *v = load_u32(c->base + c->pos);
    c->pos += 4;
    return true;
}

static bool cur_u64(struct cursor *c, uint64_t *v)
{
    if (cur_left(c) < 8) return false;
    *v = load_u64(c->base + c->pos);
    c->pos += 8;
    return true;
}

/* Fixed encoded size of a scalar value type, 0 for STRING/ARRAY/unknown. */
static uint64_t scalar_size(uint32_t t)
{
    switch (t) {
    case GGUF_VT_U8: case GGUF_VT_I8: case GGUF_VT_BOOL: return 1;
    case GGUF_VT_U16: case GGUF_VT_I16: return 2;
    case GGUF_VT_U32: case GGUF_VT_I32: case GGUF_VT_F32: return 4;
    case GGUF_VT_U64: case GGUF_VT_I64: case GGUF_VT_F64: return 8;
    default: return 0;
    }
}

static bool vtype_valid(uint32_t t) { return t <= GGUF_VT_F64; }

static const char *vtype_name(uint32_t t)
{
    static const char *const names[] = {"u8",  "i8",   "u16",    "i16",   "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
    return vtype_valid(t) ? names[t] : "unknown";
}

/* Copy a file-supplied name into buf for an error message: at most 64 bytes,
 * non-printable bytes shown as '?', so hostile names cannot garble the log. */
static const char *printable(const char *s, uint64_t len, char *buf, size_t buf_len)
{
    size_t max = buf_len - 4, n = 0;
    for (; n < len && n < max; n++) {
        unsigned char ch = (unsigned char)s[n];
        buf[n] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    if (n < len) memcpy(buf + n, "...", 3), n += 3;
    buf[n] = 0;
    return buf;
}

#define NAME_BUF 72

/* Read a string header and check its bytes are present. On failure writes why
 * (without context) to msg. */
static bool cur_str(struct cursor *c, struct gguf_str *s, char *msg, size_t msg_len)
{
    uint64_t len;
    if (!cur_u64(c, &len)) {
        snprintf(msg, msg_len, "string length truncated (%llu bytes remain)",
                 (unsigned long long)cur_left(c));
        return false;
    }
    if (len > cur_left(c)) {
        snprintf(msg, msg_len, "string length %llu exceeds remaining %llu bytes",
                 (unsigned long long)len, (unsigned long long)cur_left(c));
        return false;
    }
    s->ptr = (const char *)c->base + c->pos;
    s->len = len;
    c->pos += len;
    return true;
}

/* Validate and skip one array body (element type, count, elements) at depth. */
static bool skip_array(struct cursor *c, int depth, uint32_t *elem_type_out, uint64_t *count_out,
                       char *msg, size_t msg_len);

/* Validate and skip one value of type t. msg receives the reason on failure. */
static bool skip_value(struct cursor *c, uint32_t t, int depth, char *msg, size_t msg_len)
{
    if (t == GGUF_VT_STRING) {
        struct gguf_str s;
        return cur_str(c, &s, msg, msg_len);
    }
    if (t == GGUF_VT_ARRAY) {
        uint32_t et;
        uint64_t n;
        return skip_array(c, depth + 1, &et, &n, msg, msg_len);
    }
    uint64_t size = scalar_size(t);
    if (size == 0) {
        snprintf(msg, msg_len, "unknown value type %u", t);
        return false;
    }
    if (cur_left(c) < size) {
        snprintf(msg, msg_len, "%s value truncated (%llu bytes remain)", vtype_name(t),
                 (unsigned long long)cur_left(c));
        return false;
    }
    c->pos += size;
    return true;
}

static bool skip_array(struct cursor *c, int depth, uint32_t *elem_type_out, uint64_t *count_out,
                       char *msg, size_t msg_len)
{
    uint32_t et;
    uint64_t count;
    if (depth > GGUF_MAX_NESTING) {
        snprintf(msg, msg_len, "arrays nested deeper than %d levels", GGUF_MAX_NESTING);
        return false;
    }
    if (!cur_u32(c, &et) || !cur_u64(c, &count)) {
        snprintf(msg, msg_len, "array header truncated");
        return false;
    }
    if (!vtype_valid(et)) {
        snprintf(msg, msg_len, "array of unknown element type %u", et);
        return false;
    }
    *elem_type_out = et;
    *count_out = count;

    uint64_t left = cur_left(c);
    uint64_t esize = scalar_size(et);
    if (esize != 0) {
        if (count > left / esize) {
            snprintf(msg, msg_len, "%s array count %llu exceeds remaining %llu bytes",
                     vtype_name(et), (unsigned long long)count, (unsigned long long)left);
            return false;
        }
        c->pos += count * esize;
        return true;
    }
    /* Strings and arrays: every element takes at least 8 (12) bytes, so a
     * count that passes this test bounds the loop below by the file size. */
    uint64_t min_elem = et == GGUF_VT_STRING ? 8 : GGUF_ARRAY_HEADER_BYTES;
    if (count > left / min_elem) {
        snprintf(msg, msg_len, "%s array count %llu exceeds remaining %llu bytes",
                 vtype_name(et), (unsigned long long)count, (unsigned long long)left);
        return false;
    }
    for (uint64_t i = 0; i < count; i++) {
        if (et == GGUF_VT_STRING) {
            uint64_t len;
            if (!cur_u64(c, &len)) {
                snprintf(msg, msg_len, "string array element %llu truncated (%llu bytes remain)",
                         (unsigned long long)i, (unsigned long long)cur_left(c));
                return false;
            }
            if (len > cur_left(c)) {
                snprintf(msg, msg_len, "string array element %llu length %llu exceeds remaining %llu bytes",
                         (unsigned long long)i, (unsigned long long)len,
                         (unsigned long long)cur_left(c));
                return false;
            }
            c->pos += len;
        } else {
            char inner[200];
            if (!skip_value(c, GGUF_VT_ARRAY, depth, inner, sizeof inner)) {
                /* reason first: with deep nesting the tail may be cut off */
                snprintf(msg, msg_len, "%s, in array element %llu", inner, (unsigned long long)i);
                return false;
            }
        }
    }
    return true;
}

/* qsort comparators over pointers into the kvs/tensors arrays. */
static int cmp_str(const struct gguf_str *a, const struct gguf_str *b)
{
    uint64_t n = a->len < b->len ? a->len : b->len;
    int r = n ? memcmp(a->ptr, b->ptr, n) : 0;
    if (r) return r;
    return (a->len > b->len) - (a->len < b->len);
}

static int cmp_kv_key(const void *a, const void *b)
{
    const struct gguf_kv *x = *(const struct gguf_kv *const *)a;
    const struct gguf_kv *y = *(const struct gguf_kv *const *)b;
    return cmp_str(&x->key, &y->key);
}

static int cmp_tensor_name(const void *a, const void *b)
{
    const struct gguf_tensor *x = *(const struct gguf_tensor *const *)a;
    const struct gguf_tensor *y = *(const struct gguf_tensor *const *)b;
    return cmp_str(&x->name, &y->name);
}

static int cmp_tensor_offset(const void *a, const void *b)
{
    const struct gguf_tensor *x = *(const struct gguf_tensor *const *)a;
    const struct gguf_tensor *y = *(const struct gguf_tensor *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Parse the kv section; fills g->kvs and g->n_kv. */
static int parse_kvs(struct gguf *g, struct cursor *c, uint64_t n_kv, char *err, size_t err_len)
{
    char name[NAME_BUF], msg[240];
    /* calloc of n_kv entries is bounded: n_kv <= file size / 14 (checked by caller). */
    g->kvs = calloc(n_kv ? n_kv : 1, sizeof *g->kvs);
    if (!g->kvs) return lf_errf(err, err_len, LF_ERR_NOMEM, "gguf: cannot allocate %llu kvs",
                                (unsigned long long)n_kv);
    for (uint64_t i = 0; i < n_kv; i++) {
        struct gguf_kv *kv = &g->kvs[i];
        if (!cur_str(c, &kv->key, msg, sizeof msg))
            return lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: kv %llu: key %s",
                           (unsigned long long)i, msg);
        if (kv->key.len == 0)
            return lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: kv %llu: empty key",
                           (unsigned long long)i);
        printable(kv->key.ptr, kv->key.len, name, sizeof name);
        uint32_t t;
        if (!cur_u32(c, &t))
            return lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: kv %llu '%s': value type truncated",
                           (unsigned long long)i, name);
        if (!vtype_valid(t))
            return lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: kv %llu '%s': unknown value type %u",
                           (unsigned long long)i, name, t);
        kv->type = (enum gguf_vtype)t;
        kv->value_offset = c->pos;
        if (t == GGUF_VT_ARRAY) {
            uint32_t et;
            uint64_t count;
            if (!skip_array(c, 1, &et, &count, msg, sizeof msg))
                return lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: kv %llu '%s': %s",
                               (unsigned long long)i, name, msg);
            kv->elem_type = (enum gguf_vtype)et;
            kv->count = count;
            kv->elems_offset = kv->value_offset + GGUF_ARRAY_HEADER_BYTES;
        } else if (!skip_value(c, t, 0, msg, sizeof msg)) {
            return lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: kv %llu '%s': %s",
                           (unsigned long long)i, name, msg);
        }
        kv->value_len = c->pos - kv->value_offset;
        g->n_kv = (int64_t)i + 1;
    }

    /* Duplicate keys: sort pointers by key and compare neighbours. */
    if (n_kv > 1) {
        const struct gguf_kv **sorted = malloc(n_kv * sizeof *sorted);
        if (!sorted) return lf_errf(err, err_len, LF_ERR_NOMEM, "gguf: out of memory");
        for (uint64_t i = 0; i < n_kv; i++) sorted[i] = &g->kvs[i];
        qsort(sorted, n_kv, sizeof *sorted, cmp_kv_key);
        for (uint64_t i = 1; i < n_kv; i++) {
            if (cmp_str(&sorted[i - 1]->key, &sorted[i]->key) == 0) {
                printable(sorted[i]->key.ptr, sorted[i]->key.len, name, sizeof name);
                free(sorted);
                return lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: duplicate key '%s'", name);
            }
        }
        free(sorted);
    }
    return 0;
}

/* general.alignment, if present, must be a nonzero power-of-two u32. */
static int read_alignment(struct gguf *g, char *err, size_t err_len)
{
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t i = gguf_find_key(g, "general.alignment");
    if (i < 0) return 0;
    const struct gguf_kv *kv = &g->kvs[i];
    if (kv->type != GGUF_VT_U32)
        return lf_errf(err, err_len, LF_ERR_FORMAT,
                       "gguf: general.alignment has type %s, expected u32", vtype_name(kv->type));
    uint32_t a = load_u32(g->base + kv->value_offset);
    if (a == 0 || (a & (a - 1)) != 0)
        return lf_errf(err, err_len, LF_ERR_FORMAT,
                       "gguf: general.alignment %u is not a nonzero power of two", a);
    g->alignment = a;
    return 0;
}

/* Parse the tensor infos (shape, type, offset) and compute each size. */
static int parse_tensor_infos(struct gguf *g, struct cursor *c, uint64_t n_tensors, char *err,
                              size_t err_len)
{
    char name[NAME_BUF], msg[240];
    if (n_tensors > cur_left(c) / GGUF_MIN_TENSOR_INFO_BYTES)
        return lf_errf(err, err_len, LF_ERR_FORMAT,
                       "gguf: n_tensors %llu is impossible: only %llu bytes remain for tensor infos",
                       (unsigned long long)n_tensors, (unsigned long long)cur_left(c));
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    if (!g->tensors) return lf_errf(err, err_len, LF_ERR_NOMEM, "gguf: out of memory");

    for (uint64_t i = 0; i < n_tensors; i++) {
        struct gguf_tensor *t = &g->tensors[i];
        if (!cur_str(c, &t->name, msg, sizeof msg))
            return lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: tensor %llu: name %s",
                           (unsigned long long)i, msg);
        if (t->name.len == 0)
            return lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: tensor %llu: empty name",
                           (unsigned long long)i);
        printable(t->name.ptr, t->name.len, name, sizeof name);
        if (!cur_u32(c, &t->n_dims))
            return lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: tensor '%s': n_dims truncated", name);
        if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
            return lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: tensor '%s': n_dims %u outside 1..%d",
                           name, t->n_dims, GGUF_MAX_DIMS);
        for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            uint64_t v;
            if (!cur_u64(c, &v))
                return lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: tensor '%s': ne[%u] truncated",
                               name, d);
            if (v == 0 || v > (uint64_t)INT64_MAX)
                return lf_errf(err, err_len, LF_ERR_FORMAT,
                               "gguf: tensor '%s': dimension ne[%u] = %lld must be positive", name, d,
                               (long long)(int64_t)v);
            t->ne[d] = (int64_t)v;
        }
        int64_t n_elems;
        if (!element_count(t->ne, t->n_dims, &n_elems))
            return lf_errf(err, err_len, LF_ERR_FORMAT,
                           "gguf: tensor '%s': element count overflows int64", name);
        if (!cur_u32(c, &t->type))
            return lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: tensor '%s': type truncated", name);
        if (!type_known(t->type))
            return lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: tensor '%s': unknown ggml type id %u",
                           name, t->type);
        uint32_t block = type_block_elems(t->type);
        if (t->ne[0] % block != 0)
            return lf_errf(err, err_len, LF_ERR_FORMAT,
                           "gguf: tensor '%s': ne[0] = %lld is not a multiple of block size %u of type %u",
                           name, (long long)t->ne[0], block, t->type);
        t->nbytes = gguf_type_nbytes(t->type, t->ne, t->n_dims);
        if (t->nbytes == 0)
            return lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: tensor '%s': byte size overflows", name);
        if (!cur_u64(c, &t->offset))
            return lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: tensor '%s': offset truncated", name);
        if (t->offset % g->alignment != 0)
            return lf_errf(err, err_len, LF_ERR_FORMAT,
                           "gguf: tensor '%s': offset %llu is not a multiple of alignment %llu", name,
                           (unsigned long long)t->offset, (unsigned long long)g->alignment);
        g->n_tensors = (int64_t)i + 1;
    }
    return 0;
}

/* Place each tensor's data and check ranges, name uniqueness and overlaps. */
static int check_tensor_data(struct gguf *g, char *err, size_t err_len)
{
    char name[NAME_BUF], name2[NAME_BUF];
    uint64_t n = (uint64_t)g->n_tensors;
    if (n == 0) return 0;
    if (g->data_offset > g->size)
        return lf_errf(err, err_len, LF_ERR_FORMAT,
                       "gguf: data section would start at %llu, past the file size %llu",
                       (unsigned long long)g->data_offset, (unsigned long long)g->size);
    uint64_t data_size = g->size - g->data_offset;
    for (uint64_t i = 0; i < n; i++) {
        struct gguf_tensor *t = &g->tensors[i];
        printable(t->name.ptr, t->name.len, name, sizeof name);
        uint64_t start = g->data_offset + t->offset; /* only used when offset <= data_size */
        if (t->offset > data_size)
            return lf_errf(err, err_len, LF_ERR_FORMAT,
                           "gguf: tensor '%s': data offset %llu lies past the end of file (data section "
                           "is %llu bytes)", name, (unsigned long long)t->offset,
                           (unsigned long long)data_size);
        if (t->nbytes > data_size - t->offset) {
            if (start + t->nbytes < start) /* the end itself overflows u64 */
                return lf_errf(err, err_len, LF_ERR_FORMAT,
                               "gguf: tensor '%s': data [%llu, %llu + %llu) exceeds file size %llu",
                               name, (unsigned long long)start, (unsigned long long)start,
                               (unsigned long long)t->nbytes, (unsigned long long)g->size);
            return lf_errf(err, err_len, LF_ERR_FORMAT,
                           "gguf: tensor '%s': data [%llu, %llu) exceeds file size %llu", name,
                           (unsigned long long)start, (unsigned long long)(start + t->nbytes),
                           (unsigned long long)g->size);
        }
        t->data = g->base + start;
    }
    if (n == 1) return 0;

    const struct gguf_tensor **sorted = malloc(n * sizeof *sorted);
    if (!sorted) return lf_errf(err, err_len, LF_ERR_NOMEM, "gguf: out of memory");
    for (uint64_t i = 0; i < n; i++) sorted[i] = &g->tensors[i];
    int rc = 0;
    qsort(sorted, n, sizeof *sorted, cmp_tensor_name);
    for (uint64_t i = 1; i < n && rc == 0; i++)
        if (cmp_str(&sorted[i - 1]->name, &sorted[i]->name) == 0)
            rc = lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: duplicate tensor name '%s'",
                         printable(sorted[i]->name.ptr, sorted[i]->name.len, name, sizeof name));
    if (rc == 0) {
        qsort(sorted, n, sizeof *sorted, cmp_tensor_offset);
        for (uint64_t i = 1; i < n && rc == 0; i++) {
            const struct gguf_tensor *a = sorted[i - 1], *b = sorted[i];
            /* both ranges lie inside the file, so the sum cannot overflow */
            if (a->offset + a->nbytes > b->offset)
                rc = lf_errf(err, err_len, LF_ERR_FORMAT,
                             "gguf: tensors '%s' [%llu, %llu) and '%s' [%llu, %llu) overlap",
                             printable(a->name.ptr, a->name.len, name, sizeof name),
                             (unsigned long long)a->offset,
                             (unsigned long long)(a->offset + a->nbytes),
                             printable(b->name.ptr, b->name.len, name2, sizeof name2),
                             (unsigned long long)b->offset,
                             (unsigned long long)(b->offset + b->nbytes));
        }
    }
    free(sorted);
    return rc;
}

/* Free a handle's tables and (if owned) its mapping. */
static void gguf_free_parts(struct gguf *g)
{
    if (!g) return;
    free(g->kvs);
    free(g->tensors);
    if (g->owns_mapping && g->base) munmap((void *)g->base, g->size);
    free(g);
}

/* Validate base[0..size) into a new handle. Takes over a mapping (owned) even
 * on failure. */
static int parse(const uint8_t *base, uint64_t size, bool owned, struct gguf **out, char *err,
                 size_t err_len)
{
    int rc;
    struct gguf *g = calloc(1, sizeof *g);
    if (!g) {
        if (owned) munmap((void *)base, size);
        return lf_errf(err, err_len, LF_ERR_NOMEM, "gguf: out of memory");
    }
    g->base = base;
    g->size = size;
    g->owns_mapping = owned;

    struct cursor c = {base, size, 0};
    if (size < 4 || memcmp(base, "GGUF", 4) != 0) {
        rc = lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: bad magic, not a GGUF file");
        goto fail;
    }
    c.pos = 4;
    uint64_t n_tensors, n_kv;
    if (!cur_u32(&c, &g->version)) {
        rc = lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: header truncated (version)");
        goto fail;
    }
    /* Version 2 has the same layout as 3 (3 only allowed big-endian files). */
    if (g->version != 3 && g->version != 2) {
        bool big_endian = (g->version & 0xffff) == 0 && g->version != 0;
        rc = lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: version %u is not supported (need 3)%s",
                     g->version, big_endian ? "; big-endian files are not supported" : "");
        goto fail;
    }
    if (!cur_u64(&c, &n_tensors) || !cur_u64(&c, &n_kv)) {
        rc = lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: header truncated (n_tensors, n_kv)");
        goto fail;
    }
    if (n_kv > cur_left(&c) / GGUF_MIN_KV_BYTES) {
        rc = lf_errf(err, err_len, LF_ERR_FORMAT,
                     "gguf: n_kv %llu is impossible: only %llu bytes remain", (unsigned long long)n_kv,
                     (unsigned long long)cur_left(&c));
        goto fail;
    }
    if (n_tensors > cur_left(&c) / GGUF_MIN_TENSOR_INFO_BYTES) {
        rc = lf_errf(err, err_len, LF_ERR_FORMAT,
                     "gguf: n_tensors %llu is impossible: only %llu bytes remain",
                     (unsigned long long)n_tensors, (unsigned long long)cur_left(&c));
        goto fail;
    }
    if ((rc = parse_kvs(g, &c, n_kv, err, err_len)) != 0) goto fail;
    if ((rc = read_alignment(g, err, err_len)) != 0) goto fail;
    if ((rc = parse_tensor_infos(g, &c, n_tensors, err, err_len)) != 0) goto fail;
    /* c.pos <= size < 2^63 and alignment <= 2^31: no overflow. */
    g->data_offset = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
    if ((rc = check_tensor_data(g, err, err_len)) != 0) goto fail;
    *out = g;
    return 0;
fail:
    gguf_free_parts(g);
    return rc;
}

int gguf_open_memory(const void *data, size_t size, struct gguf **out, char *err, size_t err_len)
{
    GGUF_REQUIRE(out != NULL);
    *out = NULL;
    if (!data && size) return lf_errf(err, err_len, LF_ERR_INVALID, "gguf: NULL buffer");
    static const uint8_t empty[1];
    return parse(data ? data : empty, size, false, out, err, err_len);
}

int gguf_open(const char *path, struct gguf **out, char *err, size_t err_len)
{
    GGUF_REQUIRE(out != NULL && path != NULL);
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lf_errf(err, err_len, LF_ERR_IO, "gguf: cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lf_errf(err, err_len, LF_ERR_IO, "gguf: cannot stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lf_errf(err, err_len, LF_ERR_IO, "gguf: %s is not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return lf_errf(err, err_len, LF_ERR_FORMAT, "gguf: %s is empty, not a GGUF file", path);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED)
        return lf_errf(err, err_len, LF_ERR_IO, "gguf: cannot mmap %s: %s", path, strerror(e));
    return parse(map, (uint64_t)st.st_size, true, out, err, err_len);
}

void gguf_close(struct gguf *g) { gguf_free_parts(g); }

uint32_t gguf_version(const struct gguf *g) { return g->version; }
uint64_t gguf_alignment(const struct gguf *g) { return g->alignment; }
uint64_t gguf_file_size(const struct gguf *g) { return g->size; }

int64_t gguf_n_kv(const struct gguf *g) { return g->n_kv; }

int64_t gguf_find_key(const struct gguf *g, const char *key)
{
    size_t len = strlen(key);
    for (int64_t i = 0; i < g->n_kv; i++)
        if (g->kvs[i].key.len == len && memcmp(g->kvs[i].key.ptr, key, len) == 0) return i;
    return -1;
}

struct gguf_str gguf_kv_key(const struct gguf *g, int64_t i)
{
    GGUF_REQUIRE(i >= 0 && i < g->n_kv);
    return g->kvs[i].key;
}

enum gguf_vtype gguf_kv_type(const struct gguf *g, int64_t i)
{
    GGUF_REQUIRE(i >= 0 && i < g->n_kv);
    return g->kvs[i].type;
}

/* The value of a scalar integer or bool kv, widened. is_signed says how to
 * read `u` (as int64 when true). False for non-integer types. */
static bool kv_integer(const struct gguf *g, const struct gguf_kv *kv, uint64_t *u, bool *is_signed)
{
    const uint8_t *p = g->base + kv->value_offset;
    *is_signed = false;
    switch (kv->type) {
    case GGUF_VT_U8: case GGUF_VT_BOOL: *u = p[0]; return true;
    case GGUF_VT_U16: *u = (uint64_t)p[0] | (uint64_t)p[1] << 8; return true;
    case GGUF_VT_U32: *u = load_u32(p); return true;
    case GGUF_VT_U64: *u = load_u64(p); return true;
    case GGUF_VT_I8: *u = (uint64_t)(int64_t)(int8_t)p[0]; break;
    case GGUF_VT_I16: *u = (uint64_t)(int64_t)(int16_t)(uint16_t)(p[0] | p[1] << 8); break;
    case GGUF_VT_I32: *u = (uint64_t)(int64_t)(int32_t)load_u32(p); break;
    case GGUF_VT_I64: *u = load_u64(p); break;
    default: return false;
    }
    *is_signed = true;
    return true;
}

static const struct gguf_kv *find_kv(const struct gguf *g, const char *key)
{
    int64_t i = gguf_find_key(g, key);
    return i < 0 ? NULL : &g->kvs[i];
}

int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out)
{
    const struct gguf_kv *kv = find_kv(g, key);
    uint64_t u;
    bool is_signed;
    if (!kv) return LF_ERR_INVALID;
    if (!kv_integer(g, kv, &u, &is_signed)) return LF_ERR_FORMAT;
    if (is_signed ? ((int64_t)u < 0 || (int64_t)u > (int64_t)UINT32_MAX) : u > UINT32_MAX)
        return LF_ERR_FORMAT;
    *out = (uint32_t)u;
    return 0;
}

int gguf_get_i64(const struct gguf *g, const char *key, int64_t *out)
{
    const struct gguf_kv *kv = find_kv(g, key);
    uint64_t u;
    bool is_signed;
    if (!kv) return LF_ERR_INVALID;
    if (!kv_integer(g, kv, &u, &is_signed)) return LF_ERR_FORMAT;
    if (!is_signed && u > (uint64_t)INT64_MAX) return LF_ERR_FORMAT;
    *out = (int64_t)u;
    return 0;
}

int gguf_get_f32(const struct gguf *g, const char *key, float *out)
{
    const struct gguf_kv *kv = find_kv(g, key);
    if (!kv) return LF_ERR_INVALID;
    const uint8_t *p = g->base + kv->value_offset;
    if (kv->type == GGUF_VT_F32) {
        uint32_t bits = load_u32(p);
        memcpy(out, &bits, sizeof *out);
        return 0;
    }
    if (kv->type == GGUF_VT_F64) {
        uint64_t bits = load_u64(p);
        double d;
        memcpy(&d, &bits, sizeof d);
        *out = (float)d;
        return 0;
    }
    uint64_t u;
    bool is_signed;
    if (kv->type == GGUF_VT_BOOL || !kv_integer(g, kv, &u, &is_signed)) return LF_ERR_FORMAT;
    *out = is_signed ? (float)(int64_t)u : (float)u;
    return 0;
}

int gguf_get_bool(const struct gguf *g, const char *key, bool *out)
{
    const struct gguf_kv *kv = find_kv(g, key);
    uint64_t u;
    bool is_signed;
    if (!kv) return LF_ERR_INVALID;
    if (kv->type == GGUF_VT_BOOL) {
        *out = g->base[kv->value_offset] != 0;
        return 0;
    }
    /* An integer 0 or 1 is accepted too (some converters write u8/i32 flags). */
    if (!kv_integer(g, kv, &u, &is_signed) || u > 1) return LF_ERR_FORMAT;
    *out = u == 1;
    return 0;
}

int gguf_get_str(const struct gguf *g, const char *key, struct gguf_str *out)
{
    const struct gguf_kv *kv = find_kv(g, key);
    if (!kv) return LF_ERR_INVALID;
    if (kv->type != GGUF_VT_STRING) return LF_ERR_FORMAT;
    out->len = load_u64(g->base + kv->value_offset);
    out->ptr = (const char *)g->base + kv->value_offset + 8;
    return 0;
}

int gguf_get_arr(const struct gguf *g, const char *key, enum gguf_vtype *elem_type,
                 uint64_t *count, const void **data)
{
    const struct gguf_kv *kv = find_kv(g, key);
    if (!kv) return LF_ERR_INVALID;
    if (kv->type != GGUF_VT_ARRAY) return LF_ERR_FORMAT;
    if (elem_type) *elem_type = kv->elem_type;
    if (count) *count = kv->count;
    if (data) *data = scalar_size(kv->elem_type) ? g->base + kv->elems_offset : NULL;
    return 0;
}

int gguf_get_arr_strs(const struct gguf *g, const char *key, struct gguf_str *out, uint64_t count)
{
    const struct gguf_kv *kv = find_kv(g, key);
    if (!kv) return LF_ERR_INVALID;
    if (kv->type != GGUF_VT_ARRAY || kv->elem_type != GGUF_VT_STRING) return LF_ERR_FORMAT;
    if (count > kv->count) return LF_ERR_INVALID;
    /* The walk in parse() checked every length, so this loop stays in bounds. */
    uint64_t pos = kv->elems_offset;
    for (uint64_t i = 0; i < count; i++) {
        out[i].len = load_u64(g->base + pos);
        out[i].ptr = (const char *)g->base + pos + 8;
        pos += 8 + out[i].len;
    }
    return 0;
}

int gguf_kv_raw(const struct gguf *g, int64_t i, const void **bytes, uint64_t *len)
{
    if (i < 0 || i >= g->n_kv) return LF_ERR_INVALID;
    *bytes = g->base + g->kvs[i].value_offset;
    *len = g->kvs[i].value_len;
    return 0;
}

int64_t gguf_n_tensors(const struct gguf *g) { return g->n_tensors; }

const struct gguf_tensor *gguf_tensor_at(const struct gguf *g, int64_t i)
{
    if (i < 0 || i >= g->n_tensors) return NULL;
    return &g->tensors[i];
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf *g, const char *name)
{
    size_t len = strlen(name);
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].name.len == len && memcmp(g->tensors[i].name.ptr, name, len) == 0)
            return &g->tensors[i];
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* writer                                                                   */
/* ------------------------------------------------------------------------ */

struct writer_kv {
    char *key;      /* owned, NUL-terminated */
    uint32_t type;
    uint8_t *value; /* owned encoded value (without the type tag) */
    uint64_t value_len;
};

struct writer_tensor {
    char *name; /* owned */
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    uint64_t nbytes;
    const void *data; /* borrowed */
};

struct gguf_writer {
    struct writer_kv *kvs;
    size_t n_kv, cap_kv;
    struct writer_tensor *tensors;
    size_t n_tensors, cap_tensors;
};

/* ggml refuses tensor names of GGML_MAX_NAME (64) bytes or more. */
#define GGUF_WRITER_MAX_NAME 63

static void store_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void store_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

int gguf_writer_new(struct gguf_writer **out)
{
    GGUF_REQUIRE(out != NULL);
    *out = calloc(1, sizeof **out);
    return *out ? 0 : LF_ERR_NOMEM;
}

void gguf_writer_free(struct gguf_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        free(w->kvs[i].value);
    }
    for (size_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->kvs);
    free(w->tensors);
    free(w);
}

/* Store key = (type, value[0..len)), taking ownership of value (freed on
 * failure). Setting an existing key replaces its value, as in llama.cpp. */
static int writer_put(struct gguf_writer *w, const char *key, uint32_t type, uint8_t *value,
                      uint64_t len)
{
    GGUF_REQUIRE(w != NULL);
    if (!key || !key[0]) {
        free(value);
        return LF_ERR_INVALID;
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kvs[i].key, key) == 0) {
            free(w->kvs[i].value);
            w->kvs[i].type = type;
            w->kvs[i].value = value;
            w->kvs[i].value_len = len;
            return 0;
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        struct writer_kv *kvs = realloc(w->kvs, cap * sizeof *kvs);
        if (!kvs) {
            free(value);
            return LF_ERR_NOMEM;
        }
        w->kvs = kvs;
        w->cap_kv = cap;
    }
    char *key_copy = strdup(key);
    if (!key_copy) {
        free(value);
        return LF_ERR_NOMEM;
    }
    w->kvs[w->n_kv++] = (struct writer_kv){key_copy, type, value, len};
    return 0;
}

/* Put a scalar whose little-endian bytes are bits[0..size). */
static int writer_put_scalar(struct gguf_writer *w, const char *key, uint32_t type, uint64_t bits)
{
    uint64_t size = scalar_size(type);
    uint8_t *v = malloc(size);
    if (!v) return LF_ERR_NOMEM;
    for (uint64_t i = 0; i < size; i++) v[i] = (uint8_t)(bits >> (8 * i));
    return writer_put(w, key, type, v, size);
}

int gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v)
{
    return writer_put_scalar(w, key, GGUF_VT_U32, v);
}

int gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v)
{
    return writer_put_scalar(w, key, GGUF_VT_I32, (uint32_t)v);
}

int gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    return writer_put_scalar(w, key, GGUF_VT_F32, bits);
}

int gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v)
{
    return writer_put_scalar(w, key, GGUF_VT_BOOL, v ? 1 : 0);
}

int gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v)
{
    if (!v) return LF_ERR_INVALID;
    size_t len = strlen(v);
    uint8_t *enc = malloc(8 + len);
    if (!enc) return LF_ERR_NOMEM;
    store_u64(enc, len);
    memcpy(enc + 8, v, len);
    return writer_put(w, key, GGUF_VT_STRING, enc, 8 + len);
}

int gguf_writer_set_arr(struct gguf_writer *w, const char *key, enum gguf_vtype elem_type,
                        const void *data, uint64_t count)
{
    uint64_t esize = scalar_size(elem_type);
    if (esize == 0 || (count && !data)) return LF_ERR_INVALID;
    if (count > (SIZE_MAX - GGUF_ARRAY_HEADER_BYTES) / esize) return LF_ERR_NOMEM;
    uint64_t len = GGUF_ARRAY_HEADER_BYTES + count * esize;
    uint8_t *enc = malloc(len);
    if (!enc) return LF_ERR_NOMEM;
    store_u32(enc, elem_type);
    store_u64(enc + 4, count);
    /* The caller's elements are in host order; lutfuse only targets
     * little-endian x86-64, where that is the file's order. */
    if (count) memcpy(enc + GGUF_ARRAY_HEADER_BYTES, data, count * esize);
    return writer_put(w, key, GGUF_VT_ARRAY, enc, len);
}

int gguf_writer_set_arr_strs(struct gguf_writer *w, const char *key, const struct gguf_str *strs,
                             uint64_t count)
{
    if (count && !strs) return LF_ERR_INVALID;
    uint64_t len = GGUF_ARRAY_HEADER_BYTES; /* stays <= SIZE_MAX / 2 */
    for (uint64_t i = 0; i < count; i++) {
        if (strs[i].len && !strs[i].ptr) return LF_ERR_INVALID;
        uint64_t room = SIZE_MAX / 2 - len;
        if (room < 8 || strs[i].len > room - 8) return LF_ERR_NOMEM;
        len += 8 + strs[i].len;
    }
    uint8_t *enc = malloc(len);
    if (!enc) return LF_ERR_NOMEM;
    store_u32(enc, GGUF_VT_STRING);
    store_u64(enc + 4, count);
    uint64_t pos = GGUF_ARRAY_HEADER_BYTES;
    for (uint64_t i = 0; i < count; i++) {
        store_u64(enc + pos, strs[i].len);
        if (strs[i].len) memcpy(enc + pos + 8, strs[i].ptr, strs[i].len);
        pos += 8 + strs[i].len;
    }
    return writer_put(w, key, GGUF_VT_ARRAY, enc, len);
}

int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf *src, int64_t i)
{
    if (!src || i < 0 || i >= src->n_kv) return LF_ERR_INVALID;
    const struct gguf_kv *kv = &src->kvs[i];
    /* The key is not NUL-terminated in the file; a key with an embedded NUL
     * cannot be represented as a C string key here. */
    if (memchr(kv->key.ptr, 0, kv->key.len)) return LF_ERR_INVALID;
    char *key = malloc(kv->key.len + 1);
    uint8_t *value = malloc(kv->value_len ? kv->value_len : 1);
    if (!key || !value) {
        free(key);
        free(value);
        return LF_ERR_NOMEM;
    }
    memcpy(key, kv->key.ptr, kv->key.len);
    key[kv->key.len] = 0;
    /* Encoded values hold no absolute offsets, so the bytes copy as they are. */
    memcpy(value, src->base + kv->value_offset, kv->value_len);
    int rc = writer_put(w, key, kv->type, value, kv->value_len);
    free(key);
    return rc;
}

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type,
                           const int64_t *ne, uint32_t n_dims, const void *data)
{
    GGUF_REQUIRE(w != NULL);
    if (!name || !name[0] || strlen(name) > GGUF_WRITER_MAX_NAME || !ne || !data)
        return LF_ERR_INVALID;
    uint64_t nbytes = gguf_type_nbytes(type, ne, n_dims);
    if (nbytes == 0) return LF_ERR_INVALID;
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0) return LF_ERR_INVALID;
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? 2 * w->cap_tensors : 16;
        struct writer_tensor *ts = realloc(w->tensors, cap * sizeof *ts);
        if (!ts) return LF_ERR_NOMEM;
        w->tensors = ts;
        w->cap_tensors = cap;
    }
    struct writer_tensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) return LF_ERR_NOMEM;
    t->type = type;
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->nbytes = nbytes;
    t->data = data;
    w->n_tensors++;
    return 0;
}

/* Buffered output with sticky error: the first failing write is remembered
 * and reported once at the end. */
struct out_file {
    FILE *f;
    bool failed;
};

static void out_bytes(struct out_file *o, const void *p, size_t n)
{
    if (!o->failed && n && fwrite(p, 1, n, o->f) != n) o->failed = true;
}

static void out_u32(struct out_file *o, uint32_t v)
{
    uint8_t b[4];
    store_u32(b, v);
    out_bytes(o, b, 4);
}

static void out_u64(struct out_file *o, uint64_t v)
{
    uint8_t b[8];
    store_u64(b, v);
    out_bytes(o, b, 8);
}

static void out_str(struct out_file *o, const char *s)
{
    size_t len = strlen(s);
    out_u64(o, len);
    out_bytes(o, s, len);
}

/* Zero bytes from position `pos` up to the next multiple of `align`. */
static uint64_t out_pad(struct out_file *o, uint64_t pos, uint64_t align)
{
    static const uint8_t zeros[256];
    uint64_t pad = (align - pos % align) % align;
    for (uint64_t left = pad; left > 0;) {
        size_t n = left < sizeof zeros ? (size_t)left : sizeof zeros;
        out_bytes(o, zeros, n);
        left -= n;
    }
    return pos + pad;
}

/* The alignment this writer will use, or an error if general.alignment is
 * set to something a reader would refuse. */
static int writer_alignment(const struct gguf_writer *w, uint64_t *align, char *err, size_t err_len)
{
    *align = GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kvs[i].key, "general.alignment") != 0) continue;
        if (w->kvs[i].type != GGUF_VT_U32)
            return lf_errf(err, err_len, LF_ERR_INVALID,
                           "gguf writer: general.alignment must be a u32, not %s",
                           vtype_name(w->kvs[i].type));
        uint32_t a = load_u32(w->kvs[i].value);
        if (a == 0 || (a & (a - 1)) != 0)
            return lf_errf(err, err_len, LF_ERR_INVALID,
                           "gguf writer: general.alignment %u is not a nonzero power of two", a);
        *align = a;
    }
    return 0;
}

int gguf_writer_write(struct gguf_writer *w, const char *path, char *err, size_t err_len)
{
    GGUF_REQUIRE(w != NULL && path != NULL);
    uint64_t align;
    int rc = writer_alignment(w, &align, err, err_len);
    if (rc) return rc;

    /* A sibling temporary file, renamed over `path` once complete. O_EXCL with
     * a pid-and-counter name avoids clobbering another writer's file; mode
     * 0666 lets the umask decide permissions as for any new file. */
    size_t tmp_len = strlen(path) + 48;
    char *tmp = malloc(tmp_len);
    if (!tmp) return lf_errf(err, err_len, LF_ERR_NOMEM, "gguf writer: out of memory");
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(tmp, tmp_len, "%s.tmp.%ld.%d", path, (long)getpid(), attempt);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        rc = lf_errf(err, err_len, LF_ERR_IO, "gguf writer: cannot create %s: %s", tmp,
                     strerror(errno));
        free(tmp);
        return rc;
    }
    struct out_file o = {fdopen(fd, "wb"), false};
    if (!o.f) {
        rc = lf_errf(err, err_len, LF_ERR_IO, "gguf writer: fdopen %s: %s", tmp, strerror(errno));
        close(fd);
        goto fail;
    }

    /* header and metadata */
    uint64_t pos = 0;
    out_bytes(&o, "GGUF", 4);
    out_u32(&o, 3);
    out_u64(&o, w->n_tensors);
    out_u64(&o, w->n_kv);
    pos += 24;
    for (size_t i = 0; i < w->n_kv; i++) {
        out_str(&o, w->kvs[i].key);
        out_u32(&o, w->kvs[i].type);
        out_bytes(&o, w->kvs[i].value, w->kvs[i].value_len);
        pos += 8 + strlen(w->kvs[i].key) + 4 + w->kvs[i].value_len;
    }

    /* tensor infos: offsets laid out back to back, each start aligned */
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const struct writer_tensor *t = &w->tensors[i];
        out_str(&o, t->name);
        out_u32(&o, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) out_u64(&o, (uint64_t)t->ne[d]);
        out_u32(&o, t->type);
        out_u64(&o, offset);
        pos += 8 + strlen(t->name) + 4 + 8ull * t->n_dims + 4 + 8;
        offset += t->nbytes + (align - t->nbytes % align) % align;
    }

    /* data section (absent when there are no tensors, as in llama.cpp's
     * vocab-only files, which end right after the metadata) */
    if (w->n_tensors > 0) pos = out_pad(&o, pos, align);
    for (size_t i = 0; i < w->n_tensors; i++) {
        out_bytes(&o, w->tensors[i].data, w->tensors[i].nbytes);
        pos = out_pad(&o, pos + w->tensors[i].nbytes, align);
    }

    if (o.failed) {
        rc = lf_errf(err, err_len, LF_ERR_IO, "gguf writer: write %s: %s", tmp, strerror(errno));
        fclose(o.f);
        goto fail;
    }
    if (fflush(o.f) != 0 || fsync(fileno(o.f)) != 0) {
        rc = lf_errf(err, err_len, LF_ERR_IO, "gguf writer: flush %s: %s", tmp, strerror(errno));
        fclose(o.f);
        goto fail;
    }
    if (fclose(o.f) != 0) {
        rc = lf_errf(err, err_len, LF_ERR_IO, "gguf writer: close %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        rc = lf_errf(err, err_len, LF_ERR_IO, "gguf writer: rename %s to %s: %s", tmp, path,
                     strerror(errno));
        goto fail;
    }
    free(tmp);
    return 0;
fail:
    unlink(tmp);
    free(tmp);
    return rc;
}
