/* tokenizer.c - text <-> token ids, giving exactly what llama.cpp's llama_tokenize gives.
 *
 * Encoding runs in three stages:
 *
 *   1. Special-token partition. The text is cut at every occurrence of a
 *      special token's text (CONTROL and UNKNOWN tokens only when
 *      parse_special; USER_DEFINED tokens always), longest token first, each
 *      token splitting all text fragments left by the longer ones. Fragments
 *      of ordinary text go to stage 2; special tokens become their ids.
 *
 *   2. Per fragment, by family:
 *      SPM ("llama"): a leading space if the fragment is the first or follows
 *        a special token (and add_space_prefix), every ' ' turned into U+2581,
 *        the text cut into UTF-8 characters; then, repeatedly, the adjacent
 *        pair whose concatenation is a vocabulary token with the highest score
 *        (ties: leftmost) is merged. Symbols that end up not being tokens are
 *        single characters, emitted as byte-fallback tokens <0xXX>.
 *      BPE ("gpt2"): the fragment is decoded to code points as llama.cpp does
 *        (each invalid byte becomes U+FFFD), split by the pre-tokenizer regex
 *        (pcre2), each piece's bytes mapped to GPT-2's printable code points,
 *        and merged by merge rank (lowest first, ties: leftmost).
 *
 *   3. BOS/EOS around it all when add_special and the model asks for them.
 *
 * Both merge loops are llama.cpp's: a binary heap of candidate pairs; a pair
 * popped after one of its symbols changed is stale and skipped. Symbols only
 * grow and their start never moves, so "stale" is simply "the two sizes no
 * longer add up to the pair's size". llama.cpp's SPM tokenizer also keeps a
 * merge history to re-split symbols that are not tokens, but a merged symbol
 * is always a token (a pair merges only if its text is one), so the history
 * is never consulted and is left out here.
 *
 * The vocabulary, scores, merges, pieces and the compiled regex are built once
 * by tok_load and never written again, so one struct tok serves any number of
 * threads; each tok_encode call allocates its own scratch space.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "engine/tokenizer.h"

#include "engine/gguf.h"
#include "engine/log.h"
#include "engine/status.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Types                                                                    */
/* ------------------------------------------------------------------------ */

enum tok_family { TOK_FAMILY_SPM, TOK_FAMILY_BPE };

/* Token type numbers as written in tokenizer.ggml.token_type. */
enum {
    TOKEN_TYPE_NORMAL = 1,
    TOKEN_TYPE_UNKNOWN = 2,
    TOKEN_TYPE_CONTROL = 3,
    TOKEN_TYPE_USER_DEFINED = 4,
    TOKEN_TYPE_UNUSED = 5,
    TOKEN_TYPE_BYTE = 6,
};

/* Token attributes, a bit set as llama.cpp keeps them: the file's type, plus
 * CONTROL when an end-of-generation-looking token was not flagged as one. */
enum {
    ATTR_NORMAL = 1u << 0,
    ATTR_UNKNOWN = 1u << 1,
    ATTR_CONTROL = 1u << 2,
    ATTR_USER_DEFINED = 1u << 3,
    ATTR_UNUSED = 1u << 4,
    ATTR_BYTE = 1u << 5,
    ATTR_EOG = 1u << 6, /* lutfuse's own: the token ends generation */
};

/* n strings packed back to back: string i is bytes[off[i] .. off[i+1]). */
struct strtab {
    char *bytes;
    size_t *off; /* (n + 1) */
    size_t n;
};

/* Open-addressing hash of indices into a strtab; linear probing, -1 = empty.
 * The capacity is a power of two at least twice the number of entries. */
struct strhash {
    int32_t *slot;
    size_t mask;
};

struct tok {
    enum tok_family family;
    int32_t n_vocab;
    struct strtab text;        /* the vocabulary as stored in the file */
    struct strtab piece;       /* bytes each token prints as (render_special) */
    float *score;              /* (n_vocab) SPM pair priority; 0 without scores */
    uint8_t *attr;             /* (n_vocab) ATTR_* */
    struct strhash text_index; /* text -> id */

    int32_t bos, eos, eot, eom, unk, pad; /* -1 if none */
    bool add_bos, add_eos, add_space_prefix;

    int32_t *special; /* CONTROL/USER_DEFINED/UNKNOWN ids, longest text first */
    int32_t n_special;

    /* SPM: token for a raw byte (<0xXX>, else the one-byte token), or -1. */
    int32_t byte_token[256];

    /* BPE */
    struct strtab merges;       /* "left right", index = rank */
    struct strhash merge_index; /* merge string -> rank (first one wins) */
    bool ignore_merges;         /* a piece that is a token is emitted whole */
    pcre2_code *re;             /* the pre-tokenizer split */
    uint8_t byte_utf8[256][2];  /* GPT-2 printable form of each byte */
    uint8_t byte_utf8_len[256];
    int16_t char_byte[0x144]; /* inverse: code point -> byte, or -1 */
};

/* ------------------------------------------------------------------------ */
/* UTF-8                                                                    */
/* ------------------------------------------------------------------------ */

/* Length of the character that starts with byte c, from its top four bits
 * only (llama.cpp's rule: continuation and invalid bytes count as 1). */
static size_t utf8_len(unsigned char c)
{
    static const uint8_t len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[c >> 4];
}

static size_t utf8_encode(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decode the code point at s[i] (i < n) as llama.cpp's unicode_cpts_from_utf8
 * does: the lead byte's pattern decides the length, the continuation bytes
 * must be 10xxxxxx, and anything else is U+FFFD for that one byte. Like
 * llama.cpp, overlong forms and surrogates are accepted as decoded. Unlike it,
 * a 4-byte form above U+10FFFF is invalid too (llama.cpp throws on those when
 * it re-encodes them). Sets *adv to the bytes consumed. */
static uint32_t utf8_decode_lenient(const unsigned char *s, size_t n, size_t i, size_t *adv)
{
    unsigned char c = s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
        *adv = 1;
        return c;
    }
    if (c < 0xC0) goto invalid; /* a lone continuation byte */
    if (c < 0xE0) {
        len = 2;
        cp = c & 0x1F;
    } else if (c < 0xF0) {
        len = 3;
        cp = c & 0x0F;
    } else if (c < 0xF8) {
        len = 4;
        cp = c & 0x07;
    } else {
        goto invalid;
    }
    if (n - i < len) goto invalid;
    for (size_t k = 1; k < len; k++) {
        if ((s[i + k] & 0xC0) != 0x80) goto invalid;
        cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (cp > 0x10FFFF) goto invalid;
    *adv = len;
    return cp;
invalid:
    *adv = 1;
    return 0xFFFD;
}

/* Strict UTF-8 (Unicode table 3-7): the length of the well-formed character
 * at s[0..n), 0 if s[0] cannot start one or a later byte breaks it, or -1 if
 * the bytes so far are a valid but incomplete prefix. */
static int utf8_strict_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    int len;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    for (int k = 1; k < len; k++) {
        if ((size_t)k >= n) return -1;
        unsigned char b = s[k];
        unsigned char klo = k == 1 ? lo : 0x80, khi = k == 1 ? hi : 0xBF;
        if (b < klo || b > khi) return 0;
    }
    return len;
}

/* ------------------------------------------------------------------------ */
/* String tables and hashes                                                 */
/* ------------------------------------------------------------------------ */

static void strtab_free(struct strtab *s)
{
    free(s->bytes);
    free(s->off);
    memset(s, 0, sizeof *s);
}

static const char *strtab_get(const struct strtab *s, size_t i, size_t *len)
{
    *len = s->off[i + 1] - s->off[i];
    return s->bytes + s->off[i];
}

/* FNV-1a, continued from h; finished by mix64 so that low bits are usable. */
#define HASH_START 0xcbf29ce484222325ull

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static int strhash_init(struct strhash *h, size_t n_entries)
{
    size_t cap = 16;
    while (cap < 2 * n_entries)
        cap *= 2;
    h->slot = malloc(cap * sizeof *h->slot);
    if (!h->slot) return LF_ERR_NOMEM;
    memset(h->slot, 0xFF, cap * sizeof *h->slot); /* all -1 */
    h->mask = cap - 1;
    return 0;
}

/* Insert strtab entry i keyed by its whole string. Returns the index already
 * stored under an equal string, or -1 if i was inserted. */
static int32_t strhash_insert(struct strhash *h, const struct strtab *tab, int32_t i)
{
    size_t len;
    const char *s = strtab_get(tab, (size_t)i, &len);
    size_t pos = mix64(hash_bytes(HASH_START, s, len)) & h->mask;
    for (;;) {
        int32_t j = h->slot[pos];
        if (j < 0) {
            h->slot[pos] = i;
            return -1;
        }
        size_t jlen;
        const char *js = strtab_get(tab, (size_t)j, &jlen);
        if (jlen == len && memcmp(js, s, len) == 0) return j;
        pos = (pos + 1) & h->mask;
    }
}

/* Id of the token whose text is s[0..n), or -1. */
static int32_t text_to_id(const struct tok *t, const char *s, size_t n)
{
    const struct strhash *h = &t->text_index;
    size_t pos = mix64(hash_bytes(HASH_START, s, n)) & h->mask;
    for (;;) {
        int32_t id = h->slot[pos];
        if (id < 0) return -1;
        size_t len;
        const char *ts = strtab_get(&t->text, (size_t)id, &len);
        if (len == n && memcmp(ts, s, n) == 0) return id;
        pos = (pos + 1) & h->mask;
    }
}

/* Rank of the merge "left right", or -1. Neither side contains a raw space
 * (GPT-2 symbols never do), so comparing the whole merge string is exactly
 * llama.cpp's lookup of the pair split at the first space. */
static int32_t merge_rank(const struct tok *t, const char *l, size_t nl, const char *r, size_t nr)
{
    const struct strhash *h = &t->merge_index;
    uint64_t hv = hash_bytes(HASH_START, l, nl);
    hv = hash_bytes(hv, " ", 1);
    hv = hash_bytes(hv, r, nr);
    size_t pos = mix64(hv) & h->mask;
    for (;;) {
        int32_t rank = h->slot[pos];
        if (rank < 0) return -1;
        size_t len;
        const char *m = strtab_get(&t->merges, (size_t)rank, &len);
        if (len == nl + 1 + nr && memcmp(m, l, nl) == 0 && m[nl] == ' ' &&
            memcmp(m + nl + 1, r, nr) == 0)
            return rank;
        pos = (pos + 1) & h->mask;
    }
}

/* ------------------------------------------------------------------------ */
/* Pre-tokenizer patterns                                                   */
/* ------------------------------------------------------------------------ */

/* The character classes are spelled out instead of \s, \p{L} and \p{N} so that
 * they are llama.cpp's (Unicode 15.1 tables, its own whitespace list) and not
 * whatever Unicode version the installed pcre2 carries. Measured against
 * llama.cpp's tables for every code point: pcre2 10.42 (Unicode 14) lacks the
 * letters and digits added in Unicode 15.0/15.1 listed below, and its UCP \s
 * also matches U+180E, which llama.cpp does not count as whitespace.
 * A newer pcre2 may know more letters than llama.cpp does; those would then
 * differ again (only for characters assigned after Unicode 15.1). */
#define PAT_WS                                                                                     \
    "\\t\\n\\x0B\\f\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"           \
    "\\x{202F}\\x{205F}\\x{3000}"
#define PAT_LETTER                                                                                 \
    "\\p{L}\\x{1123F}-\\x{11240}\\x{11F02}\\x{11F04}-\\x{11F10}\\x{11F12}-\\x{11F33}"              \
    "\\x{1342F}\\x{13441}-\\x{13446}\\x{1B132}\\x{1B155}\\x{1DF25}-\\x{1DF2A}"                     \
    "\\x{1E030}-\\x{1E06D}\\x{1E4D0}-\\x{1E4EB}\\x{2B739}\\x{2EBF0}-\\x{2EE5D}"                    \
    "\\x{31350}-\\x{323AF}"
#define PAT_NUMBER "\\p{N}\\x{11F50}-\\x{11F59}\\x{1D2C0}-\\x{1D2D3}\\x{1E4F0}-\\x{1E4F9}"

/* Llama 3:  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *           ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * The case-insensitive group is written out for ASCII only: with PCRE2_UCP,
 * (?i:'s) would also match "'ſ" (U+017F folds to s), which llama.cpp does not. */
static const char PATTERN_LLAMA3[] = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
                                     "|[^\\r\\n" PAT_LETTER PAT_NUMBER "]?[" PAT_LETTER "]+"
                                     "|[" PAT_NUMBER "]{1,3}"
                                     "| ?[^" PAT_WS PAT_LETTER PAT_NUMBER "]+[\\r\\n]*"
                                     "|[" PAT_WS "]*[\\r\\n]+"
                                     "|[" PAT_WS "]+(?![^" PAT_WS "])"
                                     "|[" PAT_WS "]+";

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
 * plus the trailing |\s+ that llama.cpp's hand-written GPT-2 splitter has. */
static const char PATTERN_GPT2[] = "'s|'t|'re|'ve|'m|'ll|'d"
                                   "| ?[" PAT_LETTER "]+"
                                   "| ?[" PAT_NUMBER "]+"
                                   "| ?[^" PAT_WS PAT_LETTER PAT_NUMBER "]+"
                                   "|[" PAT_WS "]+(?![^" PAT_WS "])"
                                   "|[" PAT_WS "]+";

/* tokenizer.ggml.pre values lutfuse knows, with llama.cpp's settings. */
struct pre_kind {
    const char *name;
    const char *pattern;
    bool ignore_merges;
    bool add_bos;
};

static const struct pre_kind PRE_KINDS[] = {
    {"llama3", PATTERN_LLAMA3, true, true},      {"llama-v3", PATTERN_LLAMA3, true, true},
    {"llama-bpe", PATTERN_LLAMA3, true, true},   {"falcon3", PATTERN_LLAMA3, true, true},
    {"pixtral", PATTERN_LLAMA3, true, true},     {"dbrx", PATTERN_LLAMA3, false, false},
    {"smaug-bpe", PATTERN_LLAMA3, false, false}, {"gpt-2", PATTERN_GPT2, false, false},
    {"gpt2", PATTERN_GPT2, false, false},        {"phi-2", PATTERN_GPT2, false, false},
    {"mpt", PATTERN_GPT2, false, false},         {"olmo", PATTERN_GPT2, false, false},
    {"default", PATTERN_GPT2, false, false},
};

/* ------------------------------------------------------------------------ */
/* Loading                                                                  */
/* ------------------------------------------------------------------------ */

static bool str_is(struct gguf_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* Read an optional token-id key into *id (left alone if absent). Converters
 * write 0xFFFFFFFF (or -1) for "none"; llama.cpp then keeps its default, and
 * so does lutfuse. Any other value outside the vocabulary is an error. */
static int read_token_id(const struct gguf *g, const char *key, int32_t n_vocab, int32_t *id,
                         char *err, size_t err_len)
{
    int64_t v;
    int rc = gguf_get_i64(g, key, &v);
    if (rc == LF_ERR_INVALID) return 0;
    if (rc) return lf_errf(err, err_len, LF_ERR_FORMAT, "tokenizer: %s is not an integer", key);
    if (v == -1 || v == 0xFFFFFFFFll) return 0;
    if (v < 0 || v >= n_vocab)
        return lf_errf(err, err_len, LF_ERR_FORMAT,
                       "tokenizer: %s = %lld is outside the vocabulary of %d tokens", key,
                       (long long)v, n_vocab);
    *id = (int32_t)v;
    return 0;
}

static int read_flag(const struct gguf *g, const char *key, bool *flag, char *err, size_t err_len)
{
    int rc = gguf_get_bool(g, key, flag);
    if (rc == LF_ERR_INVALID) return 0;
    if (rc) return lf_errf(err, err_len, LF_ERR_FORMAT, "tokenizer: %s is not a bool", key);
    return 0;
}

/* An array key: present with the element type wanted and exactly `count`
 * entries (count 0 = any), or absent (*present = false). */
static int read_array(const struct gguf *g, const char *key, enum gguf_vtype want, uint64_t count,
                      bool *present, uint64_t *n_out, const void **data, char *err, size_t err_len)
{
    enum gguf_vtype et;
    uint64_t n;
    int rc = gguf_get_arr(g, key, &et, &n, data);
    *present = false;
    if (rc == LF_ERR_INVALID) return 0;
    if (rc) return lf_errf(err, err_len, LF_ERR_FORMAT, "tokenizer: %s is not an array", key);
    if (et != want)
        return lf_errf(err, err_len, LF_ERR_FORMAT, "tokenizer: %s has elements of type %d, not %d",
                       key, (int)et, (int)want);
    if (count && n != count)
        return lf_errf(err, err_len, LF_ERR_FORMAT,
                       "tokenizer: %s has %llu entries for %llu tokens", key, (unsigned long long)n,
                       (unsigned long long)count);
    *present = true;
    *n_out = n;
    return 0;
}

/* Copy a string array into a strtab. Empty token strings become
 * "[EMPTY_<i>]" as in llama.cpp (empty_as_name); merges stay as they are. */
static int strtab_from_gguf(struct strtab *tab, const struct gguf *g, const char *key, uint64_t n,
                            bool empty_as_name)
{
    int rc = LF_ERR_NOMEM;
    struct gguf_str *strs = malloc((n ? n : 1) * sizeof *strs);
    if (!strs) return LF_ERR_NOMEM;
    rc = gguf_get_arr_strs(g, key, strs, n);
    if (rc) {
        rc = LF_ERR_FORMAT;
        goto fail;
    }
    size_t total = 0;
    for (uint64_t i = 0; i < n; i++)
        total += strs[i].len ? strs[i].len : 32;
    rc = LF_ERR_NOMEM;
    tab->bytes = malloc(total ? total : 1);
    tab->off = malloc((n + 1) * sizeof *tab->off);
    if (!tab->bytes || !tab->off) goto fail;
    tab->n = n;
    size_t pos = 0;
    for (uint64_t i = 0; i < n; i++) {
        tab->off[i] = pos;
        if (strs[i].len == 0 && empty_as_name) {
            pos += (size_t)snprintf(tab->bytes + pos, 32, "[EMPTY_%llu]", (unsigned long long)i);
        } else {
            memcpy(tab->bytes + pos, strs[i].ptr, strs[i].len);
            pos += strs[i].len;
        }
    }
    tab->off[n] = pos;
    free(strs);
    return 0;
fail:
    free(strs);
    strtab_free(tab);
    return rc;
}

/* Token attributes from the token_type array (all NORMAL without one). */
static void set_attrs(struct tok *t, const void *types)
{
    for (int32_t i = 0; i < t->n_vocab; i++) {
        int32_t type = TOKEN_TYPE_NORMAL;
        if (types) memcpy(&type, (const char *)types + 4 * (size_t)i, 4);
        uint8_t a = 0; /* UNDEFINED (type 0 or anything unknown) */
        switch (type) {
        case TOKEN_TYPE_NORMAL:
            a = ATTR_NORMAL;
            break;
        case TOKEN_TYPE_UNKNOWN:
            a = ATTR_UNKNOWN;
            break;
        case TOKEN_TYPE_CONTROL:
            a = ATTR_CONTROL;
            break;
        case TOKEN_TYPE_USER_DEFINED:
            a = ATTR_USER_DEFINED;
            break;
        case TOKEN_TYPE_UNUSED:
            a = ATTR_UNUSED;
            break;
        case TOKEN_TYPE_BYTE:
            a = ATTR_BYTE;
            break;
        }
        t->attr[i] = a;
    }
}

/* End-of-generation tokens, as llama.cpp finds them (by text, since files
 * rarely say): an EOT and EOM id when the file gives none, and the set of ids
 * that end generation. Tokens found this way are made CONTROL if they are not.
 * Where several EOT candidates exist, the first in this list wins. */
static const char *const EOT_TEXTS[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<\uFF5Cend\u2581of\u2581sentence\uFF5C>",
    "<end_of_utterance>",
};
static const char *const EOG_TEXTS[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<\uFF5Cend\u2581of\u2581sentence\uFF5C>",
    "[e~[",
};
#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static void find_eog(struct tok *t)
{
    if (t->eot < 0) {
        for (size_t i = 0; i < N_ELEMS(EOT_TEXTS) && t->eot < 0; i++)
            t->eot = text_to_id(t, EOT_TEXTS[i], strlen(EOT_TEXTS[i]));
        if (t->eot >= 0) t->attr[t->eot] |= ATTR_CONTROL;
    }
    if (t->eom < 0) {
        t->eom = text_to_id(t, "<|eom_id|>", strlen("<|eom_id|>"));
        if (t->eom >= 0) t->attr[t->eom] |= ATTR_CONTROL;
    }
    for (size_t i = 0; i < N_ELEMS(EOG_TEXTS); i++) {
        int32_t id = text_to_id(t, EOG_TEXTS[i], strlen(EOG_TEXTS[i]));
        if (id >= 0) t->attr[id] |= ATTR_EOG | ATTR_CONTROL;
    }
    if (t->eos >= 0) t->attr[t->eos] |= ATTR_EOG;
    if (t->eot >= 0) t->attr[t->eot] |= ATTR_EOG;
    if (t->eom >= 0) t->attr[t->eom] |= ATTR_EOG;
}

struct special_entry {
    size_t len;
    int32_t id;
};

static int cmp_special(const void *a, const void *b)
{
    const struct special_entry *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1; /* longest first */
    return x->id < y->id ? -1 : x->id > y->id;
}

static int build_special_list(struct tok *t)
{
    int32_t n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->attr[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) n++;
    struct special_entry *e = malloc((n ? (size_t)n : 1) * sizeof *e);
    t->special = malloc((n ? (size_t)n : 1) * sizeof *t->special);
    if (!e || !t->special) {
        free(e);
        return LF_ERR_NOMEM;
    }
    n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        if (!(t->attr[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN))) continue;
        strtab_get(&t->text, (size_t)i, &e[n].len);
        e[n++].id = i;
    }
    qsort(e, (size_t)n, sizeof *e, cmp_special);
    for (int32_t i = 0; i < n; i++)
        t->special[i] = e[i].id;
    t->n_special = n;
    free(e);
    return 0;
}

/* GPT-2's byte <-> printable code point table: printable Latin-1 bytes stand
 * for themselves, the other 68 bytes take U+0100.. in byte order. */
static void build_byte_tables(struct tok *t)
{
    int next = 0;
    for (int i = 0; i < 0x144; i++)
        t->char_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        uint32_t cp = printable ? (uint32_t)b : (uint32_t)(256 + next++);
        t->byte_utf8_len[b] = (uint8_t)utf8_encode(cp, t->byte_utf8[b]);
        t->char_byte[cp] = (int16_t)b;
    }
}

/* The byte a BYTE token stands for: llama.cpp reads the two characters after
 * "<0x" as hex (strtol); missing or non-hex digits end the number. */
static unsigned char byte_token_value(const char *s, size_t n)
{
    unsigned v = 0;
    for (size_t i = 3; i < n && i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) break;
        v = v * 16 + (unsigned)d;
    }
    return (unsigned char)v;
}

/* Write the printed form of token id into out (room for the text's length),
 * returning its length. See tok_piece for the rules. */
static size_t make_piece(const struct tok *t, int32_t id, char *out)
{
    size_t n;
    const char *s = strtab_get(&t->text, (size_t)id, &n);
    uint8_t a = t->attr[id];
    if (a & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED)) {
        memcpy(out, s, n);
        return n;
    }
    if (a & ATTR_NORMAL) {
        size_t m = 0;
        if (t->family == TOK_FAMILY_SPM) { /* U+2581 -> ' ' */
            for (size_t i = 0; i < n;) {
                if (n - i >= 3 && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
                    out[m++] = ' ';
                    i += 3;
                } else {
                    out[m++] = s[i++];
                }
            }
            return m;
        }
        /* GPT-2 symbols back to bytes. A code point outside the table (a
         * malformed vocabulary) is copied as is; llama.cpp writes an
         * "[UNK_BYTE_...]" marker there instead. */
        for (size_t i = 0; i < n;) {
            size_t adv;
            uint32_t cp = utf8_decode_lenient((const unsigned char *)s, n, i, &adv);
            if (cp < 0x144 && t->char_byte[cp] >= 0) {
                out[m++] = (char)t->char_byte[cp];
            } else {
                memcpy(out + m, s + i, adv);
                m += adv;
            }
            i += adv;
        }
        return m;
    }
    if (a & ATTR_BYTE) {
        if (n < 3) return 0;
        out[0] = (char)byte_token_value(s, n);
        return 1;
    }
    return 0; /* UNUSED and UNDEFINED tokens print nothing */
}

static int build_pieces(struct tok *t)
{
    size_t total = t->text.off[t->n_vocab];
    t->piece.bytes = malloc(total ? total : 1);
    t->piece.off = malloc(((size_t)t->n_vocab + 1) * sizeof *t->piece.off);
    if (!t->piece.bytes || !t->piece.off) return LF_ERR_NOMEM;
    t->piece.n = (size_t)t->n_vocab;
    size_t pos = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        t->piece.off[i] = pos;
        pos += make_piece(t, i, t->piece.bytes + pos); /* never longer than the text */
    }
    t->piece.off[t->n_vocab] = pos;
    return 0;
}

static int load_merges(struct tok *t, const struct gguf *g, char *err, size_t err_len)
{
    const char *key = "tokenizer.ggml.merges";
    bool present;
    uint64_t n;
    const void *data;
    int rc = read_array(g, key, GGUF_VT_STRING, 0, &present, &n, &data, err, err_len);
    if (rc) return rc;
    if (!present)
        return lf_errf(err, err_len, LF_ERR_FORMAT, "tokenizer: gpt2 model without %s", key);
    if (n > INT32_MAX - 1)
        return lf_errf(err, err_len, LF_ERR_FORMAT, "tokenizer: %s has too many entries", key);
    rc = strtab_from_gguf(&t->merges, g, key, n, false);
    if (rc) return lf_errf(err, err_len, rc, "tokenizer: cannot read %s", key);
    rc = strhash_init(&t->merge_index, (size_t)n);
    if (rc) return lf_errf(err, err_len, rc, "tokenizer: out of memory");
    for (uint64_t i = 0; i < n; i++)
        strhash_insert(&t->merge_index, &t->merges, (int32_t)i);
    return 0;
}

/* The pre-tokenizer of a gpt2 model: its regex and llama.cpp's defaults. */
static int load_pre(struct tok *t, const struct gguf *g, bool *add_bos, char *err, size_t err_len)
{
    struct gguf_str pre = {"default", 7};
    int rc = gguf_get_str(g, "tokenizer.ggml.pre", &pre);
    if (rc == LF_ERR_FORMAT)
        return lf_errf(err, err_len, LF_ERR_FORMAT,
                       "tokenizer: tokenizer.ggml.pre is not a string");
    const struct pre_kind *kind = NULL;
    for (size_t i = 0; i < N_ELEMS(PRE_KINDS) && !kind; i++)
        if (str_is(pre, PRE_KINDS[i].name)) kind = &PRE_KINDS[i];
    if (!kind)
        return lf_errf(err, err_len, LF_ERR_UNSUPPORTED,
                       "tokenizer: unsupported pre-tokenizer '%.*s' (lutfuse knows llama3/"
                       "llama-bpe and gpt-2 style ones)",
                       (int)(pre.len > 64 ? 64 : pre.len), pre.ptr);
    if (str_is(pre, "default"))
        lf_log(LF_LOG_WARN, "tokenizer: pre-tokenizer 'default' (or none given): splitting with "
                            "the GPT-2 regex, which is close to but not exactly llama.cpp's");
    t->ignore_merges = kind->ignore_merges;
    *add_bos = kind->add_bos;

    int code;
    PCRE2_SIZE at;
    t->re = pcre2_compile((PCRE2_SPTR)kind->pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                          &code, &at, NULL);
    if (!t->re) {
        PCRE2_UCHAR msg[128];
        pcre2_get_error_message(code, msg, sizeof msg);
        return lf_errf(err, err_len, LF_ERR_UNSUPPORTED,
                       "tokenizer: pcre2 rejects the pre-tokenizer regex at %zu: %s", (size_t)at,
                       (const char *)msg);
    }
    /* JIT is optional: without it pcre2 interprets the same pattern. */
    (void)pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE);
    return 0;
}

int tok_load(const struct gguf *g, struct tok **out, char *err, size_t err_len)
{
    int rc;
    struct tok *t = NULL;
    if (!g || !out) return lf_errf(err, err_len, LF_ERR_INVALID, "tokenizer: NULL argument");
    *out = NULL;

    struct gguf_str model;
    rc = gguf_get_str(g, "tokenizer.ggml.model", &model);
    if (rc == LF_ERR_INVALID)
        return lf_errf(err, err_len, LF_ERR_FORMAT,
                       "tokenizer: no tokenizer.ggml.model in the file");
    if (rc)
        return lf_errf(err, err_len, LF_ERR_FORMAT,
                       "tokenizer: tokenizer.ggml.model is not a string");
    enum tok_family family;
    if (str_is(model, "llama")) {
        family = TOK_FAMILY_SPM;
    } else if (str_is(model, "gpt2")) {
        family = TOK_FAMILY_BPE;
    } else {
        return lf_errf(err, err_len, LF_ERR_UNSUPPORTED,
                       "tokenizer: unsupported tokenizer model '%.*s' (lutfuse knows 'llama' and "
                       "'gpt2')",
                       (int)(model.len > 64 ? 64 : model.len), model.ptr);
    }

    t = calloc(1, sizeof *t);
    if (!t) return lf_errf(err, err_len, LF_ERR_NOMEM, "tokenizer: out of memory");
    t->family = family;

    /* ---- vocabulary ---- */
    const char *tokens_key = "tokenizer.ggml.tokens";
    bool present;
    uint64_t n;
    const void *data;
    rc = read_array(g, tokens_key, GGUF_VT_STRING, 0, &present, &n, &data, err, err_len);
    if (rc) goto fail;
    if (!present || n == 0) {
        rc = lf_errf(err, err_len, LF_ERR_FORMAT, "tokenizer: no %s in the file", tokens_key);
        goto fail;
    }
    if (n > INT32_MAX - 1) {
        rc = lf_errf(err, err_len, LF_ERR_FORMAT, "tokenizer: %llu tokens is too many",
                     (unsigned long long)n);
        goto fail;
    }
    t->n_vocab = (int32_t)n;
    rc = strtab_from_gguf(&t->text, g, tokens_key, n, true);
    if (rc) {
        rc = lf_errf(err, err_len, rc, "tokenizer: cannot read %s", tokens_key);
        goto fail;
    }
    t->score = calloc(n, sizeof *t->score);
    t->attr = calloc(n, sizeof *t->attr);
    if (!t->score || !t->attr) {
        rc = lf_errf(err, err_len, LF_ERR_NOMEM, "tokenizer: out of memory");
        goto fail;
    }

    /* Scores: f32 (llama.cpp also takes i32). */
    uint64_t m;
    const void *scores = NULL;
    enum gguf_vtype st;
    rc = gguf_get_arr(g, "tokenizer.ggml.scores", &st, &m, &scores);
    if (rc == 0) {
        if (st != GGUF_VT_F32 && st != GGUF_VT_I32) {
            rc = lf_errf(err, err_len, LF_ERR_FORMAT, "tokenizer: scores must be f32 or i32");
            goto fail;
        }
        if (m != n) {
            rc = lf_errf(err, err_len, LF_ERR_FORMAT,
                         "tokenizer: tokenizer.ggml.scores has %llu entries for %llu tokens",
                         (unsigned long long)m, (unsigned long long)n);
            goto fail;
        }
        for (uint64_t i = 0; i < n; i++) {
            if (st == GGUF_VT_F32) {
                memcpy(&t->score[i], (const char *)scores + 4 * i, 4);
            } else {
                int32_t v;
                memcpy(&v, (const char *)scores + 4 * i, 4);
                t->score[i] = (float)v;
            }
        }
    } else if (rc != LF_ERR_INVALID) {
        rc = lf_errf(err, err_len, LF_ERR_FORMAT,
                     "tokenizer: tokenizer.ggml.scores is not an array");
        goto fail;
    }

    const void *types = NULL;
    rc = read_array(g, "tokenizer.ggml.token_type", GGUF_VT_I32, n, &present, &m, &types, err,
                    err_len);
    if (rc) goto fail;
    set_attrs(t, present ? types : NULL);

    rc = strhash_init(&t->text_index, (size_t)n);
    if (rc) {
        rc = lf_errf(err, err_len, rc, "tokenizer: out of memory");
        goto fail;
    }
    for (int32_t i = 0; i < t->n_vocab; i++) {
        int32_t dup = strhash_insert(&t->text_index, &t->text, i);
        if (dup >= 0) {
            rc = lf_errf(err, err_len, LF_ERR_FORMAT,
                         "tokenizer: duplicate token in vocabulary: ids %d and %d", dup, i);
            goto fail;
        }
    }

    /* ---- family defaults (llama.cpp's), then the file's settings ---- */
    bool add_bos;
    if (family == TOK_FAMILY_SPM) {
        t->bos = 1, t->eos = 2, t->unk = 0;
        add_bos = true;
        t->add_space_prefix = true;
    } else {
        t->bos = 11, t->eos = 11, t->unk = -1;
        add_bos = false;
        t->add_space_prefix = false;
        rc = load_merges(t, g, err, err_len);
        if (rc) goto fail;
        rc = load_pre(t, g, &add_bos, err, err_len);
        if (rc) goto fail;
    }
    if (t->bos >= t->n_vocab) t->bos = -1;
    if (t->eos >= t->n_vocab) t->eos = -1;
    if (t->unk >= t->n_vocab) t->unk = -1;
    t->eot = t->eom = t->pad = -1;
    t->add_bos = add_bos;
    t->add_eos = false;

    static const struct {
        const char *key;
        size_t field;
    } ids[] = {
        {"tokenizer.ggml.bos_token_id", offsetof(struct tok, bos)},
        {"tokenizer.ggml.eos_token_id", offsetof(struct tok, eos)},
        {"tokenizer.ggml.eot_token_id", offsetof(struct tok, eot)},
        {"tokenizer.ggml.eom_token_id", offsetof(struct tok, eom)},
        {"tokenizer.ggml.unknown_token_id", offsetof(struct tok, unk)},
        {"tokenizer.ggml.padding_token_id", offsetof(struct tok, pad)},
    };
    for (size_t i = 0; i < N_ELEMS(ids); i++) {
        int32_t *field = (int32_t *)((char *)t + ids[i].field);
        rc = read_token_id(g, ids[i].key, t->n_vocab, field, err, err_len);
        if (rc) goto fail;
    }
    rc = read_flag(g, "tokenizer.ggml.add_bos_token", &t->add_bos, err, err_len);
    if (!rc) rc = read_flag(g, "tokenizer.ggml.add_eos_token", &t->add_eos, err, err_len);
    if (!rc)
        rc = read_flag(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix, err, err_len);
    if (rc) goto fail;
    if (t->add_bos && t->bos < 0) {
        rc = lf_errf(err, err_len, LF_ERR_FORMAT,
                     "tokenizer: add_bos_token is set but there is no BOS id");
        goto fail;
    }
    if (t->add_eos && t->eos < 0) {
        rc = lf_errf(err, err_len, LF_ERR_FORMAT,
                     "tokenizer: add_eos_token is set but there is no EOS id");
        goto fail;
    }

    find_eog(t);
    build_byte_tables(t); /* before the pieces, which use them */
    rc = build_special_list(t);
    if (!rc) rc = build_pieces(t);
    if (rc) {
        rc = lf_errf(err, err_len, rc, "tokenizer: out of memory");
        goto fail;
    }
    for (int b = 0; b < 256; b++) {
        char hex[7];
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        char raw = (char)b;
        int32_t id = text_to_id(t, hex, 6);
        t->byte_token[b] = id >= 0 ? id : text_to_id(t, &raw, 1);
    }

    *out = t;
    return 0;
fail:
    tok_free(t);
    return rc;
}

void tok_free(struct tok *t)
{
    if (!t) return;
    strtab_free(&t->text);
    strtab_free(&t->piece);
    strtab_free(&t->merges);
    free(t->score);
    free(t->attr);
    free(t->text_index.slot);
    free(t->merge_index.slot);
    free(t->special);
    pcre2_code_free(t->re);
    free(t);
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                */
/* ------------------------------------------------------------------------ */

int32_t tok_n_vocab(const struct tok *t)
{
    return t->n_vocab;
}
int32_t tok_bos(const struct tok *t)
{
    return t->bos;
}
int32_t tok_eos(const struct tok *t)
{
    return t->eos;
}
int32_t tok_eot(const struct tok *t)
{
    return t->eot;
}
bool tok_add_bos(const struct tok *t)
{
    return t->add_bos;
}

bool tok_is_eog(const struct tok *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab && (t->attr[id] & ATTR_EOG);
}

bool tok_is_control(const struct tok *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab && (t->attr[id] & ATTR_CONTROL);
}

const char *tok_model_name(const struct tok *t)
{
    return t->family == TOK_FAMILY_SPM ? "llama" : "gpt2";
}

const char *tok_piece(const struct tok *t, int32_t id, bool render_special, size_t *len)
{
    if (id < 0 || id >= t->n_vocab) return NULL;
    if (!render_special && (t->attr[id] & (ATTR_UNKNOWN | ATTR_CONTROL))) {
        *len = 0;
        return "";
    }
    return strtab_get(&t->piece, (size_t)id, len);
}

const char *tok_text(const struct tok *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n_vocab) return NULL;
    return strtab_get(&t->text, (size_t)id, len);
}

/* ------------------------------------------------------------------------ */
/* Encoding                                                                 */
/* ------------------------------------------------------------------------ */

/* A run of the input: raw text [off, off+len) if id < 0, else a special token. */
struct frag {
    int32_t id;
    size_t off, len;
};

/* A symbol of the merge loop: bytes [start, start+n) of the word; n == 0 once
 * merged into its left neighbour. prev/next link the live symbols. */
struct sym {
    size_t start, n;
    int32_t prev, next;
};

/* A candidate merge of symbols left and right (adjacent when pushed). key
 * orders the heap, smallest first: -score for SPM, rank for BPE. */
struct pair {
    double key;
    int32_t left, right;
    size_t size;
};

/* Scratch space of one tok_encode call. */
struct work {
    int32_t *ids;
    size_t n_ids, cap_ids;
    struct frag *frag, *frag2;
    size_t n_frag, cap_frag, cap_frag2;
    struct sym *sym;
    size_t cap_sym;
    struct pair *heap;
    size_t n_heap, cap_heap;
    char *buf; /* SPM escaped text, or BPE re-encoded text */
    size_t cap_buf;
    char *subj; /* BPE regex subject */
    size_t cap_subj;
    char *word; /* BPE byte-mapped piece */
    size_t cap_word;
    pcre2_match_data *md;
};

/* Make *p hold at least need elements of size elem. */
static int reserve(void *pp, size_t *cap, size_t need, size_t elem)
{
    void **p = pp;
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return LF_ERR_NOMEM;
    *p = q;
    *cap = c;
    return 0;
}

static int push_id(struct work *w, int32_t id)
{
    if (reserve(&w->ids, &w->cap_ids, w->n_ids + 1, sizeof *w->ids)) return LF_ERR_NOMEM;
    w->ids[w->n_ids++] = id;
    return 0;
}

static bool pair_before(const struct pair *a, const struct pair *b)
{
    if (a->key != b->key) return a->key < b->key;
    return a->left < b->left;
}

static int heap_push(struct work *w, struct pair p)
{
    if (reserve(&w->heap, &w->cap_heap, w->n_heap + 1, sizeof *w->heap)) return LF_ERR_NOMEM;
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_before(&p, &w->heap[parent])) break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = p;
    return 0;
}

static struct pair heap_pop(struct work *w)
{
    struct pair top = w->heap[0];
    struct pair last = w->heap[--w->n_heap];
    size_t i = 0, n = w->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_before(&w->heap[c + 1], &w->heap[c])) c++;
        if (!pair_before(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n) w->heap[i] = last;
    return top;
}

/* Cut word[0..n) into symbols of one UTF-8 character each (llama.cpp's
 * length rule, clamped at the end). Returns the count or a negative status. */
static int32_t make_symbols(struct work *w, const char *word, size_t n)
{
    if (reserve(&w->sym, &w->cap_sym, n, sizeof *w->sym)) return LF_ERR_NOMEM;
    int32_t ns = 0;
    for (size_t off = 0; off < n;) {
        size_t len = utf8_len((unsigned char)word[off]);
        if (len > n - off) len = n - off;
        w->sym[ns] = (struct sym){off, len, ns - 1, off + len == n ? -1 : ns + 1};
        ns++;
        off += len;
    }
    return ns;
}

/* Queue the pair (left, right) if its merge exists. */
static int try_pair(const struct tok *t, struct work *w, const char *word, int32_t left,
                    int32_t right)
{
    if (left < 0 || right < 0) return 0;
    const struct sym *l = &w->sym[left], *r = &w->sym[right];
    struct pair p = {0, left, right, l->n + r->n};
    if (t->family == TOK_FAMILY_SPM) {
        int32_t id = text_to_id(t, word + l->start, l->n + r->n);
        if (id < 0) return 0;
        p.key = -(double)t->score[id];
    } else {
        int32_t rank = merge_rank(t, word + l->start, l->n, word + r->start, r->n);
        if (rank < 0) return 0;
        p.key = rank;
    }
    return heap_push(w, p);
}

/* The merge loop shared by both families, over symbols 0..ns-1 of word. */
static int merge_symbols(const struct tok *t, struct work *w, const char *word, int32_t ns)
{
    int rc = 0;
    w->n_heap = 0;
    for (int32_t i = 1; i < ns && !rc; i++)
        rc = try_pair(t, w, word, i - 1, i);
    while (w->n_heap && !rc) {
        struct pair p = heap_pop(w);
        struct sym *l = &w->sym[p.left], *r = &w->sym[p.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) w->sym[r->next].prev = p.left;
        rc = try_pair(t, w, word, l->prev, p.left);
        if (!rc) rc = try_pair(t, w, word, p.left, l->next);
    }
    return rc;
}

/* SPM over one text fragment. */
static int spm_encode(const struct tok *t, struct work *w, const char *text, size_t len,
                      bool space_prefix)
{
    if (reserve(&w->buf, &w->cap_buf, 3 * (len + 1), 1)) return LF_ERR_NOMEM;
    size_t n = 0;
    if (space_prefix) {
        memcpy(w->buf, "\xE2\x96\x81", 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(w->buf + n, "\xE2\x96\x81", 3);
            n += 3;
        } else {
            w->buf[n++] = text[i];
        }
    }
    int32_t ns = make_symbols(w, w->buf, n);
    if (ns <= 0) return ns;
    int rc = merge_symbols(t, w, w->buf, ns);
    for (int32_t i = 0; i != -1 && !rc; i = w->sym[i].next) {
        const struct sym *s = &w->sym[i];
        int32_t id = text_to_id(t, w->buf + s->start, s->n);
        if (id >= 0) {
            rc = push_id(w, id);
            continue;
        }
        /* Not a token: a single character, written as byte tokens. Without a
         * byte token llama.cpp throws; lutfuse writes UNK (or nothing). */
        for (size_t j = 0; j < s->n && !rc; j++) {
            int32_t b = t->byte_token[(unsigned char)w->buf[s->start + j]];
            if (b < 0) b = t->unk;
            if (b >= 0) rc = push_id(w, b);
        }
    }
    return rc;
}

/* BPE over one pre-tokenized piece, already in GPT-2 symbols. */
static int bpe_encode_word(const struct tok *t, struct work *w, const char *word, size_t n)
{
    if (t->ignore_merges) {
        int32_t id = text_to_id(t, word, n);
        if (id >= 0) return push_id(w, id);
    }
    int32_t ns = make_symbols(w, word, n);
    if (ns <= 0) return ns;
    int rc = merge_symbols(t, w, word, ns);
    for (int32_t i = 0; i != -1 && !rc; i = w->sym[i].next) {
        const struct sym *s = &w->sym[i];
        int32_t id = text_to_id(t, word + s->start, s->n);
        if (id >= 0) {
            rc = push_id(w, id);
            continue;
        }
        /* As llama.cpp: try each byte of the symbol as a one-byte token and
         * drop those that are not (a vocabulary without all 256 symbols). */
        for (size_t j = 0; j < s->n && !rc; j++) {
            id = text_to_id(t, word + s->start + j, 1);
            if (id >= 0) rc = push_id(w, id);
        }
    }
    return rc;
}

/* Map bytes [s, e) of the re-encoded text to GPT-2 symbols and encode them. */
static int bpe_piece(const struct tok *t, struct work *w, size_t s, size_t e)
{
    if (reserve(&w->word, &w->cap_word, 2 * (e - s), 1)) return LF_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = s; i < e; i++) {
        unsigned char b = (unsigned char)w->buf[i];
        memcpy(w->word + n, t->byte_utf8[b], t->byte_utf8_len[b]);
        n += t->byte_utf8_len[b];
    }
    return bpe_encode_word(t, w, w->word, n);
}

/* BPE over one text fragment: llama.cpp decodes the text to code points
 * (invalid bytes -> U+FFFD), splits them and re-encodes each piece. Here
 * w->buf gets that re-encoding and w->subj the same bytes with surrogates
 * (which llama.cpp accepts, but pcre2 cannot take in UTF-8) replaced by
 * U+FFFD, another 3-byte character of the same class (neither letter, digit
 * nor space), so offsets agree between the two. */
static int bpe_encode(const struct tok *t, struct work *w, const char *text, size_t len)
{
    if (reserve(&w->buf, &w->cap_buf, 3 * len, 1) || reserve(&w->subj, &w->cap_subj, 3 * len, 1))
        return LF_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t adv;
        uint32_t cp = utf8_decode_lenient((const unsigned char *)text, len, i, &adv);
        i += adv;
        size_t k = utf8_encode(cp, (unsigned char *)w->buf + n);
        if (cp >= 0xD800 && cp <= 0xDFFF)
            utf8_encode(0xFFFD, (unsigned char *)w->subj + n);
        else
            memcpy(w->subj + n, w->buf + n, k);
        n += k;
    }

    int rc = 0;
    size_t pos = 0;
    while (pos < n && !rc) {
        int m = pcre2_match(t->re, (PCRE2_SPTR)w->subj, n, pos, PCRE2_NO_UTF_CHECK, w->md, NULL);
        size_t ms = n, me = n;
        if (m >= 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
            ms = ov[0];
            me = ov[1];
        } else if (m != PCRE2_ERROR_NOMATCH) {
            return LF_ERR_RANGE; /* a pcre2 resource limit */
        }
        /* Characters no alternative matches become one piece each, as in
         * llama.cpp's hand-written splitters. */
        while (pos < ms && !rc) {
            size_t cl = utf8_len((unsigned char)w->subj[pos]);
            rc = bpe_piece(t, w, pos, pos + cl);
            pos += cl;
        }
        if (rc || ms >= n) break;
        if (me == ms) me = ms + utf8_len((unsigned char)w->subj[ms]); /* never empty */
        rc = bpe_piece(t, w, ms, me);
        pos = me;
    }
    return rc;
}

static int add_frag(struct frag **f, size_t *n, size_t *cap, struct frag x)
{
    if (reserve(f, cap, *n + 1, sizeof **f)) return LF_ERR_NOMEM;
    (*f)[(*n)++] = x;
    return 0;
}

/* Cut the text at special tokens (see the top of the file) into w->frag. */
static int partition(const struct tok *t, struct work *w, const char *text, size_t len,
                     bool parse_special)
{
    w->n_frag = 0;
    if (len == 0) return 0;
    if (add_frag(&w->frag, &w->n_frag, &w->cap_frag, (struct frag){-1, 0, len}))
        return LF_ERR_NOMEM;
    for (int32_t k = 0; k < t->n_special; k++) {
        int32_t id = t->special[k];
        if (!parse_special && (t->attr[id] & (ATTR_CONTROL | ATTR_UNKNOWN))) continue;
        size_t slen;
        const char *stext = strtab_get(&t->text, (size_t)id, &slen);
        size_t n2 = 0;
        for (size_t f = 0; f < w->n_frag; f++) {
            struct frag fr = w->frag[f];
            if (fr.id >= 0) {
                if (add_frag(&w->frag2, &n2, &w->cap_frag2, fr)) return LF_ERR_NOMEM;
                continue;
            }
            size_t base = fr.off, end = fr.off + fr.len;
            const char *hit;
            while (base < end && (hit = memmem(text + base, end - base, stext, slen))) {
                size_t at = (size_t)(hit - text);
                if (at > base &&
                    add_frag(&w->frag2, &n2, &w->cap_frag2, (struct frag){-1, base, at - base}))
                    return LF_ERR_NOMEM;
                if (add_frag(&w->frag2, &n2, &w->cap_frag2, (struct frag){id, 0, 0}))
                    return LF_ERR_NOMEM;
                base = at + slen;
            }
            if (base < end &&
                add_frag(&w->frag2, &n2, &w->cap_frag2, (struct frag){-1, base, end - base}))
                return LF_ERR_NOMEM;
        }
        /* swap the lists */
        struct frag *tmp = w->frag;
        size_t tcap = w->cap_frag;
        w->frag = w->frag2;
        w->cap_frag = w->cap_frag2;
        w->frag2 = tmp;
        w->cap_frag2 = tcap;
        w->n_frag = n2;
    }
    return 0;
}

static void work_free(struct work *w)
{
    free(w->ids);
    free(w->frag);
    free(w->frag2);
    free(w->sym);
    free(w->heap);
    free(w->buf);
    free(w->subj);
    free(w->word);
    pcre2_match_data_free(w->md);
}

#define TOK_MAX_TEXT ((size_t)1 << 30)

int tok_encode(const struct tok *t, const char *text, size_t len, bool add_special,
               bool parse_special, int32_t *ids, size_t max_ids, size_t *n_ids)
{
    if (!t || (!text && len) || (!ids && max_ids) || !n_ids) return LF_ERR_INVALID;
    *n_ids = 0;
    if (len > TOK_MAX_TEXT) return LF_ERR_INVALID;
    struct work w = {0};
    int rc = LF_ERR_NOMEM;
    if (t->re && !(w.md = pcre2_match_data_create_from_pattern(t->re, NULL))) goto done;

    rc = partition(t, &w, text, len, parse_special);
    if (!rc && add_special && t->add_bos) rc = push_id(&w, t->bos);
    bool prev_special = true; /* the first fragment gets the SPM space prefix */
    for (size_t f = 0; f < w.n_frag && !rc; f++) {
        const struct frag *fr = &w.frag[f];
        if (fr->id >= 0) {
            rc = push_id(&w, fr->id);
            prev_special = true;
        } else if (t->family == TOK_FAMILY_SPM) {
            rc = spm_encode(t, &w, text + fr->off, fr->len, t->add_space_prefix && prev_special);
            prev_special = false;
        } else {
            rc = bpe_encode(t, &w, text + fr->off, fr->len);
            prev_special = false;
        }
    }
    if (!rc && add_special && t->add_eos) rc = push_id(&w, t->eos);
    if (rc) goto done;

    *n_ids = w.n_ids;
    size_t n_copy = w.n_ids < max_ids ? w.n_ids : max_ids;
    if (n_copy) memcpy(ids, w.ids, n_copy * sizeof *ids);
    rc = w.n_ids > max_ids ? LF_ERR_RANGE : 0;
done:
    work_free(&w);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Decoding                                                                 */
/* ------------------------------------------------------------------------ */

/* SPM text starts with the space the tokenizer added: drop it from the first
 * piece that prints anything. */
static bool strips_first_space(const struct tok *t)
{
    return t->family == TOK_FAMILY_SPM && t->add_space_prefix;
}

int tok_decode(const struct tok *t, const int32_t *ids, size_t n_ids, bool render_special,
               char *out, size_t cap, size_t *len)
{
    if (!t || (!ids && n_ids) || (!out && cap) || !len) return LF_ERR_INVALID;
    *len = 0;
    bool at_start = true;
    size_t total = 0;
    for (size_t i = 0; i < n_ids; i++) {
        size_t n;
        const char *p = tok_piece(t, ids[i], render_special, &n);
        if (!p) return LF_ERR_INVALID;
        if (n == 0) continue;
        if (at_start && strips_first_space(t) && p[0] == ' ') p++, n--;
        at_start = false;
        if (total < cap) memcpy(out + total, p, n < cap - total ? n : cap - total);
        total += n;
    }
    *len = total;
    return total > cap ? LF_ERR_RANGE : 0;
}

void tok_stream_init(struct tok_stream *s)
{
    memset(s, 0, sizeof *s);
    s->at_start = true;
}

static const char REPLACEMENT[3] = {'\xEF', '\xBF', '\xBD'}; /* U+FFFD */

/* Turn bytes in[0..n) into valid UTF-8: complete characters are copied, bytes
 * that cannot be part of one become U+FFFD, and a valid but incomplete tail
 * is left over (*kept = its length, at in + n - *kept). With out == NULL only
 * counts. Returns the output length. */
static size_t utf8_sanitize(const unsigned char *in, size_t n, char *out, size_t *kept)
{
    size_t o = 0, i = 0;
    *kept = 0;
    while (i < n) {
        int l = utf8_strict_len(in + i, n - i);
        if (l < 0) {
            *kept = n - i;
            break;
        }
        if (l == 0) {
            if (out) memcpy(out + o, REPLACEMENT, 3);
            o += 3;
            i += 1;
            continue;
        }
        if (out) memcpy(out + o, in + i, (size_t)l);
        o += (size_t)l;
        i += (size_t)l;
    }
    return o;
}

int tok_stream_push(const struct tok *t, struct tok_stream *s, int32_t id, char *out, size_t cap)
{
    if (!t || !s || (!out && cap) || s->n_pending < 0 || s->n_pending > 3) return LF_ERR_INVALID;
    size_t n;
    const char *p = tok_piece(t, id, false, &n);
    if (!p) return LF_ERR_INVALID;
    bool strip = n > 0 && s->at_start && strips_first_space(t) && p[0] == ' ';
    if (strip) p++, n--;

    /* pending bytes (at most 3) + the piece, decoded as one run */
    unsigned char small[64];
    size_t total = (size_t)s->n_pending + n;
    unsigned char *buf = total <= sizeof small ? small : malloc(total);
    if (!buf) return LF_ERR_NOMEM;
    memcpy(buf, s->pending, (size_t)s->n_pending);
    memcpy(buf + s->n_pending, p, n);

    size_t kept;
    size_t need = utf8_sanitize(buf, total, NULL, &kept);
    if (need > cap || need > INT32_MAX) {
        if (buf != small) free(buf);
        return LF_ERR_RANGE;
    }
    utf8_sanitize(buf, total, out, &kept);
    memcpy(s->pending, buf + total - kept, kept);
    s->n_pending = (int)kept;
    if (n > 0 || strip) s->at_start = false;
    if (buf != small) free(buf);
    return (int)need;
}

int tok_stream_flush(const struct tok *t, struct tok_stream *s, char *out, size_t cap)
{
    (void)t;
    if (!s || (!out && cap) || s->n_pending < 0 || s->n_pending > 3) return LF_ERR_INVALID;
    size_t need = 3 * (size_t)s->n_pending;
    if (need > cap) return LF_ERR_RANGE;
    for (int i = 0; i < s->n_pending; i++)
        memcpy(out + 3 * i, REPLACEMENT, 3);
    s->n_pending = 0;
    return (int)need;
}
