/* tokenizer.h - text <-> token ids from GGUF tokenizer metadata.
 *
 * Two families, chosen by tokenizer.ggml.model:
 *   "llama"  SentencePiece-style BPE over scores, U+2581 for spaces, a leading
 *            space prefix (tokenizer.ggml.add_space_prefix, default true), and
 *            byte fallback <0xXX> tokens for anything not in the vocabulary;
 *   "gpt2"   byte-level BPE over tokenizer.ggml.merges, after a pre-tokenizer
 *            split chosen by tokenizer.ggml.pre ("llama-bpe"/"llama3" regex, and
 *            "default"/gpt2); bytes map to printable code points as in GPT-2.
 * Special tokens come from tokenizer.ggml.token_type (CONTROL, USER_DEFINED)
 * and the bos/eos/eot/eom/unk/pad ids. The result is exactly what llama.cpp's
 * llama_tokenize gives (checked by ../shared/testdata/tokenizer vectors).
 *
 * A struct tok is immutable after tok_load and safe to share across threads.
 */
#ifndef LF_TOKENIZER_H
#define LF_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gguf;
struct tok;

/* Build from the tokenizer.* keys of an open GGUF (model or vocab-only). The
 * tokenizer copies what it needs: g may be closed afterwards. LF_ERR_FORMAT /
 * LF_ERR_UNSUPPORTED with a message on bad or unknown metadata. */
int tok_load(const struct gguf *g, struct tok **out, char *err, size_t err_len);
void tok_free(struct tok *t);

int32_t tok_n_vocab(const struct tok *t);
int32_t tok_bos(const struct tok *t); /* -1 if none */
int32_t tok_eos(const struct tok *t); /* -1 if none */
int32_t tok_eot(const struct tok *t); /* -1 if none */
bool tok_add_bos(const struct tok *t); /* tokenizer.ggml.add_bos_token, default per family */
/* True for ids that end generation (EOS, EOT, EOM, ...). */
bool tok_is_eog(const struct tok *t, int32_t id);
/* True for control tokens (not rendered as text by tok_piece). */
bool tok_is_control(const struct tok *t, int32_t id);
/* "llama" or "gpt2". */
const char *tok_model_name(const struct tok *t);

/* Encode UTF-8 text (len bytes, need not be NUL-terminated; invalid UTF-8 is
 * tokenized bytewise as llama.cpp does). add_special: prepend BOS (if the
 * model adds one) and append EOS (if it adds one). parse_special: text of
 * special tokens becomes their ids. Writes up to max_ids ids; *n_ids gets the
 * full count. Returns 0, or LF_ERR_RANGE if the ids did not fit (ids[] holds
 * the first max_ids). LF_ERR_INVALID for texts over 1 GiB, LF_ERR_NOMEM.
 * Thread-safe: any number of threads may encode with one struct tok. */
int tok_encode(const struct tok *t, const char *text, size_t len, bool add_special,
               bool parse_special, int32_t *ids, size_t max_ids, size_t *n_ids);

/* The bytes a token stands for when printed: U+2581 turned to ' ', <0xXX>
 * turned into that byte, GPT-2 byte symbols turned back to bytes; control
 * tokens give "" unless render_special. Borrowed; *len set. NULL if id is out
 * of range. May be a partial UTF-8 sequence. */
const char *tok_piece(const struct tok *t, int32_t id, bool render_special, size_t *len);

/* Raw vocabulary string of id (as stored in the GGUF). NULL if out of range. */
const char *tok_text(const struct tok *t, int32_t id, size_t *len);

/* Decode ids at once: the concatenated tok_piece bytes (render_special as
 * there), with the SPM first-piece space rule of tok_stream below. Bytes pass
 * through unchanged (a cut-off character stays cut off). Writes up to cap
 * bytes, no NUL; *len gets the full length. Returns 0, LF_ERR_RANGE if it did
 * not fit (out holds the first cap bytes), LF_ERR_INVALID for an id out of
 * range. */
int tok_decode(const struct tok *t, const int32_t *ids, size_t n_ids, bool render_special,
               char *out, size_t cap, size_t *len);

/* Streaming detokenizer: feed ids one at a time and get back only complete
 * UTF-8 characters; bytes of a split character are held until it completes.
 * For SPM vocabularies the space prefix of the first piece after BOS is
 * dropped (as llama.cpp does when the tokenizer added it): while at_start,
 * ids that print nothing (BOS, control tokens) leave it set, and the first
 * piece that prints loses one leading ' ' and clears it. tok_stream_init sets
 * at_start; to decode a continuation (tokens generated after a prompt) clear
 * it after init. Output is always valid UTF-8: a byte that cannot belong to a
 * character is written as U+FFFD at once. Control tokens print nothing. */
struct tok_stream {
    unsigned char pending[8];
    int n_pending;
    bool at_start;
};
void tok_stream_init(struct tok_stream *s);
/* Append the text of `id` to out (cap bytes); returns bytes written, or
 * LF_ERR_RANGE if cap is too small (nothing consumed), LF_ERR_INVALID for an
 * id out of range. At most 3 * (piece length + 3) bytes are written. */
int tok_stream_push(const struct tok *t, struct tok_stream *s, int32_t id, char *out,
                    size_t cap);
/* Flush held bytes at the end of a stream (each invalid byte becomes U+FFFD;
 * at most 9 bytes). Returns bytes written or LF_ERR_RANGE. */
int tok_stream_flush(const struct tok *t, struct tok_stream *s, char *out, size_t cap);

#endif
