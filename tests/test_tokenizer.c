/* test_tokenizer.c - the tokenizer against llama.cpp's own test vectors, plus
 * decoding, streaming, special tokens and malformed metadata.
 *
 * Expected ids that are not in the vector files were produced by upstream
 * llama.cpp (the build SOURCES.md names) and, where noted, checked by hand
 * against the vocabulary; the SPM merge order test uses a hand-made
 * vocabulary whose result is worked out in the comments.
 */
#include "tests/testutil.h"

#include "engine/gguf.h"
#include "engine/status.h"
#include "engine/tokenizer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_CASES 46

/* One vocabulary with its vector files. */
struct vocab {
    const char *name;
    struct tok *tok;
    char *inp; /* whole .inp file */
    const char *text[N_CASES + 1];
    size_t text_len[N_CASES + 1];
    int32_t *want[N_CASES + 1];
    size_t n_want[N_CASES + 1];
    int n_cases;
};

enum { V_BPE, V_SPM, V_STORIES, N_VOCABS };

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static struct tok *load_tok(const char *rel, double *seconds)
{
    char *path = tu_data_path(rel);
    char err[LF_ERRMSG_LEN] = "";
    struct gguf *g = NULL;
    struct tok *t = NULL;
    double t0 = now_seconds();
    if (gguf_open(path, &g, err, sizeof err) == 0 && tok_load(g, &t, err, sizeof err) != 0)
        t = NULL;
    if (seconds) *seconds = now_seconds() - t0;
    if (!t) fprintf(stderr, "cannot load %s: %s\n", path, err);
    gguf_close(g); /* the tokenizer must not need the file any more */
    free(path);
    return t;
}

/* Split the .inp on the separator (dropping the empty tail) and parse the
 * .out: one line of " <id>" per case. Returns 0 on success. */
static int load_vectors(struct vocab *v, const char *inp_rel, const char *out_rel)
{
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *ip = tu_data_path(inp_rel), *op = tu_data_path(out_rel);
    size_t in_len, out_len;
    v->inp = tu_read_file(ip, &in_len);
    char *out = tu_read_file(op, &out_len);
    free(ip);
    free(op);
    if (!v->inp || !out) return -1;
    v->n_cases = 0;
    for (char *p = v->inp; p < v->inp + in_len;) {
        char *s = memmem(p, (size_t)(v->inp + in_len - p), sep, sizeof sep - 1);
        if (!s || v->n_cases == N_CASES + 1) break;
        v->text[v->n_cases] = p;
        v->text_len[v->n_cases] = (size_t)(s - p);
        v->n_cases++;
        p = s + sizeof sep - 1;
    }
    int line = 0;
    for (char *p = out; p < out + out_len && line < v->n_cases; line++) {
        char *nl = memchr(p, '\n', (size_t)(out + out_len - p));
        if (!nl) nl = out + out_len;
        *nl = 0;
        v->want[line] = malloc((strlen(p) / 2 + 1) * sizeof(int32_t));
        size_t n = 0;
        for (char *q = p; *q;) {
            char *end;
            long id = strtol(q, &end, 10);
            if (end == q) break;
            v->want[line][n++] = (int32_t)id;
            q = end;
        }
        v->n_want[line] = n;
        p = nl + 1;
    }
    free(out);
    return line == v->n_cases ? 0 : -1;
}

static int setup(void **state)
{
    static const struct {
        const char *name, *gguf, *inp, *out;
    } files[N_VOCABS] = {
        {"llama-bpe", "tokenizer/ggml-vocab-llama-bpe.gguf",
         "tokenizer/ggml-vocab-llama-bpe.gguf.inp", "tokenizer/ggml-vocab-llama-bpe.gguf.out"},
        {"llama-spm", "tokenizer/ggml-vocab-llama-spm.gguf",
         "tokenizer/ggml-vocab-llama-spm.gguf.inp", "tokenizer/ggml-vocab-llama-spm.gguf.out"},
        {"stories260K", "models/stories260K.gguf", "tokenizer/stories260K.gguf.inp",
         "tokenizer/stories260K.gguf.out"},
    };
    struct vocab *vs = calloc(N_VOCABS, sizeof *vs);
    if (!vs) return -1;
    *state = vs;
    for (int i = 0; i < N_VOCABS; i++) {
        vs[i].name = files[i].name;
        vs[i].tok = load_tok(files[i].gguf, NULL);
        if (!vs[i].tok) return -1;
        if (load_vectors(&vs[i], files[i].inp, files[i].out)) {
            fprintf(stderr, "cannot read the vectors of %s\n", files[i].name);
            return -1;
        }
    }
    return 0;
}

static int teardown(void **state)
{
    struct vocab *vs = *state;
    if (!vs) return 0;
    for (int i = 0; i < N_VOCABS; i++) {
        tok_free(vs[i].tok);
        free(vs[i].inp);
        for (int c = 0; c < N_CASES + 1; c++)
            free(vs[i].want[c]);
    }
    free(vs);
    return 0;
}

/* ---- helpers ---- */

static void print_escaped(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fprintf(stderr, "\\n");
        else if (c == '\t')
            fprintf(stderr, "\\t");
        else if (c == '\r')
            fprintf(stderr, "\\r");
        else if (c < 0x20 || c == 0x7F)
            fprintf(stderr, "\\x%02X", c);
        else
            fputc(c, stderr);
    }
}

static void print_ids(const char *label, const int32_t *ids, size_t n)
{
    fprintf(stderr, "    %s:", label);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
}

/* Encode into a fresh array (caller frees); asserts success. */
static int32_t *encode(struct tok *t, const char *s, size_t len, bool add_special,
                       bool parse_special, size_t *n)
{
    size_t cap = 3 * len + 8;
    int32_t *ids = malloc(cap * sizeof *ids);
    assert_non_null(ids);
    assert_int_equal(tok_encode(t, s, len, add_special, parse_special, ids, cap, n), 0);
    return ids;
}

static void assert_ids(struct tok *t, const char *s, bool add_special, bool parse_special,
                       const int32_t *want, size_t n_want)
{
    size_t n;
    int32_t *got = encode(t, s, strlen(s), add_special, parse_special, &n);
    if (n != n_want || memcmp(got, want, n * sizeof *got) != 0) {
        fprintf(stderr, "  input \"");
        print_escaped(s, strlen(s));
        fprintf(stderr, "\"\n");
        print_ids("want", want, n_want);
        print_ids("got ", got, n);
    }
    assert_int_equal(n, n_want);
    assert_memory_equal(got, want, n * sizeof *got);
    free(got);
}

/* ---- the vectors ---- */

static void check_vectors(struct vocab *v)
{
    int failures = 0;
    assert_int_equal(v->n_cases, N_CASES);
    for (int c = 0; c < v->n_cases; c++) {
        size_t n;
        int32_t *got = encode(v->tok, v->text[c], v->text_len[c], false, false, &n);
        if (n != v->n_want[c] || memcmp(got, v->want[c], n * sizeof *got) != 0) {
            failures++;
            fprintf(stderr, "%s case %d: input \"", v->name, c);
            print_escaped(v->text[c], v->text_len[c]);
            fprintf(stderr, "\"\n");
            print_ids("want", v->want[c], v->n_want[c]);
            print_ids("got ", got, n);
        }
        free(got);
    }
    if (failures) fprintf(stderr, "%s: %d of %d cases differ\n", v->name, failures, v->n_cases);
    assert_int_equal(failures, 0);
}

static void test_vectors_llama_bpe(void **state)
{
    check_vectors(&((struct vocab *)*state)[V_BPE]);
}

static void test_vectors_llama_spm(void **state)
{
    check_vectors(&((struct vocab *)*state)[V_SPM]);
}

static void test_vectors_stories260k(void **state)
{
    check_vectors(&((struct vocab *)*state)[V_STORIES]);
}

/* Decoding the expected ids of every case gives the input back exactly, at
 * once (tok_decode) and id by id (tok_stream). For SPM the space the
 * tokenizer put in front is dropped by both. (llama.cpp's llama_detokenize
 * differs here: for gpt2 vocabularies it also "cleans up" spaces before
 * punctuation, e.g. "Hello , world" -> "Hello, world", and for SPM it keeps
 * the prefix space when the ids start with a BOS.) */
static void test_roundtrip_all_vocabs(void **state)
{
    struct vocab *vs = *state;
    for (int i = 0; i < N_VOCABS; i++) {
        struct vocab *v = &vs[i];
        for (int c = 0; c < v->n_cases; c++) {
            size_t cap = 4 * v->text_len[c] + 16, len;
            char *once = malloc(cap), *streamed = malloc(cap);
            assert_int_equal(tok_decode(v->tok, v->want[c], v->n_want[c], false, once, cap, &len),
                             0);
            if (len != v->text_len[c] || memcmp(once, v->text[c], len) != 0) {
                fprintf(stderr, "%s case %d decodes to \"", v->name, c);
                print_escaped(once, len);
                fprintf(stderr, "\"\n");
            }
            assert_int_equal(len, v->text_len[c]);
            assert_memory_equal(once, v->text[c], len);

            struct tok_stream s;
            tok_stream_init(&s);
            size_t total = 0;
            for (size_t k = 0; k < v->n_want[c]; k++) {
                int w = tok_stream_push(v->tok, &s, v->want[c][k], streamed + total, cap - total);
                assert_true(w >= 0);
                total += (size_t)w;
            }
            int w = tok_stream_flush(v->tok, &s, streamed + total, cap - total);
            assert_int_equal(w, 0); /* the inputs are valid UTF-8: nothing held */
            assert_int_equal(total, len);
            assert_memory_equal(streamed, once, len);
            free(once);
            free(streamed);
        }
    }
}

/* ---- streaming ---- */

static void test_stream_holds_split_character(void **state)
{
    struct tok *t = ((struct vocab *)*state)[V_STORIES].tok;
    /* stories260K has no token for U+1F999: "▁" (410) then byte tokens for
     * F0 9F A6 99; byte b is id 3 + b. */
    const int32_t want[] = {410, 3 + 0xF0, 3 + 0x9F, 3 + 0xA6, 3 + 0x99};
    assert_ids(t, "\xF0\x9F\xA6\x99", false, false, want, 5);

    struct tok_stream s;
    tok_stream_init(&s);
    char out[64];
    assert_int_equal(tok_stream_push(t, &s, 1, out, sizeof out), 0);   /* BOS prints nothing */
    assert_int_equal(tok_stream_push(t, &s, 410, out, sizeof out), 0); /* the added space */
    for (int k = 1; k < 4; k++)
        assert_int_equal(tok_stream_push(t, &s, want[k], out, sizeof out), 0);
    assert_int_equal(s.n_pending, 3);
    /* Too little room: refused and nothing consumed. */
    assert_int_equal(tok_stream_push(t, &s, want[4], out, 3), LF_ERR_RANGE);
    assert_int_equal(s.n_pending, 3);
    assert_int_equal(tok_stream_push(t, &s, want[4], out, 4), 4);
    assert_memory_equal(out, "\xF0\x9F\xA6\x99", 4);
    assert_int_equal(s.n_pending, 0);
    assert_int_equal(tok_stream_flush(t, &s, out, sizeof out), 0);

    /* A mixed string: the stream's total equals the one-shot decode. */
    const char *text = "Hello, \xE4\xB8\x96\xE7\x95\x8C! \xF0\x9F\xA6\x99 caf\xC3\xA9";
    size_t n;
    int32_t *ids = encode(t, text, strlen(text), true, false, &n);
    char once[256], streamed[256];
    size_t len, total = 0;
    assert_int_equal(tok_decode(t, ids, n, false, once, sizeof once, &len), 0);
    assert_int_equal(len, strlen(text));
    assert_memory_equal(once, text, len);
    tok_stream_init(&s);
    for (size_t k = 0; k < n; k++) {
        int w = tok_stream_push(t, &s, ids[k], streamed + total, sizeof streamed - total);
        assert_true(w >= 0);
        total += (size_t)w;
    }
    assert_int_equal(total, len);
    assert_memory_equal(streamed, once, len);
    free(ids);
}

static void test_stream_replaces_invalid_bytes(void **state)
{
    struct tok *t = ((struct vocab *)*state)[V_STORIES].tok;
    struct tok_stream s;
    char out[64];
    tok_stream_init(&s);
    s.at_start = false; /* a continuation: keep leading spaces */
    /* 0xFF can never start a character: U+FFFD at once. */
    assert_int_equal(tok_stream_push(t, &s, 3 + 0xFF, out, sizeof out), 3);
    assert_memory_equal(out, "\xEF\xBF\xBD", 3);
    /* E4 B8 is the start of U+4E16; a following "b" (id 430) breaks it:
     * both held bytes become U+FFFD, then the "b". */
    assert_int_equal(tok_stream_push(t, &s, 3 + 0xE4, out, sizeof out), 0);
    assert_int_equal(tok_stream_push(t, &s, 3 + 0xB8, out, sizeof out), 0);
    assert_int_equal(tok_stream_push(t, &s, 430, out, sizeof out), 7);
    assert_memory_equal(out,
                        "\xEF\xBF\xBD\xEF\xBF\xBD"
                        "b",
                        7);
    /* A held prefix at the end is flushed as one U+FFFD per byte. */
    assert_int_equal(tok_stream_push(t, &s, 3 + 0xE4, out, sizeof out), 0);
    assert_int_equal(tok_stream_push(t, &s, 3 + 0xB8, out, sizeof out), 0);
    assert_int_equal(tok_stream_flush(t, &s, out, 5), LF_ERR_RANGE);
    assert_int_equal(tok_stream_flush(t, &s, out, sizeof out), 6);
    assert_memory_equal(out, "\xEF\xBF\xBD\xEF\xBF\xBD", 6);
    assert_int_equal(tok_stream_push(t, &s, 512, out, sizeof out), LF_ERR_INVALID);
    /* Continuation streams keep the space of their first piece. */
    assert_int_equal(tok_stream_push(t, &s, 410, out, sizeof out), 1);
    assert_int_equal(out[0], ' ');
}

/* ---- special tokens ---- */

static void test_parse_special_llama_bpe(void **state)
{
    struct tok *t = ((struct vocab *)*state)[V_BPE].tok;
    const char *text = "<|begin_of_text|>Hello<|eot_id|>";
    /* 9906 is "Hello" (the vectors have "Hello world" = 9906 1917). */
    const int32_t with[] = {128000, 9906, 128009};
    assert_ids(t, text, false, true, with, 3);
    /* As plain text the llama3 regex cuts "<|" "begin" "_of" "_text" "|>"
     * "Hello" "<|" "eot" "_id" "|>" (punctuation runs stop at letters, a
     * letter run takes one leading non-letter); "<|" and "|>" are not
     * tokens, so BPE leaves "<" (27) "|" (91) and "|" ">" (29), and "eot"
     * becomes "e" (68) "ot" (354). */
    const int32_t without[] = {27, 91, 7413, 3659, 4424, 91, 29, 9906,
                               27, 91, 68,   354,  851,  91, 29};
    assert_ids(t, text, false, false, without, 15);
    static const char *const pieces[] = {"<", "|", "begin", "_of", "_text", "|", ">", "Hello",
                                         "<", "|", "e",     "ot",  "_id",   "|", ">"};
    for (int i = 0; i < 15; i++) {
        size_t n;
        const char *p = tok_piece(t, without[i], false, &n);
        assert_int_equal(n, strlen(pieces[i]));
        assert_memory_equal(p, pieces[i], n);
    }
    /* add_special adds BOS in front of whatever the text holds. */
    const int32_t both[] = {128000, 128000, 9906, 128009};
    assert_ids(t, text, true, true, both, 4);
}

static void test_parse_special_spm_space_prefix(void **state)
{
    struct tok *t = ((struct vocab *)*state)[V_SPM].tok;
    /* Each text fragment after a special token gets the space prefix again:
     * "Hello" -> "▁Hello" (15043), " world" -> "▁▁world" = "▁" (29871)
     * "▁world" (3186). */
    const int32_t want[] = {1, 15043, 2, 29871, 3186};
    assert_ids(t, "<s>Hello</s> world", false, true, want, 5);
    /* Not parsed: "<s>" is text ("▁<" 529, "s" 29879, ">" 29958, ...). */
    const int32_t plain[] = {529, 29879, 29958, 10994, 829, 29879, 29958, 3186};
    assert_ids(t, "<s>Hello</s> world", false, false, plain, 8);
}

static void test_add_special(void **state)
{
    struct vocab *vs = *state;
    const int32_t stories[] = {1, 346, 306, 414}; /* BOS, "▁He" "ll" "o" */
    assert_ids(vs[V_STORIES].tok, "Hello", true, false, stories, 4);
    const int32_t bpe[] = {128000, 9906};
    assert_ids(vs[V_BPE].tok, "Hello", true, false, bpe, 2);
    const int32_t spm_empty[] = {1};
    assert_ids(vs[V_SPM].tok, "", true, false, spm_empty, 1);
    assert_ids(vs[V_SPM].tok, "", false, false, spm_empty, 0); /* nothing at all */
    assert_true(tok_add_bos(vs[V_STORIES].tok));
    assert_true(tok_add_bos(vs[V_BPE].tok));
}

static void test_metadata_and_pieces(void **state)
{
    struct vocab *vs = *state;
    struct tok *bpe = vs[V_BPE].tok, *spm = vs[V_SPM].tok, *st = vs[V_STORIES].tok;
    assert_string_equal(tok_model_name(bpe), "gpt2");
    assert_string_equal(tok_model_name(spm), "llama");
    assert_int_equal(tok_n_vocab(bpe), 128256);
    assert_int_equal(tok_n_vocab(spm), 32000);
    assert_int_equal(tok_n_vocab(st), 512);
    assert_int_equal(tok_bos(bpe), 128000);
    assert_int_equal(tok_eos(bpe), 128001);
    /* No eot key in the file: found by text like llama.cpp does. */
    assert_int_equal(tok_eot(bpe), 128009);
    assert_true(tok_is_eog(bpe, 128001));
    assert_true(tok_is_eog(bpe, 128009));
    assert_false(tok_is_eog(bpe, 128000));
    assert_false(tok_is_eog(bpe, 9906));
    assert_false(tok_is_eog(bpe, -1));
    assert_true(tok_is_control(bpe, 128000));
    assert_false(tok_is_control(bpe, 9906));
    assert_int_equal(tok_bos(st), 1);
    assert_int_equal(tok_eos(st), 2);
    assert_int_equal(tok_eot(st), -1);
    assert_true(tok_is_eog(st, 2));
    assert_false(tok_is_eog(st, 1));
    /* The whole sets, as llama.cpp reports them for these files: EOG
     * {128001, 128009} and 256 control tokens; SPM EOG {2}, control <s> </s>. */
    int n_eog = 0, n_control = 0;
    for (int32_t id = 0; id < tok_n_vocab(bpe); id++) {
        n_eog += tok_is_eog(bpe, id);
        n_control += tok_is_control(bpe, id);
    }
    assert_int_equal(n_eog, 2);
    assert_int_equal(n_control, 256);
    n_eog = n_control = 0;
    for (int32_t id = 0; id < tok_n_vocab(spm); id++) {
        n_eog += tok_is_eog(spm, id);
        n_control += tok_is_control(spm, id);
    }
    assert_int_equal(n_eog, 1);
    assert_int_equal(n_control, 2);
    assert_true(tok_is_control(spm, 1) && tok_is_control(spm, 2));

    size_t n;
    const char *p = tok_piece(bpe, 128000, false, &n);
    assert_int_equal(n, 0);
    p = tok_piece(bpe, 128000, true, &n);
    assert_int_equal(n, strlen("<|begin_of_text|>"));
    assert_memory_equal(p, "<|begin_of_text|>", n);
    p = tok_piece(bpe, 1917, false, &n); /* "Ġworld" */
    assert_int_equal(n, 6);
    assert_memory_equal(p, " world", 6);
    p = tok_text(bpe, 1917, &n);
    assert_int_equal(n, 7);
    assert_memory_equal(p, "\xC4\xA0world", 7);
    p = tok_piece(bpe, 198, false, &n); /* "Ċ" */
    assert_int_equal(n, 1);
    assert_int_equal(p[0], '\n');
    p = tok_piece(spm, 13, false, &n); /* <0x0A> */
    assert_int_equal(n, 1);
    assert_int_equal(p[0], '\n');
    p = tok_piece(spm, 15043, false, &n); /* "▁Hello" */
    assert_int_equal(n, 6);
    assert_memory_equal(p, " Hello", 6);
    p = tok_piece(spm, 0, false, &n); /* <unk> is not printed */
    assert_int_equal(n, 0);
    assert_null(tok_piece(spm, 32000, false, &n));
    assert_null(tok_piece(spm, -1, false, &n));
    assert_null(tok_text(spm, 32000, &n));
}

/* ---- invalid UTF-8 ---- */

static void test_invalid_utf8(void **state)
{
    struct vocab *vs = *state;
    /* llama.cpp's results: for BPE each invalid byte is read as U+FFFD, a
     * surrogate's 3-byte form is taken as is; SPM writes byte tokens. */
    const int32_t bpe_ff[] = {5809};
    assert_ids(vs[V_BPE].tok, "\xFF", false, false, bpe_ff, 1);
    const int32_t bpe_sur[] = {64, 169, 64319, 65};
    assert_ids(vs[V_BPE].tok,
               "a\xED\xA0\x80"
               "b",
               false, false, bpe_sur, 4);
    const int32_t bpe_trunc[] = {10178};
    assert_ids(vs[V_BPE].tok, "\xE2\x82", false, false, bpe_trunc, 1);
    const int32_t bpe_overlong[] = {188}; /* C0 80 decodes to U+0000 */
    assert_ids(vs[V_BPE].tok, "\xC0\x80", false, false, bpe_overlong, 1);
    const int32_t spm_trunc[] = {29871, 3 + 0xE2, 3 + 0x82};
    assert_ids(vs[V_SPM].tok, "\xE2\x82", false, false, spm_trunc, 3);
    /* Above U+10FFFF llama.cpp throws; lutfuse reads each byte as U+FFFD,
     * the same as four replacement characters. */
    size_t n1, n2;
    int32_t *a = encode(vs[V_BPE].tok, "\xF4\x90\x80\x80", 4, false, false, &n1);
    const char *fffd4 = "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD";
    int32_t *b = encode(vs[V_BPE].tok, fffd4, 12, false, false, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1 * sizeof *a);
    free(a);
    free(b);
    /* NUL bytes are ordinary input. */
    int32_t *z = encode(vs[V_STORIES].tok, "a\0b", 3, false, false, &n1);
    const int32_t want_z[] = {261, 3 + 0, 430}; /* "▁a" <0x00> "b" */
    assert_int_equal(n1, 3);
    assert_memory_equal(z, want_z, sizeof want_z);
    free(z);
}

/* ---- output size ---- */

static void test_max_ids_too_small(void **state)
{
    struct tok *t = ((struct vocab *)*state)[V_BPE].tok;
    int32_t ids[2] = {-7, -7};
    size_t n = 0;
    assert_int_equal(tok_encode(t, "Hello world", 11, false, false, ids, 1, &n), LF_ERR_RANGE);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 9906);
    assert_int_equal(ids[1], -7); /* untouched */
    assert_int_equal(tok_encode(t, "Hello world", 11, false, false, NULL, 0, &n), LF_ERR_RANGE);
    assert_int_equal(n, 2);
    assert_int_equal(tok_encode(t, "Hello world", 11, false, false, ids, 2, &n), 0);
    assert_int_equal(ids[1], 1917);
    assert_int_equal(tok_encode(t, NULL, 3, false, false, ids, 2, &n), LF_ERR_INVALID);

    char small[4];
    size_t len;
    const int32_t hw[] = {9906, 1917};
    assert_int_equal(tok_decode(t, hw, 2, false, small, sizeof small, &len), LF_ERR_RANGE);
    assert_int_equal(len, 11);
    assert_memory_equal(small, "Hell", 4);
    const int32_t bad[] = {9906, 128256};
    assert_int_equal(tok_decode(t, bad, 2, false, small, sizeof small, &len), LF_ERR_INVALID);
}

/* ---- a hand-made SPM vocabulary: merge order by score, ties leftmost ---- */

static char *write_gguf(struct gguf_writer *w, const char *name)
{
    char *path = tu_tmp_path(name);
    char err[LF_ERRMSG_LEN];
    assert_non_null(path);
    int rc = gguf_writer_write(w, path, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    gguf_writer_free(w);
    return path;
}

/* Load a file, expecting status want (0 or an error); returns the tok. */
static struct tok *load_path(const char *path, int want, const char *msg_part)
{
    struct gguf *g = NULL;
    struct tok *t = NULL;
    char err[LF_ERRMSG_LEN] = "";
    assert_int_equal(gguf_open(path, &g, err, sizeof err), 0);
    int rc = tok_load(g, &t, err, sizeof err);
    gguf_close(g);
    if (rc != want || (msg_part && !strstr(err, msg_part)))
        fprintf(stderr, "tok_load: got %d (%s), wanted %d with \"%s\"\n", rc, err, want,
                msg_part ? msg_part : "");
    assert_int_equal(rc, want);
    if (msg_part) assert_non_null(strstr(err, msg_part));
    if (want) assert_null(t);
    return t;
}

#define SPACE "\xE2\x96\x81"

/* Tokens: 0 <unk> 1 <s> 2 </s> 3 ▁ 4 a 5 b 6 ab 7 ba 8 ▁a */
static struct gguf_writer *tiny_spm(const char *model, int n_types, bool with_model)
{
    static const char *const texts[] = {"<unk>", "<s>", "</s>", SPACE,    "a",
                                        "b",     "ab",  "ba",   SPACE "a"};
    static const float scores[] = {0, 0, 0, -1, -1, -1, -2, -2, -3};
    static const int32_t types[] = {2, 3, 3, 1, 1, 1, 1, 1, 1};
    struct gguf_str strs[9];
    for (int i = 0; i < 9; i++)
        strs[i] = (struct gguf_str){texts[i], strlen(texts[i])};
    struct gguf_writer *w;
    assert_int_equal(gguf_writer_new(&w), 0);
    if (with_model) assert_int_equal(gguf_writer_set_str(w, "tokenizer.ggml.model", model), 0);
    assert_int_equal(gguf_writer_set_arr_strs(w, "tokenizer.ggml.tokens", strs, 9), 0);
    assert_int_equal(gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_VT_F32, scores, 9), 0);
    assert_int_equal(
        gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_VT_I32, types, (uint64_t)n_types),
        0);
    return w;
}

static void test_spm_merge_order_by_hand(void **state)
{
    (void)state;
    char *path = write_gguf(tiny_spm("llama", 9, true), "tiny.gguf");
    struct tok *t = load_path(path, 0, NULL);
    free(path);
    /* "aba" -> "▁aba": pairs ▁a (-3), ab (-2, left 1), ba (-2, left 2).
     * "ab" and "ba" tie; the leftmost merges: ▁ ab a. */
    const int32_t aba[] = {3, 6, 4};
    assert_ids(t, "aba", false, false, aba, 3);
    /* "abab" -> ab at 1 merges first, which makes ba at 2 stale; then ab at
     * 3; "▁a" (-3) is stale by then. */
    const int32_t abab[] = {3, 6, 6};
    assert_ids(t, "abab", false, false, abab, 3);
    /* "a" -> "▁a" merges (it is the only pair). */
    const int32_t a1[] = {8};
    assert_ids(t, "a", false, false, a1, 1);
    /* "c" has no token and the vocabulary no byte tokens: <unk> (llama.cpp
     * would throw here). */
    const int32_t c1[] = {3, 0};
    assert_ids(t, "c", false, false, c1, 2);
    /* Defaults without keys: BOS 1 added, EOS 2 ends generation. */
    const int32_t bos[] = {1, 8};
    assert_ids(t, "a", true, false, bos, 2);
    assert_true(tok_is_eog(t, 2));
    tok_free(t);
}

/* ---- malformed metadata ---- */

static void test_load_errors(void **state)
{
    (void)state;
    char *p;
    p = write_gguf(tiny_spm("llama", 9, false), "nomodel.gguf");
    load_path(p, LF_ERR_FORMAT, "tokenizer.ggml.model");
    free(p);
    p = write_gguf(tiny_spm("bert", 9, true), "bert.gguf");
    load_path(p, LF_ERR_UNSUPPORTED, "'bert'");
    free(p);
    p = write_gguf(tiny_spm("llama", 8, true), "shorttypes.gguf");
    load_path(p, LF_ERR_FORMAT, "token_type has 8 entries for 9 tokens");
    free(p);

    struct gguf_writer *w = tiny_spm("llama", 9, true);
    assert_int_equal(gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 9), 0);
    p = write_gguf(w, "badbos.gguf");
    load_path(p, LF_ERR_FORMAT, "bos_token_id = 9");
    free(p);

    /* 0xFFFFFFFF means "none": the default stays, as in llama.cpp. */
    w = tiny_spm("llama", 9, true);
    assert_int_equal(gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 0xFFFFFFFFu), 0);
    p = write_gguf(w, "nopad.gguf");
    tok_free(load_path(p, 0, NULL));
    free(p);

    w = tiny_spm("llama", 9, true);
    assert_int_equal(gguf_writer_set_str(w, "tokenizer.ggml.add_bos_token", "yes"), 0);
    p = write_gguf(w, "badflag.gguf");
    load_path(p, LF_ERR_FORMAT, "add_bos_token is not a bool");
    free(p);

    /* gpt2: merges are required, the pre-tokenizer must be known. */
    static const char *const texts[] = {"a", "b", "ab", "a"};
    struct gguf_str strs[4];
    for (int i = 0; i < 4; i++)
        strs[i] = (struct gguf_str){texts[i], strlen(texts[i])};
    struct gguf_str merges[1] = {{"a b", 3}};
    assert_int_equal(gguf_writer_new(&w), 0);
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_arr_strs(w, "tokenizer.ggml.tokens", strs, 3);
    p = write_gguf(w, "nomerges.gguf");
    load_path(p, LF_ERR_FORMAT, "tokenizer.ggml.merges");
    free(p);

    assert_int_equal(gguf_writer_new(&w), 0);
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "qwen2");
    gguf_writer_set_arr_strs(w, "tokenizer.ggml.tokens", strs, 3);
    gguf_writer_set_arr_strs(w, "tokenizer.ggml.merges", merges, 1);
    p = write_gguf(w, "qwen.gguf");
    load_path(p, LF_ERR_UNSUPPORTED, "'qwen2'");
    free(p);

    assert_int_equal(gguf_writer_new(&w), 0);
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "llama-bpe");
    gguf_writer_set_arr_strs(w, "tokenizer.ggml.tokens", strs, 4); /* "a" twice */
    gguf_writer_set_arr_strs(w, "tokenizer.ggml.merges", merges, 1);
    p = write_gguf(w, "dup.gguf");
    load_path(p, LF_ERR_FORMAT, "duplicate token");
    free(p);

    /* A minimal valid gpt2 vocabulary: "ab" merges, "abc" leaves "c" out
     * (no token for it: dropped, as llama.cpp does). add_bos with no BOS id
     * in range: the default 11 is outside 3 tokens, so none. */
    assert_int_equal(gguf_writer_new(&w), 0);
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2");
    gguf_writer_set_arr_strs(w, "tokenizer.ggml.tokens", strs, 3);
    gguf_writer_set_arr_strs(w, "tokenizer.ggml.merges", merges, 1);
    p = write_gguf(w, "mini.gguf");
    struct tok *t = load_path(p, 0, NULL);
    free(p);
    const int32_t abc[] = {2};
    assert_ids(t, "abc", true, false, abc, 1);
    const int32_t ba[] = {1, 0};
    assert_ids(t, "ba", false, false, ba, 2);
    assert_int_equal(tok_bos(t), -1);
    assert_false(tok_add_bos(t));
    tok_free(t);

    struct tok *none = (struct tok *)1;
    assert_int_equal(tok_load(NULL, &none, NULL, 0), LF_ERR_INVALID);
    tok_free(NULL);
}

/* ---- speed and threads ---- */

static void test_speed(void **state)
{
    struct vocab *vs = *state;
    double load_s;
    struct tok *t = load_tok("tokenizer/ggml-vocab-llama-bpe.gguf", &load_s);
    assert_non_null(t);
    tok_free(t);
    fprintf(stderr, "    llama-bpe load (280147 merges): %.3f s\n", load_s);
    assert_true(load_s < 2.0); /* ~0.04 s plain, a few times that under ASan */

    /* ~10 KB of the vector texts, one string */
    char *text = malloc(11000);
    size_t len = 0;
    for (int c = 0; len < 10000; c = (c + 1) % N_CASES) {
        const struct vocab *v = &vs[V_BPE];
        if (len + v->text_len[c] > 10900) break;
        memcpy(text + len, v->text[c], v->text_len[c]);
        len += v->text_len[c];
    }
    for (int i = 0; i < N_VOCABS; i++) {
        size_t n;
        double t0 = now_seconds();
        int32_t *ids = encode(vs[i].tok, text, len, true, true, &n);
        double dt = now_seconds() - t0;
        fprintf(stderr, "    %s: %zu bytes -> %zu ids in %.4f s\n", vs[i].name, len, n, dt);
        assert_true(n > len / 8);
        assert_true(dt < 0.5); /* milliseconds in practice */
        free(ids);
    }
    free(text);
}

struct thread_arg {
    struct vocab *v;
    int failures;
};

static void *encode_all(void *p)
{
    struct thread_arg *a = p;
    int32_t ids[512];
    for (int round = 0; round < 10; round++) {
        for (int c = 0; c < a->v->n_cases; c++) {
            size_t n;
            if (tok_encode(a->v->tok, a->v->text[c], a->v->text_len[c], false, false, ids, 512,
                           &n) != 0 ||
                n != a->v->n_want[c] || memcmp(ids, a->v->want[c], n * sizeof *ids) != 0)
                a->failures++;
        }
    }
    return NULL;
}

static void test_threads_share_one_tok(void **state)
{
    struct vocab *vs = *state;
    for (int i = 0; i < N_VOCABS; i++) {
        pthread_t th[3];
        struct thread_arg args[3];
        for (int k = 0; k < 3; k++) {
            args[k] = (struct thread_arg){&vs[i], 0};
            assert_int_equal(pthread_create(&th[k], NULL, encode_all, &args[k]), 0);
        }
        for (int k = 0; k < 3; k++) {
            pthread_join(th[k], NULL);
            assert_int_equal(args[k].failures, 0);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_llama_bpe),
        cmocka_unit_test(test_vectors_llama_spm),
        cmocka_unit_test(test_vectors_stories260k),
        cmocka_unit_test(test_roundtrip_all_vocabs),
        cmocka_unit_test(test_stream_holds_split_character),
        cmocka_unit_test(test_stream_replaces_invalid_bytes),
        cmocka_unit_test(test_parse_special_llama_bpe),
        cmocka_unit_test(test_parse_special_spm_space_prefix),
        cmocka_unit_test(test_add_special),
        cmocka_unit_test(test_metadata_and_pieces),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_max_ids_too_small),
        cmocka_unit_test(test_spm_merge_order_by_hand),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_speed),
        cmocka_unit_test(test_threads_share_one_tok),
    };
    return cmocka_run_group_tests_name("tokenizer", tests, setup, teardown);
}
