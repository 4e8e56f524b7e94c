/* kernels.c - CPU feature detection and the dispatch table.
 *
 * The table starts out holding the reference kernels (a static initializer),
 * so a program that forgets kern_init() is slow but correct. kern_fill() is
 * the one place that knows which function implements which entry for which
 * ISA; a kernel without a SIMD version simply keeps its _ref pointer.
 */
#include "kernels/kernels.h"

#include "engine/status.h"
#include "kernels/act.h"
#include "kernels/attn.h"
#include "kernels/q8.h"
#include "kernels/vlut.h"

#include <ctype.h>
#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct kern_ops kern_table = {
    .isa = KERN_ISA_REF,
    .vlut_crossover = VLUT_CROSSOVER_AVX2,
    .vlut_lut_min = VLUT_LUT_MIN_REF,
    .vlut_lut_gather = vlut_lut_gather_ref,
    .vlut_lut_store = vlut_lut_store_ref,
    .vlut_lut_tables = vlut_lut_tables_ref,
    .vlut_lut_tile = vlut_lut_tile_ref,
    .vlut_mad_rows = vlut_mad_rows_ref,
    .vlut_mad_panels = vlut_mad_panels_ref,
    .vlut_mad_pad = vlut_mad_pad_ref,
    .q8_panel = q8_panel_ref,
    .act_quant_i8 = act_quant_i8_ref,
    .act_dequant = act_dequant_ref,
    .act_rmsnorm = act_rmsnorm_ref,
    .act_softmax = act_softmax_ref,
    .act_swiglu = act_swiglu_ref,
    .act_add = act_add_ref,
    .act_rope_norm = act_rope_norm_ref,
    .act_rope_neox = act_rope_neox_ref,
    .act_argmax = act_argmax_ref,
    .attn_scores = attn_scores_ref,
    .attn_mix = attn_mix_ref,
    .attn_scores_f16 = attn_scores_f16_ref,
    .attn_mix_f16 = attn_mix_f16_ref,
    .attn_f16_store = attn_f16_store_ref,
    .attn_rows = attn_rows_ref,
};

static const char *const isa_names[KERN_ISA_COUNT] = {"ref", "avx2", "avx512"};

bool kern_isa_supported(enum kern_isa isa)
{
    __builtin_cpu_init();
    switch (isa) {
    case KERN_ISA_REF:
        return true;
    case KERN_ISA_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("f16c");
    case KERN_ISA_AVX512:
        /* The avx512 files are compiled with the AVX2 flags too. BF16 is not
         * required (Ice Lake has VNNI without it): a kernel that uses BF16
         * instructions must check __builtin_cpu_supports("avx512bf16") in
         * kern_fill() and fall back to its AVX2 version. */
        return kern_isa_supported(KERN_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
    case KERN_ISA_COUNT:
        break;
    }
    return false;
}

bool kern_amx_usable(void)
{
    const char *env = getenv("LUTFUSE_AMX");
    if (env && strcmp(env, "0") == 0) return false;
    unsigned a, b, c, d;
    /* leaf 7: EDX bit 24 AMX-TILE, bit 25 AMX-INT8; the fallback for narrow
     * batches is the GFNI kernel */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    if (!(d & (1u << 24)) || !(d & (1u << 25))) return false;
    if (!kern_isa_supported(KERN_ISA_AVX512) || !__builtin_cpu_supports("gfni")) return false;
    /* Linux hands out the 8 KiB of tile state only on request, once per
     * process (ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA); asking again is
     * harmless. A kernel without AMX support refuses. */
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
}

enum kern_isa kern_isa_best(void)
{
    if (kern_isa_supported(KERN_ISA_AVX512)) return KERN_ISA_AVX512;
    if (kern_isa_supported(KERN_ISA_AVX2)) return KERN_ISA_AVX2;
    return KERN_ISA_REF;
}

const char *kern_describe(void)
{
    return kern_table.amx ? "avx512+amx" : kern_isa_name(kern_table.isa);
}

const char *kern_isa_name(enum kern_isa isa)
{
    if ((int)isa < 0 || isa >= KERN_ISA_COUNT) return "?";
    return isa_names[isa];
}

int kern_isa_parse(const char *name, enum kern_isa *out, char *err, size_t err_len)
{
    if (name) {
        for (int i = 0; i < KERN_ISA_COUNT; i++) {
            if (strcasecmp(name, isa_names[i]) == 0) {
                *out = (enum kern_isa)i;
                return 0;
            }
        }
    }
    return lf_errf(err, err_len, LF_ERR_INVALID, "unknown ISA '%s' (expected ref, avx2 or avx512)",
                   name ? name : "(null)");
}

/* Point every entry of t at the versions for `isa`. Entries without a SIMD
 * version for that ISA keep the next lower one. */
static void kern_fill(struct kern_ops *t, enum kern_isa isa)
{
    t->isa = isa;
    t->vlut_crossover = VLUT_CROSSOVER_AVX2;
    t->vlut_lut_min = VLUT_LUT_MIN_REF;
    t->vlut_lut_gather = vlut_lut_gather_ref;
    t->vlut_lut_store = vlut_lut_store_ref;
    t->vlut_lut_tables = vlut_lut_tables_ref;
    t->vlut_lut_tile = vlut_lut_tile_ref;
    t->vlut_mad_rows = vlut_mad_rows_ref;
    t->vlut_panels = false;
    t->amx = false;
    t->vlut_mad_panels = vlut_mad_panels_ref;
    t->vlut_mad_pad = vlut_mad_pad_ref;
    t->q8_panel = q8_panel_ref;
    t->act_quant_i8 = act_quant_i8_ref;
    t->act_dequant = act_dequant_ref;
    t->act_rmsnorm = act_rmsnorm_ref;
    t->act_softmax = act_softmax_ref;
    t->act_swiglu = act_swiglu_ref;
    t->act_add = act_add_ref;
    t->act_rope_norm = act_rope_norm_ref;
    t->act_rope_neox = act_rope_neox_ref;
    t->act_argmax = act_argmax_ref;
    t->attn_scores = attn_scores_ref;
    t->attn_mix = attn_mix_ref;
    t->attn_scores_f16 = attn_scores_f16_ref;
    t->attn_mix_f16 = attn_mix_f16_ref;
    t->attn_f16_store = attn_f16_store_ref;
    t->attn_rows = attn_rows_ref;
    if (isa >= KERN_ISA_AVX2) {
        t->attn_scores = attn_scores_avx2;
        t->attn_mix = attn_mix_avx2;
        t->attn_scores_f16 = attn_scores_f16_avx2;
        t->attn_mix_f16 = attn_mix_f16_avx2;
        t->attn_f16_store = attn_f16_store_avx2;
        t->attn_rows = attn_rows_avx2;
        t->vlut_lut_min = VLUT_LUT_MIN_AVX2;
        t->vlut_lut_gather = vlut_lut_gather_avx2;
        t->vlut_lut_store = vlut_lut_store_avx2;
        t->vlut_lut_tables = vlut_lut_tables_avx2;
        t->vlut_lut_tile = vlut_lut_tile_avx2;
        t->vlut_mad_rows = vlut_mad_rows_avx2;
        t->vlut_panels = true;
        t->vlut_mad_panels = vlut_mad_panels_avx2;
        t->vlut_mad_pad = vlut_mad_pad_avx2;
        t->q8_panel = q8_panel_avx2;
        t->act_quant_i8 = act_quant_i8_avx2;
        t->act_dequant = act_dequant_avx2;
        t->act_rmsnorm = act_rmsnorm_avx2;
        t->act_softmax = act_softmax_avx2;
        t->act_swiglu = act_swiglu_avx2;
        t->act_add = act_add_avx2;
        t->act_rope_norm = act_rope_norm_avx2;
        t->act_rope_neox = act_rope_neox_avx2;
        t->act_argmax = act_argmax_avx2;
    }
    if (isa >= KERN_ISA_AVX512) {
        t->vlut_lut_gather = vlut_lut_gather_avx512;
        t->vlut_lut_store = vlut_lut_store_avx512;
        t->vlut_crossover = VLUT_CROSSOVER_AVX512;
        t->vlut_lut_min = VLUT_LUT_MIN_AVX512;
        t->attn_scores = attn_scores_avx512;
        t->attn_mix = attn_mix_avx512;
        t->attn_scores_f16 = attn_scores_f16_avx512;
        t->attn_mix_f16 = attn_mix_f16_avx512;
        t->attn_f16_store = attn_f16_store_avx512;
        t->attn_rows = attn_rows_avx512;
        t->vlut_lut_tables = vlut_lut_tables_avx512;
        t->vlut_lut_tile = vlut_lut_tile_avx512;
        /* MAD rows keep the AVX2 kernel (a model loads PANELs instead).
         * The broadcast kernel over panels; GFNI unpacks a quarter in one
         * instruction instead of two (Ice Lake and later have it, Cascade
         * Lake's VNNI does not). */
        t->vlut_panels = true;
        t->vlut_mad_panels =
            __builtin_cpu_supports("gfni") ? vlut_mad_panels_gfni : vlut_mad_panels_avx512;
        t->amx = kern_amx_usable();
        if (t->amx) t->vlut_mad_panels = vlut_mad_panels_amx_wide;
        t->vlut_mad_pad = vlut_mad_pad_avx512;
        t->q8_panel = q8_panel_avx512;
        t->act_quant_i8 = act_quant_i8_avx512;
        t->act_dequant = act_dequant_avx512;
        t->act_rmsnorm = act_rmsnorm_avx512;
        t->act_softmax = act_softmax_avx512;
        t->act_swiglu = act_swiglu_avx512;
        t->act_add = act_add_avx512;
        t->act_rope_norm = act_rope_norm_avx512;
        t->act_rope_neox = act_rope_neox_avx512;
        t->act_argmax = act_argmax_avx512;
    }
}

/* How kern_tune() chose vlut_lut_min, for kern_tune_describe(). */
static enum { TUNE_BUILTIN, TUNE_ENV, TUNE_MEASURED } tune_source;
static struct vlut_tune tune_result;
static char tune_text[320];

int kern_set_isa(enum kern_isa isa, char *err, size_t err_len)
{
    if ((int)isa < 0 || isa >= KERN_ISA_COUNT)
        return lf_errf(err, err_len, LF_ERR_INVALID, "ISA %d out of range", (int)isa);
    if (!kern_isa_supported(isa))
        return lf_errf(err, err_len, LF_ERR_UNSUPPORTED, "this CPU does not support ISA %s",
                       kern_isa_name(isa));
    kern_fill(&kern_table, isa);
    tune_source = TUNE_BUILTIN;
    return 0;
}

static void lut_min_text(char *buf, size_t len, int n)
{
    if (n == VLUT_LUT_NEVER)
        snprintf(buf, len, "multiply-add kernel at every width, no Vec-LUT");
    else
        snprintf(buf, len, "Vec-LUT kernel from %d tokens", n);
}

int kern_tune(char *err, size_t err_len)
{
    const char *env = getenv("LUTFUSE_LUT_MIN");
    if (env && env[0] && strcasecmp(env, "auto") != 0) {
        int n;
        if (!strcasecmp(env, "never")) {
            n = VLUT_LUT_NEVER;
        } else {
            char *end;
            errno = 0;
            const long v = strtol(env, &end, 10);
            if (!isdigit((unsigned char)env[0]) || errno || *end || v > (1L << 20))
                return lf_errf(err, err_len, LF_ERR_INVALID,
                               "LUTFUSE_LUT_MIN='%s' is not auto, never or a token count "
                               "0..1048576",
                               env);
            n = (int)v;
        }
        kern_table.vlut_lut_min = n;
        tune_source = TUNE_ENV;
        return 0;
    }
    if (kern_table.isa == KERN_ISA_REF) return 0;
    struct vlut_tune t;
    int rc = vlut_tune_measure(&t, err, err_len);
    if (rc) return rc;
    tune_result = t;
    kern_table.vlut_lut_min = t.lut_min;
    tune_source = TUNE_MEASURED;
    return 0;
}

const char *kern_tune_describe(void)
{
    char choice[64];
    lut_min_text(choice, sizeof choice, kern_table.vlut_lut_min);
    if (tune_source == TUNE_ENV) {
        snprintf(tune_text, sizeof tune_text, "%s (LUTFUSE_LUT_MIN)", choice);
    } else if (tune_source == TUNE_MEASURED) {
        const struct vlut_tune *t = &tune_result;
        int at = snprintf(tune_text, sizeof tune_text,
                          "%s (measured at start, one thread, %lldx%lld, LUT/multiply-add GMAC/s:",
                          choice, (long long)t->rows, (long long)t->cols);
        for (int i = 0; i < VLUT_TUNE_WIDTHS && at > 0 && (size_t)at < sizeof tune_text; i++)
            at += snprintf(tune_text + at, sizeof tune_text - (size_t)at, "%s N=%d %.0f/%.0f",
                           i ? "," : "", t->widths[i], t->lut_gmacs[i], t->mad_gmacs[i]);
        if (at > 0 && (size_t)at < sizeof tune_text)
            snprintf(tune_text + at, sizeof tune_text - (size_t)at, ")");
    } else {
        snprintf(tune_text, sizeof tune_text, "%s (built-in for %s)", choice,
                 kern_isa_name(kern_table.isa));
    }
    return tune_text;
}

int kern_init(char *err, size_t err_len)
{
    enum kern_isa isa = kern_isa_best();
    const char *env = getenv("LUTFUSE_ISA");
    if (env && env[0]) {
        int rc = kern_isa_parse(env, &isa, err, err_len);
        if (rc < 0)
            return lf_errf(err, err_len, rc, "LUTFUSE_ISA='%s' is not ref, avx2 or avx512", env);
        if (!kern_isa_supported(isa))
            return lf_errf(err, err_len, LF_ERR_UNSUPPORTED,
                           "LUTFUSE_ISA=%s but this CPU does not support it (best: %s)", env,
                           kern_isa_name(kern_isa_best()));
    }
    return kern_set_isa(isa, err, err_len);
}

enum kern_isa kern_isa(void)
{
    return kern_table.isa;
}

const struct kern_ops *kern_ops(void)
{
    return &kern_table;
}
