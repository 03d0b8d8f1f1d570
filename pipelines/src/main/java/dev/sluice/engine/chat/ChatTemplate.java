package dev.sluice.engine.chat;

import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.tokenizer.Tokenizer;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Renders a conversation into the prompt text a model was trained on, for the template families
 * Sluice serves. The family and its variant are recognised from signature substrings of the model's
 * {@code tokenizer.chat_template} (Jinja is not executed); the rendering reproduces what the Jinja
 * template produces with Hugging Face's settings ({@code trim_blocks}, {@code lstrip_blocks}) for
 * conversations of system, user and assistant messages without tools.
 *
 * <ul>
 *   <li>{@link Family#DEEPSEEK}: {@code <｜User｜>}/{@code <｜Assistant｜>} (DeepSeek-R1, its
 *       Qwen/Llama distills, DeepSeek-V3). Variants: the generation prompt opens {@code <think>\n}
 *       (R1 distills), earlier assistant turns lose their {@code ...</think>} part (R1), system
 *       prompts are joined with a blank line (V3) or the last one wins (R1).
 *   <li>{@link Family#CHATML}: {@code <|im_start|>role\n...<|im_end|>} (Qwen2, Qwen2.5, Qwen3). The
 *       default system prompt is taken from the template when it has one (Qwen2: "You are a helpful
 *       assistant."); Qwen3's reasoning rules for assistant turns are applied.
 *   <li>{@link Family#LLAMA3}: {@code <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>}
 *       with message contents trimmed, as Llama 3 (Instruct) does.
 * </ul>
 *
 * Anything else, including recognised families with features this class does not model (Llama 3.1's
 * date header, unknown reasoning rules), is refused with a {@link ChatTemplateException}.
 *
 * <p>The rendered text contains the control tokens as text (and the BOS text where the template
 * writes {@code bos_token}): tokenize it with {@code addBos = false, parseSpecial = true}. As with
 * llama.cpp, control-token text inside message contents is then parsed as control tokens too.
 *
 * <p>Immutable and thread-safe.
 */
public final class ChatTemplate {
  /** The template families. */
  public enum Family {
    DEEPSEEK,
    CHATML,
    LLAMA3
  }

  private static final String DS_USER = "<｜User｜>";
  private static final String DS_ASSISTANT = "<｜Assistant｜>";
  private static final String DS_EOS = "<｜end▁of▁sentence｜>";
  private static final Pattern CHATML_DEFAULT_SYSTEM =
      Pattern.compile("<\\|im_start\\|>system(?:\\n|\\\\n)([^'\"<>{}]*)<\\|im_end\\|>");

  private final Family family;
  private final String bosToken;
  // DEEPSEEK
  private final boolean thinkOnGeneration;
  private final boolean stripThink;
  private final boolean joinSystem;
  // CHATML
  private final String defaultSystem;
  private final boolean qwen3Reasoning;
  // LLAMA3
  private final boolean alwaysGenerationHeader;

  private ChatTemplate(
      Family family,
      String bosToken,
      boolean thinkOnGeneration,
      boolean stripThink,
      boolean joinSystem,
      String defaultSystem,
      boolean qwen3Reasoning,
      boolean alwaysGenerationHeader) {
    this.family = family;
    this.bosToken = bosToken;
    this.thinkOnGeneration = thinkOnGeneration;
    this.stripThink = stripThink;
    this.joinSystem = joinSystem;
    this.defaultSystem = defaultSystem;
    this.qwen3Reasoning = qwen3Reasoning;
    this.alwaysGenerationHeader = alwaysGenerationHeader;
  }

  /**
   * The template of a GGUF model ({@code tokenizer.chat_template}), with {@code bos_token} taken
   * from the tokenizer.
   *
   * @throws ChatTemplateException if the file has no template or it is not recognised
   */
  public static ChatTemplate fromGguf(GgufFile file, Tokenizer tokenizer) {
    String t = file.getString("tokenizer.chat_template", null);
    if (t == null) {
      throw new ChatTemplateException(
          file.path() + ": the model has no tokenizer.chat_template; use plain completion");
    }
    String bos = tokenizer.bosId() >= 0 ? tokenizer.tokenText(tokenizer.bosId()) : "";
    return parse(t, bos);
  }

  /**
   * Recognises a Jinja chat template by its signature.
   *
   * @param bosToken the text Jinja's {@code bos_token} stands for ("" if none)
   * @throws ChatTemplateException if the template is not one of the supported families/variants
   */
  public static ChatTemplate parse(String template, String bosToken) {
    String bos = bosToken == null ? "" : bosToken;
    if (template.contains(DS_USER) && template.contains(DS_ASSISTANT)) {
      boolean think =
          template.contains(DS_ASSISTANT + "<think>\\n")
              || template.contains(DS_ASSISTANT + "<think>\n");
      return new ChatTemplate(
          Family.DEEPSEEK,
          bos,
          think,
          template.contains("</think>"),
          template.contains("is_first_sp"),
          null,
          false,
          false);
    }
    if (template.contains("<|im_start|>") && template.contains("<|im_end|>")) {
      boolean qwen3 = template.contains("reasoning_content");
      if (template.contains("</think>") && !qwen3) {
        throw new ChatTemplateException(
            "unsupported chat template: a ChatML template with <think> handling other than"
                + " Qwen3's (tokenizer.chat_template)");
      }
      Matcher m = CHATML_DEFAULT_SYSTEM.matcher(template);
      String dflt = m.find() ? m.group(1) : null;
      return new ChatTemplate(Family.CHATML, bos, false, false, false, dflt, qwen3, false);
    }
    if (template.contains("<|start_header_id|>")
        && template.contains("<|end_header_id|>")
        && template.contains("<|eot_id|>")) {
      if (template.contains("Cutting Knowledge Date") || template.contains("tools_in_user")) {
        throw new ChatTemplateException(
            "unsupported chat template: Llama 3.1+ (date header and tools) is not supported yet,"
                + " only Llama 3 Instruct's (tokenizer.chat_template)");
      }
      return new ChatTemplate(
          Family.LLAMA3,
          bos,
          false,
          false,
          false,
          null,
          false,
          !template.contains("add_generation_prompt"));
    }
    String head = template.length() > 80 ? template.substring(0, 80) + "..." : template;
    throw new ChatTemplateException(
        "unsupported chat template (tokenizer.chat_template): not DeepSeek (<｜User｜>), ChatML"
            + " (<|im_start|>) or Llama 3 (<|start_header_id|>); it begins: "
            + head.replace("\n", "\\n"));
  }

  public Family family() {
    return family;
  }

  /** Whether the generation prompt ends inside an opened {@code <think>} section. */
  public boolean opensThinking() {
    return thinkOnGeneration;
  }

  /** The system prompt the template inserts when the conversation has none, or {@code null}. */
  public String defaultSystemPrompt() {
    return defaultSystem;
  }

  /**
   * Renders {@code messages}.
   *
   * @param addGenerationPrompt end with the opening of an assistant turn (for generation)
   * @throws ChatTemplateException for a role other than system, user and assistant
   */
  public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
    for (ChatMessage m : messages) {
      switch (m.role()) {
        case "system", "user", "assistant" -> {}
        default ->
            throw new ChatTemplateException(
                "unsupported chat role '" + m.role() + "' (supported: system, user, assistant)");
      }
    }
    StringBuilder sb = new StringBuilder(256);
    switch (family) {
      case DEEPSEEK -> renderDeepSeek(messages, addGenerationPrompt, sb);
      case CHATML -> renderChatMl(messages, addGenerationPrompt, sb);
      case LLAMA3 -> renderLlama3(messages, addGenerationPrompt, sb);
    }
    return sb.toString();
  }

  private void renderDeepSeek(List<ChatMessage> messages, boolean gen, StringBuilder sb) {
    String system = "";
    boolean firstSystem = true;
    for (ChatMessage m : messages) {
      if (m.role().equals("system")) {
        if (joinSystem) {
          system = firstSystem ? system + m.content() : system + "\n\n" + m.content();
          firstSystem = false;
        } else {
          system = m.content();
        }
      }
    }
    sb.append(bosToken).append(system);
    for (ChatMessage m : messages) {
      switch (m.role()) {
        case "user" -> sb.append(DS_USER).append(m.content());
        case "assistant" -> {
          String content = m.content();
          if (stripThink) {
            int at = content.lastIndexOf("</think>");
            if (at >= 0) {
              content = content.substring(at + "</think>".length());
            }
          }
          sb.append(DS_ASSISTANT).append(content).append(DS_EOS);
        }
        default -> {}
      }
    }
    if (gen) {
      sb.append(DS_ASSISTANT);
      if (thinkOnGeneration) {
        sb.append("<think>\n");
      }
    }
  }

  private void renderChatMl(List<ChatMessage> messages, boolean gen, StringBuilder sb) {
    // Qwen2 writes it inside its message loop, Qwen2.5 before it: the same for any non-empty
    // conversation, which is all a request can carry.
    if (defaultSystem != null && !messages.isEmpty() && !messages.get(0).role().equals("system")) {
      sb.append("<|im_start|>system\n").append(defaultSystem).append("<|im_end|>\n");
    }
    int lastQuery = messages.size() - 1;
    if (qwen3Reasoning) {
      for (int i = messages.size() - 1; i >= 0; i--) {
        ChatMessage m = messages.get(i);
        String c = m.content();
        if (m.role().equals("user")
            && !(c.startsWith("<tool_response>") && c.endsWith("</tool_response>"))) {
          lastQuery = i;
          break;
        }
      }
    }
    for (int i = 0; i < messages.size(); i++) {
      ChatMessage m = messages.get(i);
      if (!qwen3Reasoning || !m.role().equals("assistant")) {
        sb.append("<|im_start|>").append(m.role()).append('\n').append(m.content());
        sb.append("<|im_end|>\n");
        continue;
      }
      String content = m.content();
      String reasoning = "";
      int end = content.indexOf("</think>");
      if (end >= 0) {
        String before = content.substring(0, end);
        content = lstrip(content.substring(content.lastIndexOf("</think>") + 8), '\n');
        before = rstrip(before, '\n');
        int open = before.lastIndexOf("<think>");
        reasoning = lstrip(open >= 0 ? before.substring(open + 7) : before, '\n');
      }
      sb.append("<|im_start|>assistant\n");
      boolean last = i == messages.size() - 1;
      if (i > lastQuery && (last || !reasoning.isEmpty())) {
        sb.append("<think>\n")
            .append(rstrip(lstrip(reasoning, '\n'), '\n'))
            .append("\n</think>\n\n")
            .append(lstrip(content, '\n'));
      } else {
        sb.append(content);
      }
      sb.append("<|im_end|>\n");
    }
    if (gen) {
      sb.append("<|im_start|>assistant\n");
    }
  }

  private void renderLlama3(List<ChatMessage> messages, boolean gen, StringBuilder sb) {
    for (int i = 0; i < messages.size(); i++) {
      ChatMessage m = messages.get(i);
      if (i == 0) {
        sb.append(bosToken);
      }
      sb.append("<|start_header_id|>")
          .append(m.role())
          .append("<|end_header_id|>\n\n")
          .append(pythonStrip(m.content()))
          .append("<|eot_id|>");
    }
    if (gen || alwaysGenerationHeader) {
      sb.append("<|start_header_id|>assistant<|end_header_id|>\n\n");
    }
  }

  private static String lstrip(String s, char c) {
    int i = 0;
    while (i < s.length() && s.charAt(i) == c) {
      i++;
    }
    return s.substring(i);
  }

  private static String rstrip(String s, char c) {
    int j = s.length();
    while (j > 0 && s.charAt(j - 1) == c) {
      j--;
    }
    return s.substring(0, j);
  }

  /** Python's {@code str.strip()} (Jinja's {@code trim}): Unicode whitespace as Python sees it. */
  static String pythonStrip(String s) {
    int i = 0;
    int j = s.length();
    while (i < j && isPythonSpace(s.charAt(i))) {
      i++;
    }
    while (j > i && isPythonSpace(s.charAt(j - 1))) {
      j--;
    }
    return s.substring(i, j);
  }

  private static boolean isPythonSpace(char c) {
    return (c >= 0x09 && c <= 0x0D)
        || (c >= 0x1C && c <= 0x20)
        || c == 0x85
        || c == 0xA0
        || c == 0x1680
        || (c >= 0x2000 && c <= 0x200A)
        || c == 0x2028
        || c == 0x2029
        || c == 0x202F
        || c == 0x205F
        || c == 0x3000;
  }
}
