package dev.sluice.pipeline;

import java.util.List;

/**
 * What a request's output stream carries: {@link Started} once (after prefetch), then {@link
 * Chunk}s, then exactly one {@link Finished} or {@link Failed}, after which the stream completes.
 */
public sealed interface PipelineEvent {

  /** Tokenized and handed to the device. */
  record Started(int promptTokens) implements PipelineEvent {}

  /** One log-probability entry (the token's text, its log-probability and its UTF-8 bytes). */
  record Logprob(String token, float logprob, byte[] bytes) {}

  /** The chosen token and the most likely alternatives. */
  record TokenChoice(Logprob chosen, List<Logprob> top) {}

  /**
   * Text since the previous chunk (whole UTF-8 characters, stop strings removed) covering {@code
   * tokens} generated tokens; {@code logprobs} holds one entry per token when requested.
   */
  record Chunk(String text, int tokens, List<TokenChoice> logprobs) implements PipelineEvent {}

  /**
   * The generation ended normally.
   *
   * @param finishReason {@code stop} (stop token or string) or {@code length}
   */
  record Finished(String finishReason, int promptTokens, int completionTokens)
      implements PipelineEvent {}

  /**
   * The generation failed.
   *
   * @param reason {@code prompt_too_long}, {@code invalid_request}, {@code cancelled}, {@code
   *     engine_error} or {@code device_error}
   * @param completionTokens tokens generated before the failure (0: nothing was produced)
   */
  record Failed(String reason, String message, int completionTokens) implements PipelineEvent {}

  /** Whether this event ends the stream. */
  default boolean terminal() {
    return this instanceof Finished || this instanceof Failed;
  }
}
