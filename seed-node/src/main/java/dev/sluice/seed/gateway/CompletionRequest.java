package dev.sluice.seed.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeType;
import dev.sluice.engine.sampling.SamplingParams;
import dev.sluice.engine.sampling.SamplingParamsException;
import dev.sluice.node.worker.WorkerProtocol;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * A parsed and bounds-checked {@code /v1/chat/completions} or {@code /v1/completions} body. Every
 * problem is an {@link ApiError}: 400 for a body of the wrong shape (not JSON, wrong type, missing
 * field, unsupported feature), 422 for a value out of its bounds (with {@code param} naming it).
 * Sampling bounds come from {@link SamplingParams} (the engine's own validation), so the gateway
 * and the worker agree.
 *
 * @param chat whether it came from the chat endpoint
 * @param promptText the prompt (chat: the messages' contents joined), for the token estimate and
 *     prefix affinity
 * @param topLogprobs -1 for no log-probabilities
 */
public record CompletionRequest(
    boolean chat,
    String model,
    WorkerProtocol.Prompt prompt,
    String promptText,
    WorkerProtocol.GenerationParams params,
    boolean stream,
    boolean includeUsage,
    int topLogprobs,
    boolean logprobs) {

  private static final Set<String> ROLES =
      Set.of("system", "developer", "user", "assistant", "tool");

  /** Limits that come from the gateway's configuration. */
  public record Limits(int maxTokens, int defaultMaxTokens, long maxPromptTokens) {}

  /** A rough upper estimate of a text's tokens before tokenizing (about 4 bytes per token). */
  public static long estimateTokens(String text) {
    long bytes = 0;
    for (int i = 0; i < text.length(); i++) {
      char ch = text.charAt(i);
      bytes += ch < 0x80 ? 1 : ch < 0x800 ? 2 : 3;
    }
    return bytes / 3 + 1;
  }

  /** Parses a body already read as JSON. */
  public static CompletionRequest parse(JsonNode body, boolean chat, Limits limits) {
    if (body == null || !body.isObject()) {
      throw ApiError.invalid(null, "The request body must be a JSON object.").failure();
    }
    String model = requiredString(body, "model");
    if (model.isBlank()) {
      throw ApiError.invalid("model", "'model' must not be empty.").failure();
    }
    WorkerProtocol.Prompt prompt;
    String promptText;
    if (chat) {
      JsonNode msgs = body.get("messages");
      if (msgs == null || !msgs.isArray() || msgs.isEmpty()) {
        throw ApiError.invalid("messages", "'messages' must be a non-empty array.").failure();
      }
      List<WorkerProtocol.Message> list = new ArrayList<>();
      StringBuilder all = new StringBuilder();
      for (int i = 0; i < msgs.size(); i++) {
        JsonNode m = msgs.get(i);
        String p = "messages[" + i + "]";
        if (!m.isObject()) {
          throw ApiError.invalid(p, "'" + p + "' must be an object.").failure();
        }
        JsonNode role = m.get("role");
        if (role == null || !role.isTextual() || !ROLES.contains(role.asText())) {
          throw ApiError.invalid(
                  p + ".role",
                  "'" + p + ".role' must be one of " + ROLES.stream().sorted().toList() + ".")
              .failure();
        }
        String content = content(m.get("content"), p + ".content");
        list.add(new WorkerProtocol.Message(role.asText(), content));
        all.append(role.asText()).append('\n').append(content).append('\n');
      }
      prompt = new WorkerProtocol.ChatPrompt(List.copyOf(list));
      promptText = all.toString();
    } else {
      JsonNode p = body.get("prompt");
      if (p == null || p.isNull()) {
        throw ApiError.invalid("prompt", "'prompt' is required.").failure();
      }
      if (p.isArray()) {
        if (p.size() != 1 || !p.get(0).isTextual()) {
          throw ApiError.invalid(
                  "prompt", "'prompt' must be a string or an array of exactly one string.")
              .failure();
        }
        p = p.get(0);
      }
      if (!p.isTextual()) {
        throw ApiError.invalid("prompt", "'prompt' must be a string.").failure();
      }
      promptText = p.asText();
      prompt = new WorkerProtocol.TextPrompt(promptText);
    }
    long estimate = estimateTokens(promptText);
    if (estimate > limits.maxPromptTokens()) {
      throw new ApiError(
              422,
              "invalid_request_error",
              "context_length_exceeded",
              chat ? "messages" : "prompt",
              "The prompt is about "
                  + estimate
                  + " tokens; this gateway accepts at most "
                  + limits.maxPromptTokens()
                  + ".",
              0,
              null)
          .failure();
    }

    only(body, "n", 1);
    if (!chat) {
      only(body, "best_of", 1);
      JsonNode echo = body.get("echo");
      if (echo != null && !echo.isNull() && (!echo.isBoolean() || echo.asBoolean())) {
        throw ApiError.invalid("echo", "'echo' is not supported (only false).").failure();
      }
      JsonNode suffix = body.get("suffix");
      if (suffix != null && !suffix.isNull()) {
        throw ApiError.invalid("suffix", "'suffix' is not supported.").failure();
      }
    } else {
      for (String f : List.of("tools", "functions", "tool_choice", "function_call")) {
        JsonNode v = body.get(f);
        if (v != null && !v.isNull() && !(v.isArray() && v.isEmpty())) {
          throw ApiError.invalid(f, "'" + f + "' (tool calling) is not supported.").failure();
        }
      }
      JsonNode rf = body.get("response_format");
      if (rf != null && !rf.isNull()) {
        JsonNode type = rf.get("type");
        if (type == null || !"text".equals(type.asText())) {
          throw ApiError.invalid(
                  "response_format", "Only response_format {\"type\":\"text\"} is supported.")
              .failure();
        }
      }
    }

    Integer maxTokens = optInt(body, chat ? "max_completion_tokens" : "max_tokens");
    String maxName = chat ? "max_completion_tokens" : "max_tokens";
    if (maxTokens == null) {
      maxTokens = optInt(body, "max_tokens");
      maxName = "max_tokens";
    }
    int max = maxTokens == null ? limits.defaultMaxTokens() : maxTokens;
    if (max < 1 || max > limits.maxTokens()) {
      throw ApiError.outOfBounds(
              maxName,
              "'"
                  + maxName
                  + "' must be between 1 and "
                  + limits.maxTokens()
                  + ", got "
                  + max
                  + ".")
          .failure();
    }
    boolean stream = optBool(body, "stream", false);
    boolean includeUsage = false;
    JsonNode so = body.get("stream_options");
    if (so != null && !so.isNull()) {
      if (!so.isObject()) {
        throw ApiError.invalid("stream_options", "'stream_options' must be an object.").failure();
      }
      if (!stream) {
        throw ApiError.invalid(
                "stream_options", "'stream_options' is only allowed when 'stream' is true.")
            .failure();
      }
      includeUsage = optBool(so, "include_usage", false);
    }

    int topLogprobs = -1;
    boolean logprobs = false;
    if (chat) {
      logprobs = optBool(body, "logprobs", false);
      Integer top = optInt(body, "top_logprobs");
      if (top != null) {
        if (!logprobs) {
          throw ApiError.invalid("top_logprobs", "'top_logprobs' requires 'logprobs': true.")
              .failure();
        }
        if (top < 0 || top > SamplingParams.MAX_LOGPROBS) {
          throw ApiError.outOfBounds(
                  "top_logprobs", "'top_logprobs' must be between 0 and 20, got " + top + ".")
              .failure();
        }
      }
      topLogprobs = logprobs ? (top == null ? 0 : top) : -1;
    } else {
      Integer lp = optInt(body, "logprobs");
      if (lp != null) {
        if (lp < 0 || lp > 5) {
          throw ApiError.outOfBounds(
                  "logprobs", "'logprobs' must be between 0 and 5, got " + lp + ".")
              .failure();
        }
        logprobs = true;
        topLogprobs = lp;
      }
    }

    List<String> stop = stop(body.get("stop"));
    Long seed = null;
    JsonNode s = body.get("seed");
    if (s != null && !s.isNull()) {
      if (!s.isIntegralNumber() || !s.canConvertToLong()) {
        throw ApiError.invalid("seed", "'seed' must be an integer.").failure();
      }
      seed = s.asLong();
    }
    SamplingParams sp;
    try {
      SamplingParams.Builder b =
          SamplingParams.builder()
              .temperature(optFloat(body, "temperature", 1f))
              .topP(optFloat(body, "top_p", 1f))
              .topK(optInt(body, "top_k") == null ? 0 : optInt(body, "top_k"))
              .minP(optFloat(body, "min_p", 0f))
              .repetitionPenalty(optFloat(body, "repetition_penalty", 1f))
              .presencePenalty(optFloat(body, "presence_penalty", 0f))
              .frequencyPenalty(optFloat(body, "frequency_penalty", 0f))
              .seed(seed)
              .maxTokens(max)
              .stop(stop)
              .logprobs(topLogprobs);
      sp = b.build();
    } catch (SamplingParamsException e) {
      throw ApiError.outOfBounds(e.parameter(), e.getMessage()).failure();
    }
    WorkerProtocol.GenerationParams gp =
        new WorkerProtocol.GenerationParams(
            sp.maxTokens(),
            sp.temperature(),
            sp.topP(),
            sp.topK(),
            sp.minP(),
            sp.repetitionPenalty(),
            sp.presencePenalty(),
            sp.frequencyPenalty(),
            seed == null ? 0 : seed,
            seed != null,
            sp.stop(),
            sp.logprobs());
    return new CompletionRequest(
        chat, model, prompt, promptText, gp, stream, includeUsage, topLogprobs, logprobs);
  }

  private static String content(JsonNode c, String param) {
    if (c == null || c.isNull()) {
      throw ApiError.invalid(param, "'" + param + "' is required.").failure();
    }
    if (c.isTextual()) {
      return c.asText();
    }
    if (c.isArray()) {
      StringBuilder sb = new StringBuilder();
      for (int i = 0; i < c.size(); i++) {
        JsonNode part = c.get(i);
        JsonNode type = part.get("type");
        if (type == null || !"text".equals(type.asText()) || !part.path("text").isTextual()) {
          throw ApiError.invalid(
                  param + "[" + i + "]",
                  "Only text content parts ({\"type\":\"text\",\"text\":...}) are supported.")
              .failure();
        }
        sb.append(part.get("text").asText());
      }
      return sb.toString();
    }
    throw ApiError.invalid(param, "'" + param + "' must be a string or an array of text parts.")
        .failure();
  }

  private static List<String> stop(JsonNode s) {
    if (s == null || s.isNull()) {
      return List.of();
    }
    if (s.isTextual()) {
      return List.of(s.asText());
    }
    if (s.isArray()) {
      List<String> out = new ArrayList<>();
      for (Iterator<JsonNode> it = s.elements(); it.hasNext(); ) {
        JsonNode e = it.next();
        if (!e.isTextual()) {
          throw ApiError.invalid("stop", "'stop' must be a string or an array of strings.")
              .failure();
        }
        out.add(e.asText());
      }
      return out;
    }
    throw ApiError.invalid("stop", "'stop' must be a string or an array of strings.").failure();
  }

  private static void only(JsonNode body, String name, int allowed) {
    Integer v = optInt(body, name);
    if (v != null && v != allowed) {
      throw ApiError.outOfBounds(name, "'" + name + "' must be " + allowed + " (got " + v + ").")
          .failure();
    }
  }

  private static String requiredString(JsonNode body, String name) {
    JsonNode v = body.get(name);
    if (v == null || v.isNull()) {
      throw ApiError.invalid(name, "'" + name + "' is required.").failure();
    }
    if (!v.isTextual()) {
      throw ApiError.invalid(name, "'" + name + "' must be a string.").failure();
    }
    return v.asText();
  }

  private static Integer optInt(JsonNode body, String name) {
    JsonNode v = body.get(name);
    if (v == null || v.isNull()) {
      return null;
    }
    if (!v.isIntegralNumber() && !(v.isNumber() && v.asDouble() == Math.rint(v.asDouble()))) {
      throw ApiError.invalid(name, "'" + name + "' must be an integer.").failure();
    }
    if (!v.canConvertToInt()) {
      throw ApiError.outOfBounds(name, "'" + name + "' is out of range.").failure();
    }
    return v.asInt();
  }

  private static float optFloat(JsonNode body, String name, float def) {
    JsonNode v = body.get(name);
    if (v == null || v.isNull()) {
      return def;
    }
    if (!v.isNumber()) {
      throw ApiError.invalid(name, "'" + name + "' must be a number.").failure();
    }
    return (float) v.asDouble();
  }

  private static boolean optBool(JsonNode body, String name, boolean def) {
    JsonNode v = body.get(name);
    if (v == null || v.isNull()) {
      return def;
    }
    if (v.getNodeType() != JsonNodeType.BOOLEAN) {
      throw ApiError.invalid(name, "'" + name + "' must be a boolean.").failure();
    }
    return v.asBoolean();
  }
}
