/* chat.c - chat template detection and rendering (formats in chat.h).
 *
 * Each family is a few lines of appends. Whether content is trimmed, and how
 * roles are spelled, follows what llama.cpp renders for the same family (and
 * for BitNet, the model card's template), because the point is to give the
 * model exactly the text it was trained on, byte for byte.
 */
#include "api/chat.h"

#include "api/buf.h"
#include "api/openai.h"
#include "engine/status.h"

#include <string.h>

static bool contains(const char *s, const char *needle)
{
    return strstr(s, needle) != NULL;
}

enum chat_kind chat_detect(const char *t)
{
    if (!t) return CHAT_UNKNOWN;
    if (contains(t, "<|im_start|>")) {
        /* Phi-4 and SmolVLM use <|im_start|> but are not ChatML. */
        if (contains(t, "<|im_sep|>") || contains(t, "<end_of_utterance>")) return CHAT_UNKNOWN;
        return CHAT_CHATML;
    }
    if (contains(t, "[INST]")) {
        /* Mistral v3/v7 templates use [INST] with a different layout. */
        if (contains(t, "[SYSTEM_PROMPT]") || contains(t, "[AVAILABLE_TOOLS]")) return CHAT_UNKNOWN;
        return CHAT_LLAMA2;
    }
    if (contains(t, "<|start_header_id|>") && contains(t, "<|end_header_id|>")) return CHAT_LLAMA3;
    if (contains(t, "BITNETAssistant") || (contains(t, "<|eot_id|>") && contains(t, "Assistant: ")))
        return CHAT_BITNET;
    return CHAT_UNKNOWN;
}

static const char *const NAMES[] = {
    [CHAT_UNKNOWN] = "unknown", [CHAT_LLAMA3] = "llama3", [CHAT_LLAMA2] = "llama2",
    [CHAT_CHATML] = "chatml",   [CHAT_BITNET] = "bitnet",
};

enum chat_kind chat_from_name(const char *name)
{
    if (!name) return CHAT_UNKNOWN;
    for (int k = CHAT_LLAMA3; k <= CHAT_BITNET; k++)
        if (!strcmp(name, NAMES[k])) return (enum chat_kind)k;
    return CHAT_UNKNOWN;
}

const char *chat_name(enum chat_kind kind)
{
    if ((int)kind < 0 || (int)kind > CHAT_BITNET) return "unknown";
    return NAMES[kind];
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Append s[0..len) without leading and trailing ASCII whitespace. */
static void put_trimmed(struct oai_buf *b, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && is_space(s[i]))
        i++;
    while (len > i && is_space(s[len - 1]))
        len--;
    oai_buf_append(b, s + i, len - i);
}

static void render_llama3(struct oai_buf *b, const struct oai_message *msgs, size_t n, bool gen)
{
    for (size_t i = 0; i < n; i++) {
        oai_buf_puts(b, "<|start_header_id|>");
        oai_buf_puts(b, oai_role_name(msgs[i].role));
        oai_buf_puts(b, "<|end_header_id|>\n\n");
        put_trimmed(b, msgs[i].content, msgs[i].content_len);
        oai_buf_puts(b, "<|eot_id|>");
    }
    if (gen) oai_buf_puts(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void render_chatml(struct oai_buf *b, const struct oai_message *msgs, size_t n, bool gen)
{
    for (size_t i = 0; i < n; i++) {
        oai_buf_puts(b, "<|im_start|>");
        oai_buf_puts(b, oai_role_name(msgs[i].role));
        oai_buf_puts(b, "\n");
        oai_buf_append(b, msgs[i].content, msgs[i].content_len);
        oai_buf_puts(b, "<|im_end|>\n");
    }
    if (gen) oai_buf_puts(b, "<|im_start|>assistant\n");
}

/* The prompt ends inside an open [INST] turn, so there is no generation
 * prompt to add. */
static void render_llama2(struct oai_buf *b, const struct oai_message *msgs, size_t n)
{
    bool in_turn = true; /* the first "[INST] " is written up front */
    oai_buf_puts(b, "[INST] ");
    for (size_t i = 0; i < n; i++) {
        if (!in_turn) {
            oai_buf_puts(b, "[INST] ");
            in_turn = true;
        }
        switch (msgs[i].role) {
        case OAI_ROLE_SYSTEM:
            oai_buf_puts(b, "<<SYS>>\n");
            put_trimmed(b, msgs[i].content, msgs[i].content_len);
            oai_buf_puts(b, "\n<</SYS>>\n\n");
            break;
        case OAI_ROLE_USER:
            put_trimmed(b, msgs[i].content, msgs[i].content_len);
            oai_buf_puts(b, " [/INST]");
            break;
        case OAI_ROLE_ASSISTANT:
        case OAI_ROLE_TOOL:
            put_trimmed(b, msgs[i].content, msgs[i].content_len);
            oai_buf_puts(b, "</s>");
            in_turn = false;
            break;
        }
    }
}

/* The role as the model card's template spells it: capitalised. */
static const char *bitnet_label(enum oai_role role)
{
    switch (role) {
    case OAI_ROLE_SYSTEM:
        return "System: ";
    case OAI_ROLE_USER:
        return "User: ";
    case OAI_ROLE_ASSISTANT:
        return "Assistant: ";
    case OAI_ROLE_TOOL:
        return "Tool: ";
    }
    return "User: ";
}

static void render_bitnet(struct oai_buf *b, const struct oai_message *msgs, size_t n, bool gen)
{
    for (size_t i = 0; i < n; i++) {
        oai_buf_puts(b, bitnet_label(msgs[i].role));
        put_trimmed(b, msgs[i].content, msgs[i].content_len);
        oai_buf_puts(b, "<|eot_id|>");
    }
    if (gen) oai_buf_puts(b, "Assistant: ");
}

int chat_apply(enum chat_kind kind, const struct oai_message *msgs, size_t n,
               bool add_generation_prompt, char **out)
{
    *out = NULL;
    struct oai_buf b = OAI_BUF_INIT;
    oai_buf_append(&b, "", 0); /* so that an empty result is still a string */
    switch (kind) {
    case CHAT_LLAMA3:
        render_llama3(&b, msgs, n, add_generation_prompt);
        break;
    case CHAT_CHATML:
        render_chatml(&b, msgs, n, add_generation_prompt);
        break;
    case CHAT_LLAMA2:
        render_llama2(&b, msgs, n);
        break;
    case CHAT_BITNET:
        render_bitnet(&b, msgs, n, add_generation_prompt);
        break;
    default:
        oai_buf_free(&b);
        return LF_ERR_INVALID;
    }
    if (b.failed) {
        oai_buf_free(&b);
        return LF_ERR_NOMEM;
    }
    *out = b.data;
    return 0;
}
