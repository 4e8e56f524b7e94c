/* test_chat.c - chat template detection and exact rendering per family.
 *
 * The expected strings are written out by hand from each family's format
 * (llama.cpp's llm_chat_apply_template for llama3 / chatml / llama2, the
 * model card's template for BitNet b1.58 2B4T). The conversation is
 * system + user + assistant + user, and the assistant turn carries spaces
 * around it so the tests show which families trim.
 */
#include "tests/testutil.h"

#include "api/chat.h"
#include "api/openai.h"
#include "engine/status.h"

#include <stdlib.h>
#include <string.h>

#define MSG(role, text)                                                                            \
    {                                                                                              \
        (role), (text), sizeof(text) - 1                                                           \
    }

static const struct oai_message CONVO[] = {
    MSG(OAI_ROLE_SYSTEM, "You are a helpful assistant"),
    MSG(OAI_ROLE_USER, "Hello"),
    MSG(OAI_ROLE_ASSISTANT, "  Hi there  "),
    MSG(OAI_ROLE_USER, "Who are you"),
};
#define N_CONVO (sizeof CONVO / sizeof CONVO[0])

static void expect_render(enum chat_kind kind, const struct oai_message *msgs, size_t n, bool gen,
                          const char *expected)
{
    char *out = NULL;
    assert_int_equal(chat_apply(kind, msgs, n, gen, &out), 0);
    assert_non_null(out);
    assert_string_equal(out, expected);
    free(out);
}

static void test_llama3(void **state)
{
    (void)state;
    expect_render(
        CHAT_LLAMA3, CONVO, N_CONVO, true,
        "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n");
    expect_render(CHAT_LLAMA3, CONVO + 1, 1, false,
                  "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>");
}

static void test_chatml(void **state)
{
    (void)state;
    expect_render(CHAT_CHATML, CONVO, N_CONVO, true,
                  "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
                  "<|im_start|>user\nHello<|im_end|>\n"
                  "<|im_start|>assistant\n  Hi there  <|im_end|>\n"
                  "<|im_start|>user\nWho are you<|im_end|>\n"
                  "<|im_start|>assistant\n");
    expect_render(CHAT_CHATML, CONVO, N_CONVO, false,
                  "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
                  "<|im_start|>user\nHello<|im_end|>\n"
                  "<|im_start|>assistant\n  Hi there  <|im_end|>\n"
                  "<|im_start|>user\nWho are you<|im_end|>\n");
}

static void test_llama2(void **state)
{
    (void)state;
    const char *want = "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\n"
                       "Hello [/INST]Hi there</s>[INST] Who are you [/INST]";
    /* No generation prompt in this format: both give the same text. */
    expect_render(CHAT_LLAMA2, CONVO, N_CONVO, true, want);
    expect_render(CHAT_LLAMA2, CONVO, N_CONVO, false, want);
    expect_render(CHAT_LLAMA2, CONVO + 1, 1, true, "[INST] Hello [/INST]");
}

static void test_bitnet(void **state)
{
    (void)state;
    expect_render(CHAT_BITNET, CONVO, N_CONVO, true,
                  "System: You are a helpful assistant<|eot_id|>User: Hello<|eot_id|>"
                  "Assistant: Hi there<|eot_id|>User: Who are you<|eot_id|>Assistant: ");
    expect_render(CHAT_BITNET, CONVO + 1, 1, false, "User: Hello<|eot_id|>");
    static const struct oai_message tool[] = {MSG(OAI_ROLE_TOOL, "\t42\n")};
    expect_render(CHAT_BITNET, tool, 1, false, "Tool: 42<|eot_id|>");
}

static void test_edge_cases(void **state)
{
    (void)state;
    expect_render(CHAT_LLAMA3, NULL, 0, false, "");
    expect_render(CHAT_CHATML, NULL, 0, true, "<|im_start|>assistant\n");
    static const struct oai_message blank[] = {MSG(OAI_ROLE_USER, " \n\t ")};
    expect_render(CHAT_LLAMA3, blank, 1, false,
                  "<|start_header_id|>user<|end_header_id|>\n\n<|eot_id|>");
    char *out = (char *)1;
    assert_int_equal(chat_apply(CHAT_UNKNOWN, CONVO, N_CONVO, true, &out), LF_ERR_INVALID);
    assert_null(out);
    assert_int_equal(chat_apply((enum chat_kind)99, CONVO, N_CONVO, true, &out), LF_ERR_INVALID);
    assert_null(out);
}

/* Template texts as model repositories ship them (abridged to the parts
 * that matter for detection). */
static void test_detect(void **state)
{
    (void)state;
    const char *llama3 =
        "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
        "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ "
        "message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = "
        "bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt "
        "%}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
    const char *chatml = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' "
                         "+ message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if "
                         "add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    const char *llama2 =
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set "
        "system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
        "{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if "
        "loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + "
        "system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = "
        "message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + "
        "'[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
        "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
    const char *bitnet_hf =
        "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
        "message['role'] | capitalize + ': '+ message['content'] | trim + '<|eot_id|>' %}{% if "
        "loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% "
        "endfor %}{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}";
    const char *bitnet_gguf =
        "{% for message in messages %}{% if loop.first %}{{ bos_token }}{% endif %}{% if "
        "message['role'] == 'user' %}{{ 'Human: ' + message['content'] + '\\n\\nBITNETAssistant: "
        "' + eos_token }}{% elif message['role'] == 'assistant' %}{{ message['content'] + "
        "eos_token }}{% endif %}{% endfor %}";
    const char *phi4 = "{{'<|im_start|>' + message['role'] + '<|im_sep|>' + message['content']}}";
    const char *mistral7 = "{{ '[SYSTEM_PROMPT]' + system_message + '[/SYSTEM_PROMPT]' }}{{ "
                           "'[INST]' + message['content'] + '[/INST]' }}";
    const char *gemma = "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim }}";

    assert_int_equal(chat_detect(llama3), CHAT_LLAMA3);
    assert_int_equal(chat_detect(chatml), CHAT_CHATML);
    assert_int_equal(chat_detect(llama2), CHAT_LLAMA2);
    assert_int_equal(chat_detect(bitnet_hf), CHAT_BITNET);
    assert_int_equal(chat_detect(bitnet_gguf), CHAT_BITNET);
    assert_int_equal(chat_detect(phi4), CHAT_UNKNOWN);
    assert_int_equal(chat_detect(mistral7), CHAT_UNKNOWN);
    assert_int_equal(chat_detect(gemma), CHAT_UNKNOWN);
    assert_int_equal(chat_detect(""), CHAT_UNKNOWN);
    assert_int_equal(chat_detect(NULL), CHAT_UNKNOWN);
}

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(chat_from_name("llama3"), CHAT_LLAMA3);
    assert_int_equal(chat_from_name("llama2"), CHAT_LLAMA2);
    assert_int_equal(chat_from_name("chatml"), CHAT_CHATML);
    assert_int_equal(chat_from_name("bitnet"), CHAT_BITNET);
    assert_int_equal(chat_from_name("Llama3"), CHAT_UNKNOWN);
    assert_int_equal(chat_from_name("unknown"), CHAT_UNKNOWN);
    assert_int_equal(chat_from_name(NULL), CHAT_UNKNOWN);
    assert_string_equal(chat_name(CHAT_LLAMA3), "llama3");
    assert_string_equal(chat_name(CHAT_BITNET), "bitnet");
    assert_string_equal(chat_name(CHAT_UNKNOWN), "unknown");
    assert_string_equal(chat_name((enum chat_kind)42), "unknown");
}

/* What the server does: parse a chat request, render its messages. */
static void test_parsed_request_renders(void **state)
{
    (void)state;
    struct oai_limits lim = oai_limits_default(128256, 4096);
    const char *body = "{\"messages\":[{\"role\":\"developer\",\"content\":\"Be terse.\"},"
                       "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"2+2?\"}]}]}";
    struct oai_request *r;
    struct oai_error e;
    assert_int_equal(oai_parse_request(OAI_CHAT, body, strlen(body), &lim, &r, &e), 0);
    expect_render(CHAT_BITNET, r->messages, r->n_messages, true,
                  "System: Be terse.<|eot_id|>User: 2+2?<|eot_id|>Assistant: ");
    oai_request_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama3),     cmocka_unit_test(test_chatml),
        cmocka_unit_test(test_llama2),     cmocka_unit_test(test_bitnet),
        cmocka_unit_test(test_edge_cases), cmocka_unit_test(test_detect),
        cmocka_unit_test(test_names),      cmocka_unit_test(test_parsed_request_renders),
    };
    return cmocka_run_group_tests_name("chat", tests, NULL, NULL);
}
