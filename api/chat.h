/* chat.h - chat templates: a list of messages -> the prompt text a model was trained on.
 *
 * No Jinja interpreter: like llama.cpp's llm_chat_apply_template, lutfuse
 * recognises the model family from marker substrings of the GGUF's
 * tokenizer.chat_template and renders that family's format in C. The output
 * carries no BOS: the tokenizer adds it (tok_encode with add_special), and
 * the special-token text in it ("<|eot_id|>", ...) must be tokenized with
 * parse_special so it becomes the special ids.
 *
 * The formats, for messages m[i] = (role, content); trim() removes ASCII
 * whitespace at both ends:
 *
 *   CHAT_LLAMA3   "<|start_header_id|>" role "<|end_header_id|>\n\n" trim(content) "<|eot_id|>"
 *                 generation prompt "<|start_header_id|>assistant<|end_header_id|>\n\n"
 *   CHAT_CHATML   "<|im_start|>" role "\n" content "<|im_end|>\n"
 *                 generation prompt "<|im_start|>assistant\n"
 *   CHAT_LLAMA2   "[INST] " then, per message (content trimmed):
 *                   system     "<<SYS>>\n" content "\n<</SYS>>\n\n"
 *                   user       content " [/INST]"
 *                   assistant  content "</s>"   (the next message reopens "[INST] ")
 *                 (tool messages are rendered like assistant ones, as llama.cpp does);
 *                 no separate generation prompt: the text ends at " [/INST]".
 *                 This is llama.cpp's "llama2-sys-strip" variant, the one it picks
 *                 for Meta's Llama-2-chat template (which has <<SYS>> and
 *                 content.strip()).
 *   CHAT_BITNET   Capitalised role ": " trim(content) "<|eot_id|>"
 *                 ("System: ", "User: ", "Assistant: ", "Tool: ")
 *                 generation prompt "Assistant: "
 *                 This is the template in microsoft/bitnet-b1.58-2B-4T's
 *                 tokenizer_config.json, the format the model was trained on.
 *                 (Microsoft's own GGUF carries a "Human: ... BITNETAssistant:"
 *                 placeholder from its converter, and ik_llama.cpp's "bitnet"
 *                 case drops some <|eot_id|>s; lutfuse follows the model card.)
 */
#ifndef LF_API_CHAT_H
#define LF_API_CHAT_H

#include <stdbool.h>
#include <stddef.h>

struct oai_message;

enum chat_kind { CHAT_UNKNOWN = 0, CHAT_LLAMA3, CHAT_LLAMA2, CHAT_CHATML, CHAT_BITNET };

/* The family of a Jinja chat template (tokenizer.chat_template), by markers,
 * checked in this order:
 *   "<|im_start|>"                               CHATML (but UNKNOWN for Phi-4's
 *                                                "<|im_sep|>" and SmolVLM's
 *                                                "<end_of_utterance>", which differ)
 *   "[INST]"                                     LLAMA2 (but UNKNOWN for Mistral's
 *                                                "[SYSTEM_PROMPT]" / "[AVAILABLE_TOOLS]"
 *                                                templates)
 *   "<|start_header_id|>" and "<|end_header_id|>" LLAMA3
 *   "BITNETAssistant", or "<|eot_id|>" and "Assistant: "   BITNET
 * NULL or anything else: CHAT_UNKNOWN. */
enum chat_kind chat_detect(const char *jinja_template);

/* "llama3", "llama2", "chatml", "bitnet" (for a --chat-template flag);
 * anything else (or NULL) is CHAT_UNKNOWN. */
enum chat_kind chat_from_name(const char *name);

/* The name chat_from_name accepts, or "unknown". Static. */
const char *chat_name(enum chat_kind kind);

/* Render n messages in the format of `kind` (see the top of this file), with
 * the generation prompt appended if add_generation_prompt (LLAMA2 has none).
 * On success *out is a malloc'd NUL-terminated string the caller frees.
 * Returns 0, LF_ERR_INVALID for CHAT_UNKNOWN or an out-of-range kind (*out
 * NULL), or LF_ERR_NOMEM. */
int chat_apply(enum chat_kind kind, const struct oai_message *msgs, size_t n,
               bool add_generation_prompt, char **out);

#endif
