package dev.sluice.engine.chat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Renders multi-turn conversations with every supported template and compares them with what the
 * real Jinja templates produce.
 *
 * <p>The golden strings below were produced once with Python 3 and jinja2 3.1.6, configured as
 * Hugging Face's {@code apply_chat_template} does ({@code Environment(trim_blocks=True,
 * lstrip_blocks=True, extensions=[loopcontrols])}), rendering {@code messages}, {@code
 * add_generation_prompt} and {@code bos_token} with: the {@code chat_template} of {@code
 * tokenizers/deepseek_v3}, {@code tokenizers/qwen3} and {@code tokenizers/llama3} {@code
 * tokenizer_config.json} in the shared data folder (read again here, from SLUICE_DATA_DIR, for
 * detection), and the DeepSeek-R1-Distill, Qwen2-Instruct and Llama-3-Instruct templates published
 * with those models (copied below).
 */
class ChatTemplateTest {
  // DeepSeek-R1-Distill-Qwen/Llama tokenizer_config.json (the revision that opens <think>).
  static final String DEEPSEEK_R1_DISTILL =
      "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}{%- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}{%- for tool in message['tool_calls']%}{%- if not ns.is_first %}{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}{%- set ns.is_first = true -%}{%- else %}{{'\\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is not none %}{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- set ns.is_output_first = false %}{%- else %}{{'\\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}";

  static final String QWEN2 =
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

  static final String LLAMA3_INSTRUCT =
      "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

  static final List<ChatMessage> MULTI =
      List.of(
          ChatMessage.system("You are terse."),
          ChatMessage.user("What is 2+2?"),
          ChatMessage.assistant("<think>\nAdd them.\n</think>\n\nIt is 4."),
          ChatMessage.user("  And 3+3? \n"));
  static final List<ChatMessage> NOSYS =
      List.of(
          ChatMessage.user("Hi"),
          ChatMessage.assistant("Hello! How can I help?"),
          ChatMessage.user("Tell me a joke."));
  static final List<ChatMessage> TWOSYS =
      List.of(
          ChatMessage.system("Rule one."),
          ChatMessage.system("Rule two."),
          ChatMessage.user("Go"),
          ChatMessage.assistant("Done."));
  static final Map<String, List<ChatMessage>> CONVERSATIONS =
      Map.of("multi", MULTI, "nosys", NOSYS, "twosys", TWOSYS);

  // key: template/conversation/add_generation_prompt
  static final Map<String, String> GOLDEN =
      Map.ofEntries(
          Map.entry(
              "deepseek_r1_distill/multi/True",
              "<｜begin▁of▁sentence｜>You are terse.<｜User｜>What is 2+2?<｜Assistant｜>\n\nIt is 4.<｜end▁of▁sentence｜><｜User｜>  And 3+3? \n<｜Assistant｜><think>\n"),
          Map.entry(
              "deepseek_r1_distill/multi/False",
              "<｜begin▁of▁sentence｜>You are terse.<｜User｜>What is 2+2?<｜Assistant｜>\n\nIt is 4.<｜end▁of▁sentence｜><｜User｜>  And 3+3? \n"),
          Map.entry(
              "deepseek_r1_distill/nosys/True",
              "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>Hello! How can I help?<｜end▁of▁sentence｜><｜User｜>Tell me a joke.<｜Assistant｜><think>\n"),
          Map.entry(
              "deepseek_r1_distill/nosys/False",
              "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>Hello! How can I help?<｜end▁of▁sentence｜><｜User｜>Tell me a joke."),
          Map.entry(
              "deepseek_r1_distill/twosys/True",
              "<｜begin▁of▁sentence｜>Rule two.<｜User｜>Go<｜Assistant｜>Done.<｜end▁of▁sentence｜><｜Assistant｜><think>\n"),
          Map.entry(
              "deepseek_r1_distill/twosys/False",
              "<｜begin▁of▁sentence｜>Rule two.<｜User｜>Go<｜Assistant｜>Done.<｜end▁of▁sentence｜>"),
          Map.entry(
              "deepseek_v3/multi/True",
              "<｜begin▁of▁sentence｜>You are terse.<｜User｜>What is 2+2?<｜Assistant｜><think>\nAdd them.\n</think>\n\nIt is 4.<｜end▁of▁sentence｜><｜User｜>  And 3+3? \n<｜Assistant｜>"),
          Map.entry(
              "deepseek_v3/multi/False",
              "<｜begin▁of▁sentence｜>You are terse.<｜User｜>What is 2+2?<｜Assistant｜><think>\nAdd them.\n</think>\n\nIt is 4.<｜end▁of▁sentence｜><｜User｜>  And 3+3? \n"),
          Map.entry(
              "deepseek_v3/nosys/True",
              "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>Hello! How can I help?<｜end▁of▁sentence｜><｜User｜>Tell me a joke.<｜Assistant｜>"),
          Map.entry(
              "deepseek_v3/nosys/False",
              "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>Hello! How can I help?<｜end▁of▁sentence｜><｜User｜>Tell me a joke."),
          Map.entry(
              "deepseek_v3/twosys/True",
              "<｜begin▁of▁sentence｜>Rule one.\n\nRule two.<｜User｜>Go<｜Assistant｜>Done.<｜end▁of▁sentence｜><｜Assistant｜>"),
          Map.entry(
              "deepseek_v3/twosys/False",
              "<｜begin▁of▁sentence｜>Rule one.\n\nRule two.<｜User｜>Go<｜Assistant｜>Done.<｜end▁of▁sentence｜>"),
          Map.entry(
              "qwen2/multi/True",
              "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\nAdd them.\n</think>\n\nIt is 4.<|im_end|>\n<|im_start|>user\n  And 3+3? \n<|im_end|>\n<|im_start|>assistant\n"),
          Map.entry(
              "qwen2/multi/False",
              "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\nAdd them.\n</think>\n\nIt is 4.<|im_end|>\n<|im_start|>user\n  And 3+3? \n<|im_end|>\n"),
          Map.entry(
              "qwen2/nosys/True",
              "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\nTell me a joke.<|im_end|>\n<|im_start|>assistant\n"),
          Map.entry(
              "qwen2/nosys/False",
              "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\nTell me a joke.<|im_end|>\n"),
          Map.entry(
              "qwen2/twosys/True",
              "<|im_start|>system\nRule one.<|im_end|>\n<|im_start|>system\nRule two.<|im_end|>\n<|im_start|>user\nGo<|im_end|>\n<|im_start|>assistant\nDone.<|im_end|>\n<|im_start|>assistant\n"),
          Map.entry(
              "qwen2/twosys/False",
              "<|im_start|>system\nRule one.<|im_end|>\n<|im_start|>system\nRule two.<|im_end|>\n<|im_start|>user\nGo<|im_end|>\n<|im_start|>assistant\nDone.<|im_end|>\n"),
          Map.entry(
              "qwen3/multi/True",
              "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\nIt is 4.<|im_end|>\n<|im_start|>user\n  And 3+3? \n<|im_end|>\n<|im_start|>assistant\n"),
          Map.entry(
              "qwen3/multi/False",
              "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\nIt is 4.<|im_end|>\n<|im_start|>user\n  And 3+3? \n<|im_end|>\n"),
          Map.entry(
              "qwen3/nosys/True",
              "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\nTell me a joke.<|im_end|>\n<|im_start|>assistant\n"),
          Map.entry(
              "qwen3/nosys/False",
              "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\nTell me a joke.<|im_end|>\n"),
          Map.entry(
              "qwen3/twosys/True",
              "<|im_start|>system\nRule one.<|im_end|>\n<|im_start|>system\nRule two.<|im_end|>\n<|im_start|>user\nGo<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nDone.<|im_end|>\n<|im_start|>assistant\n"),
          Map.entry(
              "qwen3/twosys/False",
              "<|im_start|>system\nRule one.<|im_end|>\n<|im_start|>system\nRule two.<|im_end|>\n<|im_start|>user\nGo<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nDone.<|im_end|>\n"),
          Map.entry(
              "llama3/multi/True",
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n<think>\nAdd them.\n</think>\n\nIt is 4.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
          Map.entry(
              "llama3/multi/False",
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n<think>\nAdd them.\n</think>\n\nIt is 4.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
          Map.entry(
              "llama3/nosys/True",
              "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
          Map.entry(
              "llama3/nosys/False",
              "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
          Map.entry(
              "llama3/twosys/True",
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nRule one.<|eot_id|><|start_header_id|>system<|end_header_id|>\n\nRule two.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nGo<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nDone.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
          Map.entry(
              "llama3/twosys/False",
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nRule one.<|eot_id|><|start_header_id|>system<|end_header_id|>\n\nRule two.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nGo<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nDone.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
          Map.entry(
              "llama3_instruct/multi/True",
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n<think>\nAdd them.\n</think>\n\nIt is 4.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
          Map.entry(
              "llama3_instruct/multi/False",
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n<think>\nAdd them.\n</think>\n\nIt is 4.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>"),
          Map.entry(
              "llama3_instruct/nosys/True",
              "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
          Map.entry(
              "llama3_instruct/nosys/False",
              "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|>"),
          Map.entry(
              "llama3_instruct/twosys/True",
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nRule one.<|eot_id|><|start_header_id|>system<|end_header_id|>\n\nRule two.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nGo<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nDone.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
          Map.entry(
              "llama3_instruct/twosys/False",
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nRule one.<|eot_id|><|start_header_id|>system<|end_header_id|>\n\nRule two.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nGo<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nDone.<|eot_id|>"));

  static String dataTemplate(String dir) throws Exception {
    String d = System.getProperty("sluice.data.dir", System.getenv("SLUICE_DATA_DIR"));
    assumeTrue(d != null && !d.isBlank(), "SLUICE_DATA_DIR (the shared data folder) is not set");
    Path p = Path.of(d, "tokenizers", dir, "tokenizer_config.json");
    assumeTrue(Files.isRegularFile(p), "missing " + p);
    return jsonString(Files.readString(p, StandardCharsets.UTF_8), "chat_template");
  }

  /** The string value of a top-level key of a JSON object (enough JSON for these files). */
  static String jsonString(String json, String key) {
    int at = json.indexOf("\"" + key + "\"");
    int i = json.indexOf('"', json.indexOf(':', at) + 1) + 1;
    StringBuilder sb = new StringBuilder();
    while (json.charAt(i) != '"') {
      char c = json.charAt(i++);
      if (c != '\\') {
        sb.append(c);
        continue;
      }
      char e = json.charAt(i++);
      switch (e) {
        case 'n' -> sb.append('\n');
        case 't' -> sb.append('\t');
        case 'r' -> sb.append('\r');
        case 'b' -> sb.append('\b');
        case 'f' -> sb.append('\f');
        case 'u' -> {
          sb.append((char) Integer.parseInt(json.substring(i, i + 4), 16));
          i += 4;
        }
        default -> sb.append(e);
      }
    }
    return sb.toString();
  }

  private static void assertGolden(String name, ChatTemplate t) {
    for (var conv : CONVERSATIONS.entrySet()) {
      for (boolean gen : new boolean[] {true, false}) {
        String key = name + "/" + conv.getKey() + "/" + (gen ? "True" : "False");
        assertThat(t.render(conv.getValue(), gen)).as(key).isEqualTo(GOLDEN.get(key));
      }
    }
  }

  private static final String DS_BOS = "<｜begin▁of▁sentence｜>";
  private static final String LLAMA_BOS = "<|begin_of_text|>";

  @Test
  void deepSeekR1Distill() {
    ChatTemplate t = ChatTemplate.parse(DEEPSEEK_R1_DISTILL, DS_BOS);
    assertThat(t.family()).isEqualTo(ChatTemplate.Family.DEEPSEEK);
    assertThat(t.opensThinking()).isTrue();
    assertGolden("deepseek_r1_distill", t);
  }

  @Test
  void deepSeekV3() throws Exception {
    ChatTemplate t = ChatTemplate.parse(dataTemplate("deepseek_v3"), DS_BOS);
    assertThat(t.family()).isEqualTo(ChatTemplate.Family.DEEPSEEK);
    assertThat(t.opensThinking()).isFalse();
    assertGolden("deepseek_v3", t);
  }

  @Test
  void qwen2ChatMlWithDefaultSystemPrompt() {
    ChatTemplate t = ChatTemplate.parse(QWEN2, "");
    assertThat(t.family()).isEqualTo(ChatTemplate.Family.CHATML);
    assertThat(t.defaultSystemPrompt()).isEqualTo("You are a helpful assistant.");
    assertGolden("qwen2", t);
  }

  @Test
  void qwen25DefaultSystemPromptIsTakenFromTheTemplate() {
    String qwen25Fragment =
        "{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a"
            + " helpful assistant.<|im_end|>\\n' }}{%- endif %}"
            + "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}";
    ChatTemplate t = ChatTemplate.parse(qwen25Fragment, "");
    assertThat(t.defaultSystemPrompt())
        .isEqualTo("You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
    assertThat(t.render(List.of(ChatMessage.user("Hi")), true))
        .isEqualTo(
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful"
                + " assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  }

  @Test
  void qwen3ChatMlWithReasoning() throws Exception {
    ChatTemplate t = ChatTemplate.parse(dataTemplate("qwen3"), "");
    assertThat(t.family()).isEqualTo(ChatTemplate.Family.CHATML);
    assertThat(t.defaultSystemPrompt()).isNull();
    assertGolden("qwen3", t);
  }

  @Test
  void llama3() throws Exception {
    ChatTemplate t = ChatTemplate.parse(dataTemplate("llama3"), LLAMA_BOS);
    assertThat(t.family()).isEqualTo(ChatTemplate.Family.LLAMA3);
    assertGolden("llama3", t);
  }

  @Test
  void llama3Instruct() {
    ChatTemplate t = ChatTemplate.parse(LLAMA3_INSTRUCT, LLAMA_BOS);
    assertGolden("llama3_instruct", t);
  }

  @Test
  void unknownTemplateIsAnError() {
    assertThatThrownBy(
            () ->
                ChatTemplate.parse(
                    "{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}", "<s>"))
        .isInstanceOf(ChatTemplateException.class)
        .hasMessageContaining("unsupported chat template")
        .hasMessageContaining("[INST]");
  }

  @Test
  void unsupportedRoleIsAnError() {
    ChatTemplate t = ChatTemplate.parse(QWEN2, "");
    assertThatThrownBy(() -> t.render(List.of(new ChatMessage("tool", "{}")), true))
        .isInstanceOf(ChatTemplateException.class)
        .hasMessageContaining("'tool'");
  }

  @Test
  void renderedPromptTokenizesToControlTokens() throws Exception {
    String d = System.getProperty("sluice.data.dir", System.getenv("SLUICE_DATA_DIR"));
    assumeTrue(d != null && !d.isBlank(), "SLUICE_DATA_DIR (the shared data folder) is not set");
    Path p = Path.of(d, "tokenizers", "ggml-vocab-qwen2.gguf");
    assumeTrue(Files.isRegularFile(p), "missing " + p);
    try (GgufFile f = GgufFile.open(p)) {
      Tokenizer tok = Tokenizer.fromGguf(f);
      String prompt = ChatTemplate.parse(QWEN2, "").render(NOSYS, true);
      int[] ids = tok.encode(prompt, false, true);
      assertThat(ids[0]).isEqualTo(tok.tokenId("<|im_start|>"));
      assertThat(ids[ids.length - 3]).isEqualTo(tok.tokenId("<|im_start|>"));
      assertThat(tok.decode(ids, true)).isEqualTo(prompt);
    }
  }
}
