package dev.sluice.engine.chat;

import java.util.Objects;

/**
 * One message of a conversation: a role ({@code system}, {@code user} or {@code assistant}) and its
 * text. An assistant message may carry its reasoning inline as {@code <think>...</think>};
 * templates that drop earlier reasoning do so when rendering.
 */
public record ChatMessage(String role, String content) {
  public ChatMessage {
    Objects.requireNonNull(role, "role");
    Objects.requireNonNull(content, "content");
  }

  public static ChatMessage system(String content) {
    return new ChatMessage("system", content);
  }

  public static ChatMessage user(String content) {
    return new ChatMessage("user", content);
  }

  public static ChatMessage assistant(String content) {
    return new ChatMessage("assistant", content);
  }
}
