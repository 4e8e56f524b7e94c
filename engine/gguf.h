/* gguf.h - GGUF v3 reader and writer. No model knowledge lives here.
 *
 * The reader memory-maps a file (or takes a caller's buffer) and validates the
 * whole header up front: every count, string length, array length, tensor
 * dimension product, offset and size is checked for overflow and bounds before
 * anything is used, so a truncated, garbled or hostile file yields
 * LF_ERR_FORMAT with a one-line message - never a crash, a hang or a huge
 * allocation (allocations are bounded by the file size). After a successful
 * open every accessor is a plain lookup that cannot fail on bad bytes.
 *
 * Strings returned are borrowed views into the mapping (NOT NUL-terminated),
 * valid until gguf_close().
 */
#ifndef LF_GGUF_H
#define LF_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* GGUF metadata value types, numbered as in the file format. */
enum gguf_vtype {
    GGUF_VT_U8 = 0,
    GGUF_VT_I8 = 1,
    GGUF_VT_U16 = 2,
    GGUF_VT_I16 = 3,
    GGUF_VT_U32 = 4,
    GGUF_VT_I32 = 5,
    GGUF_VT_F32 = 6,
    GGUF_VT_BOOL = 7,
    GGUF_VT_STRING = 8,
    GGUF_VT_ARRAY = 9,
    GGUF_VT_U64 = 10,
    GGUF_VT_I64 = 11,
    GGUF_VT_F64 = 12,
};

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32
/* Deepest array-of-arrays nesting the reader accepts (a plain array is depth
 * 1); deeper files are refused as LF_ERR_FORMAT. */
#define GGUF_MAX_NESTING 16

/* A borrowed string view. */
struct gguf_str {
    const char *ptr;
    uint64_t len;
};

/* A tensor as the file describes it. `type` is the raw ggml type id from the
 * file; deciding what it means (ids >= 36 differ between forks) is the
 * model loader's job. ne[0] is the contiguous (innermost) dimension. */
struct gguf_tensor {
    struct gguf_str name;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* unused dims are 1 */
    uint64_t offset;           /* relative to the data section */
    uint64_t nbytes;           /* size in bytes, from the type's block layout */
    const void *data;          /* into the mapping; nbytes are readable */
};

struct gguf;

/* Size in bytes of a tensor of ggml type `type` with shape ne[0..n_dims-1], or
 * 0 if the type id is unknown or ne[0] is not a multiple of its block size, or
 * the size overflows. Knows the standard ggml ids plus the ternary ones:
 * TQ1_0 (34), TQ2_0 (35) and bitnet.cpp's I2_S (36: ne/4 bytes + 32-byte tail).
 * Used by the reader to check that tensors lie inside the file. */
uint64_t gguf_type_nbytes(uint32_t type, const int64_t *ne, uint32_t n_dims);

/* Open and validate a file. On success *out owns the mapping. On failure
 * returns LF_ERR_IO (cannot open/map) or LF_ERR_FORMAT (bad contents) and
 * writes a one-line message to err; *out is NULL. Versions 3 and 2 (the same
 * layout) are accepted. A file without tensors may end right after its
 * metadata (llama.cpp's vocab-only files do). */
int gguf_open(const char *path, struct gguf **out, char *err, size_t err_len);

/* Same, over a caller's buffer (borrowed; must outlive the handle). Used by
 * tests and the fuzzer. */
int gguf_open_memory(const void *data, size_t size, struct gguf **out, char *err,
                     size_t err_len);

/* gguf_close(NULL) is a no-op. */
void gguf_close(struct gguf *g);

uint32_t gguf_version(const struct gguf *g);
uint64_t gguf_alignment(const struct gguf *g);
uint64_t gguf_file_size(const struct gguf *g);

/* ---- metadata ---- */
int64_t gguf_n_kv(const struct gguf *g);
/* Index of key, or -1 if absent. */
int64_t gguf_find_key(const struct gguf *g, const char *key);
/* Key and type of kv i; i must be in [0, gguf_n_kv) (aborts otherwise). */
struct gguf_str gguf_kv_key(const struct gguf *g, int64_t i);
enum gguf_vtype gguf_kv_type(const struct gguf *g, int64_t i);

/* Typed getters by key. Return 0 on success, LF_ERR_INVALID if the key is
 * absent, LF_ERR_FORMAT if present with an incompatible type. Integer getters
 * accept any integer (or bool) type whose value fits the result; gguf_get_f32
 * accepts F32, F64 and integers. */
int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out);
int gguf_get_i64(const struct gguf *g, const char *key, int64_t *out);
int gguf_get_f32(const struct gguf *g, const char *key, float *out);
int gguf_get_bool(const struct gguf *g, const char *key, bool *out);
int gguf_get_str(const struct gguf *g, const char *key, struct gguf_str *out);

/* Arrays. gguf_get_arr gives the element type and count (for nested arrays the
 * element type is GGUF_VT_ARRAY). For arrays of fixed-size scalars, *data points
 * at the packed little-endian elements in the mapping. For arrays of strings or
 * arrays, *data is NULL: use gguf_get_arr_strs or gguf_arr_raw. */
int gguf_get_arr(const struct gguf *g, const char *key, enum gguf_vtype *elem_type,
                 uint64_t *count, const void **data);
/* Fill out[0..count-1] with the strings of a string array (caller allocates
 * count entries). Returns LF_ERR_FORMAT if the array is not of strings,
 * LF_ERR_INVALID if count exceeds the array's length (a smaller count fills
 * the first count strings). */
int gguf_get_arr_strs(const struct gguf *g, const char *key, struct gguf_str *out,
                      uint64_t count);
/* The raw encoded bytes of value i (for nested arrays and debugging dumps):
 * the value as stored after its u32 type tag, e.g. for an array the element
 * type, count and elements. LF_ERR_INVALID if i is out of range. */
int gguf_kv_raw(const struct gguf *g, int64_t i, const void **bytes, uint64_t *len);

/* ---- tensors ---- */
int64_t gguf_n_tensors(const struct gguf *g);
/* NULL if i is out of range. */
const struct gguf_tensor *gguf_tensor_at(const struct gguf *g, int64_t i);
/* NULL if absent. */
const struct gguf_tensor *gguf_find_tensor(const struct gguf *g, const char *name);

/* ---- writer ----
 * Builds a GGUF v3 file in memory order: add metadata and tensor infos, then
 * write. Tensor data is borrowed until gguf_writer_write returns. Keys are
 * copied. Alignment is general.alignment if set as a u32, else 32.
 * Setters and add_tensor return 0, LF_ERR_NOMEM, or LF_ERR_INVALID for bad
 * arguments (empty key, NULL data, unknown or mis-shaped tensor type, a
 * duplicate tensor name, a tensor name over 63 bytes, which ggml refuses).
 * Setting a key that is already set replaces its value in place. */
struct gguf_writer;

int gguf_writer_new(struct gguf_writer **out);
void gguf_writer_free(struct gguf_writer *w);
int gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v);
int gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v);
int gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v);
int gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v);
/* Array of fixed-size scalars (elem_type not STRING/ARRAY); data is copied. */
int gguf_writer_set_arr(struct gguf_writer *w, const char *key, enum gguf_vtype elem_type,
                        const void *data, uint64_t count);
int gguf_writer_set_arr_strs(struct gguf_writer *w, const char *key,
                             const struct gguf_str *strs, uint64_t count);
/* Copy key i (any type, including nested arrays) from an open reader. */
int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf *src, int64_t i);
/* data must hold gguf_type_nbytes(type, ne, n_dims) bytes. */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type,
                           const int64_t *ne, uint32_t n_dims, const void *data);
/* Write the file; LF_ERR_IO with a message on failure. */
int gguf_writer_write(struct gguf_writer *w, const char *path, char *err, size_t err_len);

#endif
