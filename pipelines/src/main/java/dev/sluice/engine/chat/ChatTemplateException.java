package dev.sluice.engine.chat;

/**
 * A chat template that Sluice does not recognise, or a conversation it cannot render (an
 * unsupported role). Never a silently wrong prompt.
 */
public final class ChatTemplateException extends RuntimeException {
  public ChatTemplateException(String message) {
    super(message);
  }
}
