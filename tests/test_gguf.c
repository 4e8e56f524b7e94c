/* test_gguf.c - the GGUF reader and writer.
 *
 * Real files: stories260K and two llama.cpp vocab-only files, with values
 * checked independently (a throwaway struct-based Python reader). Writer:
 * hand-built files with every value type go through copy_kv and the typed
 * setters and come back identical. Hostile input: a small writer-made file is
 * truncated at every length and patched field by field with absurd values;
 * each must fail with LF_ERR_FORMAT and a message naming the problem, and
 * thousands of random byte mutations must never crash (run under ASan).
 */
#include "tests/testutil.h"
#include "engine/gguf.h"
#include "engine/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- helpers ------------------------------------------------------------ */

/* Growable byte buffer for hand-built GGUF files. */
struct buf {
    uint8_t *p;
    size_t len, cap;
};

static void b_bytes(struct buf *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void b_uint(struct buf *b, uint64_t v, int size)
{
    uint8_t tmp[8];
    for (int i = 0; i < size; i++) tmp[i] = (uint8_t)(v >> (8 * i));
    b_bytes(b, tmp, (size_t)size);
}

static void b_u32(struct buf *b, uint32_t v) { b_uint(b, v, 4); }
static void b_u64(struct buf *b, uint64_t v) { b_uint(b, v, 8); }

static void b_str(struct buf *b, const char *s)
{
    b_u64(b, strlen(s));
    b_bytes(b, s, strlen(s));
}

static void b_header(struct buf *b, uint64_t n_tensors, uint64_t n_kv)
{
    b_bytes(b, "GGUF", 4);
    b_u32(b, 3);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}

static void b_kv(struct buf *b, const char *key, enum gguf_vtype type)
{
    b_str(b, key);
    b_u32(b, type);
}

static void patch_u32(uint8_t *p, size_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[at + (size_t)i] = (uint8_t)(v >> (8 * i));
}

static void patch_u64(uint8_t *p, size_t at, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[at + (size_t)i] = (uint8_t)(v >> (8 * i));
}

/* Offset just past the length-prefixed string `s` in data (its first
 * occurrence), i.e. where the field after a key or tensor name starts. */
static size_t after_str(const uint8_t *data, size_t len, const char *s)
{
    struct buf pat = {0};
    b_str(&pat, s);
    for (size_t i = 0; i + pat.len <= len; i++) {
        if (memcmp(data + i, pat.p, pat.len) == 0) {
            size_t at = i + pat.len;
            free(pat.p);
            return at;
        }
    }
    fail_msg("string '%s' not found in the test file", s);
    return 0;
}

static bool str_eq(struct gguf_str s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

/* Open a private heap copy of exactly len bytes, so that ASan flags any read
 * past the end. Returns the status; the message goes to err. */
static int open_copy(const uint8_t *data, size_t len, char *err, size_t err_len)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len) memcpy(copy, data, len);
    struct gguf *g = NULL;
    err[0] = 0;
    int rc = gguf_open_memory(copy, len, &g, err, err_len);
    if (rc == 0) assert_non_null(g);
    else assert_null(g);
    gguf_close(g);
    free(copy);
    return rc;
}

/* Expect a FORMAT failure whose message contains `word`. */
static void expect_format(const uint8_t *data, size_t len, const char *word)
{
    char err[LF_ERRMSG_LEN];
    int rc = open_copy(data, len, err, sizeof err);
    if (rc != LF_ERR_FORMAT || !strstr(err, word))
        fail_msg("expected LF_ERR_FORMAT mentioning '%s', got %d: %s", word, rc, err);
}

static volatile uint64_t g_sink; /* keeps the touched bytes from being optimised away */

static void touch(const void *p, uint64_t n)
{
    const uint8_t *b = p;
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++) s += b[i];
    g_sink += s;
}

/* Call every accessor on every kv and tensor of an opened file, reading all
 * bytes they point at, and check the lookups agree with the indices. */
static void exercise_all(const struct gguf *g)
{
    touch(&(uint64_t){gguf_version(g) + gguf_alignment(g) + gguf_file_size(g)}, 8);
    for (int64_t i = 0; i < gguf_n_kv(g); i++) {
        struct gguf_str key = gguf_kv_key(g, i);
        touch(key.ptr, key.len);
        assert_true(gguf_kv_type(g, i) <= GGUF_VT_F64);
        const void *raw;
        uint64_t raw_len;
        assert_int_equal(gguf_kv_raw(g, i, &raw, &raw_len), 0);
        touch(raw, raw_len);
        if (memchr(key.ptr, 0, key.len)) continue; /* cannot be looked up by C string */
        char *k = malloc(key.len + 1);
        assert_non_null(k);
        memcpy(k, key.ptr, key.len);
        k[key.len] = 0;
        assert_int_equal(gguf_find_key(g, k), i);
        uint32_t u32;
        int64_t i64;
        float f;
        bool bl;
        struct gguf_str s;
        (void)gguf_get_u32(g, k, &u32);
        (void)gguf_get_i64(g, k, &i64);
        (void)gguf_get_f32(g, k, &f);
        (void)gguf_get_bool(g, k, &bl);
        if (gguf_get_str(g, k, &s) == 0) touch(s.ptr, s.len);
        enum gguf_vtype et;
        uint64_t count;
        const void *data;
        if (gguf_get_arr(g, k, &et, &count, &data) == 0) {
            if (data) {
                static const int sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
                touch(data, count * (uint64_t)sizes[et]);
            } else if (et == GGUF_VT_STRING) {
                struct gguf_str *strs = malloc((count ? count : 1) * sizeof *strs);
                assert_non_null(strs);
                assert_int_equal(gguf_get_arr_strs(g, k, strs, count), 0);
                for (uint64_t j = 0; j < count; j++) touch(strs[j].ptr, strs[j].len);
                free(strs);
            } else {
                assert_int_equal(et, GGUF_VT_ARRAY);
            }
        }
        free(k);
    }
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        assert_non_null(t);
        touch(t->name.ptr, t->name.len);
        assert_true(t->nbytes > 0);
        touch(t->data, 1);
        touch((const uint8_t *)t->data + t->nbytes - 1, 1);
        assert_int_equal(t->nbytes, gguf_type_nbytes(t->type, t->ne, t->n_dims));
        if (memchr(t->name.ptr, 0, t->name.len)) continue;
        char *n = malloc(t->name.len + 1);
        assert_non_null(n);
        memcpy(n, t->name.ptr, t->name.len);
        n[t->name.len] = 0;
        assert_ptr_equal(gguf_find_tensor(g, n), t);
        free(n);
    }
    assert_null(gguf_tensor_at(g, gguf_n_tensors(g)));
    assert_null(gguf_tensor_at(g, -1));
}

/* The small valid file most hostile-input tests start from, made by the
 * writer. Layout (hand-computed): kvs general.architecture="test",
 * general.alignment=32, k.a=7, k.b=8, k.strs=["ab","cde","f"],
 * k.i32=[1,-2,3]; tensors t.a F32 {4,2} at 0 and t.b F32 {8} at 32. */
static uint8_t *make_small_file(size_t *len)
{
    static const float ta[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    static const float tb[8] = {100, 101, 102, 103, 104, 105, 106, 107};
    static const int32_t ints[3] = {1, -2, 3};
    const struct gguf_str strs[3] = {{"ab", 2}, {"cde", 3}, {"f", 1}};
    struct gguf_writer *w;
    assert_int_equal(gguf_writer_new(&w), 0);
    assert_int_equal(gguf_writer_set_str(w, "general.architecture", "test"), 0);
    assert_int_equal(gguf_writer_set_u32(w, "general.alignment", 32), 0);
    assert_int_equal(gguf_writer_set_u32(w, "k.a", 7), 0);
    assert_int_equal(gguf_writer_set_u32(w, "k.b", 8), 0);
    assert_int_equal(gguf_writer_set_arr_strs(w, "k.strs", strs, 3), 0);
    assert_int_equal(gguf_writer_set_arr(w, "k.i32", GGUF_VT_I32, ints, 3), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "t.a", 0, (const int64_t[]){4, 2}, 2, ta), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "t.b", 0, (const int64_t[]){8}, 1, tb), 0);
    char *path = tu_tmp_path("small.gguf");
    char err[LF_ERRMSG_LEN];
    assert_int_equal(gguf_writer_write(w, path, err, sizeof err), 0);
    gguf_writer_free(w);
    uint8_t *data = (uint8_t *)tu_read_file(path, len);
    assert_non_null(data);
    free(path);
    return data;
}

/* ---- real files --------------------------------------------------------- */

static void test_stories260k(void **state)
{
    (void)state;
    char *path = tu_data_path("models/stories260K.gguf");
    struct gguf *g;
    char err[LF_ERRMSG_LEN];
    assert_int_equal(gguf_open(path, &g, err, sizeof err), 0);
    assert_int_equal(gguf_version(g), 3);
    assert_int_equal(gguf_n_tensors(g), 48);
    assert_int_equal(gguf_n_kv(g), 19);
    assert_int_equal(gguf_alignment(g), 32);
    assert_int_equal(gguf_file_size(g), 1185376);

    struct gguf_str s;
    assert_int_equal(gguf_get_str(g, "general.architecture", &s), 0);
    assert_true(str_eq(s, "llama"));
    uint32_t u;
    assert_int_equal(gguf_get_u32(g, "llama.embedding_length", &u), 0);
    assert_int_equal(u, 64);
    assert_int_equal(gguf_get_u32(g, "llama.block_count", &u), 0);
    assert_int_equal(u, 5);
    assert_int_equal(gguf_get_u32(g, "llama.attention.head_count", &u), 0);
    assert_int_equal(u, 8);
    assert_int_equal(gguf_get_u32(g, "llama.attention.head_count_kv", &u), 0);
    assert_int_equal(u, 4);
    assert_int_equal(gguf_get_u32(g, "llama.feed_forward_length", &u), 0);
    assert_int_equal(u, 172);
    assert_int_equal(gguf_get_u32(g, "llama.context_length", &u), 0);
    assert_int_equal(u, 2048);
    assert_int_equal(gguf_get_u32(g, "tokenizer.ggml.padding_token_id", &u), 0);
    assert_int_equal(u, 4294967295u);
    int64_t i64;
    assert_int_equal(gguf_get_i64(g, "tokenizer.ggml.seperator_token_id", &i64), 0);
    assert_int_equal(i64, 4294967295ll);
    float f;
    assert_int_equal(gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f), 0);
    uint32_t bits;
    memcpy(&bits, &f, 4);
    assert_int_equal(bits, 0x3727c5ac); /* the f32 nearest 1e-5, as stored */
    assert_int_equal(gguf_find_key(g, "general.architecture"), 4);
    assert_int_equal(gguf_find_key(g, "no.such.key"), -1);
    assert_int_equal(gguf_get_u32(g, "no.such.key", &u), LF_ERR_INVALID);
    assert_int_equal(gguf_get_u32(g, "general.architecture", &u), LF_ERR_FORMAT);

    enum gguf_vtype et;
    uint64_t n;
    const void *data;
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &data), 0);
    assert_int_equal(et, GGUF_VT_STRING);
    assert_int_equal(n, 512);
    assert_null(data);
    struct gguf_str toks[512];
    assert_int_equal(gguf_get_arr_strs(g, "tokenizer.ggml.tokens", toks, 512), 0);
    assert_true(str_eq(toks[0], "<unk>"));
    assert_true(str_eq(toks[1], "<s>"));
    assert_true(str_eq(toks[2], "</s>"));
    assert_true(str_eq(toks[3], "<0x00>"));
    assert_true(str_eq(toks[258], "<0xFF>"));
    assert_true(str_eq(toks[259], "\xe2\x96\x81t"));   /* "▁t" */
    assert_true(str_eq(toks[300], "\xe2\x96\x81ha"));  /* "▁ha" */
    assert_true(str_eq(toks[511], "\xe2\x80\x8a"));    /* U+200A hair space */
    assert_int_equal(gguf_get_arr_strs(g, "tokenizer.ggml.tokens", toks, 513), LF_ERR_INVALID);
    assert_int_equal(gguf_get_arr_strs(g, "tokenizer.ggml.scores", toks, 1), LF_ERR_FORMAT);

    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.scores", &et, &n, &data), 0);
    assert_int_equal(et, GGUF_VT_F32);
    assert_int_equal(n, 512);
    float score;
    memcpy(&score, (const uint8_t *)data + 4 * 300, 4);
    assert_true(score == -41.0f);
    memcpy(&score, (const uint8_t *)data + 4 * 511, 4);
    assert_true(score == -252.0f);
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n, &data), 0);
    assert_int_equal(et, GGUF_VT_I32);
    int32_t tt[4];
    memcpy(tt, data, sizeof tt);
    assert_int_equal(tt[0], 2);
    assert_int_equal(tt[1], 3);
    assert_int_equal(tt[3], 6);

    /* Tensors: shapes and offsets as the file states them; the data section
     * starts at 14176 (header ends at 14152, padded to 32). */
    size_t file_len;
    uint8_t *file = (uint8_t *)tu_read_file(path, &file_len);
    assert_non_null(file);
    const struct gguf_tensor *t = gguf_find_tensor(g, "token_embd.weight");
    assert_non_null(t);
    assert_ptr_equal(t, gguf_tensor_at(g, 0));
    assert_int_equal(t->type, 0);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 512);
    assert_int_equal(t->ne[2], 1);
    assert_int_equal(t->ne[3], 1);
    assert_int_equal(t->offset, 0);
    assert_int_equal(t->nbytes, 64 * 512 * 4);
    assert_memory_equal(t->data, file + 14176, t->nbytes);
    float v;
    memcpy(&v, t->data, 4);
    assert_true(v == -0.29474878311157227f);

    t = gguf_find_tensor(g, "blk.0.ffn_gate.weight");
    assert_non_null(t);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 172);
    assert_int_equal(t->offset, 311808);
    t = gguf_find_tensor(g, "blk.0.ffn_down.weight");
    assert_non_null(t);
    assert_int_equal(t->ne[0], 172);
    assert_int_equal(t->ne[1], 64);
    assert_int_equal(t->offset, 355840);
    assert_memory_equal(t->data, file + 14176 + 355840, t->nbytes);
    memcpy(&v, t->data, 4);
    assert_true(v == 0.13498419523239136f);
    t = gguf_find_tensor(g, "output_norm.weight");
    assert_non_null(t);
    assert_int_equal(t->n_dims, 1);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 1);
    assert_int_equal(t->offset, 131072);
    t = gguf_tensor_at(g, 47);
    assert_true(str_eq(t->name, "blk.4.ffn_norm.weight"));
    assert_int_equal(t->offset + t->nbytes + 14176, 1185376); /* ends exactly at EOF */
    assert_null(gguf_find_tensor(g, "blk.5.ffn_norm.weight"));
    exercise_all(g);
    free(file);
    gguf_close(g);
    free(path);
}

static void test_vocab_bpe(void **state)
{
    (void)state;
    char *path = tu_data_path("tokenizer/ggml-vocab-llama-bpe.gguf");
    struct gguf *g;
    char err[LF_ERRMSG_LEN];
    assert_int_equal(gguf_open(path, &g, err, sizeof err), 0);
    assert_int_equal(gguf_n_tensors(g), 0);
    assert_int_equal(gguf_n_kv(g), 20);
    assert_int_equal(gguf_file_size(g), 7818140); /* not a multiple of 32: no padding */
    enum gguf_vtype et;
    uint64_t n;
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, NULL), 0);
    assert_int_equal(et, GGUF_VT_STRING);
    assert_int_equal(n, 128256);
    struct gguf_str *strs = malloc(280147 * sizeof *strs);
    assert_non_null(strs);
    assert_int_equal(gguf_get_arr_strs(g, "tokenizer.ggml.tokens", strs, n), 0);
    assert_true(str_eq(strs[0], "!"));
    assert_true(str_eq(strs[128000], "<|begin_of_text|>"));
    assert_true(str_eq(strs[128255], "<|reserved_special_token_250|>"));
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n, NULL), 0);
    assert_int_equal(et, GGUF_VT_STRING);
    assert_int_equal(n, 280147);
    assert_int_equal(gguf_get_arr_strs(g, "tokenizer.ggml.merges", strs, n), 0);
    assert_true(str_eq(strs[0], "\xc4\xa0 \xc4\xa0"));                 /* "Ġ Ġ" */
    assert_true(str_eq(strs[280146], "\xc3\xa9\xc4\xb6 \xc2\xa6"));
    uint32_t u;
    assert_int_equal(gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &u), 0);
    assert_int_equal(u, 128000);
    float f;
    assert_int_equal(gguf_get_f32(g, "llama.rope.freq_base", &f), 0);
    assert_true(f == 500000.0f);
    struct gguf_str s;
    assert_int_equal(gguf_get_str(g, "tokenizer.ggml.pre", &s), 0);
    assert_true(str_eq(s, "llama-bpe"));
    free(strs);
    gguf_close(g);
    free(path);
}

static void test_vocab_spm(void **state)
{
    (void)state;
    char *path = tu_data_path("tokenizer/ggml-vocab-llama-spm.gguf");
    struct gguf *g;
    char err[LF_ERRMSG_LEN];
    assert_int_equal(gguf_open(path, &g, err, sizeof err), 0);
    assert_int_equal(gguf_n_tensors(g), 0);
    uint64_t n;
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.tokens", NULL, &n, NULL), 0);
    assert_int_equal(n, 32000);
    bool b = false;
    assert_int_equal(gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b), 0);
    assert_true(b);
    assert_int_equal(gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b), 0);
    assert_false(b);
    gguf_close(g);
    free(path);
}

/* Rewriting a file through copy_kv + add_tensor gives the same bytes: the
 * writer produces llama.cpp's standard layout. */
static void rewrite_and_compare(const char *rel)
{
    char *path = tu_data_path(rel);
    char *out = tu_tmp_path("rewrite.gguf");
    struct gguf *g;
    struct gguf_writer *w;
    char err[LF_ERRMSG_LEN];
    assert_int_equal(gguf_open(path, &g, err, sizeof err), 0);
    assert_int_equal(gguf_writer_new(&w), 0);
    for (int64_t i = 0; i < gguf_n_kv(g); i++) assert_int_equal(gguf_writer_copy_kv(w, g, i), 0);
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        char name[128];
        assert_true(t->name.len < sizeof name);
        memcpy(name, t->name.ptr, t->name.len);
        name[t->name.len] = 0;
        assert_int_equal(gguf_writer_add_tensor(w, name, t->type, t->ne, t->n_dims, t->data), 0);
    }
    assert_int_equal(gguf_writer_write(w, out, err, sizeof err), 0);
    size_t a_len, b_len;
    char *a = tu_read_file(path, &a_len), *b = tu_read_file(out, &b_len);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a_len, b_len);
    assert_memory_equal(a, b, a_len);
    free(a);
    free(b);
    gguf_writer_free(w);
    gguf_close(g);
    remove(out);
    free(out);
    free(path);
}

static void test_rewrite_reproduces_files(void **state)
{
    (void)state;
    rewrite_and_compare("models/stories260K.gguf");
    rewrite_and_compare("tokenizer/ggml-vocab-llama-spm.gguf");
}

/* ---- type sizes --------------------------------------------------------- */

static void test_type_nbytes(void **state)
{
    (void)state;
    /* {id, block elements, block bytes} per ggml's type traits. */
    static const uint32_t table[][3] = {
        {0, 1, 4},      {1, 1, 2},      {2, 32, 18},    {3, 32, 20},    {6, 32, 22},
        {7, 32, 24},    {8, 32, 34},    {9, 32, 36},    {10, 256, 84},  {11, 256, 110},
        {12, 256, 144}, {13, 256, 176}, {14, 256, 210}, {15, 256, 292}, {16, 256, 66},
        {17, 256, 74},  {18, 256, 98},  {19, 256, 50},  {20, 32, 18},   {21, 256, 110},
        {22, 256, 82},  {23, 256, 136}, {24, 1, 1},     {25, 1, 2},     {26, 1, 4},
        {27, 1, 8},     {28, 1, 8},     {29, 256, 56},  {30, 1, 2},     {34, 256, 54},
        {35, 256, 66},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        int64_t ne[3] = {2 * (int64_t)table[i][1], 3, 5};
        assert_int_equal(gguf_type_nbytes(table[i][0], ne, 3), 30ull * table[i][2]);
        assert_int_equal(gguf_type_nbytes(table[i][0], ne, 1), 2ull * table[i][2]);
        if (table[i][1] > 1) {
            ne[0] = table[i][1] + 1; /* not a whole number of blocks */
            assert_int_equal(gguf_type_nbytes(table[i][0], ne, 2), 0);
        }
    }
    /* I2_S: n/4 bytes plus the 32-byte scale tail, rows of 128. */
    assert_int_equal(gguf_type_nbytes(36, (const int64_t[]){128, 3}, 2), 128);
    assert_int_equal(gguf_type_nbytes(36, (const int64_t[]){2560, 6912}, 2), 4423712);
    assert_int_equal(gguf_type_nbytes(36, (const int64_t[]){64, 2}, 2), 0);
    /* unknown ids (removed from ggml, fork-specific, or bogus) */
    static const uint32_t unknown[] = {4, 5, 31, 32, 33, 37, 38, 39, 99, 0xffffffffu};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        assert_int_equal(gguf_type_nbytes(unknown[i], (const int64_t[]){256}, 1), 0);
    /* bad shapes and overflow */
    assert_int_equal(gguf_type_nbytes(0, (const int64_t[]){0}, 1), 0);
    assert_int_equal(gguf_type_nbytes(0, (const int64_t[]){-4}, 1), 0);
    assert_int_equal(gguf_type_nbytes(0, (const int64_t[]){4}, 0), 0);
    assert_int_equal(gguf_type_nbytes(0, (const int64_t[]){4, 1, 1, 1, 1}, 5), 0);
    assert_int_equal(gguf_type_nbytes(0, (const int64_t[]){1ll << 61}, 1), 1ull << 63);
    assert_int_equal(gguf_type_nbytes(28, (const int64_t[]){1ll << 62}, 1), 0);  /* 2^65 bytes */
    assert_int_equal(gguf_type_nbytes(0, (const int64_t[]){1ll << 32, 1ll << 31}, 2), 0);
    /* no false overflow: 2^54 Q8_K blocks of 292 bytes still fit in u64 */
    assert_int_equal(gguf_type_nbytes(15, (const int64_t[]){1ll << 62}, 1), 292ull << 54);
}

/* ---- writer round trip -------------------------------------------------- */

/* A hand-built file holding one kv of every value type, including an array of
 * arrays and an empty array. Values chosen to exercise conversions. */
static struct buf build_all_types(void)
{
    struct buf b = {0};
    b_header(&b, 0, 16);
    b_kv(&b, "v.u8", GGUF_VT_U8), b_uint(&b, 200, 1);
    b_kv(&b, "v.i8", GGUF_VT_I8), b_uint(&b, (uint8_t)-5, 1);
    b_kv(&b, "v.u16", GGUF_VT_U16), b_uint(&b, 65535, 2);
    b_kv(&b, "v.i16", GGUF_VT_I16), b_uint(&b, (uint16_t)-300, 2);
    b_kv(&b, "v.u32", GGUF_VT_U32), b_u32(&b, 4000000000u);
    b_kv(&b, "v.i32", GGUF_VT_I32), b_u32(&b, (uint32_t)-7);
    b_kv(&b, "v.f32", GGUF_VT_F32), b_u32(&b, 0x3fc00000); /* 1.5f */
    b_kv(&b, "v.bool", GGUF_VT_BOOL), b_uint(&b, 1, 1);
    b_kv(&b, "v.str", GGUF_VT_STRING), b_str(&b, "hello");
    b_kv(&b, "v.u64", GGUF_VT_U64), b_u64(&b, 1ull << 40);
    b_kv(&b, "v.i64", GGUF_VT_I64), b_u64(&b, (uint64_t)-9);
    b_kv(&b, "v.f64", GGUF_VT_F64), b_u64(&b, 0x3fe0000000000000ull); /* 0.5 */
    b_kv(&b, "v.u64big", GGUF_VT_U64), b_u64(&b, 1ull << 63);
    /* [[1, 2], []] as arrays of u16 */
    b_kv(&b, "v.nested", GGUF_VT_ARRAY), b_u32(&b, GGUF_VT_ARRAY), b_u64(&b, 2);
    b_u32(&b, GGUF_VT_U16), b_u64(&b, 2), b_uint(&b, 1, 2), b_uint(&b, 2, 2);
    b_u32(&b, GGUF_VT_U16), b_u64(&b, 0);
    /* [["x", ""], ["yz"]] */
    b_kv(&b, "v.nested_strs", GGUF_VT_ARRAY), b_u32(&b, GGUF_VT_ARRAY), b_u64(&b, 2);
    b_u32(&b, GGUF_VT_STRING), b_u64(&b, 2), b_str(&b, "x"), b_str(&b, "");
    b_u32(&b, GGUF_VT_STRING), b_u64(&b, 1), b_str(&b, "yz");
    b_kv(&b, "v.empty", GGUF_VT_ARRAY), b_u32(&b, GGUF_VT_F64), b_u64(&b, 0);
    return b;
}

/* The typed getters' conversions on the all-types file. */
static void check_all_types(const struct gguf *g)
{
    uint32_t u;
    int64_t i;
    float f;
    bool b;
    struct gguf_str s;
    assert_int_equal(gguf_get_u32(g, "v.u8", &u), 0);
    assert_int_equal(u, 200);
    assert_int_equal(gguf_get_u32(g, "v.i8", &u), LF_ERR_FORMAT); /* -5 does not fit */
    assert_int_equal(gguf_get_i64(g, "v.i8", &i), 0);
    assert_int_equal(i, -5);
    assert_int_equal(gguf_get_u32(g, "v.u16", &u), 0);
    assert_int_equal(u, 65535);
    assert_int_equal(gguf_get_i64(g, "v.i16", &i), 0);
    assert_int_equal(i, -300);
    assert_int_equal(gguf_get_f32(g, "v.i16", &f), 0);
    assert_true(f == -300.0f);
    assert_int_equal(gguf_get_u32(g, "v.u32", &u), 0);
    assert_int_equal(u, 4000000000u);
    assert_int_equal(gguf_get_i64(g, "v.i32", &i), 0);
    assert_int_equal(i, -7);
    assert_int_equal(gguf_get_f32(g, "v.f32", &f), 0);
    assert_true(f == 1.5f);
    assert_int_equal(gguf_get_u32(g, "v.f32", &u), LF_ERR_FORMAT);
    assert_int_equal(gguf_get_bool(g, "v.bool", &b), 0);
    assert_true(b);
    assert_int_equal(gguf_get_u32(g, "v.bool", &u), 0);
    assert_int_equal(u, 1);
    assert_int_equal(gguf_get_bool(g, "v.u8", &b), LF_ERR_FORMAT); /* 200 is not 0/1 */
    assert_int_equal(gguf_get_str(g, "v.str", &s), 0);
    assert_true(str_eq(s, "hello"));
    assert_int_equal(gguf_get_str(g, "v.u8", &s), LF_ERR_FORMAT);
    assert_int_equal(gguf_get_u32(g, "v.u64", &u), LF_ERR_FORMAT); /* 2^40 */
    assert_int_equal(gguf_get_i64(g, "v.u64", &i), 0);
    assert_int_equal(i, 1ll << 40);
    assert_int_equal(gguf_get_i64(g, "v.i64", &i), 0);
    assert_int_equal(i, -9);
    assert_int_equal(gguf_get_f32(g, "v.f64", &f), 0);
    assert_true(f == 0.5f);
    assert_int_equal(gguf_get_i64(g, "v.u64big", &i), LF_ERR_FORMAT); /* 2^63 */
    assert_int_equal(gguf_get_i64(g, "v.str", &i), LF_ERR_FORMAT);
    assert_int_equal(gguf_get_f32(g, "v.str", &f), LF_ERR_FORMAT);
    assert_int_equal(gguf_get_bool(g, "v.nested", &b), LF_ERR_FORMAT);
    assert_int_equal(gguf_get_u32(g, "v.absent", &u), LF_ERR_INVALID);

    enum gguf_vtype et;
    uint64_t n;
    const void *data;
    assert_int_equal(gguf_get_arr(g, "v.u8", &et, &n, &data), LF_ERR_FORMAT);
    assert_int_equal(gguf_get_arr(g, "v.nested", &et, &n, &data), 0);
    assert_int_equal(et, GGUF_VT_ARRAY);
    assert_int_equal(n, 2);
    assert_null(data);
    assert_int_equal(gguf_get_arr_strs(g, "v.nested_strs", &s, 1), LF_ERR_FORMAT);
    assert_int_equal(gguf_get_arr(g, "v.empty", &et, &n, &data), 0);
    assert_int_equal(et, GGUF_VT_F64);
    assert_int_equal(n, 0);

    /* raw bytes of the nested array: elem type, count, then two sub-arrays */
    int64_t k = gguf_find_key(g, "v.nested");
    const void *raw;
    uint64_t raw_len;
    assert_int_equal(gguf_kv_raw(g, k, &raw, &raw_len), 0);
    assert_int_equal(raw_len, 12 + (12 + 4) + 12);
    static const uint8_t nested_raw[] = {9, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2, 0,
                                         0, 0, 0, 0, 0, 0, 1, 0, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0,
                                         0, 0, 0, 0};
    assert_memory_equal(raw, nested_raw, sizeof nested_raw);
    assert_int_equal(gguf_kv_raw(g, gguf_n_kv(g), &raw, &raw_len), LF_ERR_INVALID);
}

static void test_writer_round_trip(void **state)
{
    (void)state;
    char err[LF_ERRMSG_LEN];
    struct buf src_bytes = build_all_types();
    struct gguf *src;
    assert_int_equal(gguf_open_memory(src_bytes.p, src_bytes.len, &src, err, sizeof err), 0);
    assert_int_equal(gguf_n_kv(src), 16);
    check_all_types(src);

    /* tensors of three types; the data is arbitrary bytes */
    static float f32[15];
    static uint8_t tq2[2 * 66];
    static uint8_t i2s[128];
    for (int i = 0; i < 15; i++) f32[i] = (float)i * 0.25f - 1.0f;
    for (size_t i = 0; i < sizeof tq2; i++) tq2[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < sizeof i2s; i++) i2s[i] = (uint8_t)(255 - i);

    struct gguf_writer *w;
    assert_int_equal(gguf_writer_new(&w), 0);
    for (int64_t i = 0; i < gguf_n_kv(src); i++) assert_int_equal(gguf_writer_copy_kv(w, src, i), 0);
    assert_int_equal(gguf_writer_set_u32(w, "w.u32", 123), 0);
    assert_int_equal(gguf_writer_set_i32(w, "w.i32", -123), 0);
    assert_int_equal(gguf_writer_set_f32(w, "w.f32", 0.1f), 0);
    assert_int_equal(gguf_writer_set_bool(w, "w.bool", false), 0);
    assert_int_equal(gguf_writer_set_str(w, "w.str", ""), 0);
    static const uint16_t u16s[3] = {1, 300, 65535};
    assert_int_equal(gguf_writer_set_arr(w, "w.u16s", GGUF_VT_U16, u16s, 3), 0);
    static const double f64s[2] = {0.25, -1e300};
    assert_int_equal(gguf_writer_set_arr(w, "w.f64s", GGUF_VT_F64, f64s, 2), 0);
    const struct gguf_str strs[3] = {{"a", 1}, {"", 0}, {"b\0c", 3}};
    assert_int_equal(gguf_writer_set_arr_strs(w, "w.strs", strs, 3), 0);
    /* setting an existing key replaces its value, keeping its place */
    assert_int_equal(gguf_writer_set_u32(w, "w.u32", 456), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "f32", 0, (const int64_t[]){3, 5}, 2, f32), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "tq2", 35, (const int64_t[]){256, 2}, 2, tq2), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "i2s", 36, (const int64_t[]){128, 3}, 2, i2s), 0);
    char *path = tu_tmp_path("roundtrip.gguf");
    assert_int_equal(gguf_writer_write(w, path, err, sizeof err), 0);
    gguf_writer_free(w);

    struct gguf *g;
    assert_int_equal(gguf_open(path, &g, err, sizeof err), 0);
    assert_int_equal(gguf_version(g), 3);
    assert_int_equal(gguf_n_kv(g), 16 + 8);
    check_all_types(g);
    /* every copied kv: same key, type and bytes, in the same order */
    for (int64_t i = 0; i < 16; i++) {
        struct gguf_str a = gguf_kv_key(src, i), b = gguf_kv_key(g, i);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.ptr, b.ptr, a.len);
        assert_int_equal(gguf_kv_type(src, i), gguf_kv_type(g, i));
        const void *ra, *rb;
        uint64_t la, lb;
        assert_int_equal(gguf_kv_raw(src, i, &ra, &la), 0);
        assert_int_equal(gguf_kv_raw(g, i, &rb, &lb), 0);
        assert_int_equal(la, lb);
        assert_memory_equal(ra, rb, la);
    }
    uint32_t u;
    int64_t i64;
    float f;
    bool b = true;
    struct gguf_str s;
    assert_int_equal(gguf_find_key(g, "w.u32"), 16);
    assert_int_equal(gguf_get_u32(g, "w.u32", &u), 0);
    assert_int_equal(u, 456);
    assert_int_equal(gguf_kv_type(g, gguf_find_key(g, "w.i32")), GGUF_VT_I32);
    assert_int_equal(gguf_get_i64(g, "w.i32", &i64), 0);
    assert_int_equal(i64, -123);
    assert_int_equal(gguf_get_f32(g, "w.f32", &f), 0);
    assert_true(f == 0.1f);
    assert_int_equal(gguf_get_bool(g, "w.bool", &b), 0);
    assert_false(b);
    assert_int_equal(gguf_get_str(g, "w.str", &s), 0);
    assert_int_equal(s.len, 0);
    enum gguf_vtype et;
    uint64_t n;
    const void *data;
    assert_int_equal(gguf_get_arr(g, "w.u16s", &et, &n, &data), 0);
    assert_int_equal(et, GGUF_VT_U16);
    assert_int_equal(n, 3);
    assert_memory_equal(data, u16s, sizeof u16s);
    assert_int_equal(gguf_get_arr(g, "w.f64s", &et, &n, &data), 0);
    assert_int_equal(et, GGUF_VT_F64);
    assert_memory_equal(data, f64s, sizeof f64s);
    struct gguf_str got[3];
    assert_int_equal(gguf_get_arr_strs(g, "w.strs", got, 3), 0);
    assert_true(str_eq(got[0], "a"));
    assert_int_equal(got[1].len, 0);
    assert_int_equal(got[2].len, 3);
    assert_memory_equal(got[2].ptr, "b\0c", 3);
    assert_int_equal(gguf_get_arr_strs(g, "w.strs", got, 2), 0); /* a prefix is fine */

    /* tensors: sizes, hand-computed aligned offsets, bytes */
    const struct gguf_tensor *t = gguf_find_tensor(g, "f32");
    assert_non_null(t);
    assert_int_equal(t->type, 0);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 3);
    assert_int_equal(t->ne[1], 5);
    assert_int_equal(t->nbytes, 60);
    assert_int_equal(t->offset, 0);
    assert_memory_equal(t->data, f32, 60);
    t = gguf_find_tensor(g, "tq2");
    assert_non_null(t);
    assert_int_equal(t->type, 35);
    assert_int_equal(t->nbytes, 132);
    assert_int_equal(t->offset, 64);
    assert_memory_equal(t->data, tq2, 132);
    t = gguf_find_tensor(g, "i2s");
    assert_non_null(t);
    assert_int_equal(t->type, 36);
    assert_int_equal(t->ne[0], 128);
    assert_int_equal(t->ne[1], 3);
    assert_int_equal(t->nbytes, 128);
    assert_int_equal(t->offset, 224);
    assert_memory_equal(t->data, i2s, 128);
    /* file ends at the padded end of the last tensor */
    assert_int_equal((gguf_file_size(g) - 224 - 128) % 32, 0);
    assert_ptr_equal((const uint8_t *)t->data + 128, (const uint8_t *)gguf_tensor_at(g, 0)->data + 352);
    exercise_all(g);
    gguf_close(g);
    gguf_close(src);
    free(src_bytes.p);
    free(path);
}

static void test_writer_alignment_and_errors(void **state)
{
    (void)state;
    char err[LF_ERRMSG_LEN];
    static const uint8_t bytes[300] = {1};
    struct gguf_writer *w;
    assert_int_equal(gguf_writer_new(&w), 0);
    assert_int_equal(gguf_writer_set_u32(w, "general.alignment", 64), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "a", 24, (const int64_t[]){3}, 1, bytes), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "b", 24, (const int64_t[]){70}, 1, bytes), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "c", 24, (const int64_t[]){1}, 1, bytes), 0);
    /* refused arguments */
    assert_int_equal(gguf_writer_add_tensor(w, "a", 24, (const int64_t[]){3}, 1, bytes), LF_ERR_INVALID);
    assert_int_equal(gguf_writer_add_tensor(w, "d", 24, (const int64_t[]){3}, 0, bytes), LF_ERR_INVALID);
    assert_int_equal(gguf_writer_add_tensor(w, "d", 24, (const int64_t[]){0}, 1, bytes), LF_ERR_INVALID);
    assert_int_equal(gguf_writer_add_tensor(w, "d", 2, (const int64_t[]){31}, 1, bytes), LF_ERR_INVALID);
    assert_int_equal(gguf_writer_add_tensor(w, "d", 99, (const int64_t[]){32}, 1, bytes), LF_ERR_INVALID);
    assert_int_equal(gguf_writer_add_tensor(w, "", 0, (const int64_t[]){1}, 1, bytes), LF_ERR_INVALID);
    assert_int_equal(gguf_writer_set_arr(w, "x", GGUF_VT_STRING, bytes, 1), LF_ERR_INVALID);
    assert_int_equal(gguf_writer_set_arr(w, "x", GGUF_VT_ARRAY, bytes, 1), LF_ERR_INVALID);
    assert_int_equal(gguf_writer_set_u32(w, "", 1), LF_ERR_INVALID);

    char *path = tu_tmp_path("align64.gguf");
    assert_int_equal(gguf_writer_write(w, path, err, sizeof err), 0);
    struct gguf *g;
    assert_int_equal(gguf_open(path, &g, err, sizeof err), 0);
    assert_int_equal(gguf_alignment(g), 64);
    assert_int_equal(gguf_tensor_at(g, 0)->offset, 0);
    assert_int_equal(gguf_tensor_at(g, 1)->offset, 64);
    assert_int_equal(gguf_tensor_at(g, 2)->offset, 192);
    assert_int_equal(gguf_file_size(g) % 64, 0);
    assert_int_equal((uintptr_t)gguf_tensor_at(g, 0)->data % 64, 0); /* mmap is page-aligned */
    gguf_close(g);

    /* general.alignment that a reader would refuse */
    assert_int_equal(gguf_writer_set_u32(w, "general.alignment", 48), 0);
    assert_int_equal(gguf_writer_write(w, path, err, sizeof err), LF_ERR_INVALID);
    assert_non_null(strstr(err, "alignment"));
    assert_int_equal(gguf_writer_set_i32(w, "general.alignment", 32), 0);
    assert_int_equal(gguf_writer_write(w, path, err, sizeof err), LF_ERR_INVALID);
    assert_non_null(strstr(err, "u32"));
    assert_int_equal(gguf_writer_set_u32(w, "general.alignment", 32), 0);

    /* i/o failure: directory does not exist; nothing is left behind */
    char *bad = tu_tmp_path("no-such-dir/x.gguf");
    assert_int_equal(gguf_writer_write(w, bad, err, sizeof err), LF_ERR_IO);
    assert_non_null(strstr(err, "no-such-dir"));
    assert_non_null(strstr(err, "No such file"));
    gguf_writer_free(w);
    gguf_writer_free(NULL);
    free(bad);
    free(path);
}

/* ---- hostile input ------------------------------------------------------ */

static void test_open_errors(void **state)
{
    (void)state;
    char err[LF_ERRMSG_LEN];
    struct gguf *g = (struct gguf *)&g; /* must be reset to NULL on failure */
    assert_int_equal(gguf_open("/nonexistent/dir/model.gguf", &g, err, sizeof err), LF_ERR_IO);
    assert_null(g);
    assert_non_null(strstr(err, "No such file or directory"));
    assert_non_null(strstr(err, "/nonexistent/dir/model.gguf"));
    char *dir = tu_tmp_path("");
    assert_int_equal(gguf_open(dir, &g, err, sizeof err), LF_ERR_IO);
    free(dir);
    char *empty = tu_tmp_path("empty.gguf");
    FILE *f = fopen(empty, "wb");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(gguf_open(empty, &g, err, sizeof err), LF_ERR_FORMAT);
    free(empty);
    gguf_close(NULL);
    /* NULL error buffer is allowed */
    assert_int_equal(gguf_open("/nonexistent", &g, NULL, 0), LF_ERR_IO);
    assert_int_equal(gguf_open_memory("GGUF", 4, &g, NULL, 0), LF_ERR_FORMAT);
}

static void test_small_file_is_valid(void **state)
{
    (void)state;
    size_t len;
    uint8_t *data = make_small_file(&len);
    struct gguf *g;
    char err[LF_ERRMSG_LEN];
    assert_int_equal(gguf_open_memory(data, len, &g, err, sizeof err), 0);
    assert_int_equal(gguf_n_kv(g), 6);
    assert_int_equal(gguf_n_tensors(g), 2);
    assert_int_equal(len % 32, 0);
    assert_int_equal(gguf_tensor_at(g, 1)->offset, 32);
    assert_ptr_equal(gguf_tensor_at(g, 1)->data, data + len - 32);
    float v;
    memcpy(&v, gguf_tensor_at(g, 1)->data, 4);
    assert_true(v == 100.0f);
    exercise_all(g);
    gguf_close(g);
    free(data);
}

static void test_truncation_at_every_length(void **state)
{
    (void)state;
    size_t len;
    uint8_t *data = make_small_file(&len);
    char err[LF_ERRMSG_LEN];
    for (size_t n = 0; n < len; n++) {
        int rc = open_copy(data, n, err, sizeof err);
        if (rc != LF_ERR_FORMAT) fail_msg("truncated to %zu of %zu bytes: got %d", n, len, rc);
    }
    assert_int_equal(open_copy(data, len, err, sizeof err), 0);
    free(data);
}

static void test_version_and_magic(void **state)
{
    (void)state;
    size_t len;
    uint8_t *data = make_small_file(&len);
    char err[LF_ERRMSG_LEN];
    uint8_t *m = malloc(len);
    assert_non_null(m);
    memcpy(m, data, len);
    patch_u32(m, 4, 1);
    expect_format(m, len, "version 1");
    patch_u32(m, 4, 4);
    expect_format(m, len, "version 4");
    patch_u32(m, 4, 0x03000000); /* a big-endian v3 file */
    expect_format(m, len, "big-endian");
    patch_u32(m, 4, 2); /* v2 has the v3 layout and is accepted */
    assert_int_equal(open_copy(m, len, err, sizeof err), 0);
    memcpy(m, "GGML", 4);
    expect_format(m, len, "magic");
    free(m);
    free(data);
}

/* One patched copy of the small file per hostile value. */
static void test_absurd_fields(void **state)
{
    (void)state;
    size_t len;
    uint8_t *d = make_small_file(&len);
    uint8_t *m = malloc(len);
    assert_non_null(m);
#define FRESH() memcpy(m, d, len)

    FRESH(), patch_u64(m, 16, 1ull << 62);
    expect_format(m, len, "n_kv 4611686018427387904");
    FRESH(), patch_u64(m, 8, 1ull << 40);
    expect_format(m, len, "n_tensors 1099511627776");
    FRESH(), patch_u64(m, 24, 0); /* first key length */
    expect_format(m, len, "empty key");
    FRESH(), patch_u64(m, 24, 1ull << 63);
    expect_format(m, len, "kv 0: key string length 9223372036854775808 exceeds");

    size_t arch = after_str(d, len, "general.architecture"); /* type, then string */
    FRESH(), patch_u64(m, arch + 4, 1ull << 63);
    expect_format(m, len, "kv 0 'general.architecture': string length 9223372036854775808 exceeds remaining");
    FRESH(), patch_u32(m, arch, 13);
    expect_format(m, len, "'general.architecture': unknown value type 13");

    size_t al = after_str(d, len, "general.alignment");
    FRESH(), patch_u32(m, al + 4, 0);
    expect_format(m, len, "general.alignment 0 is not a nonzero power of two");
    FRESH(), patch_u32(m, al + 4, 3);
    expect_format(m, len, "general.alignment 3 is not");
    FRESH(), patch_u32(m, al, GGUF_VT_I32);
    expect_format(m, len, "general.alignment has type i32");
    FRESH(), patch_u32(m, al + 4, 16); /* valid, but now the data section moves */
    {
        char err[LF_ERRMSG_LEN];
        int rc = open_copy(m, len, err, sizeof err);
        /* header end is a multiple of 16 or not; either way it must not crash,
         * and with 32-aligned offsets the tensors still satisfy alignment 16 */
        assert_true(rc == 0 || rc == LF_ERR_FORMAT);
    }

    size_t strs = after_str(d, len, "k.strs"); /* type, elem type, count, elements */
    FRESH(), patch_u64(m, strs + 8, 1ull << 61);
    expect_format(m, len, "'k.strs': string array count 2305843009213693952 exceeds remaining");
    FRESH(), patch_u64(m, strs + 16 + 10, 1ull << 60); /* element 1: after 8+"ab" */
    expect_format(m, len, "'k.strs': string array element 1 length 1152921504606846976 exceeds remaining");
    FRESH(), patch_u32(m, strs + 4, 77);
    expect_format(m, len, "'k.strs': array of unknown element type 77");
    size_t ints = after_str(d, len, "k.i32");
    FRESH(), patch_u64(m, ints + 8, 1ull << 61);
    expect_format(m, len, "'k.i32': i32 array count 2305843009213693952 exceeds");

    size_t kb = after_str(d, len, "k.b");
    FRESH(), m[kb - 1] = 'a'; /* k.b -> k.a */
    expect_format(m, len, "duplicate key 'k.a'");

    /* tensor t.a: name | n_dims | ne[2] | type | offset */
    size_t ta = after_str(d, len, "t.a");
    FRESH(), patch_u32(m, ta, 0);
    expect_format(m, len, "tensor 't.a': n_dims 0 outside 1..4");
    FRESH(), patch_u32(m, ta, 5);
    expect_format(m, len, "tensor 't.a': n_dims 5 outside 1..4");
    FRESH(), patch_u64(m, ta + 4, 1ull << 32), patch_u64(m, ta + 12, 1ull << 32);
    expect_format(m, len, "tensor 't.a': element count overflows");
    FRESH(), patch_u64(m, ta + 12, 0);
    expect_format(m, len, "tensor 't.a': dimension ne[1] = 0 must be positive");
    FRESH(), patch_u64(m, ta + 4, 1ull << 63);
    expect_format(m, len, "tensor 't.a': dimension ne[0] = -9223372036854775808 must be positive");
    FRESH(), patch_u64(m, ta + 4, (uint64_t)-4);
    expect_format(m, len, "ne[0] = -4");
    FRESH(), patch_u32(m, ta + 20, 99);
    expect_format(m, len, "tensor 't.a': unknown ggml type id 99");
    FRESH(), patch_u32(m, ta + 20, 2); /* Q4_0 needs ne[0] % 32 == 0 */
    expect_format(m, len, "tensor 't.a': ne[0] = 4 is not a multiple of block size 32");
    FRESH(), patch_u64(m, ta + 4, 1ull << 61), patch_u32(m, ta + 20, 28); /* F64: 2^65 bytes */
    expect_format(m, len, "tensor 't.a': byte size overflows");

    size_t tb = after_str(d, len, "t.b"); /* name | n_dims | ne[1] | type | offset */
    FRESH(), patch_u64(m, tb + 16, 33);
    expect_format(m, len, "tensor 't.b': offset 33 is not a multiple of alignment 32");
    FRESH(), patch_u64(m, tb + 16, 4096);
    expect_format(m, len, "tensor 't.b': data offset 4096 lies past the end");
    FRESH(), patch_u64(m, tb + 16, 1ull << 63);
    expect_format(m, len, "tensor 't.b': data offset 9223372036854775808 lies past");
    FRESH(), patch_u64(m, tb + 4, 9); /* 36 bytes at offset 32 of a 64-byte data section */
    expect_format(m, len, "exceeds file size");
    FRESH(), patch_u64(m, tb + 4, 1ull << 60); /* 2^62 bytes */
    expect_format(m, len, "tensor 't.b': data [");
    FRESH(), patch_u64(m, tb + 4, (1ull << 62) - 8); /* start + nbytes overflows u64 */
    expect_format(m, len, "+ 18446744073709551584) exceeds file size");
    FRESH(), patch_u64(m, ta + 12, 3); /* t.a becomes [0, 48), running into t.b */
    expect_format(m, len, "tensors 't.a' [0, 48) and 't.b' [32, 64) overlap");
    FRESH(), m[tb - 1] = 'a';
    expect_format(m, len, "duplicate tensor name 't.a'");
    FRESH(), patch_u64(m, tb - 11, 0); /* t.b's name length */
    expect_format(m, len, "tensor 1: empty name");
#undef FRESH
    free(m);
    free(d);
}

/* An array nested `depth` levels deep: [[[...[]...]]] */
static struct buf build_nested(int depth)
{
    struct buf b = {0};
    b_header(&b, 0, 1);
    b_kv(&b, "bomb", GGUF_VT_ARRAY);
    for (int i = 1; i < depth; i++) b_u32(&b, GGUF_VT_ARRAY), b_u64(&b, 1);
    b_u32(&b, GGUF_VT_U8), b_u64(&b, 0);
    return b;
}

static void test_nesting_limit(void **state)
{
    (void)state;
    char err[LF_ERRMSG_LEN];
    struct buf ok = build_nested(GGUF_MAX_NESTING);
    assert_int_equal(open_copy(ok.p, ok.len, err, sizeof err), 0);
    struct buf deep = build_nested(GGUF_MAX_NESTING + 1);
    expect_format(deep.p, deep.len,
                  "kv 0 'bomb': arrays nested deeper than 16 levels, in array element 0, in array");
    struct buf bomb = build_nested(100000);
    expect_format(bomb.p, bomb.len, "nested deeper");
    free(ok.p);
    free(deep.p);
    free(bomb.p);
}

/* xorshift64: a fixed-seed PRNG so failures reproduce. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Mutate 1..8 bytes of data[0..span) in place, open, restore. Every outcome
 * must be success (then all accessors are exercised) or LF_ERR_FORMAT. */
static int mutate_rounds(uint8_t *data, size_t len, size_t span, int rounds, uint64_t seed)
{
    static const uint8_t specials[] = {0x00, 0xff, 0x7f, 0x80, 0x01, 0x20};
    int n_ok = 0;
    uint64_t s = seed;
    size_t pos[8];
    uint8_t old[8];
    for (int r = 0; r < rounds; r++) {
        int n = 1 + (int)(rng_next(&s) % 8);
        for (int i = 0; i < n; i++) {
            pos[i] = (size_t)(rng_next(&s) % span);
            old[i] = data[pos[i]];
            uint64_t x = rng_next(&s);
            data[pos[i]] = (x & 1) ? specials[(x >> 1) % sizeof specials] : (uint8_t)(x >> 8);
        }
        struct gguf *g = NULL;
        char err[LF_ERRMSG_LEN];
        int rc = gguf_open_memory(data, len, &g, err, sizeof err);
        if (rc == 0) {
            exercise_all(g);
            gguf_close(g);
            n_ok++;
        } else if (rc != LF_ERR_FORMAT) {
            fail_msg("round %d: unexpected status %d: %s", r, rc, err);
        }
        for (int i = n - 1; i >= 0; i--) data[pos[i]] = old[i];
    }
    return n_ok;
}

static void test_random_mutations(void **state)
{
    (void)state;
    size_t len;
    uint8_t *small = make_small_file(&len);
    int ok = mutate_rounds(small, len, len, 4000, 0x9e3779b97f4a7c15ull);
    /* Bytes inside tensor data and string contents do not matter, so some
     * mutants must still open; if none did, the harness would be broken. */
    assert_true(ok > 0);
    assert_true(ok < 4000);
    free(small);

    /* stories260K: mutate only its 14176-byte header, in place. */
    char *path = tu_data_path("models/stories260K.gguf");
    uint8_t *big = (uint8_t *)tu_read_file(path, &len);
    assert_non_null(big);
    ok = mutate_rounds(big, len, 14176, 1500, 12345);
    assert_true(ok > 0);
    free(big);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories260k),
        cmocka_unit_test(test_vocab_bpe),
        cmocka_unit_test(test_vocab_spm),
        cmocka_unit_test(test_rewrite_reproduces_files),
        cmocka_unit_test(test_type_nbytes),
        cmocka_unit_test(test_writer_round_trip),
        cmocka_unit_test(test_writer_alignment_and_errors),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_small_file_is_valid),
        cmocka_unit_test(test_truncation_at_every_length),
        cmocka_unit_test(test_version_and_magic),
        cmocka_unit_test(test_absurd_fields),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_random_mutations),
    };
    return cmocka_run_group_tests_name("gguf", tests, NULL, NULL);
}
