/* model.c - from a GGUF file to a checked, typed view of a model.
 *
 * The one idea: the file is untrusted, so every tensor the architecture needs
 * is looked up by name and checked for shape and type here, once. The forward
 * pass then trusts struct model completely. Hyperparameters come from the
 * "<arch>.*" keys exactly as llama.cpp and bitnet.cpp write them.
 */
#include "engine/model.h"

#include "engine/gguf.h"
#include "engine/mem.h"
#include "engine/status.h"
#include "engine/tokenizer.h"
#include "kernels/kernels.h"

#include <math.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *model_arch_name(enum model_arch arch)
{
    switch (arch) {
    case MODEL_ARCH_LLAMA: return "llama";
    case MODEL_ARCH_BITNET_B158: return "bitnet-b1.58";
    case MODEL_ARCH_BITNET: return "bitnet";
    }
    return "?";
}

bool model_id36_is_i2s(const struct gguf *g, enum model_arch arch)
{
    struct gguf_str v;
    if (arch == MODEL_ARCH_BITNET_B158) return true;
    return gguf_get_str(g, MODEL_KEY_TYPE36, &v) == 0 && v.len == 4 && !memcmp(v.ptr, "I2_S", 4);
}

int model_map_type(uint32_t ggml_id, bool id36_is_i2s, const char *tensor_name,
                   enum quant_type *out, char *err, size_t err_len)
{
    switch (ggml_id) {
    case GGML_ID_F32: *out = QT_F32; return 0;
    case GGML_ID_F16: *out = QT_F16; return 0;
    case GGML_ID_BF16: *out = QT_BF16; return 0;
    case GGML_ID_Q8_0: *out = QT_Q8_0; return 0;
    case GGML_ID_Q4_K: *out = QT_Q4_K; return 0;
    case GGML_ID_Q6_K: *out = QT_Q6_K; return 0;
    case GGML_ID_TQ1_0: *out = QT_TQ1_0; return 0;
    case GGML_ID_TQ2_0: *out = QT_TQ2_0; return 0;
    case GGML_ID_I2_S:
        if (id36_is_i2s) {
            *out = QT_I2_S;
            return 0;
        }
        return lf_errf(err, err_len, LF_ERR_UNSUPPORTED,
                       "tensor '%s': ggml type id 36 is I2_S only in bitnet.cpp's bitnet-b1.58 "
                       "files (or with %s = \"I2_S\"); in this file it cannot be identified",
                       tensor_name, MODEL_KEY_TYPE36);
    }
    return lf_errf(err, err_len, LF_ERR_UNSUPPORTED,
                   "tensor '%s': ggml type id %u is not supported (lutfuse reads F32, F16, "
                   "BF16, Q8_0, Q4_K, Q6_K, TQ1_0, TQ2_0, I2_S)",
                   tensor_name, ggml_id);
}

/* ---- loader state: one struct so every helper can report errors ---- */
struct loader {
    struct gguf *g;
    struct model *m;
    char prefix[40]; /* "<arch>." */
    char *err;
    size_t err_len;
};

static int key_u32(struct loader *L, const char *suffix, bool required, uint32_t def,
                   int32_t *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s%s", L->prefix, suffix);
    uint32_t v;
    int rc = gguf_get_u32(L->g, key, &v);
    if (rc == LF_ERR_INVALID) {
        if (required)
            return lf_errf(L->err, L->err_len, LF_ERR_FORMAT, "missing metadata key '%s'", key);
        v = def;
    } else if (rc) {
        return lf_errf(L->err, L->err_len, LF_ERR_FORMAT, "metadata key '%s' has a wrong type",
                       key);
    }
    if (v > (1u << 30))
        return lf_errf(L->err, L->err_len, LF_ERR_FORMAT, "metadata key '%s' = %u is absurd",
                       key, v);
    *out = (int32_t)v;
    return 0;
}

static int key_f32(struct loader *L, const char *suffix, float def, float *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s%s", L->prefix, suffix);
    int rc = gguf_get_f32(L->g, key, out);
    if (rc == LF_ERR_INVALID) {
        *out = def;
        return 0;
    }
    if (rc || !isfinite(*out))
        return lf_errf(L->err, L->err_len, LF_ERR_FORMAT, "metadata key '%s' is not a finite number",
                       key);
    return 0;
}

/* Find a tensor and check its shape is exactly (ne0, ne1) - ne1 = 0 means 1-D. */
static int find_shaped(struct loader *L, const char *name, int64_t ne0, int64_t ne1, bool required,
                       const struct gguf_tensor **out)
{
    const struct gguf_tensor *t = gguf_find_tensor(L->g, name);
    *out = t;
    if (!t) {
        if (!required) return 0;
        return lf_errf(L->err, L->err_len, LF_ERR_FORMAT, "missing tensor '%s'", name);
    }
    int64_t want1 = ne1 ? ne1 : 1;
    if (t->ne[0] != ne0 || t->ne[1] != want1 || t->ne[2] != 1 || t->ne[3] != 1)
        return lf_errf(L->err, L->err_len, LF_ERR_FORMAT,
                       "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]", name,
                       (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                       (long long)t->ne[3], (long long)ne0, (long long)want1);
    return 0;
}

/* A norm vector of n floats, copied to an owned f32 array. */
static int load_vec(struct loader *L, const char *name, int64_t n, bool required, float **out)
{
    const struct gguf_tensor *t;
    int rc = find_shaped(L, name, n, 0, required, &t);
    *out = NULL;
    if (rc || !t) return rc;
    enum quant_type qt;
    rc = model_map_type(t->type, L->m->id36_is_i2s, name, &qt, L->err, L->err_len);
    if (rc) return rc;
    if (qt != QT_F32 && qt != QT_F16 && qt != QT_BF16)
        return lf_errf(L->err, L->err_len, LF_ERR_UNSUPPORTED,
                       "tensor '%s' is %s; norm vectors must be F32, F16 or BF16", name,
                       quant_type_name(qt));
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return LF_ERR_NOMEM;
    quant_dequant_row(qt, t->data, 1, n, 0, v);
    *out = v;
    return 0;
}

/* A weight matrix of rows x cols (ggml ne = {cols, rows}). */
static int load_mat(struct loader *L, const char *name, int64_t rows, int64_t cols,
                    struct model_weight *w)
{
    const struct gguf_tensor *t;
    int rc = find_shaped(L, name, cols, rows, true, &t);
    if (rc) return rc;
    rc = model_map_type(t->type, L->m->id36_is_i2s, name, &w->type, L->err, L->err_len);
    if (rc) return rc;
    uint64_t need = quant_tensor_bytes(w->type, rows, cols);
    if (need == 0 || need != t->nbytes)
        return lf_errf(L->err, L->err_len, LF_ERR_FORMAT,
                       "tensor '%s': %s data of %lld x %lld needs %llu bytes, file has %llu", name,
                       quant_type_name(w->type), (long long)rows, (long long)cols,
                       (unsigned long long)need, (unsigned long long)t->nbytes);
    /* A 2-bit ternary code of 3 is no weight; refuse it here so no kernel
     * ever sees one. */
    if (quant_is_ternary(w->type) && quant_ternary_check(w->type, t->data, rows, cols) != 0)
        return lf_errf(L->err, L->err_len, LF_ERR_FORMAT,
                       "tensor '%s': %s data holds codes that are not -1, 0 or +1", name,
                       quant_type_name(w->type));
    w->data = t->data;
    w->rows = rows;
    w->cols = cols;
    w->scale = 1.0f;

    /* llama.cpp's bitnet files may carry a separate one-element scale. */
    char sname[160];
    size_t n = strlen(name);
    if (n > 7 && !strcmp(name + n - 7, ".weight")) {
        snprintf(sname, sizeof sname, "%.*s.scale", (int)(n - 7), name);
        const struct gguf_tensor *s = gguf_find_tensor(L->g, sname);
        if (s) {
            if (s->type != GGML_ID_F32 || s->ne[0] * s->ne[1] * s->ne[2] * s->ne[3] != 1)
                return lf_errf(L->err, L->err_len, LF_ERR_FORMAT,
                               "tensor '%s' must be a single F32 value", sname);
            memcpy(&w->scale, s->data, sizeof w->scale);
            if (!isfinite(w->scale))
                return lf_errf(L->err, L->err_len, LF_ERR_FORMAT, "tensor '%s' is not finite",
                               sname);
        }
    }
    return 0;
}

/* Let the kernel drop the file pages of a repacked tensor from memory. */
static void release_pages(const struct model_weight *w)
{
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)w->data + page - 1) & ~(page - 1);
    uintptr_t b = ((uintptr_t)w->data + quant_tensor_bytes(w->type, w->rows, w->cols)) & ~(page - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Repack one ternary weight into the kernel layouts with a per-row scale:
 * the multiply-add weights always - as PANELs where the ISA selected now
 * has the broadcast kernel for them (AVX-512), else as MAD rows - and the
 * Vec-LUT layout only if that ISA can send tokens to it (vlut.h: AVX-512
 * sends every width to the multiply-add kernel, so the LUT copy would be
 * dead memory - 2 bits per weight). Groups of all-zero trits carry no
 * weight, so their block scale does not matter; a row whose other groups
 * disagree on the scale is left to the reference path (returns 0 with
 * w->packed NULL). */
static int repack(struct model_weight *w, int8_t *trits, float *scales)
{
    const int64_t M = w->rows, K = w->cols, group = quant_ternary_scale_group(w->type, K);
    const bool lut = kern_ops()->vlut_lut_min != VLUT_LUT_NEVER;
    const bool panels = kern_ops()->vlut_panels;
    const size_t lut_bytes = lut ? (size_t)M * (size_t)vlut_lut_row_bytes(K) : 0;
    const size_t mad_bytes =
        panels ? (size_t)vlut_panel_bytes(M, K) : (size_t)M * (size_t)vlut_mad_row_bytes(K);
    const size_t bytes = lut_bytes + mad_bytes + (size_t)M * sizeof(float);
    uint8_t *mem = lf_big_alloc(bytes);
    if (!mem) return LF_ERR_NOMEM;
    uint8_t *mad = mem + lut_bytes;
    float *row_scale = (float *)(mad + mad_bytes);
    if (panels) memset(mad, VLUT_PANEL_ZERO, mad_bytes);
    for (int64_t r = 0; r < M; r++) {
        quant_ternary_row(w->type, w->data, M, K, r, trits, scales);
        float s = 0.0f;
        bool have = false;
        for (int64_t g0 = 0; g0 < K; g0 += group) {
            bool nonzero = false;
            for (int64_t c = g0; c < g0 + group && c < K; c++) nonzero |= trits[c] != 0;
            if (!nonzero) continue;
            if (have && scales[g0 / group] != s) {
                lf_big_free(mem, bytes);
                return 0;
            }
            s = scales[g0 / group], have = true;
        }
        row_scale[r] = s;
        if (lut) vlut_pack_lut_matrix_row(trits, M, K, r, mem);
        if (panels)
            vlut_pack_panel_row(trits, M, K, r, mad);
        else
            vlut_pack_mad_row(trits, K, mad + (size_t)r * (size_t)vlut_mad_row_bytes(K));
    }
    w->packed = mem;
    w->packed_bytes = bytes;
    w->row_scale = row_scale;
    w->vl = (struct vlut_weights){
        .rows = M,
        .cols = K,
        .lut = lut ? mem : NULL,
        .mad = panels ? NULL : mad,
        .panel = panels ? mad : NULL,
    };
    return 0;
}

static int repack_all(struct model *m)
{
    const struct model_hparams *hp = &m->hp;
    const int64_t width = hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd;
    const int64_t qd = (int64_t)hp->n_head * hp->head_dim;
    const int64_t W = width > qd ? width : qd;
    int8_t *trits = malloc((size_t)W);
    float *scales = malloc(((size_t)W / 32 + 1) * sizeof(float));
    int rc = trits && scales ? 0 : LF_ERR_NOMEM;
    const char *skip = getenv("LUTFUSE_NO_REPACK");
    for (int il = 0; !rc && il < hp->n_layer && !(skip && *skip == '1'); il++) {
        struct model_layer *l = &m->layers[il];
        struct model_weight *ws[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};
        for (size_t i = 0; !rc && i < sizeof ws / sizeof *ws; i++) {
            if (!quant_is_ternary(ws[i]->type)) continue;
            rc = repack(ws[i], trits, scales);
            if (rc) break;
            if (ws[i]->packed) {
                m->n_repacked++;
                m->repacked_bytes += ws[i]->packed_bytes - (size_t)ws[i]->rows * sizeof(float);
                release_pages(ws[i]);
            } else {
                m->n_not_repacked++;
            }
        }
    }
    free(trits);
    free(scales);
    return rc;
}

/* Requantize a non-F32 output head into int8 blocks (q8.h). */
static int repack_head(struct model *m)
{
    const struct model_weight *w = &m->output;
    if (w->type == QT_F32 || quant_is_ternary(w->type)) return 0;
    const int64_t nb = q8_blocks(w->cols), P = q8_panels(w->rows);
    const size_t nq = (size_t)P * Q8_PANEL * (size_t)nb * Q8_BLOCK;
    const size_t bytes = nq + (size_t)P * Q8_PANEL * (size_t)nb * sizeof(float);
    int8_t *q = lf_big_alloc(bytes); /* zeroed: padding rows have scale 0 */
    float *row = malloc((size_t)w->cols * sizeof *row);
    int8_t *qr = malloc((size_t)nb * Q8_BLOCK);
    float *dr = malloc((size_t)nb * sizeof *dr);
    if (!q || !row || !qr || !dr) {
        lf_big_free(q, bytes);
        free(row), free(qr), free(dr);
        return LF_ERR_NOMEM;
    }
    float *d = (float *)(q + nq);
    for (int64_t r = 0; r < w->rows; r++) {
        quant_dequant_row(w->type, w->data, w->rows, w->cols, r, row);
        if (w->scale != 1.0f)
            for (int64_t c = 0; c < w->cols; c++) row[c] *= w->scale;
        q8_quantize_row(row, w->cols, qr, dr, NULL);
        q8_store_row(q, d, nb, r, qr, dr);
    }
    free(row), free(qr), free(dr);
    /* The file's head pages were all read once; let them go. A tied
     * embedding faults back in only the rows that tokens look up. */
    release_pages(w);
    m->head_q8 = (struct q8_matrix){w->rows, w->cols, q, d};
    m->head_q8_mem = q;
    m->head_q8_bytes = bytes;
    m->repacked_bytes += bytes;
    return 0;
}

static int load_hparams(struct loader *L)
{
    struct model_hparams *hp = &L->m->hp;
    int rc;
    if ((rc = key_u32(L, "embedding_length", true, 0, &hp->n_embd))) return rc;
    if ((rc = key_u32(L, "block_count", true, 0, &hp->n_layer))) return rc;
    if ((rc = key_u32(L, "feed_forward_length", true, 0, &hp->n_ff))) return rc;
    if ((rc = key_u32(L, "attention.head_count", true, 0, &hp->n_head))) return rc;
    if ((rc = key_u32(L, "attention.head_count_kv", false, (uint32_t)hp->n_head, &hp->n_head_kv)))
        return rc;
    if ((rc = key_u32(L, "context_length", false, 2048, &hp->n_ctx_train))) return rc;
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_ff <= 0 || hp->n_head <= 0 ||
        hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv != 0 || hp->n_embd % hp->n_head != 0)
        return lf_errf(L->err, L->err_len, LF_ERR_FORMAT,
                       "inconsistent hyperparameters: n_embd %d, n_layer %d, n_ff %d, "
                       "n_head %d, n_head_kv %d",
                       hp->n_embd, hp->n_layer, hp->n_ff, hp->n_head, hp->n_head_kv);
    if ((rc = key_u32(L, "attention.key_length", false, (uint32_t)(hp->n_embd / hp->n_head),
                      &hp->head_dim)))
        return rc;
    int32_t vlen;
    if ((rc = key_u32(L, "attention.value_length", false, (uint32_t)hp->head_dim, &vlen))) return rc;
    if (vlen != hp->head_dim || hp->head_dim <= 0 || hp->head_dim % 2)
        return lf_errf(L->err, L->err_len, LF_ERR_UNSUPPORTED,
                       "head size %d (value length %d) is not supported", hp->head_dim, vlen);
    if ((rc = key_u32(L, "rope.dimension_count", false, (uint32_t)hp->head_dim, &hp->n_rot)))
        return rc;
    if (hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return lf_errf(L->err, L->err_len, LF_ERR_FORMAT, "rope.dimension_count %d is invalid",
                       hp->n_rot);
    if ((rc = key_f32(L, "rope.freq_base", 10000.0f, &hp->rope_base))) return rc;
    if ((rc = key_f32(L, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->rms_eps))) return rc;
    if (hp->rope_base <= 0 || hp->rms_eps < 0)
        return lf_errf(L->err, L->err_len, LF_ERR_FORMAT, "rope base / rms epsilon out of range");
    return 0;
}

static int load_layers(struct loader *L)
{
    struct model *m = L->m;
    const struct model_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, F = hp->n_ff;
    const int64_t QD = (int64_t)hp->n_head * hp->head_dim;
    const int64_t KVD = (int64_t)hp->n_head_kv * hp->head_dim;
    const bool bitnet = hp->arch != MODEL_ARCH_LLAMA;
    char name[128];
    int rc;

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return LF_ERR_NOMEM;
    for (int il = 0; il < hp->n_layer; il++) {
        struct model_layer *l = &m->layers[il];
#define NAME(s) (snprintf(name, sizeof name, "blk.%d." s, il), name)
        if ((rc = load_vec(L, NAME("attn_norm.weight"), E, true, &l->attn_norm))) return rc;
        if ((rc = load_mat(L, NAME("attn_q.weight"), QD, E, &l->wq))) return rc;
        if ((rc = load_mat(L, NAME("attn_k.weight"), KVD, E, &l->wk))) return rc;
        if ((rc = load_mat(L, NAME("attn_v.weight"), KVD, E, &l->wv))) return rc;
        if ((rc = load_mat(L, NAME("attn_output.weight"), E, QD, &l->wo))) return rc;
        if ((rc = load_vec(L, NAME("ffn_norm.weight"), E, true, &l->ffn_norm))) return rc;
        if ((rc = load_mat(L, NAME("ffn_gate.weight"), F, E, &l->w_gate))) return rc;
        if ((rc = load_mat(L, NAME("ffn_up.weight"), F, E, &l->w_up))) return rc;
        if ((rc = load_mat(L, NAME("ffn_down.weight"), E, F, &l->w_down))) return rc;
        if (bitnet) {
            if ((rc = load_vec(L, NAME("attn_sub_norm.weight"), QD, true, &l->attn_sub_norm)))
                return rc;
            if ((rc = load_vec(L, NAME("ffn_sub_norm.weight"), F, true, &l->ffn_sub_norm)))
                return rc;
        }
#undef NAME
    }
    return 0;
}

int model_load(const char *path, struct model **out, char *err, size_t err_len)
{
    *out = NULL;
    struct model *m = calloc(1, sizeof *m);
    if (!m) return LF_ERR_NOMEM;
    struct loader L = {.m = m, .err = err, .err_len = err_len};
    int rc = gguf_open(path, &m->gguf, err, err_len);
    if (rc) goto fail;
    L.g = m->gguf;

    struct gguf_str arch;
    if (gguf_get_str(L.g, "general.architecture", &arch)) {
        rc = lf_errf(err, err_len, LF_ERR_FORMAT, "missing metadata key 'general.architecture'");
        goto fail;
    }
    snprintf(m->arch_name, sizeof m->arch_name, "%.*s", (int)(arch.len < 31 ? arch.len : 31),
             arch.ptr);
    struct model_hparams *hp = &m->hp;
    if (!strcmp(m->arch_name, "llama")) {
        hp->arch = MODEL_ARCH_LLAMA;
        hp->rope = MODEL_ROPE_NORM;
        hp->ffn_act = MODEL_FFN_SILU;
    } else if (!strcmp(m->arch_name, "bitnet-b1.58") || !strcmp(m->arch_name, "bitnet-25")) {
        hp->arch = MODEL_ARCH_BITNET_B158;
        hp->rope = MODEL_ROPE_NEOX;
        hp->ffn_act = MODEL_FFN_RELU_SQR;
    } else if (!strcmp(m->arch_name, "bitnet")) {
        hp->arch = MODEL_ARCH_BITNET;
        hp->rope = MODEL_ROPE_NEOX;
        hp->ffn_act = MODEL_FFN_SILU;
    } else {
        rc = lf_errf(err, err_len, LF_ERR_UNSUPPORTED,
                     "architecture '%s' is not supported (llama, bitnet-b1.58, bitnet-25, bitnet)",
                     m->arch_name);
        goto fail;
    }
    snprintf(L.prefix, sizeof L.prefix, "%s.", m->arch_name);
    m->id36_is_i2s = model_id36_is_i2s(L.g, hp->arch);
    if ((rc = load_hparams(&L))) goto fail;

    /* The vocabulary size is the embedding's row count; the tokenizer must agree. */
    const struct gguf_tensor *te = gguf_find_tensor(L.g, "token_embd.weight");
    if (!te) {
        rc = lf_errf(err, err_len, LF_ERR_FORMAT, "missing tensor 'token_embd.weight'");
        goto fail;
    }
    if (te->ne[1] <= 0 || te->ne[1] > (1 << 24)) {
        rc = lf_errf(err, err_len, LF_ERR_FORMAT, "token_embd.weight has %lld rows",
                     (long long)te->ne[1]);
        goto fail;
    }
    hp->n_vocab = (int32_t)te->ne[1];
    if ((rc = load_mat(&L, "token_embd.weight", hp->n_vocab, hp->n_embd, &m->tok_embd))) goto fail;
    if ((rc = load_vec(&L, "output_norm.weight", hp->n_embd, true, &m->output_norm))) goto fail;
    if (gguf_find_tensor(L.g, "output.weight")) {
        if ((rc = load_mat(&L, "output.weight", hp->n_vocab, hp->n_embd, &m->output))) goto fail;
    } else {
        m->output = m->tok_embd;
        m->tied_output = true;
    }
    if ((rc = load_vec(&L, "rope_freqs.weight", hp->n_rot / 2, false, &m->rope_freqs))) goto fail;
    if ((rc = load_layers(&L))) goto fail;
    for (int il = 0; il < hp->n_layer; il++)
        if (quant_is_ternary(m->layers[il].wq.type) || quant_is_ternary(m->layers[il].w_down.type))
            hp->int8_activations = true;
    const char *no_repack = getenv("LUTFUSE_NO_REPACK");
    if (!(no_repack && *no_repack == '1') && (rc = repack_head(m))) {
        rc = lf_errf(err, err_len, rc, "out of memory requantizing the output head");
        goto fail;
    }
    if ((rc = repack_all(m))) {
        rc = lf_errf(err, err_len, rc, "out of memory repacking the ternary weights");
        goto fail;
    }

    if ((rc = tok_load(L.g, &m->tok, err, err_len))) goto fail;
    if (tok_n_vocab(m->tok) != hp->n_vocab) {
        rc = lf_errf(err, err_len, LF_ERR_FORMAT,
                     "tokenizer has %d tokens but token_embd.weight has %d rows",
                     tok_n_vocab(m->tok), hp->n_vocab);
        goto fail;
    }
    *out = m;
    return 0;
fail:
    model_free(m);
    return rc;
}

void model_free(struct model *m)
{
    if (!m) return;
    if (m->layers) {
        for (int il = 0; il < m->hp.n_layer; il++) {
            struct model_layer *l = &m->layers[il];
            struct model_weight *ws[] = {&l->wq, &l->wk, &l->wv, &l->wo,
                                         &l->w_gate, &l->w_up, &l->w_down};
            for (size_t i = 0; i < sizeof ws / sizeof *ws; i++)
                lf_big_free(ws[i]->packed, ws[i]->packed_bytes);
            free(l->attn_norm);
            free(l->attn_sub_norm);
            free(l->ffn_norm);
            free(l->ffn_sub_norm);
        }
        free(m->layers);
    }
    free(m->output_norm);
    free(m->rope_freqs);
    lf_big_free(m->head_q8_mem, m->head_q8_bytes);
    tok_free(m->tok);
    gguf_close(m->gguf);
    free(m);
}
