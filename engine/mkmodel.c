/* mkmodel.c - synthetic GGUF models from a seed, and weight-type conversion.
 *
 * Every tensor's bytes are built in memory, handed to the GGUF writer, and
 * written in one go. Random values come from splitmix64 and an Irwin-Hall
 * approximation of a normal (sum of four uniforms), which is exact integer and
 * float arithmetic: the same seed gives the same file on any machine.
 */
#include "engine/mkmodel.h"

#include "engine/gguf.h"
#include "engine/status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mkmodel_params mkmodel_defaults(void)
{
    struct mkmodel_params p = {
        .arch = MODEL_ARCH_BITNET_B158,
        .wtype = QT_TQ2_0,
        .embd_type = QT_F16,
        .rope_base = 10000.0f,
        .tied_output = true,
        .seed = 1,
    };
    mkmodel_shape(&p, "tiny");
    return p;
}

int mkmodel_shape(struct mkmodel_params *p, const char *name)
{
    if (!strcmp(name, "tiny")) {
        p->n_embd = 256, p->n_layer = 4, p->n_head = 8, p->n_head_kv = 4, p->n_ff = 768;
        p->n_ctx = 2048, p->n_vocab = 512;
    } else if (!strcmp(name, "small")) {
        p->n_embd = 1024, p->n_layer = 12, p->n_head = 16, p->n_head_kv = 4, p->n_ff = 2816;
        p->n_ctx = 4096, p->n_vocab = 32000;
    } else if (!strcmp(name, "2b")) {
        p->n_embd = 2560, p->n_layer = 30, p->n_head = 20, p->n_head_kv = 5, p->n_ff = 6912;
        p->n_ctx = 4096, p->n_vocab = 128256, p->rope_base = 500000.0f;
    } else {
        return LF_ERR_INVALID;
    }
    return 0;
}

/* ---- deterministic random numbers ---- */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Approximately N(0, 1): (sum of four U[0,1)) - 2, scaled to unit variance. */
static float rand_normal(uint64_t *s)
{
    float sum = 0.0f;
    for (int i = 0; i < 4; i++) sum += (float)(splitmix64(s) >> 40) / 16777216.0f;
    return (sum - 2.0f) * 1.7320508f;
}

/* ---- building tensors: every buffer is kept until the file is written ---- */
struct builder {
    struct gguf_writer *w;
    void **bufs;
    size_t n_bufs, cap_bufs;
    uint64_t rng;
};

static void *keep(struct builder *b, size_t bytes)
{
    if (b->n_bufs == b->cap_bufs) {
        size_t cap = b->cap_bufs ? 2 * b->cap_bufs : 64;
        void **nb = realloc(b->bufs, cap * sizeof *nb);
        if (!nb) return NULL;
        b->bufs = nb;
        b->cap_bufs = cap;
    }
    void *p = malloc(bytes ? bytes : 1);
    if (p) b->bufs[b->n_bufs++] = p;
    return p;
}

static void builder_free(struct builder *b)
{
    for (size_t i = 0; i < b->n_bufs; i++) free(b->bufs[i]);
    free(b->bufs);
    gguf_writer_free(b->w);
}

/* Add a rows x cols tensor (ggml ne = {cols, rows}) of type t from floats. */
static int add_tensor(struct builder *b, const char *name, enum quant_type t, const float *src,
                      int64_t rows, int64_t cols)
{
    uint64_t bytes = quant_tensor_bytes(t, rows, cols);
    if (bytes == 0) return LF_ERR_INVALID;
    void *dst = keep(b, (size_t)bytes);
    if (!dst) return LF_ERR_NOMEM;
    int rc = quant_quantize(t, src, rows, cols, dst);
    if (rc) return rc;
    int64_t ne[2] = {cols, rows};
    return gguf_writer_add_tensor(b->w, name, quant_type_ggml_id(t), ne, rows == 1 ? 1 : 2, dst);
}

/* A vector of n values 1 + 0.05 * noise (norm weights). */
static int add_norm(struct builder *b, const char *name, int64_t n)
{
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return LF_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) v[i] = 1.0f + 0.05f * rand_normal(&b->rng);
    int rc = add_tensor(b, name, QT_F32, v, 1, n);
    free(v);
    return rc;
}

/* A linear weight: normal(0, 1/sqrt(cols)) ternarized by absmean with an
 * fp16-exact scale, then written as t (for F32/F16: the ternary values). */
static int add_linear(struct builder *b, const char *name, enum quant_type t, int64_t rows,
                      int64_t cols)
{
    size_t n = (size_t)rows * (size_t)cols;
    float *v = malloc(n * sizeof *v);
    int8_t *trits = malloc(n);
    int rc = LF_ERR_NOMEM;
    if (!v || !trits) goto out;
    const float sd = 1.0f / sqrtf((float)cols);
    double asum = 0.0;
    for (size_t i = 0; i < n; i++) {
        v[i] = sd * rand_normal(&b->rng);
        asum += fabsf(v[i]);
    }
    float s = quant_f16_to_f32(quant_f32_to_f16((float)(asum / (double)n)));
    for (size_t i = 0; i < n; i++) {
        float q = nearbyintf(v[i] / s);
        trits[i] = (int8_t)(q > 1 ? 1 : q < -1 ? -1 : q);
    }
    if (quant_is_ternary(t)) {
        uint64_t bytes = quant_tensor_bytes(t, rows, cols);
        void *dst = bytes ? keep(b, (size_t)bytes) : NULL;
        rc = LF_ERR_INVALID;
        if (!dst) goto out;
        rc = quant_pack_ternary(t, trits, s, rows, cols, dst);
        if (rc) goto out;
        int64_t ne[2] = {cols, rows};
        rc = gguf_writer_add_tensor(b->w, name, quant_type_ggml_id(t), ne, 2, dst);
    } else {
        for (size_t i = 0; i < n; i++) v[i] = (float)trits[i] * s;
        rc = add_tensor(b, name, t, v, rows, cols);
    }
out:
    free(v);
    free(trits);
    return rc;
}

static int add_embedding(struct builder *b, const char *name, enum quant_type t, int64_t rows,
                         int64_t cols)
{
    size_t n = (size_t)rows * (size_t)cols;
    float *v = malloc(n * sizeof *v);
    if (!v) return LF_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) v[i] = rand_normal(&b->rng);
    int rc = add_tensor(b, name, t, v, rows, cols);
    free(v);
    return rc;
}

/* Byte-fallback SentencePiece vocabulary: <unk> <s> </s>, 256 byte tokens,
 * "▁", printable ASCII, then unused fillers up to n_vocab. */
static int add_byte_vocab(struct builder *b, int32_t n_vocab)
{
    if (n_vocab < 259 + 1 + 94) n_vocab = 259 + 1 + 94;
    struct gguf_str *strs = keep(b, (size_t)n_vocab * sizeof *strs);
    float *scores = keep(b, (size_t)n_vocab * sizeof *scores);
    int32_t *types = keep(b, (size_t)n_vocab * sizeof *types);
    char *text = keep(b, (size_t)n_vocab * 16);
    if (!strs || !scores || !types || !text) return LF_ERR_NOMEM;
    for (int32_t i = 0; i < n_vocab; i++) {
        char *s = text + (size_t)i * 16;
        int32_t type = 1; /* NORMAL */
        if (i == 0) strcpy(s, "<unk>"), type = 2;
        else if (i == 1) strcpy(s, "<s>"), type = 3;
        else if (i == 2) strcpy(s, "</s>"), type = 3;
        else if (i < 259) snprintf(s, 16, "<0x%02X>", i - 3), type = 6;
        else if (i == 259) strcpy(s, "\xe2\x96\x81");
        else if (i < 354) s[0] = (char)(0x21 + i - 260), s[1] = 0;
        else snprintf(s, 16, "<unused%d>", (i - 354) % 1000000), type = 5;
        strs[i].ptr = s;
        strs[i].len = strlen(s);
        scores[i] = type == 1 ? -(float)i : 0.0f;
        types[i] = type;
    }
    int rc;
    if ((rc = gguf_writer_set_str(b->w, "tokenizer.ggml.model", "llama"))) return rc;
    if ((rc = gguf_writer_set_str(b->w, "tokenizer.ggml.pre", "default"))) return rc;
    if ((rc = gguf_writer_set_arr_strs(b->w, "tokenizer.ggml.tokens", strs, (uint64_t)n_vocab)))
        return rc;
    if ((rc = gguf_writer_set_arr(b->w, "tokenizer.ggml.scores", GGUF_VT_F32, scores,
                                  (uint64_t)n_vocab)))
        return rc;
    if ((rc = gguf_writer_set_arr(b->w, "tokenizer.ggml.token_type", GGUF_VT_I32, types,
                                  (uint64_t)n_vocab)))
        return rc;
    if ((rc = gguf_writer_set_u32(b->w, "tokenizer.ggml.bos_token_id", 1))) return rc;
    if ((rc = gguf_writer_set_u32(b->w, "tokenizer.ggml.eos_token_id", 2))) return rc;
    if ((rc = gguf_writer_set_u32(b->w, "tokenizer.ggml.unknown_token_id", 0))) return rc;
    return gguf_writer_set_bool(b->w, "tokenizer.ggml.add_bos_token", true);
}

/* Copy tokenizer.* keys of another GGUF; *n_vocab gets its token count. */
static int copy_vocab(struct builder *b, const char *path, int32_t *n_vocab, char *err,
                      size_t err_len)
{
    struct gguf *g;
    int rc = gguf_open(path, &g, err, err_len);
    if (rc) return rc;
    enum gguf_vtype et;
    uint64_t count;
    const void *data;
    if (gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &count, &data) || et != GGUF_VT_STRING ||
        count == 0 || count > (1u << 24)) {
        rc = lf_errf(err, err_len, LF_ERR_FORMAT, "%s: no tokenizer.ggml.tokens string array",
                     path);
        goto out;
    }
    *n_vocab = (int32_t)count;
    for (int64_t i = 0; i < gguf_n_kv(g); i++) {
        struct gguf_str k = gguf_kv_key(g, i);
        if (k.len > 10 && !memcmp(k.ptr, "tokenizer.", 10) && (rc = gguf_writer_copy_kv(b->w, g, i)))
            goto out;
    }
out:
    gguf_close(g);
    return rc;
}

int mkmodel_write(const struct mkmodel_params *p, const char *path, char *err, size_t err_len)
{
    if (p->n_embd <= 0 || p->n_layer <= 0 || p->n_head <= 0 || p->n_head_kv <= 0 || p->n_ff <= 0 ||
        p->n_ctx <= 0 || p->n_embd % p->n_head || p->n_head % p->n_head_kv ||
        (p->n_embd / p->n_head) % 2)
        return lf_errf(err, err_len, LF_ERR_INVALID,
                       "inconsistent shape: hidden %d, heads %d/%d, ffn %d", p->n_embd, p->n_head,
                       p->n_head_kv, p->n_ff);
    struct builder b = {.rng = p->seed};
    int rc = gguf_writer_new(&b.w);
    if (rc) return rc;
    const char *arch = model_arch_name(p->arch);
    char key[96];
#define KEY(s) (snprintf(key, sizeof key, "%s." s, arch), key)
    const int64_t E = p->n_embd, F = p->n_ff, hd = p->n_embd / p->n_head;
    const int64_t QD = (int64_t)p->n_head * hd, KVD = (int64_t)p->n_head_kv * hd;
    int32_t n_vocab = p->n_vocab;

    if ((rc = gguf_writer_set_str(b.w, "general.architecture", arch))) goto fail;
    if ((rc = gguf_writer_set_str(b.w, "general.name", "lutfuse synthetic"))) goto fail;
    if (p->wtype == QT_I2_S && p->arch != MODEL_ARCH_BITNET_B158 &&
        (rc = gguf_writer_set_str(b.w, MODEL_KEY_TYPE36, "I2_S")))
        goto fail;
    if ((rc = gguf_writer_set_u32(b.w, KEY("context_length"), (uint32_t)p->n_ctx))) goto fail;
    if ((rc = gguf_writer_set_u32(b.w, KEY("embedding_length"), (uint32_t)E))) goto fail;
    if ((rc = gguf_writer_set_u32(b.w, KEY("block_count"), (uint32_t)p->n_layer))) goto fail;
    if ((rc = gguf_writer_set_u32(b.w, KEY("feed_forward_length"), (uint32_t)F))) goto fail;
    if ((rc = gguf_writer_set_u32(b.w, KEY("attention.head_count"), (uint32_t)p->n_head))) goto fail;
    if ((rc = gguf_writer_set_u32(b.w, KEY("attention.head_count_kv"), (uint32_t)p->n_head_kv)))
        goto fail;
    if ((rc = gguf_writer_set_u32(b.w, KEY("rope.dimension_count"), (uint32_t)hd))) goto fail;
    if ((rc = gguf_writer_set_f32(b.w, KEY("rope.freq_base"), p->rope_base))) goto fail;
    if ((rc = gguf_writer_set_f32(b.w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f))) goto fail;
    rc = p->vocab_path ? copy_vocab(&b, p->vocab_path, &n_vocab, err, err_len)
                       : add_byte_vocab(&b, n_vocab);
    if (rc) goto fail;
    if (!p->vocab_path && n_vocab < 354) n_vocab = 354; /* add_byte_vocab's minimum */
    if ((rc = gguf_writer_set_u32(b.w, KEY("vocab_size"), (uint32_t)n_vocab))) goto fail;
#undef KEY

    if ((rc = add_embedding(&b, "token_embd.weight", p->embd_type, n_vocab, E))) goto fail;
    if ((rc = add_norm(&b, "output_norm.weight", E))) goto fail;
    if (!p->tied_output && p->arch != MODEL_ARCH_BITNET_B158 &&
        (rc = add_embedding(&b, "output.weight", p->embd_type, n_vocab, E)))
        goto fail;
    for (int il = 0; il < p->n_layer; il++) {
        char name[96];
#define NAME(s) (snprintf(name, sizeof name, "blk.%d." s, il), name)
        if ((rc = add_norm(&b, NAME("attn_norm.weight"), E))) goto fail;
        if ((rc = add_linear(&b, NAME("attn_q.weight"), p->wtype, QD, E))) goto fail;
        if ((rc = add_linear(&b, NAME("attn_k.weight"), p->wtype, KVD, E))) goto fail;
        if ((rc = add_linear(&b, NAME("attn_v.weight"), p->wtype, KVD, E))) goto fail;
        if ((rc = add_linear(&b, NAME("attn_output.weight"), p->wtype, E, QD))) goto fail;
        if ((rc = add_norm(&b, NAME("ffn_norm.weight"), E))) goto fail;
        if ((rc = add_linear(&b, NAME("ffn_gate.weight"), p->wtype, F, E))) goto fail;
        if ((rc = add_linear(&b, NAME("ffn_up.weight"), p->wtype, F, E))) goto fail;
        if ((rc = add_linear(&b, NAME("ffn_down.weight"), p->wtype, E, F))) goto fail;
        if (p->arch != MODEL_ARCH_LLAMA) {
            if ((rc = add_norm(&b, NAME("attn_sub_norm.weight"), QD))) goto fail;
            if ((rc = add_norm(&b, NAME("ffn_sub_norm.weight"), F))) goto fail;
        }
#undef NAME
    }
    rc = gguf_writer_write(b.w, path, err, err_len);
    builder_free(&b);
    return rc;
fail:
    builder_free(&b);
    if (rc == LF_ERR_INVALID)
        return lf_errf(err, err_len, rc, "shape does not fit the block size of %s (hidden %d, ffn %d)",
                       quant_type_name(p->wtype), p->n_embd, p->n_ff);
    if (rc == LF_ERR_NOMEM) return lf_errf(err, err_len, rc, "out of memory building the model");
    return rc;
}

/* ---- conversion ---- */

static bool is_linear_weight(const char *name)
{
    static const char *const kinds[] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                        "ffn_gate", "ffn_up", "ffn_down"};
    int layer, n = 0;
    char kind[32];
    if (sscanf(name, "blk.%d.%31[a-z_].weight%n", &layer, kind, &n) != 2 || name[n] != 0)
        return false;
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (!strcmp(kind, kinds[i])) return true;
    return false;
}

int mkmodel_quantize(const char *in, const char *out, const struct mkmodel_quantize_params *p,
                     char *err, size_t err_len)
{
    struct gguf *g;
    int rc = gguf_open(in, &g, err, err_len);
    if (rc) return rc;
    struct builder b = {0};
    float *tmp = NULL;
    if ((rc = gguf_writer_new(&b.w))) goto out;

    struct gguf_str arch_s;
    if (gguf_get_str(g, "general.architecture", &arch_s)) {
        rc = lf_errf(err, err_len, LF_ERR_FORMAT, "%s: missing general.architecture", in);
        goto out;
    }
    enum model_arch arch = MODEL_ARCH_LLAMA;
    if (arch_s.len == 12 && !memcmp(arch_s.ptr, "bitnet-b1.58", 12)) arch = MODEL_ARCH_BITNET_B158;
    else if (arch_s.len == 9 && !memcmp(arch_s.ptr, "bitnet-25", 9)) arch = MODEL_ARCH_BITNET_B158;
    else if (arch_s.len == 6 && !memcmp(arch_s.ptr, "bitnet", 6)) arch = MODEL_ARCH_BITNET;
    const bool id36_in = model_id36_is_i2s(g, arch);
    for (int64_t i = 0; i < gguf_n_kv(g); i++) {
        struct gguf_str k = gguf_kv_key(g, i);
        if (k.len == 17 && !memcmp(k.ptr, "general.file_type", 17)) continue;
        if (k.len == strlen(MODEL_KEY_TYPE36) && !memcmp(k.ptr, MODEL_KEY_TYPE36, k.len)) continue;
        if ((rc = gguf_writer_copy_kv(b.w, g, i))) goto out;
    }
    /* Declare id 36 where a non-BitNet file will hold I2_S tensors. */
    bool wants_i2s = p->wtype == QT_I2_S || p->embd_type == QT_I2_S || p->output_type == QT_I2_S;
    if ((wants_i2s || id36_in) && arch != MODEL_ARCH_BITNET_B158 &&
        (rc = gguf_writer_set_str(b.w, MODEL_KEY_TYPE36, "I2_S")))
        goto out;
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(t->name.len < 255 ? t->name.len : 255), t->name.ptr);
        int target = -1;
        if (is_linear_weight(name)) target = (int)p->wtype;
        else if (!strcmp(name, "token_embd.weight")) target = p->embd_type;
        else if (!strcmp(name, "output.weight")) target = p->output_type;
        enum quant_type src;
        if (target >= 0 && t->n_dims == 2 &&
            model_map_type(t->type, id36_in, name, &src, NULL, 0) == 0 && (int)src != target) {
            const int64_t rows = t->ne[1], cols = t->ne[0];
            free(tmp);
            tmp = malloc((size_t)rows * (size_t)cols * sizeof *tmp);
            if (!tmp) {
                rc = LF_ERR_NOMEM;
                goto out;
            }
            for (int64_t r = 0; r < rows; r++)
                quant_dequant_row(src, t->data, rows, cols, r, tmp + (size_t)r * cols);
            rc = add_tensor(&b, name, (enum quant_type)target, tmp, rows, cols);
            if (rc) {
                rc = lf_errf(err, err_len, rc, "tensor '%s' (%lld x %lld) cannot be written as %s",
                             name, (long long)rows, (long long)cols,
                             quant_type_name((enum quant_type)target));
                goto out;
            }
        } else if ((rc = gguf_writer_add_tensor(b.w, name, t->type, t->ne, t->n_dims, t->data))) {
            goto out;
        }
    }
    rc = gguf_writer_write(b.w, out, err, err_len);
out:
    free(tmp);
    builder_free(&b);
    gguf_close(g);
    return rc;
}
